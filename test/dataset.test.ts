/**
 * The dataset engine's one-of-each pieces: the mask reader (one rule for audit and explain), the CSV
 * writer, the H[xW] size parser and the progress text shared by the CLI and the web app.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { encodePng } from '../src/image/png.js';
import { writeNpy } from '../src/image/npy.js';
import { readMask, maskFromPixels } from '../src/dataset/items.js';
import { csvField, csvLine } from '../src/util/csv.js';
import { parseCsv } from '../src/dataset/manifest.js';
import { parseHxW } from '../src/util/size.js';
import { progressText, passesText, duration } from '../src/util/progress.js';
import { writeAllOrNothing, writeAtomic, writeFiles } from '../src/util/write-node.js';
import { gradcam } from './helpers/cli.js';

let tmp: string;
before(() => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gradcam-dataset-')); });
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A w×1 RGB image from gray levels. */
const grayRow = (levels: number[]) => ({ width: levels.length, height: 1, data: Uint8Array.from(levels.flatMap((v) => [v, v, v])) });

describe('the mask reader: one rule for every command', () => {
  it('a 0/40/255 mask where the old rules disagreed: 40 (JPEG-like noise) is outside, as audit read it; explain read it inside', async () => {
    const file = path.join(tmp, 'noisy_mask.png');
    fs.writeFileSync(file, encodePng(grayRow([0, 40, 255, 200, 127, 128])));
    const m = await readMask(file);
    assert.deepEqual([m.width, m.height], [6, 1]);
    // threshold: half the brightest value (255 / 2 = 127.5)
    assert.deepEqual([...m.data], [0, 0, 1, 1, 0, 1]);
  });

  it('a 0/1 label PNG (black to the eye) is read as drawn: audit\'s brightest ≥ 128 read it empty', async () => {
    const file = path.join(tmp, 'label_mask.png');
    fs.writeFileSync(file, encodePng(grayRow([0, 1, 1, 0])));
    assert.deepEqual([...(await readMask(file)).data], [0, 1, 1, 0]);
  });

  it('colour masks count their brightest channel; an all-black mask is empty; .npy masks are non-zero', async () => {
    const colour = maskFromPixels(Uint8Array.from([200, 0, 0, 0, 0, 90, 0, 0, 0]), 3, 1);
    assert.deepEqual([...colour.data], [1, 0, 0]);
    assert.deepEqual([...maskFromPixels(new Uint8Array(6), 2, 1).data], [0, 0]);
    const npy = path.join(tmp, 'mask.npy');
    fs.writeFileSync(npy, writeNpy(Float32Array.from([0, 0.25, -3, 0, 0, 7]), [1, 2, 3]));
    const m = await readMask(npy);
    assert.deepEqual([m.width, m.height, ...m.data], [3, 2, 0, 1, 1, 0, 0, 1]);
    await assert.rejects(readMask(path.join(tmp, 'none.png')), /^InputError: mask not found: .*none\.png$/);
  });
});

describe('the CSV writer', () => {
  it('quotes ", comma, \\n and \\r (and edge spaces), doubling quotes; parses back to the same fields', () => {
    const fields = ['plain', 'a,b', 'say "hi"', 'two\nlines', 'cr\rhere', ' pad', null, 3.5, { k: [1, 2] }];
    assert.deepEqual(fields.slice(0, 6).map(csvField), ['plain', '"a,b"', '"say ""hi"""', '"two\nlines"', '"cr\rhere"', '" pad"']);
    assert.equal(csvField(null), '');
    assert.equal(csvField({ k: [1, 2] }), '"{""k"":[1,2]}"');
    const line = csvLine(fields);
    assert.ok(line.endsWith('\n'));
    const back = parseCsv(`${csvLine(fields.map((_, i) => `c${i}`))}${line}`);
    assert.deepEqual(back[1], ['plain', 'a,b', 'say "hi"', 'two\nlines', 'cr\rhere', ' pad', '', '3.5', '{"k":[1,2]}']);
  });
});

describe('the H[xW] size parser', () => {
  it('reads H, HxW, H×W and H,W', () => {
    assert.deepEqual(parseHxW('224'), [224, 224]);
    assert.deepEqual(parseHxW(' 224x192 '), [224, 192]);
    assert.deepEqual(parseHxW('32×48'), [32, 48]);
    assert.deepEqual(parseHxW('7,9', '--crop'), [7, 9]);
  });

  it('bad input: one line naming the option, the form and what was given', () => {
    for (const bad of ['', 'x', '224x', '0', '3x0', '-4', '2.5', '224x192x3', 'big']) {
      assert.throws(() => parseHxW(bad, '--crop'), (e: Error) => {
        assert.equal(e.name, 'InputError');
        assert.equal(e.message, `--crop must be H or HxW in whole pixels ≥ 1 (e.g. 224 or 224x192), got '${bad}'`);
        return true;
      });
    }
  });

  it('the CLI reports it as a usage error for --size and --crop', () => {
    const r = gradcam('explain', 'x.png', '--model', 'm.onnx', '--size', '0x4');
    assert.equal(r.code, 2);
    assert.match(r.err, /^gradcam: error: --size must be H or HxW in whole pixels ≥ 1 \(e\.g\. 224 or 224x192\), got '0x4'$/m);
    const c = gradcam('sanity', 'x.png', '--model', 'm.onnx', '--resize', '256', '--crop', '224x');
    assert.equal(c.code, 2);
    assert.match(c.err, /--crop must be H or HxW in whole pixels ≥ 1 \(e\.g\. 224 or 224x192\), got '224x'/);
  });
});

describe('the progress text (CLI and web app)', () => {
  it('counted: bar, count, percent, label, rate, eta, failures and resumed items', () => {
    assert.equal(progressText({ done: 12, total: 150, label: 'cat.jpg', elapsedS: 4, processed: 8, errors: 1, skipped: 4, bar: 10 }),
      '[#.........] 12/150 (8.0%) · cat.jpg · 2.00 img/s · eta 1m09s · 1 failed · 4 resumed');
    assert.equal(progressText({ done: 5, total: 5, elapsedS: 2.25, unit: '' }), '5/5 (100.0%) · 2.3s');
    assert.equal(progressText({ done: 40, total: 100, elapsedS: 2, unit: 'row' }), '40/100 (40.0%) · 20 row/s · eta 3.0s');
  });

  it('uncounted steps show the label and the time; passes and durations', () => {
    assert.equal(progressText({ label: 'loading model.onnx', elapsedS: 1.04 }), 'loading model.onnx · 1.0s');
    assert.equal(passesText(40, 128, 'Score-CAM', 2), 'Score-CAM: 40/128 passes (20/s, eta 4.4s)');
    assert.deepEqual([duration(59.2), duration(187), duration(7500)], ['60s', '3m07s', '2h05m']);
  });
});

describe('the safe-write API', () => {
  it('writeAtomic writes bytes and streamed chunks, leaving no temporaries', async () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'w-'));
    await writeAtomic(path.join(dir, 'a.bin'), Uint8Array.from([1, 2, 3]));
    await writeAtomic(path.join(dir, 'b.txt'), ['x', '', new TextEncoder().encode('y'), 'z']);
    assert.deepEqual(fs.readdirSync(dir).sort(), ['a.bin', 'b.txt']);
    assert.equal(fs.readFileSync(path.join(dir, 'b.txt'), 'utf8'), 'xyz');
  });

  it('an all-or-nothing group that fails leaves the folder as it was; one that succeeds writes every file', async () => {
    const dir = path.join(tmp, 'group');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'keep.txt'), 'before');
    await assert.rejects(writeAllOrNothing(dir, [], async (add) => {
      await add('keep.txt', new TextEncoder().encode('after'));
      await add('new.txt', new TextEncoder().encode('new'));
      throw new Error('failed half-way');
    }), /failed half-way/);
    assert.deepEqual(fs.readdirSync(dir), ['keep.txt']);
    assert.equal(fs.readFileSync(path.join(dir, 'keep.txt'), 'utf8'), 'before');
    const written = await writeFiles(dir, [{ name: 'keep.txt', bytes: 'after' }, { name: 'new.txt', bytes: Uint8Array.from([110]) }]);
    assert.deepEqual(written, [path.join(dir, 'keep.txt'), path.join(dir, 'new.txt')]);
    assert.deepEqual(fs.readdirSync(dir).sort(), ['keep.txt', 'new.txt']);
    assert.equal(fs.readFileSync(path.join(dir, 'keep.txt'), 'utf8'), 'after');
    // an output that would replace an input is refused before anything is replaced
    await assert.rejects(writeFiles(dir, [{ name: 'new.txt', bytes: 'x' }], [path.join(dir, 'new.txt')]), /would replace the input/);
    assert.equal(fs.readFileSync(path.join(dir, 'new.txt'), 'utf8'), 'n');
  });
});
