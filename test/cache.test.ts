/**
 * The compile cache (runtime/node.ts diskCompileCache): a second Explainer of the same model reads the
 * gradient graph (onnxruntime's optimised form) and the layer table from disk instead of probing and
 * compiling, and gets bit-identical maps; damaged entries are rebuilt; another model gets its own entries.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadExplainer, diskCompileCache, type CompileCache } from '../src/node.js';
import { explainGradients } from '../src/methods/gradient/explain.js';
import { parseNpy, toFloat32 } from '../src/image/npy.js';

const FIXTURES = path.join(path.dirname(new URL(import.meta.url).pathname), 'fixtures');

/** A cache that counts its hits and writes. */
function counting(inner: CompileCache): CompileCache & { hits: number; misses: number; writes: number } {
  const c = {
    hits: 0, misses: 0, writes: 0,
    async get(k: string) {
      const v = await inner.get(k);
      if (v) c.hits++;
      else c.misses++;
      return v;
    },
    async set(k: string, v: Uint8Array) {
      c.writes++;
      await inner.set(k, v);
    },
  };
  return c;
}

async function gradcamOf(model: string, cache: CompileCache) {
  const ex = await loadExplainer(model, { cache });
  try {
    const npy = parseNpy(new Uint8Array(fs.readFileSync(path.join(path.dirname(model), 'input.npy'))));
    const r = await ex.explain(toFloat32(npy), npy.shape, {});
    const g = await explainGradients(ex, toFloat32(npy), npy.shape, { method: 'guided-gradcam' });
    return { maps: r.explanations.map((e) => e.map), logits: r.explanations.map((e) => e.target.logit), guided: g.explanations.map((e) => e.gradient) };
  } finally {
    await ex.release();
  }
}

describe('compile cache', () => {
  for (const name of ['resnet_like', 'mobilenet_like']) {
    it(`${name}: the second Explainer reads graph and layers from the cache, with identical maps`, async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gradcam-cache-'));
      try {
        const model = path.join(FIXTURES, name, 'model.onnx');
        const bytes = new Uint8Array(fs.readFileSync(model));
        const first = counting(diskCompileCache(bytes, { dir })!);
        const a = await gradcamOf(model, first);
        assert.equal(first.hits, 0);
        assert.equal(first.writes, 3, 'the layer table, the Grad-CAM graph and the guided graph');
        const second = counting(diskCompileCache(bytes, { dir })!);
        const b = await gradcamOf(model, second);
        assert.equal(second.hits, 3);
        assert.equal(second.writes, 0);
        assert.deepEqual(b.logits, a.logits);
        b.maps.forEach((m, i) => assert.deepEqual(m, a.maps[i]));
        b.guided.forEach((m, i) => assert.deepEqual(m, a.guided[i]));
        // damaged entries (truncated, emptied) are rebuilt, with the same results
        const files = fs.readdirSync(dir).map((f) => path.join(dir, f));
        files.forEach((f, i) => fs.writeFileSync(f, i % 2 ? new Uint8Array(0) : fs.readFileSync(f).subarray(0, 100)));
        const third = counting(diskCompileCache(bytes, { dir })!);
        const c = await gradcamOf(model, third);
        assert.equal(third.writes, 3);
        c.maps.forEach((m, i) => assert.deepEqual(m, a.maps[i]));
        // another model's bytes are other keys
        const other = counting(diskCompileCache(new Uint8Array([...bytes, 0]), { dir })!);
        assert.equal(await other.get('graph x'), undefined);
        const keys = fs.readdirSync(dir);
        assert.equal(keys.length, 3);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});

describe("a model file's SHA-256, remembered by its identity (fileSha256)", () => {
  it('is remembered until the file changes, even with the same size and modification time', async () => {
    const { fileSha256 } = await import('../src/runtime/node.js');
    const { createHash } = await import('node:crypto');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gradcam-digest-'));
    try {
      const file = path.join(dir, 'model.onnx');
      const cache = path.join(dir, 'cache');
      const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
      fs.writeFileSync(file, Buffer.from('first model bytes'));
      const first = await fileSha256(file, undefined, cache);
      assert.equal(first, sha(Buffer.from('first model bytes')));
      const memos = fs.readdirSync(path.join(cache, 'digests'));
      assert.equal(memos.length, 1);
      // the remembered value is what a second call returns (planted to prove it is read, not recomputed)
      fs.writeFileSync(path.join(cache, 'digests', memos[0]!), 'f'.repeat(64));
      assert.equal(await fileSha256(file, undefined, cache), 'f'.repeat(64));
      // other content of the same size with the old modification time: its change time differs
      const st = fs.statSync(file);
      fs.writeFileSync(file, Buffer.from('other model bytes'));
      fs.utimesSync(file, st.atime, st.mtime);
      assert.equal(await fileSha256(file, undefined, cache), sha(Buffer.from('other model bytes')));
      // bytes read after a stamp, the file changed since: the hash of those bytes, nothing remembered for it
      const before = fs.statSync(file, { bigint: true });
      const bytes = new Uint8Array(fs.readFileSync(file));
      fs.writeFileSync(file, Buffer.from('third model bytes'));
      const n = fs.readdirSync(path.join(cache, 'digests')).length;
      assert.equal(await fileSha256(file, { bytes, before }, cache), sha(bytes));
      assert.equal(fs.readdirSync(path.join(cache, 'digests')).length, n);
      // without a cache folder: computed each time
      assert.equal(await fileSha256(file, undefined, null), sha(Buffer.from('third model bytes')));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
