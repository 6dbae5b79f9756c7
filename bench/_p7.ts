import fs from 'node:fs';
import { Explainer } from '../src/explainer.js';
import { createNodeSession } from '../src/runtime/node.js';
import { decodeModel, encodeModel } from '../src/onnx/model.js';
const name = process.argv[2] ?? 'mobilenet_v2';
const bytes = new Uint8Array(fs.readFileSync(`bench/models/${name}.onnx`));
const ex = Explainer.fromBytes(bytes, { createSession: createNodeSession });
const layer = await ex.autoLayer();
const m = decodeModel(bytes, 'x');
m.graph.output.push({ name: layer } as any);
const exposed = await createNodeSession(encodeModel(m));
const plain = await createNodeSession(bytes);
const x = new Float32Array(3*224*224).map((_, i) => Math.sin(i));
const dims = [1,3,224,224];
await ex.run(x, dims, { layers: [layer] });
const gs = await (ex as any).engine.get({ layers: [layer] }, dims);
const c = gs.compiled;
const seed = new Float32Array(1000); const useTop = new Float32Array([1]);
const feedsG = { [c.input]: { data: x, dims }, [c.seed]: { data: seed, dims: [1, 1000] }, [c.useTop]: { data: useTop, dims: [1, 1] } };
const fetchG = [c.outputs.score, c.outputs.activations[layer], c.outputs.gradients[layer]];
const fns: Record<string, () => Promise<unknown>> = {
  plain: () => plain.run({ input: { data: x, dims } }),
  exposed: () => exposed.run({ input: { data: x, dims } }),
  grad: () => gs.session.run(feedsG, fetchG),
  grad_logits_only: () => gs.session.run(feedsG, [c.outputs.score]),
};
const T: Record<string, number[]> = {};
for (let i = 0; i < 25; i++) for (const [k, f] of Object.entries(fns)) { const t0 = performance.now(); await f(); (T[k] ??= []).push(performance.now() - t0); }
const med = (v: number[]) => v.slice(3).sort((a,b)=>a-b)[Math.floor((v.length-3)/2)]!;
for (const [k, v] of Object.entries(T)) console.log(k, med(v).toFixed(2), (med(v)/med(T.plain!)).toFixed(3));
console.log('backward nodes', c.backwardNodes);
