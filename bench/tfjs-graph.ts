/**
 * Benchmark (a script, not a test) of TF.js graph models (issue 22), on a MobileNet-v1-style graph model
 * (α 0.5, 11 blocks, 224×224, 1000 classes: 4.0 MB of float32 weights) written as the TF.js converter writes it
 * (scripts/fixtures/tfjs-graph-writer.ts), in Node:
 *  - import time: model.json + shard → ONNX bytes (src/onnx/import), the median of --runs (goal ≤ 300 ms);
 *  - Grad-CAM (Explainer.explain at the automatic layer, batch 1, after a warm-up that compiles) ÷
 *    TF.js's own forward pass of the same model (tfjs-converter's loadGraphModel, pure-JS CPU backend),
 *    medians of --runs (goal ≤ 0.5).
 *
 *   npx tsx bench/tfjs-graph.ts [--runs 5] [--threads N]
 *
 * The machine's load shows in the spread: the fastest run is printed beside each median.
 */
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { loadGraphModel } from '@tensorflow/tfjs-converter';
import { Explainer } from '../src/explainer.js';
import { createNodeSession } from '../src/runtime/node.js';
import { importModel, memoryModelFiles } from '../src/onnx/import/index.js';
import { arr, B, Graph, packGraph, setSeed } from '../scripts/fixtures/tfjs-graph-writer.js';

const { values: o } = parseArgs({ options: { runs: { type: 'string', default: '5' }, threads: { type: 'string' } } });
const RUNS = Number(o.runs);
const median = (xs: number[]) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** MobileNet v1 (α = 0.5): a 3×3 stride-2 stem, 11 of its 13 depthwise-separable blocks (ReLU6), global mean, 1000-way head. */
function mobilenet(): Graph {
  setSeed(3);
  const g = new Graph();
  let x = g.input('input', [-1, 224, 224, 3]);
  x = g.conv('stem', x, 3, 3, 16, { stride: 2, fused: ['BiasAdd', 'Relu6'] });
  let c = 16;
  // the last 512-wide block and one 256-wide block of the 13 left out: about 4 MB of weights
  const blocks: [number, number][] = [[32, 1], [64, 2], [64, 1], [128, 2], [128, 1], [256, 2], [256, 1], [256, 1], [256, 1], [256, 1], [512, 2]];
  blocks.forEach(([out, s], k) => {
    x = g.conv(`block${k + 1}/dw`, x, 3, c, 1, { depthwise: true, stride: s, fused: ['BiasAdd', 'Relu6'] });
    x = g.conv(`block${k + 1}/pw`, x, 1, c, out, { fused: ['BiasAdd', 'Relu6'] });
    c = out;
  });
  x = g.op('gap', 'Mean', [x, g.constI('gap/axes', [1, 2])], { keep_dims: B(false), Tidx: { type: 'DT_INT32' } });
  x = g.op('logits', '_FusedMatMul', [x, g.constF('fc/w', [c, 1000], arr(c * 1000, Math.sqrt(1 / c))), g.constF('fc/b', [1000], arr(1000, 0.01))],
    { transpose_a: B(false), transpose_b: B(false), fused_ops: { list: { s: [Buffer.from('BiasAdd').toString('base64')] } }, num_args: { i: '1' }, epsilon: { f: 0 } });
  g.op('probs', 'Softmax', [x]);
  return g;
}

await tf.setBackend('cpu');
const graph = mobilenet();
const { json, specs, bin } = packGraph(graph, 'input', 'probs', [-1, 224, 224, 3]);
const jsonBytes = new TextEncoder().encode(JSON.stringify(json));
const files = memoryModelFiles({ 'model.json': jsonBytes, 'group1-shard1of1.bin': new Uint8Array(bin) });
console.log(`model: MobileNet v1 α 0.5 (11 blocks) as a TF.js graph model, ${(bin.byteLength / 1e6).toFixed(2)} MB of weights, model.json ${(jsonBytes.byteLength / 1e3).toFixed(0)} kB`);

const importMs: number[] = [];
let onnx: Uint8Array | undefined;
for (let r = 0; r < RUNS + 1; r++) {
  const t0 = performance.now();
  const m = await importModel(files, 'model.json');
  const dt = performance.now() - t0;
  if (r > 0) importMs.push(dt); // the first run warms up the JIT
  onnx = m.onnx;
}
console.log(`import (model.json + shard → ONNX): median ${median(importMs).toFixed(1)} ms, fastest ${Math.min(...importMs).toFixed(1)} ms over ${RUNS} runs (goal ≤ 300 ms)`);

setSeed(42);
const input = arr(224 * 224 * 3, 1);
const model = await loadGraphModel(tf.io.fromMemory({ modelTopology: json.modelTopology, format: 'graph-model', weightSpecs: specs as tf.io.WeightsManifestEntry[], weightData: bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength) }));
const x = tf.tensor4d(input, [1, 224, 224, 3]);
const forward = () => { const t0 = performance.now(); const y = model.execute({ input: x }, 'logits') as tf.Tensor; y.dataSync(); y.dispose(); return performance.now() - t0; };
forward();
const tfMs = Array.from({ length: RUNS }, forward);
console.log(`TF.js forward (tfjs-converter, CPU backend): median ${median(tfMs).toFixed(1)} ms, fastest ${Math.min(...tfMs).toFixed(1)} ms`);

const explainer = Explainer.fromBytes(onnx!, { createSession: createNodeSession, source: 'mobilenet', ...(o.threads ? { sessionOptions: { intraOpThreads: Number(o.threads) } } : {}) });
const layer = await explainer.autoLayer([224, 224]);
const cam = async () => { const t0 = performance.now(); await explainer.explain(input, [1, 224, 224, 3], { classes: 'top' }); return performance.now() - t0; };
const first = await cam();
const camMs: number[] = [];
for (let r = 0; r < RUNS; r++) camMs.push(await cam());
await explainer.release();
console.log(`gradcam Grad-CAM at '${layer}' (batch 1): first call ${first.toFixed(0)} ms (compile), then median ${median(camMs).toFixed(1)} ms, fastest ${Math.min(...camMs).toFixed(1)} ms`);
console.log(`Grad-CAM ÷ TF.js forward: ${(median(camMs) / median(tfMs)).toFixed(3)} (goal ≤ 0.5)`);
