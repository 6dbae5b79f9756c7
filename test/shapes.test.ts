/**
 * Static shape inference (onnx/shapes.ts) and the grouped probe (autodiff/engine.ts probe), issue 21 item 4:
 * every shape inferred on every fixture model equals the one a run of the model gives, and a probe of a
 * model's tensors exposes at most its budget per run.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { probe } from '../src/autodiff/engine.js';
import { cloneModel, realInputs } from '../src/autodiff/compiler.js';
import { decodeModel, declaredDims, GraphIndex, topoOrder } from '../src/onnx/model.js';
import { inferShapes } from '../src/onnx/shapes.js';
import { upgradeOpset } from '../src/onnx/upgrade.js';
import { createNodeSession } from '../src/runtime/node.js';
import { FIXTURES } from './helpers/fixtures.js';

function models(): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(path.join(d, e.name));
      else if (e.name.endsWith('.onnx')) out.push(path.join(d, e.name));
    }
  };
  walk(FIXTURES);
  return out.sort();
}

it('inferred shapes equal the probed ones on every fixture model (and cover ≥ 80% of the tensors of those without Shape subgraphs)', async () => {
  let inferredTotal = 0, all = 0;
  for (const file of models()) {
    const model = cloneModel(decodeModel(new Uint8Array(fs.readFileSync(file))));
    upgradeOpset(model);
    const input = realInputs(model)[0]!;
    const decl = declaredDims(model.graph.input.find((i) => i.name === input)!);
    if (!decl) continue;
    const dims = decl.map((d) => (typeof d === 'number' && d > 0 ? d : 1));
    if (decl.some((d) => typeof d !== 'number' || d <= 0)) {
      // dynamic spatial sizes: 64 (fixtures are small), batch 1
      decl.forEach((d, k) => { if (k > 0 && (typeof d !== 'number' || d <= 0)) dims[k] = 64; });
    }
    const index = new GraphIndex(model);
    const order = topoOrder(model.graph);
    const inferred = inferShapes(order, new Map([[input, dims]]), (t) => index.constant(t));
    const names = [...new Set(order.flatMap((n) => n.output).filter(Boolean))];
    let probed;
    try {
      probed = await probe(model, input, names.filter((t) => inferred.has(t)), names.filter((t) => inferred.has(t)), dims, createNodeSession, 2 ** 40);
    } catch {
      continue; // a model that does not run at this size (a fixed-size head): nothing to compare
    }
    for (const [t, s] of inferred) assert.deepEqual(s, probed.shapes.get(t), `${path.relative(FIXTURES, file)}: ${t}`);
    // shapes computed by Shape subgraphs (transformer exports) are left to the probe; the rest is inferred
    if (order.some((n) => n.op_type === 'Shape')) continue;
    inferredTotal += inferred.size;
    all += names.length;
  }
  assert.ok(inferredTotal >= 0.8 * all, `inferred ${inferredTotal} of ${all}`);
});

it('the probe exposes at most its budget per run (several runs for a tensor-heavy model), and shapes agree', async () => {
  const file = path.join(FIXTURES, 'vit_tiny_op17', 'model.onnx');
  const model = cloneModel(decodeModel(new Uint8Array(fs.readFileSync(file))));
  upgradeOpset(model);
  const input = realInputs(model)[0]!;
  const dims = declaredDims(model.graph.input[0]!)!.map((d, k) => (typeof d === 'number' ? d : k ? 64 : 1));
  const names = [...new Set(topoOrder(model.graph).flatMap((n) => n.output).filter(Boolean))];
  const whole = await probe(model, input, names, [], dims, createNodeSession, 2 ** 40);
  const budget = 512 * 1024;
  const grouped = await probe(model, input, names, [], dims, createNodeSession, budget);
  assert.ok(whole.runs.length <= 1 && grouped.runs.length > 3, `${whole.runs.length} and ${grouped.runs.length} runs`);
  const largest = Math.max(...grouped.runs.map((r) => r.bytes / r.exposed));
  for (const r of grouped.runs) assert.ok(r.exposed === 1 || r.bytes <= budget + largest, `a run exposed ${r.exposed} tensors, ${r.bytes} bytes`);
  for (const t of names) assert.deepEqual(grouped.shapes.get(t), whole.shapes.get(t), t);
  console.log(`vit_tiny: ${names.length} tensors, ${whole.runs[0]?.exposed ?? 0} probed in one run of ${whole.runs[0]?.bytes} bytes, or in ${grouped.runs.length} runs of at most ${Math.max(...grouped.runs.map((r) => r.bytes))} bytes`);
});
