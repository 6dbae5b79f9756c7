// Cross-check used by scripts/demo/evaluate.py: run the shipped ONNX demo models in onnxruntime-node on
// the shipped scene folders (PNGs decoded with sharp) and write their logits as JSON.
//
//   node scripts/demo/ort_check.mjs OUT.json where=demo/models/where.onnx shortcut=demo/models/shortcut.onnx \
//        -- demo/testset demo/testset_marked
//
// Preprocessing (the documented one): PNG -> RGB uint8 -> /255 -> (x - mean) / std (ImageNet) -> NCHW.
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import ort from "onnxruntime-node";
import sharp from "sharp";

const require = createRequire(import.meta.url);
const MEAN = [0.485, 0.456, 0.406];
const STD = [0.229, 0.224, 0.225];

const args = process.argv.slice(2);
const out = args[0];
const sep = args.indexOf("--");
const models = Object.fromEntries(args.slice(1, sep).map((a) => a.split("=")));
const dirs = args.slice(sep + 1);

async function loadSet(dir) {
  const ann = JSON.parse(fs.readFileSync(path.join(dir, "annotations.json"), "utf8"));
  const n = ann.images.length;
  const data = new Float32Array(n * 3 * 128 * 128);
  for (let k = 0; k < n; k++) {
    const { data: px, info } = await sharp(path.join(dir, ann.images[k].file))
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.width !== 128 || info.height !== 128 || info.channels !== 3) throw new Error(`bad image ${k}`);
    for (let i = 0; i < 128 * 128; i++) {
      for (let c = 0; c < 3; c++) {
        data[k * 3 * 16384 + c * 16384 + i] = (px[i * 3 + c] / 255 - MEAN[c]) / STD[c];
      }
    }
  }
  return { n, data };
}

const result = {
  ort_version: require("onnxruntime-node/package.json").version,
  decoder: `sharp ${require("sharp/package.json").version}`,
  logits: {},
};
const sets = {};
for (const d of dirs) sets[path.basename(d)] = await loadSet(d);
for (const [name, file] of Object.entries(models)) {
  const session = await ort.InferenceSession.create(file);
  result.logits[name] = {};
  for (const [s, { n, data }] of Object.entries(sets)) {
    const logits = [];
    for (let b = 0; b < n; b += 50) {
      const m = Math.min(50, n - b);
      const x = new ort.Tensor("float32", data.subarray(b * 3 * 16384, (b + m) * 3 * 16384), [m, 3, 128, 128]);
      const r = await session.run({ input: x });
      const y = r.logits.data;
      for (let i = 0; i < m; i++) logits.push(Array.from(y.subarray(i * 10, i * 10 + 10)));
    }
    result.logits[name][s] = logits;
  }
}
fs.writeFileSync(out, JSON.stringify(result));
console.log(`wrote ${out}`);
