import fs from 'node:fs';
import { Explainer } from '../src/explainer.js';
import { createNodeSession } from '../src/runtime/node.js';
import { postprocess } from '../src/cam/pipeline.js';
import { cancelled, degenerateWarnings } from '../src/cam/degenerate.js';
import { gradcam } from '../src/cam/methods/gradcam.js';
const bytes = new Uint8Array(fs.readFileSync('bench/models/mobilenet_v2.onnx'));
const ex = Explainer.fromBytes(bytes, { createSession: createNodeSession });
const plain = await createNodeSession(bytes);
const x = new Float32Array(3*224*224).map((_, i) => Math.sin(i));
const layer = await ex.autoLayer();
const T: Record<string, number[]> = {};
const t = async <X>(k: string, f: () => Promise<X> | X): Promise<X> => { const t0 = performance.now(); const r = await f(); (T[k] ??= []).push(performance.now() - t0); return r; };
for (let i = 0; i < 40; i++) {
  await t('forward', () => plain.run({ input: { data: x, dims: [1,3,224,224] } }));
  const r = await t('run', () => ex.run(x, [1,3,224,224], { layers: [layer] }));
  (T['run.session'] ??= []).push(r.timings.runMs);
  const a = r.activations[0]!; const d = a.dims as [number,number,number,number];
  const raw = await t('compute', () => gradcam.compute({ activations: a.data, gradients: r.gradients[0]!.data, dims: d }));
  await t('cancelled', () => cancelled(a.data, r.gradients[0]!.data, d, raw));
  await t('postprocess', () => postprocess([{ raw, h: d[2], w: d[3] }], 1, 224, 224));
  await t('degenerate', () => degenerateWarnings(raw, d[2], d[3], layer));
  await t('explain', () => ex.explain(x, [1,3,224,224], { layer }));
}
const med = (v: number[]) => v.slice(5).sort((a,b)=>a-b)[Math.floor((v.length-5)/2)]!;
for (const [k, v] of Object.entries(T)) console.log(k, med(v).toFixed(3));
