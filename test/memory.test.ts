/**
 * Memory bounded by the model, not by its tensor count (issue 21 item 4): static shape inference
 * (onnx/shapes.ts) equals a run of the model on every fixture; the probe (runtime/engine.ts) exposes at
 * most its budget per run; a model that will be refused is refused before any session is made.
 * (The 1024×1024 peak-RSS goal is measured by bench/memory.ts, not here.)
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { probe } from '../src/runtime/engine.js';
import { cloneModel, realInputs } from '../src/autodiff/compiler.js';
import { decodeModel, declaredDims, encodeModel, GraphIndex, makeValueInfo, topoOrder, type ModelProto } from '../src/onnx/model.js';
import { Builder } from '../src/autodiff/builder.js';
import { Explainer } from '../src/explainer.js';
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

it('a model that will be refused (an op without a gradient rule after every candidate layer) is refused before any session is made', async () => {
  const m: ModelProto = {
    ir_version: 8, opset_import: [{ domain: '', version: 17 }],
    graph: { node: [], initializer: [], input: [makeValueInfo('x', 1, [1, 3, 256, 256])], output: [makeValueInfo('logits', 1)] },
  };
  const b = new Builder(m, 'm/');
  const w = b.floats(Float32Array.from({ length: 8 * 27 }, (_, i) => Math.sin(i)), [8, 3, 3, 3]);
  const y = b.op('Relu', [b.op('Conv', ['x', w], { pads: [1, 1, 1, 1] })]);
  const flat = b.op('Flatten', [b.op('Sin', [b.op('GlobalAveragePool', [y])])]);
  b.nodes.push({ name: 'fc', op_type: 'Gemm', domain: '', input: [flat, b.floats(Float32Array.from({ length: 80 }, (_, i) => Math.cos(i)), [10, 8])], output: ['logits'], attribute: [{ name: 'transB', type: 2, i: 1 }] });
  m.graph.node.push(...b.nodes);
  let sessions = 0;
  const ex = Explainer.fromBytes(encodeModel(m), { createSession: (bytes, o) => { sessions++; return createNodeSession(bytes, o); } });
  try {
    const x = new Float32Array(3 * 256 * 256);
    await assert.rejects(ex.explain(x, [1, 3, 256, 256], { classes: [1] }), /cannot differentiate Sin node '.*': no gradient rule for op 'Sin'/);
    await assert.rejects(ex.explain(x, [1, 3, 256, 256], { classes: [1], method: 'saliency' }), /cannot differentiate Sin node/);
    await assert.rejects(ex.explain(x, [1, 3, 256, 256], { classes: [1], method: 'gradcam++', topK: 2 }), /cannot differentiate Sin node/);
    assert.equal(sessions, 0);
    // a forward-only method still explains it
    const r = await ex.explain(x, [1, 3, 256, 256], { classes: [1], method: 'eigencam' });
    assert.equal(r.explanations.length, 1);
  } finally {
    await ex.release();
  }
});
