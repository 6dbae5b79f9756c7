/**
 * Half-precision models against their float32 originals on the trained demo models (issue 21): each
 * conversion of demo/models/where.onnx (CNN) and vit_tiny.onnx (ViT) made by
 * `/usr/bin/python3 scripts/fixtures/make_precision_fixtures.py --demo` (float16 and bfloat16, float32 I/O
 * with Casts and half I/O) explained on the first three demo scenes at each one's predicted class, with
 * Grad-CAM, HiResCAM, Grad-CAM++, Eigen-CAM, Score-CAM and Guided Grad-CAM: the logits' distance to the
 * float32 model's, as gradcam runs the model (promoted to float32) and as onnxruntime runs it shipped
 * (where it can), the top-1 agreement, and per method the smallest Pearson correlation and the largest
 * absolute difference of the maps.
 *
 *   npx tsx bench/precision.ts [--dir .tmp/precision_demo] [--models where,vit_tiny]
 */
import fs from 'node:fs';
import path from 'node:path';
import { createNodeSession, loadExplainer, prepareInputs } from '../src/node.js';
import { pearson } from '../src/metrics/similarity.js';

const ROOT = path.join(path.dirname(new URL(import.meta.url).pathname), '..');
const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : dflt;
};
const dir = path.resolve(ROOT, opt('dir', '.tmp/precision_demo'));
const METHODS = ['gradcam', 'hirescam', 'gradcam++', 'eigencam', 'scorecam', 'guided-gradcam'];
const maxAbs = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
};
const scenes = fs.readdirSync(path.join(ROOT, 'demo', 'scenes')).filter((f) => f.endsWith('.png') && !f.includes('mask')).sort().slice(0, 3).map((f) => path.join(ROOT, 'demo', 'scenes', f));

for (const name of opt('models', 'where,vit_tiny').split(',')) {
  const ref = await loadExplainer(path.join(ROOT, 'demo', 'models', `${name}.onnx`), { cache: false });
  const inputs = (await Promise.all(scenes.map((s) => prepareInputs(ref, s)))).flat();
  const logits: Float32Array[] = [];
  const classes: number[] = [];
  for (const inp of inputs) {
    const r = await ref.run(inp.tensor, inp.dims, { layers: [], inputGradient: true });
    logits.push(r.logits.data.slice());
    classes.push(r.targets[0]!);
  }
  const maps = new Map<string, Float32Array[]>();
  for (const m of METHODS) {
    const list: Float32Array[] = [];
    for (let i = 0; i < inputs.length; i++) list.push((await ref.explain(inputs[i]!.tensor, inputs[i]!.dims, { method: m, classes: [classes[i]!] })).explanations[0]!.map);
    maps.set(m, list);
  }
  for (const variant of ['fp16.io32', 'fp16.io16', 'bf16.io32', 'bf16.io16']) {
    const file = path.join(dir, `${name}.${variant}.onnx`);
    if (!fs.existsSync(file)) throw new Error(`${file} is missing: run /usr/bin/python3 scripts/fixtures/make_precision_fixtures.py --demo`);
    const ex = await loadExplainer(file, { cache: false });
    let dl = 0;
    let agree = 0;
    for (let i = 0; i < inputs.length; i++) {
      const r = await ex.run(inputs[i]!.tensor, inputs[i]!.dims, { layers: [], inputGradient: true });
      dl = Math.max(dl, maxAbs(r.logits.data, logits[i]!));
      if (r.targets[0] === classes[i]) agree++;
    }
    let shipped: string;
    try {
      const s = await createNodeSession(new Uint8Array(fs.readFileSync(file)));
      let d = 0;
      for (let i = 0; i < inputs.length; i++) {
        const o = await s.run({ [ex.inputName]: { data: inputs[i]!.tensor, dims: inputs[i]!.dims } });
        d = Math.max(d, maxAbs(Object.values(o)[0]!.data as Float32Array, logits[i]!));
      }
      await s.release();
      shipped = d.toExponential(2);
    } catch (e) {
      shipped = `does not run (${(e as Error).message.replace(/^.*?: /, '').slice(0, 70)})`;
    }
    const parts = [`logits max|Δ| ${dl.toExponential(2)} (shipped, in onnxruntime: ${shipped}), top-1 ${agree}/${inputs.length}`];
    for (const m of METHODS) {
      let r = 1;
      let d = 0;
      for (let i = 0; i < inputs.length; i++) {
        const e = (await ex.explain(inputs[i]!.tensor, inputs[i]!.dims, { method: m, classes: [classes[i]!] })).explanations[0]!;
        r = Math.min(r, pearson(e.map, maps.get(m)![i]!));
        d = Math.max(d, maxAbs(e.map, maps.get(m)![i]!));
      }
      parts.push(`${m} Pearson ≥ ${r.toFixed(4)}, max|Δ| ${d.toExponential(1)}`);
    }
    console.log(`${name}.${variant}: ${parts.join('; ')}`);
    await ex.release();
  }
  await ref.release();
}
