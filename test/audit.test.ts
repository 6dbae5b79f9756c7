/**
 * Dataset audits: resumable runs (killed and restarted = uninterrupted), a corrupt file in the middle,
 * shards merged = one run, the HTML report, and the browser-safe pieces (manifests, globs, metrics).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { encodePng } from '../src/image/png.js';
import { parseNpy } from '../src/image/npy.js';
import { globToRegExp, splitGlob } from '../src/dataset/glob.js';
import { parseManifest, parseCsv, decodeRle } from '../src/dataset/manifest.js';
import { boxesRegion, isFlagged, mapMetrics, maskRegion } from '../src/audit/metrics.js';
import { shardOf, parseShard, itemStem } from '../src/dataset/shard.js';
import { summarize, reportOrder } from '../src/audit/summary.js';
import type { AuditRow } from '../src/audit/types.js';
import { listInputs } from '../src/dataset/listing.js';
import { readRows } from '../src/dataset/store.js';
import { isDatasetInput, datasetStem } from '../src/cli/explain.js';
import { FIXTURES } from './helpers/fixtures.js';
import { BIN, ROOT, gradcam, hookedArgs } from './helpers/cli.js';

const MODEL = path.join(FIXTURES, 'resnet_like', 'model.onnx');
const N = 24;
const CORRUPT = 11;

let tmp: string;
let data: string;
let manifest: string;

function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A smooth random background with a bright square (the "object"); returns the PNG and the square's box. */
function scene(i: number): { png: Uint8Array; box: [number, number, number, number]; w: number; h: number } {
  const r = rng(1000 + i);
  const w = [48, 64, 40][i % 3]!;
  const h = [48, 48, 56][i % 3]!;
  const px = new Uint8Array(w * h * 3);
  const f = [r() * 0.3, r() * 0.3, r() * 0.3];
  const ph = [r() * 6, r() * 6, r() * 6];
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < 3; c++) px[(y * w + x) * 3 + c] = Math.round(127 + 100 * Math.sin(f[c]! * (x + 2 * y) + ph[c]!));
  const s = 12 + Math.floor(r() * 10);
  const x0 = Math.floor(r() * (w - s));
  const y0 = Math.floor(r() * (h - s));
  for (let y = y0; y < y0 + s; y++) for (let x = x0; x < x0 + s; x++) px.set([250, 240, 20], (y * w + x) * 3);
  return { png: encodePng({ width: w, height: h, data: px }), box: [x0, y0, x0 + s, y0 + s], w, h };
}

before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gradcam-audit-'));
  data = path.join(tmp, 'data');
  fs.mkdirSync(path.join(data, 'sub'), { recursive: true });
  const lines = ['path,label,boxes,mask'];
  for (let i = 0; i < N; i++) {
    const name = `${i < 12 ? '' : 'sub/'}img${String(i).padStart(3, '0')}.png`;
    const s = scene(i);
    if (i === CORRUPT) fs.writeFileSync(path.join(data, name), Buffer.from('\x89PNG\r\n\x1a\n this is not really a png'));
    else fs.writeFileSync(path.join(data, name), s.png);
    let mask = '';
    if (i % 5 === 0) {
      // a mask image for some items: the square's left half
      const m = new Uint8Array(s.w * s.h * 3);
      const [x0, y0, x1, y1] = s.box;
      for (let y = y0; y < y1; y++) for (let x = x0; x < (x0 + x1) >> 1; x++) m.fill(255, (y * s.w + x) * 3, (y * s.w + x) * 3 + 3);
      mask = `masks/${i}.png`;
      fs.mkdirSync(path.join(data, 'masks'), { recursive: true });
      fs.writeFileSync(path.join(data, mask), encodePng({ width: s.w, height: s.h, data: m }));
    }
    const label = i % 7 === 3 ? '' : String(i % 10);
    lines.push(`${name},${label},"${s.box.join(' ')}",${mask}`);
  }
  manifest = path.join(data, 'manifest.csv');
  fs.writeFileSync(manifest, `${lines.join('\n')}\n`);
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function rowsOf(dir: string): AuditRow[] {
  return fs.readFileSync(path.join(dir, 'results.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditRow);
}

function lineCount(file: string): number {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).length;
  } catch {
    return 0;
  }
}

describe('gradcam audit (CLI)', () => {
  let ref: string;
  let refRows: AuditRow[];

  before(() => {
    ref = path.join(tmp, 'ref');
    const r = gradcam('audit', manifest, '--model', MODEL, '--out', ref, '--batch-size', '4', '--quiet');
    assert.equal(r.code, 3, `exit 3 = finished with failed items\n${r.err}`);
    refRows = rowsOf(ref);
  });

  it('explains every item; a corrupt file in the middle becomes an error row and the run goes on', () => {
    assert.equal(refRows.length, N);
    assert.deepEqual(refRows.map((r) => r.index), Array.from({ length: N }, (_, i) => i));
    assert.equal(new Set(refRows.map((r) => r.key)).size, N);
    const bad = refRows.filter((r) => r.status === 'error');
    assert.equal(bad.length, 1);
    assert.equal(bad[0]!.index, CORRUPT);
    assert.match(bad[0]!.error!, /cannot decode image .*img011\.png/);
    for (const r of refRows.filter((x) => x.status === 'ok')) {
      assert.ok(r.predicted && r.metrics, r.key);
      assert.ok(fs.existsSync(path.join(ref, r.files.thumb!)) && fs.existsSync(path.join(ref, r.files.overlay!)), `thumbnails of ${r.key}`);
      assert.equal(r.metrics.region, r.index % 5 === 0 ? 'mask' : 'boxes');
      const e = r.metrics.energy_in_object!;
      assert.ok(e >= 0 && e <= 1);
      assert.ok(Math.abs(r.metrics.lift! - e / r.metrics.object_area!) < 1e-4 * r.metrics.lift!);
      assert.equal(r.flagged, r.metrics.lift! < 1);
      if (r.index % 7 === 3) assert.equal(r.truth, null);
      else assert.equal(r.correct, r.truth!.index === r.predicted.index);
    }
    const csv = fs.readFileSync(path.join(ref, 'results.csv'), 'utf8').trim().split('\n');
    assert.equal(csv.length, N + 1);
    const summary = JSON.parse(fs.readFileSync(path.join(ref, 'summary.json'), 'utf8'));
    assert.equal(summary.n, N);
    assert.equal(summary.errors, 1);
    assert.ok(summary.by_true_class.length > 0 && summary.by_predicted_class.length > 0);
    assert.match(fs.readFileSync(path.join(ref, 'classes.csv'), 'utf8'), /^grouping,index,label,n,/);
  });

  it('killed midway (SIGKILL, then a torn line) and restarted: identical results, nothing lost or duplicated', async () => {
    const out = path.join(tmp, 'killed');
    const results = path.join(out, 'results.jsonl');
    const child = spawn(process.execPath, hookedArgs({ batchPauseMs: 150 }, ['audit', manifest, '--model', MODEL, '--out', out, '--batch-size', '2', '--quiet']), {
      cwd: ROOT, stdio: 'ignore',
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    let killedAt = 0;
    for (let t = 0; t < 600 && !killedAt; t++) {
      await new Promise((r) => setTimeout(r, 25));
      const n = lineCount(results);
      if (n >= 6) {
        child.kill('SIGKILL');
        killedAt = n;
      }
    }
    await exited;
    assert.ok(killedAt >= 6 && killedAt < N, `killed part-way (${killedAt} rows)`);
    const partial = lineCount(results);
    assert.ok(partial < N);
    // a kill during an append leaves a torn last line
    fs.appendFileSync(results, '{"key":"sub/img020.png","index":20,"file":"x","sta');
    // resumed by two workers: the rest of the rows, in order
    const r = gradcam('audit', manifest, '--model', MODEL, '--out', out, '--batch-size', '3', '--workers', '2', '--quiet');
    assert.equal(r.code, 3, r.err);
    const rows = rowsOf(out);
    assert.deepEqual(rows, refRows);
    assert.equal(new Set(rows.map((x) => x.key)).size, N);
    const leftovers = fs.readdirSync(path.join(out, 'thumbs')).filter((f) => f.includes('.tmp-'));
    assert.deepEqual(leftovers, []);
    // a third run has nothing left to do
    const again = gradcam('audit', manifest, '--model', MODEL, '--out', out);
    assert.equal(again.code, 3);
    assert.match(again.out, /24\/24 images done \(0 now, 24 already done\), 1 failed/);
    assert.deepEqual(rowsOf(out), refRows);
  });

  it('--workers 2 (two sessions in worker threads) gives the rows, thumbnails and maps of one worker', () => {
    const one = path.join(tmp, 'workers-1');
    const two = path.join(tmp, 'workers-2');
    assert.equal(gradcam('audit', manifest, '--model', MODEL, '--out', one, '--maps', '--quiet').code, 3);
    const r = gradcam('audit', manifest, '--model', MODEL, '--out', two, '--maps', '--workers', '2', '--threads', '1', '--quiet');
    assert.equal(r.code, 3, r.err);
    const rows = rowsOf(two);
    assert.deepEqual(rows, rowsOf(one));
    assert.deepEqual(rows.map(({ files: { map: _, ...f }, ...x }) => ({ ...x, files: f })), refRows);
    let maps = 0;
    for (const row of rows.filter((x) => x.status === 'ok')) {
      assert.deepEqual(fs.readFileSync(path.join(two, row.files.thumb!)), fs.readFileSync(path.join(one, row.files.thumb!)), row.key);
      assert.deepEqual(fs.readFileSync(path.join(two, row.files.overlay!)), fs.readFileSync(path.join(ref, row.files.overlay!)), row.key);
      const a = parseNpy(fs.readFileSync(path.join(one, row.files.map!)));
      const b = parseNpy(fs.readFileSync(path.join(two, row.files.map!)));
      assert.deepEqual(b.shape, a.shape);
      let d = 0;
      for (let i = 0; i < a.data.length; i++) d = Math.max(d, Math.abs(Number(a.data[i]) - Number(b.data[i])));
      assert.ok(d <= 1e-6, `${row.key}: maps differ by ${d}`);
      maps++;
    }
    assert.equal(maps, N - 1);
    const many = gradcam('audit', manifest, '--model', MODEL, '--out', path.join(tmp, 'workers-many'), '--workers', String(os.availableParallelism() + 1), '--quiet');
    assert.equal(many.code, 1);
    assert.match(many.err, new RegExp(`--workers ${os.availableParallelism() + 1}: this machine has ${os.availableParallelism()} cores; give at most ${os.availableParallelism()}`));
    assert.ok(!fs.existsSync(path.join(tmp, 'workers-many', 'results.jsonl')));
  });

  it('refuses to resume into a folder made with other settings', () => {
    const r = gradcam('audit', manifest, '--model', MODEL, '--out', ref, '--class', '3', '--quiet');
    assert.equal(r.code, 1);
    assert.match(r.err, /holds an audit with other settings \(class: "top" vs "3"\)/);
  });

  it('retries error rows with --retry-errors once the file is fixed', () => {
    const out = path.join(tmp, 'retry');
    fs.cpSync(ref, out, { recursive: true });
    const dir = path.join(tmp, 'data-fixed');
    fs.cpSync(data, dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'img011.png'), scene(CORRUPT).png);
    const r = gradcam('audit', path.join(dir, 'manifest.csv'), '--model', MODEL, '--out', out, '--retry-errors', '--quiet');
    assert.equal(r.code, 0, r.err);
    const rows = rowsOf(out);
    assert.equal(rows.length, N);
    assert.ok(rows.every((x) => x.status === 'ok'));
  });

  it('shards merged equal an unsharded run', () => {
    const dirs = [0, 1, 2].map((i) => path.join(tmp, `shard-${i}`));
    const sizes = dirs.map((d, i) => {
      const r = gradcam('audit', manifest, '--model', MODEL, '--out', d, '--shard', `${i}/3`, '--batch-size', '5', '--quiet');
      assert.ok(r.code === 0 || r.code === 3, r.err);
      return rowsOf(d).length;
    });
    assert.equal(sizes.reduce((a, b) => a + b, 0), N);
    assert.ok(sizes.every((s) => s > 0), `every shard has items (${sizes})`);
    const merged = path.join(tmp, 'merged');
    const r = gradcam('merge', ...dirs, '--out', merged);
    assert.equal(r.code, 3, r.err); // the corrupt image
    assert.deepEqual(rowsOf(merged), refRows);
    for (const row of refRows) if (row.files.thumb) assert.ok(fs.existsSync(path.join(merged, row.files.thumb)));
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(merged, 'summary.json'), 'utf8')).by_true_class,
      JSON.parse(fs.readFileSync(path.join(ref, 'summary.json'), 'utf8')).by_true_class);
    // a missing shard is reported
    const part = gradcam('merge', dirs[0]!, dirs[2]!, '--out', path.join(tmp, 'merged-part'));
    assert.equal(part.code, 3);
    assert.match(part.err, /missing shard 1\/3/);
    assert.match(fs.readFileSync(path.join(tmp, 'merged-part', 'report.html'), 'utf8'), /missing shard 1\/3/);
  });

  it('refuses to merge audits made with different settings', () => {
    const other = path.join(tmp, 'other');
    const r = gradcam('audit', path.join(data, 'img000.png'), '--model', MODEL, '--out', other, '--flag-below', '0.3', '--flag-lift', 'off', '--quiet');
    assert.equal(r.code, 0, r.err);
    const m = gradcam('merge', ref, other, '--out', path.join(tmp, 'merged-bad'));
    assert.equal(m.code, 1);
    assert.match(m.err, /other settings than .*ref \(flag_lift: 1 vs null; flag_below: null vs 0\.3\)/);
  });

  it('writes an HTML report that parses and lists every item, flagged first', () => {
    const html = fs.readFileSync(path.join(ref, 'report.html'), 'utf8');
    const items = checkWellFormed(html);
    assert.deepEqual([...items.keys()].sort(), refRows.map((r) => r.key).sort());
    const order = [...items.values()];
    const flagged = order.filter((a) => a['data-flagged'] === 'true').length;
    assert.ok(order.slice(0, flagged).every((a) => a['data-flagged'] === 'true'), 'flagged rows come first');
    assert.equal(flagged, refRows.filter((r) => r.flagged).length);
    for (const id of ['f-mis', 'f-flag', 'f-err']) assert.ok(html.includes(`id="${id}"`));
    for (const r of refRows) if (r.files.overlay) assert.ok(html.includes(`src="${r.files.overlay}"`));
    runReportScript(html, items);
  });

  it('gradcam explain on folders and quoted globs writes the per-image files of explain on files, and resumes', () => {
    const out = path.join(tmp, 'dir');
    const r = gradcam('explain', path.join(data, 'sub'), '--model', MODEL, '--out', out, '--quiet');
    assert.equal(r.code, 0, r.err);
    const rows = (f: string) => fs.readFileSync(path.join(f, 'explain.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { key: string; status: string; files: string[] });
    assert.deepEqual(rows(out).map((x) => x.key), Array.from({ length: 12 }, (_, i) => `img${String(12 + i).padStart(3, '0')}.png`));
    // the same files as explain on the file itself: overlay PNG + JSON sidecar, equal bytes
    const one = path.join(tmp, 'one');
    assert.equal(gradcam('explain', path.join(data, 'sub', 'img012.png'), '--model', MODEL, '--out', one, '--quiet').code, 0);
    assert.deepEqual(rows(out)[0]!.files, ['img012.gradcam.png', 'img012.gradcam.json']);
    assert.ok(fs.readFileSync(path.join(one, 'img012.gradcam.png')).equals(fs.readFileSync(path.join(out, 'img012.gradcam.png'))));
    const sidecar = (f: string) => ({ ...JSON.parse(fs.readFileSync(f, 'utf8')), timings_ms: undefined });
    assert.deepEqual(sidecar(path.join(out, 'img012.gradcam.json')), sidecar(path.join(one, 'img012.gradcam.json')));
    // --workers 2: the rows and the files (bytes; sidecars but for their timings) of one worker
    const two = path.join(tmp, 'dir-workers');
    const w = gradcam('explain', path.join(data, 'sub'), '--model', MODEL, '--out', two, '--workers', '2', '--quiet');
    assert.equal(w.code, 0, w.err);
    assert.deepEqual(rows(two), rows(out));
    for (const f of rows(out).flatMap((x) => x.files)) {
      if (f.endsWith('.json')) assert.deepEqual(sidecar(path.join(two, f)), sidecar(path.join(out, f)), f);
      else assert.ok(fs.readFileSync(path.join(two, f)).equals(fs.readFileSync(path.join(out, f))), f);
    }
    // a second run resumes: nothing left to do; other settings are refused
    const again = gradcam('explain', path.join(data, 'sub'), '--model', MODEL, '--out', out);
    assert.equal(again.code, 0, again.err);
    assert.match(again.out, /12\/12 images done \(0 now, 12 already done\)/);
    const other = gradcam('explain', path.join(data, 'sub'), '--model', MODEL, '--out', out, '--alpha', '0.3');
    assert.equal(other.code, 1);
    assert.match(other.err, /holds an explain with other settings/);
    // a glob, with the raw maps: folders under the glob's root are mirrored under --out
    const g = gradcam('explain', `${data}/**/img01[2-3].png`, '--model', MODEL, '--out', path.join(tmp, 'glob'), '--raw', '--quiet');
    assert.equal(g.code, 0, g.err);
    assert.deepEqual(rows(path.join(tmp, 'glob')).map((x) => x.key), ['sub/img012.png', 'sub/img013.png']);
    const map = parseNpy(new Uint8Array(fs.readFileSync(path.join(tmp, 'glob', 'sub', 'img012.gradcam.npy'))));
    assert.deepEqual(map.shape, [48, 48]);
    // the options that 'explain <folder>' used to reject as the audit's unknowns: a gradient method, --raw
    const gg = gradcam('explain', `${data}/**/img01[2-3].png`, '--model', MODEL, '--out', path.join(tmp, 'guided'), '--method', 'guided-gradcam', '--raw', '--quiet');
    assert.equal(gg.code, 0, gg.err);
    assert.deepEqual(rows(path.join(tmp, 'guided'))[0]!.files, ['sub/img012.guided-gradcam.png', 'sub/img012.guided-gradcam.npy', 'sub/img012.guided-gradcam.json']);
  });
});

/**
 * A strict little HTML check: every non-void element is closed in order, attributes are quoted, no stray
 * '<' or '&'. Returns the attributes of the gallery rows (tr.item) by data-key, in document order.
 */
function checkWellFormed(html: string): Map<string, Record<string, string>> {
  const VOID = new Set(['meta', 'img', 'input', 'br', 'hr', 'link']);
  const stack: string[] = [];
  const items = new Map<string, Record<string, string>>();
  let i = html.indexOf('<html');
  assert.ok(html.startsWith('<!DOCTYPE html>') && i > 0);
  const entity = /^&(amp|lt|gt|quot|#39);/;
  while (i < html.length) {
    const lt = html.indexOf('<', i);
    const text = html.slice(i, lt < 0 ? html.length : lt);
    for (let k = text.indexOf('&'); k >= 0; k = text.indexOf('&', k + 1)) assert.match(text.slice(k, k + 8), entity, `bad entity near ${text.slice(k, k + 20)}`);
    if (lt < 0) break;
    const gt = html.indexOf('>', lt);
    const tag = html.slice(lt + 1, gt);
    i = gt + 1;
    if (tag.startsWith('/')) {
      const name = tag.slice(1).trim();
      assert.equal(stack.pop(), name, `</${name}> closes the wrong element`);
      continue;
    }
    const m = /^([a-zA-Z][a-zA-Z0-9]*)((?:\s+[a-zA-Z-]+="[^"<]*")*)\s*(\/?)$/.exec(tag);
    assert.ok(m, `malformed tag <${tag.slice(0, 60)}>`);
    const name = m[1]!.toLowerCase();
    const attrs: Record<string, string> = {};
    for (const a of m[2]!.matchAll(/([a-zA-Z-]+)="([^"]*)"/g)) attrs[a[1]!] = a[2]!.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
    if (name === 'tr' && /\bitem\b/.test(attrs['class'] ?? '')) {
      assert.ok(!items.has(attrs['data-key']!), `row ${attrs['data-key']} listed twice`);
      items.set(attrs['data-key']!, attrs);
    }
    if (name === 'script' || name === 'style') {
      const end = html.indexOf(`</${name}>`, i);
      assert.ok(!html.slice(i, end).includes('<'), `no '<' inside <${name}>`);
      i = end + name.length + 3;
      continue;
    }
    if (!VOID.has(name) && !m[3]) stack.push(name);
  }
  assert.deepEqual(stack, [], 'every element closed');
  return items;
}

/** Runs the report's script against a stub DOM: the filters hide the right rows, a header click sorts. */
function runReportScript(html: string, items: Map<string, Record<string, string>>): void {
  const script = /<script>([\s\S]*)<\/script>/.exec(html)![1]!;
  type Handler = () => void;
  const control = (extra: Record<string, unknown> = {}) => {
    const handlers: Record<string, Handler> = {};
    return { ...extra, handlers, addEventListener: (ev: string, f: Handler) => { handlers[ev] = f; } };
  };
  const rows = [...items.values()].map((a) => ({
    dataset: Object.fromEntries(Object.entries(a).filter(([k]) => k.startsWith('data-')).map(([k, v]) => [k.slice(5), v])),
    style: { display: '' },
  }));
  let order = rows.slice();
  const tbody = { querySelectorAll: () => rows, appendChild: (frag: { list: typeof rows }) => { order = frag.list; } };
  const ids: Record<string, ReturnType<typeof control> & { checked?: boolean; value?: string; textContent?: string }> = {
    'f-mis': control({ checked: false }), 'f-flag': control({ checked: false }), 'f-err': control({ checked: false }),
    'f-q': control({ value: '' }), shown: control({ textContent: '' }),
  };
  const ths = [...html.matchAll(/<th class="sort" data-key="(\w+)" data-type="(\w+)">/g)].map((m) => {
    const cls = new Set<string>();
    return control({ dataset: { key: m[1], type: m[2] }, classList: { add: (c: string) => cls.add(c), remove: (c: string) => cls.delete(c), contains: (c: string) => cls.has(c) } });
  });
  const document = {
    getElementById: (id: string) => (id === 'items' ? tbody : ids[id]),
    querySelectorAll: () => ths,
    createDocumentFragment: () => { const list: typeof rows = []; return { list, appendChild: (r: (typeof rows)[number]) => list.push(r) }; },
  };
  new Function('document', script)(document);
  const visible = () => rows.filter((r) => r.style.display !== 'none');
  assert.equal(visible().length, rows.length);
  ids['f-flag']!.checked = true;
  ids['f-flag']!.handlers['change']!();
  assert.ok(visible().length > 0 && visible().every((r) => r.dataset['flagged'] === 'true'));
  assert.equal(ids['shown']!.textContent, String(visible().length));
  ids['f-flag']!.checked = false;
  ids['f-mis']!.checked = true;
  ids['f-mis']!.handlers['change']!();
  assert.ok(visible().every((r) => r.dataset['correct'] === 'false'));
  ids['f-mis']!.checked = false;
  ids['f-err']!.checked = true;
  ids['f-err']!.handlers['change']!();
  assert.deepEqual(visible().map((r) => r.dataset['status']), ['error']);
  ids['f-err']!.checked = false;
  ids['f-q']!.value = 'img00';
  ids['f-q']!.handlers['input']!();
  assert.equal(visible().length, 10);
  const energy = ths.find((t) => (t as unknown as { dataset: { key: string } }).dataset.key === 'energy')!;
  energy.handlers['click']!();
  const values = order.map((r) => r.dataset['energy']).filter((v) => v !== '').map(Number);
  assert.deepEqual(values, [...values].sort((a, b) => a - b));
  assert.equal(order[order.length - 1]!.dataset['status'], 'error', 'rows without a value sort last');
  energy.handlers['click']!();
  const desc = order.map((r) => r.dataset['energy']).filter((v) => v !== '').map(Number);
  assert.deepEqual(desc, [...desc].sort((a, b) => b - a));
}

describe('audit building blocks', () => {
  it('parses CSV with quotes, one-row-per-box files and column aliases', () => {
    assert.deepEqual(parseCsv('a,b\n"x, ""y""",2\r\n\n3,\n'), [['a', 'b'], ['x, "y"', '2'], ['3', '']]);
    const e = parseManifest('File,Class,xmin,ymin,xmax,ymax\na.jpg,cat,1,2,10,20\na.jpg,cat,30,30,40,40\nb.jpg,3,,,,\n', 'm.csv');
    assert.deepEqual(e, [{ path: 'a.jpg', label: 'cat', boxes: [[1, 2, 10, 20], [30, 30, 40, 40]] }, { path: 'b.jpg', label: 3 }]);
    assert.throws(() => parseManifest('path,box\na.jpg,"10 10 5 20"\n', 'm.csv'), /box \[10, 10, 5, 20\] is empty/);
    assert.throws(() => parseManifest('image,label\na.jpg,1\na.jpg,2\n', 'm.csv'), /listed twice with different labels/);
    assert.throws(() => parseManifest('name,label\na.jpg,1\n', 'm.csv'), /no path column/);
  });

  it('parses JSONL and annotations.json manifests (numeric class preferred, row-major RLE)', () => {
    const j = parseManifest('{"path":"a.png","label":"dog","boxes":[[0,0,2,2]]}\n\n{"image":"b.png","mask_rle":{"size":[2,3],"counts":[1,2,3]}}\n', 'm.jsonl');
    assert.deepEqual(j[0], { path: 'a.png', label: 'dog', boxes: [[0, 0, 2, 2]] });
    assert.deepEqual(j[1]!.maskRle, { size: [2, 3], counts: [1, 2, 3], order: 'column-major' });
    const a = parseManifest(JSON.stringify({ images: [{ file: '000.png', class: 4, label: 'Coat', box: [1, 1, 3, 3], mask_rle: { size: [2, 2], order: 'row-major', counts: [1, 2, 1] } }] }), 'annotations.json');
    assert.equal(a[0]!.label, 4);
    assert.deepEqual([...decodeRle(a[0]!.maskRle!).data], [0, 1, 1, 0]);
    // COCO (column-major): counts [1,2,3] over 2x3 → pixels 1,2 in column order = (1,0) and (0,1)
    assert.deepEqual([...decodeRle({ size: [2, 3], counts: [1, 2, 3] }).data], [0, 1, 0, 1, 0, 0]);
    assert.throws(() => parseManifest('{"path":"a.png","mask_rle":{"size":[2,2],"counts":[1,2]}}', 'm.jsonl'), /add up to 3, expected 2x2/);
  });

  it('matches globs', () => {
    assert.deepEqual(splitGlob('data/train/**/*.png'), { base: 'data/train', rest: '**/*.png' });
    const re = globToRegExp('**/*.{png,jpg}');
    assert.ok(re.test('a.png') && re.test('x/y/a.jpg') && !re.test('a.webp') && !re.test('x/a.pngx'));
    assert.ok(globToRegExp('img0[0-4]?.png').test('img012.png') && !globToRegExp('img0[0-4]?.png').test('img052.png'));
    assert.ok(globToRegExp('*.png').test('a.png') && !globToRegExp('*.png').test('x/a.png'));
    assert.ok(globToRegExp('[!a]*').test('b') && !globToRegExp('[!a]*').test('ab'));
  });

  it('lists folders recursively and sorted, skipping the output folder and non-images', async () => {
    const dir = path.join(tmp, 'walk');
    fs.mkdirSync(path.join(dir, 'b', 'out'), { recursive: true });
    for (const f of ['b/2.png', 'a.jpg', 'b/10.png', 'notes.txt', '.hidden.png', 'b/out/x.png']) fs.writeFileSync(path.join(dir, f), '');
    const items = await listInputs([dir, path.join(dir, 'a.jpg')], { exclude: [path.join(dir, 'b', 'out')] });
    assert.deepEqual(items.map((x) => x.key), ['a.jpg', 'b/10.png', 'b/2.png', 'a.jpg#2']);
    await assert.rejects(listInputs([path.join(dir, 'nope.png')]), /input not found/);
    await assert.rejects(listInputs([`${dir}/*.gif`]), /no files match/);
  });

  it('computes energy on the object, pointing and coverage', () => {
    const w = 4, h = 2;
    const map = new Float32Array([1, 1, 0, 0, 0.5, 0.5, 0, 0]);
    const m = mapMetrics(map, w, h, boxesRegion([[0, 0, 1, 2]], w, h));
    assert.equal(m.energy_in_object, 0.5);
    assert.equal(m.object_area, 0.25);
    assert.equal(m.lift, 2);
    assert.equal(isFlagged(m, { flag_lift: 1, flag_below: null }), false);
    assert.equal(isFlagged(m, { flag_lift: 2.5, flag_below: null }), true);
    assert.equal(isFlagged(m, { flag_lift: null, flag_below: 0.6 }), true);
    assert.equal(isFlagged(m, { flag_lift: null, flag_below: null }), false);
    assert.equal(m.peak_in_object, true);
    assert.deepEqual(m.peak, [0, 0]);
    assert.equal(m.coverage, 0.5);
    const none = mapMetrics(map, w, h);
    assert.equal(none.energy_in_object, null);
    const zero = mapMetrics(new Float32Array(8), w, h, boxesRegion([[0, 0, 4, 2]], w, h));
    assert.equal(zero.energy_in_object, null);
    // a 2x1 mask scaled to 4x2 with nearest neighbour
    assert.deepEqual([...maskRegion({ data: new Uint8Array([1, 0]), width: 2, height: 1 }, 4, 2).data], [1, 1, 0, 0, 1, 1, 0, 0]);
    // fractional boxes: pixel centres decide
    assert.deepEqual([...boxesRegion([[0.6, 0, 2.6, 1]], 4, 1).data], [0, 1, 1, 0]);
  });

  it('partitions items into shards deterministically', () => {
    const keys = Array.from({ length: 300 }, (_, i) => `dir/${i}.jpg`);
    const parts = [0, 1, 2, 3].map((s) => keys.filter((k) => shardOf(k, 4) === s));
    assert.equal(parts.flat().length, 300);
    assert.ok(parts.every((p) => p.length > 50), `balanced: ${parts.map((p) => p.length)}`);
    assert.equal(shardOf('dir/7.jpg', 4), shardOf('dir/7.jpg', 4));
    assert.deepEqual(parseShard('2/5'), { index: 2, count: 5 });
    assert.throws(() => parseShard('5/5'), /between 0 and 4/);
    assert.throws(() => parseShard('1-2'), /i\/N/);
    assert.match(itemStem('a b/c d.png#2'), /^c_d-[0-9a-f]{8}$/);
    assert.notEqual(itemStem('x/a.png'), itemStem('y/a.png'));
  });

  it('summarises per class and orders flagged rows first', () => {
    const row = (i: number, t: number, p: number, e: number | null, status: 'ok' | 'error' = 'ok'): AuditRow => ({
      key: `k${i}`, index: i, file: `f${i}`, status, truth: { index: t, label: null },
      predicted: status === 'ok' ? { index: p, label: null, logit: 1, probability: 0.5 } : undefined,
      correct: status === 'ok' ? t === p : null,
      metrics: status === 'ok' ? { peak: [0, 0], coverage: 0.1, energy_in_object: e, object_area: 0.2, lift: e === null ? null : e / 0.2, peak_in_object: (e ?? 0) > 0.5, region: 'boxes' } : undefined,
      flagged: e !== null && e < 0.5, warnings: [], files: {},
    });
    const rows = [row(0, 1, 1, 0.9), row(1, 1, 2, 0.2), row(2, 2, 2, 0.4), row(3, 2, 0, null, 'error'), row(4, 2, 2, 0.8)];
    const s = summarize(rows);
    assert.equal(s.accuracy, 0.75);
    assert.equal(s.flagged, 2);
    assert.equal(s.errors, 1);
    const c2 = s.by_true_class.find((c) => c.index === 2)!;
    assert.deepEqual([c2.n, c2.errors, c2.correct, c2.mean_energy_in_object, c2.flagged], [3, 1, 2, 0.6, 1]);
    assert.deepEqual(reportOrder(rows).map((r) => r.index), [1, 2, 3, 0, 4]);
  });

  it('tells dataset inputs of gradcam explain (folders, globs, manifests) from files, and names their outputs', () => {
    assert.equal(isDatasetInput('a.png'), false);
    assert.equal(isDatasetInput(path.join(FIXTURES, 'resnet_like', 'input.npy')), false);
    assert.equal(isDatasetInput(FIXTURES), true);
    assert.equal(isDatasetInput('imgs/*.png'), true);
    assert.equal(isDatasetInput(manifest), true);
    // outputs mirror the item's path under its folder, never leave --out, and repeats get -2
    assert.equal(datasetStem('cats/tabby/a.jpg'), 'cats/tabby/a');
    assert.equal(datasetStem('../up/b.png'), '_/up/b');
    assert.equal(datasetStem('a.png#2'), 'a-2');
  });

  it('reads a store with a torn last line', async () => {
    const dir = path.join(tmp, 'torn');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'results.jsonl'), '{"key":"a","status":"ok"}\n{"key":"b","status":"error"}\n{"key":"c","sta');
    const r = await readRows<AuditRow>(dir, 'results.jsonl');
    assert.deepEqual([...r.rows.keys()], ['a', 'b']);
    assert.equal(r.validBytes, 55);
  });
});
