/**
 * Nothing a user made is lost, and bad input ends with one line: explain never replaces one of its
 * inputs, leaves every earlier file as it was when it fails (no partial output, no temporary files);
 * audit and merge refuse folders that hold other files; merge copies only the files a row may name;
 * usage errors, broken .npy files, bad external data and unknown outputs are one-line errors.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { decodeModel, encodeModel } from '../src/onnx/model.js';
import { FIXTURES } from './helpers/fixtures.js';
import { BIN, ROOT, gradcam, oneError } from './helpers/cli.js';

const MODEL = path.join(ROOT, 'demo', 'models', 'where.onnx');
const PHOTO = path.join(ROOT, 'demo', 'photos', 'chelsea.jpg');
const NPY_MODEL = path.join(FIXTURES, 'resnet_like', 'model.onnx');
const NPY = path.join(FIXTURES, 'resnet_like', 'input.npy');

const listing = (d: string) => Object.fromEntries((fs.readdirSync(d, { recursive: true }) as string[]).sort().map((f) => {
  const p = path.join(d, f);
  return [f, fs.statSync(p).isDirectory() ? 'dir' : fs.readFileSync(p).toString('base64')];
}));

let tmp: string;
before(() => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gradcam-safety-')); });
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('explain keeps what was there', () => {
  it('refuses to write an output over one of its inputs', () => {
    const d = path.join(tmp, 'inputs-here');
    fs.mkdirSync(d);
    fs.copyFileSync(PHOTO, path.join(d, 'cat.jpg'));
    fs.copyFileSync(PHOTO, path.join(d, 'cat.gradcam.png')); // the user's own picture, also an input
    const before = listing(d);
    const r = gradcam('explain', path.join(d, 'cat.jpg'), path.join(d, 'cat.gradcam.png'), '--model', MODEL, '--out', d, '--quiet');
    assert.equal(r.code, 1);
    oneError(r.err, /the output .*cat\.gradcam\.png would replace the input .*cat\.gradcam\.png; choose another --out folder/);
    assert.deepEqual(listing(d), before);
  });

  it('a failure while writing leaves earlier files as they were and no temporary files', () => {
    const d = path.join(tmp, 'earlier');
    fs.mkdirSync(d);
    fs.writeFileSync(path.join(d, 'chelsea.gradcam.png'), 'an earlier overlay');
    fs.mkdirSync(path.join(d, 'chelsea.gradcam.json')); // something that is not a file where an output goes
    const before = listing(d);
    const r = gradcam('explain', PHOTO, '--model', MODEL, '--out', d, '--quiet');
    assert.equal(r.code, 1);
    oneError(r.err, /cannot write .*chelsea\.gradcam\.json: something that is not a file is there/);
    assert.deepEqual(listing(d), before);
  });

  it('a failed run into a new folder leaves no folder behind', () => {
    const d = path.join(tmp, 'new-folder');
    const bad = path.join(tmp, 'bad.npy');
    fs.writeFileSync(bad, 'not an npy file');
    const r = gradcam('explain', NPY, bad, '--model', NPY_MODEL, '--out', d);
    assert.equal(r.code, 1);
    oneError(r.err, /npy file .*bad\.npy cannot be used: not a \.npy file/);
    assert.equal(fs.existsSync(d), false);
  });
});

describe('audit and merge keep what was there', () => {
  it('audit refuses an output folder that holds other files', () => {
    const d = path.join(tmp, 'my-folder');
    fs.mkdirSync(d);
    fs.writeFileSync(path.join(d, 'report.html'), 'my own report');
    const r = gradcam('audit', PHOTO, '--model', MODEL, '--out', d, '--quiet');
    assert.equal(r.code, 1);
    oneError(r.err, /--out .*my-folder already holds files \(report\.html\) and is not a gradcam audit folder; choose a new or empty folder/);
    assert.deepEqual(listing(d), { 'report.html': Buffer.from('my own report').toString('base64') });
  });

  it('merge refuses a folder with other files, and copies only thumbs/ and maps/ files', () => {
    const a = path.join(tmp, 'audit-a');
    const r = gradcam('audit', PHOTO, '--model', MODEL, '--out', a, '--quiet');
    assert.equal(r.code, 0, r.err);
    const mine = path.join(tmp, 'mine');
    fs.mkdirSync(mine);
    fs.writeFileSync(path.join(mine, 'notes.txt'), 'mine');
    const m = gradcam('merge', a, '--out', mine);
    assert.equal(m.code, 1);
    oneError(m.err, /--out .*mine already holds files \(notes\.txt\) and is not a gradcam merge folder/);
    assert.deepEqual(Object.keys(listing(mine)), ['notes.txt']);

    const inside = gradcam('merge', a, '--out', path.join(a, 'merged'));
    assert.equal(inside.code, 1);
    oneError(inside.err, /lies inside the input/);

    // a results row that names a file outside its folder (a hand-edited or hostile results.jsonl)
    fs.writeFileSync(path.join(tmp, 'outside.txt'), 'not to be copied');
    const rows = fs.readFileSync(path.join(a, 'results.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    rows[0].files.thumb = '../outside.txt';
    fs.writeFileSync(path.join(a, 'results.jsonl'), rows.map((x) => `${JSON.stringify(x)}\n`).join(''));

    // the row naming '../outside.txt' is refused in one line, before anything is copied
    const out = path.join(tmp, 'merged');
    const bad = gradcam('merge', a, '--out', out, '--quiet');
    assert.equal(bad.code, 1, bad.err);
    oneError(bad.err, /merge: refused .*audit-a: item '.*' names '\.\.\/outside\.txt', not a file in its thumbs\/ or maps\/ folder; .*\(nothing was merged\)/);
    assert.equal(fs.existsSync(out), false);
    rows[0].files.thumb = `thumbs/${path.basename(rows[0].files.overlay).replace(/\.cam\.png$/, '.png')}`;
    fs.writeFileSync(path.join(a, 'results.jsonl'), rows.map((x) => `${JSON.stringify(x)}\n`).join(''));
    const ok = gradcam('merge', a, '--out', out, '--quiet');
    assert.equal(ok.code, 0, ok.err);
    assert.equal((fs.readdirSync(out, { recursive: true }) as string[]).some((f) => f.includes('outside')), false);
    // merging again into the earlier merge's folder is allowed
    assert.equal(gradcam('merge', a, '--out', out, '--quiet').code, 0);
  });

  it('merge treats shard folders as untrusted: a symlinked thumbs/ or a symlinked thumbnail leading outside is refused, nothing copied', () => {
    const a = path.join(tmp, 'audit-a');
    const thumb = fs.readdirSync(path.join(a, 'thumbs')).find((f) => !f.includes('.cam.'))!;
    const secret = path.join(tmp, 'secret');
    fs.mkdirSync(secret);
    fs.writeFileSync(path.join(secret, thumb), 'a secret that must not be merged');
    fs.writeFileSync(path.join(secret, thumb.replace(/\.png$/, '.cam.png')), 'a secret that must not be merged');
    // thumbs/ is a symbolic link to another folder
    const linkedDir = path.join(tmp, 'shard-linked-dir');
    fs.cpSync(a, linkedDir, { recursive: true });
    fs.rmSync(path.join(linkedDir, 'thumbs'), { recursive: true });
    fs.symlinkSync(secret, path.join(linkedDir, 'thumbs'));
    // a real thumbs/ holding a symbolic link to a file outside
    const linkedFile = path.join(tmp, 'shard-linked-file');
    fs.cpSync(a, linkedFile, { recursive: true });
    fs.rmSync(path.join(linkedFile, 'thumbs', thumb));
    fs.symlinkSync(path.join(secret, thumb), path.join(linkedFile, 'thumbs', thumb));
    for (const shard of [linkedDir, linkedFile]) {
      const out = path.join(tmp, `merged-${path.basename(shard)}`);
      const m = gradcam('merge', shard, '--out', out, '--quiet');
      assert.equal(m.code, 1, m.err);
      oneError(m.err, new RegExp(`merge: refused .*${path.basename(shard)}: item '.*' names 'thumbs/.*': '.*' is a symbolic link \\(or lies in one\\) leading outside the folder .*\\(nothing was merged\\)`));
      assert.equal(fs.existsSync(out), false);
    }
    // a symbolic link that stays inside the shard folder is followed (its target is linked, not the link)
    const inside = path.join(tmp, 'shard-inside-link');
    fs.cpSync(a, inside, { recursive: true });
    fs.renameSync(path.join(inside, 'thumbs', thumb), path.join(inside, 'real.png'));
    fs.symlinkSync(path.join('..', 'real.png'), path.join(inside, 'thumbs', thumb));
    const out = path.join(tmp, 'merged-inside');
    const m = gradcam('merge', inside, '--out', out, '--quiet');
    assert.equal(m.code, 0, m.err);
    assert.equal(fs.lstatSync(path.join(out, 'thumbs', thumb)).isFile(), true);
    assert.deepEqual(fs.readFileSync(path.join(out, 'thumbs', thumb)), fs.readFileSync(path.join(inside, 'real.png')));
  });

  it('merge refuses a folder holding an audit or a merge made with another model or other settings, as audit does', () => {
    const where = path.join(tmp, 'm-where');
    const shortcut = path.join(tmp, 'm-shortcut');
    const SHORTCUT = path.join(ROOT, 'demo', 'models', 'shortcut.onnx');
    assert.equal(gradcam('audit', PHOTO, '--model', MODEL, '--out', where, '--quiet').code, 0);
    assert.equal(gradcam('audit', PHOTO, '--model', SHORTCUT, '--out', shortcut, '--quiet').code, 0);
    // an earlier merge of the where model's audit
    const merged = path.join(tmp, 'm-merged');
    assert.equal(gradcam('merge', where, '--out', merged, '--quiet').code, 0);
    const before = listing(merged);
    const m = gradcam('merge', shortcut, '--out', merged, '--quiet');
    assert.equal(m.code, 1);
    oneError(m.err, /m-merged holds an audit with other settings \(model: .*where\.onnx.* vs .*shortcut\.onnx.*\); use another --out folder, or delete .*m-merged to start over/);
    assert.deepEqual(listing(merged), before);
    // a plain audit made with another model: the same message as audit's own refusal
    const auditBefore = listing(where);
    const a = gradcam('merge', shortcut, '--out', where, '--quiet');
    assert.equal(a.code, 1);
    oneError(a.err, /m-where holds an audit with other settings \(model: /);
    assert.deepEqual(listing(where), auditBefore);
    const again = gradcam('audit', PHOTO, '--model', SHORTCUT, '--out', where, '--quiet');
    assert.equal(again.code, 1);
    oneError(again.err, /m-where holds an audit with other settings \(model: /);
    // other settings of the same model (another method) are refused too
    const cam = path.join(tmp, 'm-cam');
    assert.equal(gradcam('audit', PHOTO, '--model', MODEL, '--method', 'gradcam++', '--out', cam, '--quiet').code, 0);
    const s = gradcam('merge', cam, '--out', merged, '--quiet');
    assert.equal(s.code, 1);
    oneError(s.err, /holds an audit with other settings \(method: "gradcam" vs "gradcam\+\+"\)/);
    assert.deepEqual(listing(merged), before);
    // the same model and settings still replace the earlier merge
    assert.equal(gradcam('merge', where, '--out', merged, '--quiet').code, 0);
  });
});

describe('one-line errors', () => {
  it('usage errors point at the help instead of printing it', () => {
    const r = gradcam('explain', PHOTO);
    assert.equal(r.code, 2);
    oneError(r.err, /^gradcam: error: --model FILE is required; see 'gradcam explain --help'$/);
    const u = gradcam('audit', PHOTO, '--model', MODEL, '--bogus');
    assert.equal(u.code, 2);
    oneError(u.err, /unknown option '--bogus'; see 'gradcam audit --help'/);
  });

  it('an unknown --output names the outputs; a bad --normalize names the presets', () => {
    const r = gradcam('explain', NPY, '--model', NPY_MODEL, '--output', 'nope', '--out', path.join(tmp, 'o1'));
    assert.equal(r.code, 1);
    oneError(r.err, /unknown --output 'nope'; the model's outputs are: logits/);
    const n = gradcam('explain', NPY, '--model', NPY_MODEL, '--normalize', 'nope', '--out', path.join(tmp, 'o2'));
    assert.notEqual(n.code, 0);
    oneError(n.err, /unknown --normalize 'nope'; choose one of: imagenet, unit, symmetric, caffe; see 'gradcam explain --help'/);
  });

  it('onnxruntime rejecting a model is one clean line', () => {
    const m = decodeModel(new Uint8Array(fs.readFileSync(NPY_MODEL)));
    m.opset_import = [{ domain: '', version: 99 }];
    const f = path.join(tmp, 'opset99.onnx');
    fs.writeFileSync(f, encodeModel(m));
    const r = gradcam('explain', NPY, '--model', f, '--out', path.join(tmp, 'o3'));
    assert.equal(r.code, 1);
    oneError(r.err, /onnxruntime cannot load the model: ONNX Runtime only \*guarantees\* support/);
    assert.doesNotMatch(r.err, /onnxruntime_src|std::/);
  });

  it('external data: bad offsets, missing files and paths outside the model folder are model errors', async () => {
    const { loadExplainer } = await import('../src/node.js');
    const base = decodeModel(new Uint8Array(fs.readFileSync(NPY_MODEL)));
    const t = base.graph.initializer.find((x) => x.raw_data && x.raw_data.byteLength > 64)!;
    const raw = Buffer.from(t.raw_data!);
    const dir = path.join(tmp, 'ext');
    fs.mkdirSync(path.join(dir, 'model'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'model', 'w.bin'), raw);
    fs.writeFileSync(path.join(dir, 'outside.bin'), raw);
    fs.symlinkSync(path.join(dir, 'outside.bin'), path.join(dir, 'model', 'link.bin'));
    const cases: [Record<string, string>, RegExp][] = [
      [{ location: 'w.bin', offset: '0', length: String(raw.length) }, /^$/],
      [{ location: 'w.bin', offset: '8', length: String(raw.length) }, /external data file 'w\.bin' is truncated: the tensor needs bytes 8 to \d+, the file has \d+/],
      [{ location: 'w.bin', offset: '-4' }, /external data has a bad offset or length/],
      [{ location: 'w.bin', offset: 'abc' }, /external data has a bad offset or length/],
      [{ location: 'w.bin', offset: String(raw.length + 10) }, /has no offset \d+: the file has \d+ bytes/],
      [{ location: 'missing.bin' }, /external data file 'missing\.bin' not found beside the model/],
      [{ location: '../outside.bin' }, /points outside the model's folder/],
      [{ location: 'link.bin' }, /points outside the model's folder/],
      [{ location: path.join(dir, 'outside.bin') }, /must be a file name relative to the model's folder/],
      [{ location: '' }, /external data without a location/],
    ];
    for (const [entries, re] of cases) {
      const m = decodeModel(new Uint8Array(fs.readFileSync(NPY_MODEL)));
      const x = m.graph.initializer.find((y) => y.name === t.name)!;
      delete x.raw_data;
      x.data_location = 1;
      x.external_data = Object.entries(entries).map(([key, value]) => ({ key, value }));
      const f = path.join(dir, 'model', 'model.onnx');
      fs.writeFileSync(f, encodeModel(m));
      if (re.source === '^$') {
        const ex = await loadExplainer(f);
        await ex.release();
        continue;
      }
      await assert.rejects(loadExplainer(f), (e: Error) => {
        assert.equal(e.name, 'ModelError', e.message);
        assert.match(e.message, re);
        assert.doesNotMatch(e.message, /\n/);
        return true;
      }, JSON.stringify(entries));
    }
  });
});
