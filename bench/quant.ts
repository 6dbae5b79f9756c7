/**
 * Benchmark (a script, not a test; issue 21 item 3): how far the maps of a realistic int8 model are from
 * its float model's. torchvision resnet18 (weights=None, seeded) and its dynamic and QDQ per-channel
 * forms, made by `/usr/bin/python3 scripts/fixtures/make_quant_fixtures.py --resnet18 bench/models/quant_resnet18`.
 *
 *   npx tsx bench/quant.ts
 */
import fs from 'node:fs';
import path from 'node:path';
import { Explainer } from '../src/explainer.js';
import { createNodeSession } from '../src/runtime/node.js';
import { parseNpy, toFloat32 } from '../src/image/npy.js';

const DIR = path.join(path.dirname(new URL(import.meta.url).pathname), 'models', 'quant_resnet18');
const npy = parseNpy(new Uint8Array(fs.readFileSync(path.join(DIR, 'input.npy'))));
const input = toFloat32(npy);
const dims = [...npy.shape];

function pearson(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let ma = 0, mb = 0;
  for (let i = 0; i < a.length; i++) { ma += a[i]!; mb += b[i]!; }
  ma /= a.length; mb /= b.length;
  let sab = 0, saa = 0, sbb = 0;
  for (let i = 0; i < a.length; i++) { const x = a[i]! - ma, y = b[i]! - mb; sab += x * y; saa += x * x; sbb += y * y; }
  return sab / Math.sqrt(saa * sbb);
}

const load = (f: string) => Explainer.fromBytes(new Uint8Array(fs.readFileSync(path.join(DIR, `${f}.onnx`))), { createSession: createNodeSession });
const methods = ['gradcam', 'hirescam', 'eigencam', 'guided-gradcam'];
const ref = load('float');
const classes = [3, 7];
const want: Record<string, Float32Array[]> = {};
for (const m of methods) want[m] = (await ref.explain(input, dims, { method: m, classes })).explanations.map((e) => e.map);
await ref.release();
for (const form of ['dynamic', 'qdq_channel']) {
  const ex = load(form);
  const row: string[] = [];
  for (const m of methods) {
    const got = (await ex.explain(input, dims, { method: m, classes })).explanations;
    row.push(`${m} ${Math.min(...got.map((e, i) => pearson(e.map, want[m]![i]!))).toFixed(3)}`);
  }
  console.log(`resnet18 ${form} (layer ${(await ex.layers([224, 224])).find((l) => l.auto)!.name}): ${row.join(', ')}`);
  await ex.release();
}
