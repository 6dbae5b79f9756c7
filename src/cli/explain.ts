/** `gradcam explain`: explain images or .npy tensors; write overlay PNGs, maps and JSON sidecars. */
import fs from 'node:fs';
import path from 'node:path';
import { InputError, type Explainer } from '../explainer.js';
import { hasOp } from '../detect/prenms.js';
import type { GraphProto } from '../onnx/model.js';
import { loadExplainer, prepareInputs, batchForInputs, inputPixels, type PreparedInput } from '../node.js';
import { isDatasetInput } from '../dataset/listing.js';
import { writeAllOrNothing } from '../util/write-node.js';
import { printLines, ProgressDisplay } from './common.js';
import { helpText, num, parseCommand, usageError, DATASET } from './spec.js';
import { importedDefaults, stems } from './inputs.js';
import { explainVolumes } from './explain-volume.js';
import { EXPLAIN, readSettings, readTarget, type Settings } from './explain-options.js';
import { batchPictures, explainBatch, warn } from './explain-batch.js';
import { explainDataset } from './explain-dataset.js';
export { EXPLAIN, SCANS } from './explain-options.js';
export { batchPictures } from './explain-batch.js';
export { datasetStem, EXPLAIN_STORE } from './explain-dataset.js';
/**
 * One explain for every method and option: CAM methods (one, several, a grid; any target, top-k,
 * contrast, smoothing) run through the shared pipeline (explainMany), gradient methods through
 * explainGradients; every explanation is drawn by the one renderer (src/render) and described by the
 * same JSON sidecar — for files (all or nothing) and for folders, globs and manifests (resumable) alike.
 */
export async function runExplain(args: string[]): Promise<number> {
  const parsed = parseCommand(EXPLAIN, args);
  if (parsed.values.help) {
    console.log(helpText(EXPLAIN));
    return 0;
  }
  const s = readSettings(parsed);
  const positionals = parsed.positionals;
  const dataset = positionals.some(isDatasetInput) || [...parsed.given].some((k) => k in DATASET.options);
  if (s.labelled && !dataset) throw usageError(EXPLAIN, `--class ${parsed.values.class} explains each image's labelled class, which only a manifest gives; for image files give top, a class index or a label`);
  // no spinning within runs: the previous image's PNGs are compressed in the thread pool meanwhile (a
  // spinning worker thread slowed the command by about 6 % on resnet50 here)
  const threads = num(parsed.values.threads);
  const explainer = await loadExplainer(s.model, { labelsFile: parsed.values.labels, variant: parsed.values.variant, size: s.size, maxInputPixels: s.maxInputPixels, sessionOptions: { spinning: false, ...(threads ? { intraOpThreads: threads } : {}) } });
  try {
    Object.assign(s, importedDefaults(explainer, parsed.values, s, s.quiet));
    checkOutputName(explainer, s.output);
    refuseDetector(explainer, s.model, s.output);
    // a float16 / bfloat16 model runs promoted to float32 (onnx/precision.ts): each sidecar says so
    if (explainer.promoted.length) s.jsonOptions.precision = { model: explainer.promoted.join('+'), computed_in: 'float32' };
    // a 3-D model explains volumes: files, or the folder of a DICOM series
    if (explainer.volume) return await explainVolumeFiles(explainer, s, positionals, parsed.given);
    if (dataset) return await explainDataset(explainer, s, positionals, parsed.values.shard, !!parsed.values['retry-errors']);
    return await explainFiles(explainer, s, positionals);
  } finally {
    await explainer.release();
  }
}

/** 3-D models: each volume's slice montage, NIfTI map and JSON (explain-volume.ts), all or nothing. */
async function explainVolumeFiles(explainer: Explainer, s: Settings, positionals: string[], given: Set<string>): Promise<number> {
  const refused = ['methods', 'layers', 'grid', 'target', 'top-k', 'contrast', 'counterfactual', 'aug-smooth', 'eigen-smooth', 'heatmap', 'resize', 'crop', 'mask', 'reference', ...Object.keys(DATASET.options)]
    .filter((k) => given.has(k)).map((k) => `--${k}`);
  if (s.labelled) refused.push('--class true');
  // a folder stands for the DICOM series in it (its .dcm files, one volume named by the folder)
  const files = positionals.flatMap((p) => {
    if (!fs.statSync(p, { throwIfNoEntry: false })?.isDirectory()) return [p];
    const dcm = fs.readdirSync(p).filter((f) => /\.(dcm|dicom)$/i.test(f) && !f.startsWith('.')).sort().map((f) => path.join(p, f));
    if (!dcm.length) throw new InputError(`folder ${p} holds no DICOM files (.dcm); for a 3-D model give volume files (.nii, .nii.gz, .dcm, .npy) or the folder of a DICOM series`);
    return dcm;
  });
  return printLines(await writeAllOrNothing(s.out, files, async (add) => {
    const lines: string[] = [];
    await explainVolumes(explainer, files, {
      model: s.model, out: s.out, method: s.pixelMethod ?? s.methods[0]!, layer: s.layers.length === 1 && s.layers[0] === 'auto' ? undefined : s.layers, layout: s.layout,
      classes: s.classChoice, output: s.output, volumeResize: s.volumeResize, rectifierOps: s.guidedOps, look: s.look, refused,
      prepare: { size: s.size, maxPixels: s.limits.maxPixels, maxInputPixels: s.maxInputPixels, picture: false, scan: s.scan },
    }, add, lines, warn);
    return lines;
  }));
}

export { isDatasetInput };

/** Pixels of pictures `explain` on files keeps from the first decode (about 100 MB of RGB). */
const PICTURE_BUDGET = 32e6;

/** Image and .npy files: every input read first, every output written only when all succeeded. */
async function explainFiles(explainer: Explainer, s: Settings, positionals: string[]): Promise<number> {
  return printLines(await writeAllOrNothing(s.out, [...positionals, ...(s.mask ? [s.mask] : []), ...(s.reference ? [s.reference] : [])], async (add) => {
    // Read every input first: a bad one stops the run before anything is written. The overlay pictures
    // of the first decode are kept while they fit PICTURE_BUDGET and were not shrunk (a shrunk one is
    // read again, shrunk while decoding, as past the budget): each batch's others are read again when
    // its overlays are drawn.
    const inputs: PreparedInput[] = [];
    let kept = 0;
    for (const file of positionals) {
      const got = await prepareInputs(explainer, file, { ...s.norm, size: s.size, maxPixels: s.limits.maxPixels, maxInputPixels: s.maxInputPixels, picture: kept < PICTURE_BUDGET, ...s.rc, scan: s.scan });
      for (const g of got) {
        const shrunk = !g.scan && !!g.sourceSize && Math.max(...g.sourceSize) > s.limits.maxSide;
        kept += g.image && !shrunk ? g.image.width * g.image.height : 0;
        inputs.push(shrunk ? { ...g, image: undefined } : g);
      }
    }
    const target = await readTarget(explainer, s);
    const names = stems(inputs);
    const progress = new ProgressDisplay(inputs.length, s.quiet);
    const lines: string[] = [];
    const perRun = batchForInputs(s.batchSize, Math.max(1, ...inputs.map((i) => inputPixels(i.dims, explainer.layout))), s.maxInputPixels);
    for (let start = 0; start < inputs.length; start += perRun) {
      const batch = inputs.slice(start, start + perRun);
      const pictures = await batchPictures(batch, s.limits);
      const outs = await explainBatch(explainer, s, target, batch.map((input, i) => ({ input, stem: names[start + i]!, picture: pictures[i] })), progress.passes);
      outs.forEach((out, i) => {
        lines.push(...out.lines);
        warn(batch[i]!.file, out.warnings);
      });
      for (const out of outs) for (const f of out.files) await add(f.path, f.bytes);
      progress.step(start + batch.length, path.basename(batch[batch.length - 1]!.file));
    }
    return lines;
  }));
}

/** An unknown --output is an error naming the model's outputs (before any model run). */
export function checkOutputName(explainer: { model: { graph: { output: { name: string }[] } } }, output: string | undefined): void {
  if (output === undefined) return;
  const names = explainer.model.graph.output.map((x) => x.name);
  if (!names.includes(output)) throw new InputError(`unknown --output '${output}'; the model's outputs are: ${names.join(', ')}`);
}

/**
 * A detector with its NMS inside (torchvision's exports, YOLO exports with NMS) outputs kept boxes, scores
 * and labels, not one score per class: explained as a classifier it would read box coordinates as logits.
 * Refused unless an output is named; its detections are explained by `gradcam detect`.
 */
export function refuseDetector(explainer: { model: { graph: GraphProto } }, model: string, output: string | undefined): void {
  if (output !== undefined || !hasOp(explainer.model.graph, 'NonMaxSuppression')) return;
  throw new InputError(`${model} is a detector (NonMaxSuppression in its graph): its outputs are kept boxes, not class scores; explain its detections with 'gradcam detect' (or name an output of class scores with --output)`);
}
