/** `gradcam explain`: explain images or .npy tensors; write overlay PNGs, maps and JSON sidecars. */
import fs from 'node:fs';
import path from 'node:path';
import { camMethod } from '../cam/index.js';
import { getMethod, isPixelMethod, methodNames } from '../methods/index.js';
import { explainPixels } from '../methods/pixels.js';
import { methodOptionsFor, methodOptionsGroup } from './methods.js';
import type { MethodOptionValue } from '../types.js';
import { explainMany } from '../cam/runner.js';
import { parseTargetKind, type TargetSpec } from '../cam/targets.js';
import { readImageFile, readRegularFile, type FileReadError } from '../image/node.js';
import { parseNpy, toFloat32, writeNpy } from '../image/npy.js';
import type { NormalizeOptions } from '../image/normalize.js';
import type { RgbImage } from '../image/types.js';
import { InputError, type ClassChoice, type ClassScore, type Explainer } from '../explainer.js';
import { hasOp } from '../detect/prenms.js';
import type { GraphProto } from '../onnx/model.js';
import { loadExplainer, prepareInputs, readPicture, stackByShape, tensorPicture, batchForInputs, inputPixels, DEFAULT_PICTURE_SIDE, type PreparedInput } from '../node.js';
import { datasetBatchSize, modelIdentity, listInputs, prepareItemInput, resolveTruth, runDataset, shardItems, type FileOut, type StoreKind } from '../node-audit.js';
import { hasGlobMagic } from '../audit/glob.js';
import { isManifestName } from '../audit/manifest.js';
import type { AuditItem } from '../audit/types.js';
import { describeClass, describeTarget, explanationFiles, explanationJson, gradientJson, gradientPicture, gridPicture, pngBytes, type FileBytes, type RenderedFile } from '../render/index.js';
import { StagedOutputs } from './output.js';
import { doneLine, listedLine, oneLine, parseNumbers, parseSize, Progress, DatasetProgress, interruptible, EXIT_INTERRUPTED, EXIT_ITEMS_FAILED } from './common.js';
import { command, helpText, num, parseCommand, readShard, usageError, DATASET, FAMILY, IMAGES, MODEL, PICTURES, RUN, TARGET, methodGroup } from './spec.js';
import { importedDefaults, normalizeOptions, resizeCropOptions, stems, type ResizeCropOptions } from './inputs.js';
import { explainVolumes } from './explain-volume.js';
import { INTENSITY_MODES, type IntensityMode } from '../image/volume.js';
import { VOLUME_RESIZES, type VolumeResize } from '../image/resize3d.js';
import { resolveNormalization } from '../image/normalize.js';
import { group } from './spec.js';
import { printable } from '../util/text.js';

/** Scans (NIfTI, DICOM, 16-bit and grayscale images) and 3-D models. */
export const SCANS = group('Scans and 3-D models', {
  intensity: {
    type: 'string', value: 'MODE', choices: INTENSITY_MODES,
    help: `${INTENSITY_MODES.join(' | ')}: none keeps the stored values (DICOM/NIfTI after rescale slope/intercept, e.g. Hounsfield units; the default for them), unit divides by the bit depth (images' default), minmax/zscore over the scan, window clips to --window; then --mean/--std (or --normalize) if given (grayscale images into 3-channel models: the --normalize preset, as photos)`,
  },
  window: { type: 'string', value: 'C,W', help: "window centre and width (default: the DICOM file's first preset)" },
  channels: { type: 'string', value: '1|3', choices: ['1', '3'], help: "the channels the scan becomes (a grayscale scan repeated into a 3-channel model); default: the model's" },
  'volume-resize': {
    type: 'string', value: 'M', default: 'trilinear', choices: VOLUME_RESIZES,
    help: "3-D maps: trilinear (half-pixel centres, default) or spline (scipy.ndimage.zoom's cubic spline, pytorch-grad-cam's 3-D resize). A 3-D model writes per volume the slice montage (.png), the map as NIfTI aligned with the scan (.nii.gz, for NIfTI and DICOM inputs) and the JSON; --raw adds the map (.npy [D,H,W]) and the raw map",
  },
});

const ALL_METHODS = () => methodNames();

export const EXPLAIN = command({
  name: 'explain',
  synopsis: "<images|.npy|folders|'globs'|manifests...> --model FILE [options]",
  summary: 'explain images: an overlay PNG and a JSON sidecar per image and method (folders: resumable)',
  description: `Inputs are JPEG/PNG/WebP images (resized to the model's input and normalised), .npy tensors
taken as the ready model input ([C,H,W] or [N,C,H,W] in the model's layout), scans — NIfTI (.nii,
.nii.gz), DICOM (.dcm; for a 3-D model the files of one series, or their folder, make one volume),
16-bit and grayscale PNG/TIFF at full precision — and — for datasets of 2-D images —
folders (walked recursively), quoted glob patterns ('data/**/*.jpg') and manifests (.csv, .jsonl,
.json: path and optional label; see docs/AUDIT.md).

Files: every output is written only when every input succeeded (nothing partial). Folders, globs and
manifests: the same per-image files, mirroring the folders under --out, plus explain.jsonl (a row per
image); the run is resumable (interrupted and started again with the same command, it skips finished
images), an unreadable image becomes an error row and the run goes on. Exit status 3: some images
failed; 130: interrupted. 'gradcam audit' is the same run plus the dataset report.

With a pixel-level method (gradient methods: saliency, guided-backprop, deconvnet, guided-gradcam;
path, noise and perturbation methods: see 'gradcam methods') the PNG shows the map beside the attribution
picture (for gradient methods, the Grad-CAM overlay of the layer).`,
  groups: [MODEL, IMAGES, SCANS, TARGET, methodGroup(ALL_METHODS), methodOptionsGroup(), FAMILY, PICTURES, RUN, DATASET],
  required: ['model'],
  positionals: 'inputs',
});

/** Everything an explain run needs, read and checked from the options before any model run. */
interface Settings {
  model: string;
  methods: string[];
  /** A pixel-level method (any kind but cam), given alone. */
  pixelMethod?: string;
  /** Each method's own options (its descriptor's), from the Method options flags. */
  methodOptions: Record<string, Record<string, MethodOptionValue>>;
  layers: string[];
  groups: string[][];
  layout?: string;
  output?: string;
  classChoice: ClassChoice;
  /** --class true / gt: each item's label (datasets). */
  labelled: boolean;
  contrast?: ClassChoice;
  kind: ReturnType<typeof parseTargetKind>;
  targetGiven: boolean;
  index?: number[];
  mask?: string;
  pixel?: [number, number];
  threshold?: number;
  reference?: string;
  topK?: number;
  counterfactual: boolean;
  augSmooth: boolean;
  eigenSmooth: boolean;
  camBatch?: number;
  scoreTop?: number;
  seed: number;
  guidedOps: 'all' | 'relu';
  abs: boolean;
  grid: boolean;
  raw: boolean;
  look: { colormap: string; alpha: number; caption: boolean; heatmap: boolean; raw: boolean; maxSide: number };
  limits: { maxPixels?: number; maxSide: number };
  norm: NormalizeOptions;
  /** How scans become model inputs (intensity, window, channels, their mean/std). */
  scan: PrepareScanOptions;
  volumeResize: VolumeResize;
  size?: [number, number];
  rc: ResizeCropOptions;
  maxInputPixels?: number;
  batchSize: number;
  out: string;
  quiet: boolean;
  /** The options of the JSON sidecar. */
  jsonOptions: Record<string, unknown>;
}

function readSettings(p: ReturnType<typeof parseCommand<typeof EXPLAIN.groups>>): Settings {
  const o = p.values;
  if (o.method !== undefined && p.given.has('method') && o.methods) throw usageError(EXPLAIN, 'give --method or --methods, not both');
  if (o.layer !== undefined && p.given.has('layer') && o.layers) throw usageError(EXPLAIN, 'give --layer or --layers, not both');
  const methodNames = list(o.methods ?? o.method ?? 'gradcam');
  const pixelMethod = methodNames.length === 1 && isPixelMethod(methodNames[0]!) ? getMethod(methodNames[0]!).name : undefined;
  if (pixelMethod) {
    // --seed and --cam-batch reach the path / noise / perturbation methods (random draws, passes per run)
    const own = getMethod(pixelMethod).kind !== 'gradient' ? ['seed', 'cam-batch'] : [];
    const family = [...p.given].filter((k) => k in FAMILY.options && !own.includes(k)).map((k) => `--${k}`);
    const how = getMethod(pixelMethod).kind === 'gradient' ? 'explains through the input gradient' : `is a ${getMethod(pixelMethod).kind} method`;
    if (family.length) throw usageError(EXPLAIN, `--method ${pixelMethod} ${how} and takes none of the CAM-family options (${family.join(', ')}); drop them, or choose a CAM method`);
  }
  for (const m of methodNames) {
    if (pixelMethod) break;
    if (isPixelMethod(m)) throw usageError(EXPLAIN, `${m} is a ${getMethod(m).kind} method: give it alone with --method ${m}`);
    try {
      camMethod(m); // unknown names: a clear error listing every method
    } catch (e) {
      throw usageError(EXPLAIN, (e as Error).message);
    }
  }
  const methods = pixelMethod ? [] : methodNames.map((m) => camMethod(m).name);
  let methodOptions: Settings['methodOptions'];
  try {
    methodOptions = methodOptionsFor(pixelMethod ? [pixelMethod] : methods, o, p.given);
  } catch (e) {
    throw usageError(EXPLAIN, (e as Error).message);
  }
  if (new Set(methods).size !== methods.length) throw usageError(EXPLAIN, `--methods names a method twice: ${methodNames.join(',')}`);
  const layers = list(o.layers ?? o.layer ?? 'auto');
  const norm = normalizeOptions(o);
  let kind;
  try {
    kind = parseTargetKind(o.target ?? 'logit');
  } catch (e) {
    throw usageError(EXPLAIN, (e as Error).message);
  }
  const index = o.index === undefined ? undefined : parseNumbers('--index', o.index)!;
  if (index && index.some((v) => !Number.isInteger(v) || v < 0)) throw usageError(EXPLAIN, `--index must be non-negative integers, got '${o.index}'`);
  if (kind.kind === 'element' && !index) throw usageError(EXPLAIN, '--target element needs --index I[,J..]');
  if (o.mask && kind.kind !== 'segmentation') throw usageError(EXPLAIN, '--mask goes with --target segmentation');
  if (o.pixel && kind.kind !== 'segmentation') throw usageError(EXPLAIN, '--pixel goes with --target segmentation');
  if (o.pixel && o.mask) throw usageError(EXPLAIN, 'give --pixel or --mask, not both');
  if (o['seg-threshold'] !== undefined && kind.kind !== 'segmentation') throw usageError(EXPLAIN, '--seg-threshold goes with --target segmentation (the region of a one-plane output)');
  if (o['seg-threshold'] !== undefined && (o.pixel || o.mask)) throw usageError(EXPLAIN, `--seg-threshold makes the region; give it or --${o.pixel ? 'pixel' : 'mask'}, not both`);
  const pixel = o.pixel === undefined ? undefined : parseNumbers('--pixel', o.pixel);
  if (pixel && (pixel.length !== 2 || pixel.some((v) => !Number.isInteger(v) || v < 0))) throw usageError(EXPLAIN, `--pixel must be Y,X (two non-negative whole numbers: row, column of the output's class planes), got '${o.pixel}'`);
  if (o.reference && kind.kind !== 'similarity') throw usageError(EXPLAIN, '--reference goes with --target similarity');
  if (kind.kind === 'similarity' && !o.reference) throw usageError(EXPLAIN, '--target similarity needs --reference FILE (the image to compare with)');
  const labelled = o.class === 'true' || o.class === 'gt';
  const limits = { maxPixels: num(o['max-pixels']), maxSide: num(o['max-overlay']) ?? DEFAULT_PICTURE_SIDE };
  const contrast = o.contrast === undefined ? undefined : choice(o.contrast);
  return {
    model: o.model!, methods, pixelMethod, methodOptions, layers, groups: o.grid && layers.length > 1 ? [...layers.map((l) => [l]), layers] : [layers],
    layout: o.layout, output: o.output, classChoice: labelled ? 'top' : choice(o.class!), labelled, contrast, kind, targetGiven: o.target !== undefined,
    index, mask: o.mask, pixel: pixel as [number, number] | undefined, threshold: num(o['seg-threshold']), reference: o.reference, topK: num(o['top-k']), counterfactual: !!o.counterfactual, augSmooth: !!o['aug-smooth'],
    eigenSmooth: !!o['eigen-smooth'], camBatch: num(o['cam-batch']), scoreTop: num(o['score-top']), seed: num(o.seed) ?? 0,
    guidedOps: o['guided-ops'] as 'all' | 'relu', abs: !!o.abs, grid: !!o.grid, raw: !!o.raw,
    look: { colormap: o.colormap!, alpha: num(o.alpha) ?? 0.5, caption: !o['no-caption'], heatmap: !!o.heatmap, raw: !!o.raw, maxSide: limits.maxSide },
    limits, norm, scan: scanOptions(o, norm), volumeResize: o['volume-resize'] as VolumeResize, size: parseSize(o.size), rc: resizeCropOptions(o), maxInputPixels: num(o['max-input']), batchSize: num(o['batch-size']) ?? 8,
    out: o.out!, quiet: !!o.quiet,
    jsonOptions: {
      ...(contrast !== undefined ? { contrast: String(contrast) } : {}),
      ...(o.counterfactual ? { counterfactual: true } : {}), ...(o['aug-smooth'] ? { aug_smooth: true } : {}), ...(o['eigen-smooth'] ? { eigen_smooth: true } : {}),
    },
  };
}

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
  return allOrNothing(s.out, files, async (add) => {
    const lines: string[] = [];
    await explainVolumes(explainer, files, {
      model: s.model, out: s.out, method: s.pixelMethod ?? s.methods[0]!, layer: s.layers.length === 1 && s.layers[0] === 'auto' ? undefined : s.layers, layout: s.layout,
      classes: s.classChoice, output: s.output, volumeResize: s.volumeResize, rectifierOps: s.guidedOps, look: s.look, refused,
      prepare: { size: s.size, maxPixels: s.limits.maxPixels, maxInputPixels: s.maxInputPixels, picture: false, scan: s.scan },
    }, add, lines, warn);
    return lines;
  });
}

/**
 * A run over files: every output staged (see StagedOutputs) and moved into place only when `fn` has
 * made them all, then the summary lines printed; a failure leaves --out as it was.
 */
export async function allOrNothing(out: string, inputs: readonly string[], fn: (add: (name: string, bytes: FileBytes) => Promise<void>) => Promise<string[]>): Promise<number> {
  const staged = new StagedOutputs(out, inputs);
  try {
    const lines = await fn((name, bytes) => staged.add(path.join(out, name), bytes));
    await staged.commit();
    for (const l of lines) console.log(printable(l));
    return 0;
  } catch (e) {
    await staged.abort();
    throw e;
  }
}

/** Whether an input names a dataset: a folder, a manifest, or a glob pattern that is not a file. */
export function isDatasetInput(a: string): boolean {
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(a);
  } catch {
    st = undefined;
  }
  return !!st?.isDirectory() || (!!st?.isFile() && isManifestName(a)) || (!st && hasGlobMagic(a));
}

/** One image of a batch: its input tensor, its output stem (relative to --out), its overlay picture, its own class. */
interface BatchItem {
  input: PreparedInput;
  stem: string;
  picture?: RgbImage;
  classChoice?: ClassChoice;
  extraWarning?: string;
}

/** What one image of a batch gives: its files (relative to --out), the lines to print, warnings, its scores. */
interface ItemOutput {
  files: { path: string; bytes: FileBytes }[];
  lines: string[];
  warnings: string[];
  predicted?: ClassScore;
  explained?: ClassScore;
}

const json = (x: unknown) => new TextEncoder().encode(`${JSON.stringify(x, null, 2)}\n`);

/** Explains and renders one batch (any method, any option). */
async function explainBatch(explainer: Explainer, s: Settings, target: TargetSpec | undefined, batch: BatchItem[], onPasses?: (d: number, t: number, st: string) => void): Promise<ItemOutput[]> {
  const outs: ItemOutput[] = batch.map(() => ({ files: [], lines: [], warnings: [] }));
  for (const { index: idx, data, dims } of stackByShape(batch.map((b) => b.input))) {
    const classes = batch.some((b) => b.classChoice !== undefined) ? idx.map((i) => batch[i]!.classChoice ?? s.classChoice) : s.classChoice;
    if (s.pixelMethod) {
      const g = await explainPixels(explainer, data, dims, {
        method: s.pixelMethod, layer: s.layers[0], layout: s.layout, classes, output: s.output, rectifierOps: s.guidedOps,
        methodOptions: s.methodOptions[s.pixelMethod], batchSize: s.camBatch, randomSeed: s.seed, onProgress: onPasses,
      });
      const gradientKind = getMethod(s.pixelMethod).kind === 'gradient';
      for (const [j, i] of idx.entries()) {
        const { input: inp, stem: st, picture } = batch[i]!;
        const e = g.explanations[j]!;
        const stem = `${st}.${e.method}`;
        const base = picture ?? tensorPicture(inp, explainer.layout, s.norm);
        const files: RenderedFile[] = [{ suffix: '.png', bytes: pngBytes(gradientPicture(e, base, { colormap: s.look.colormap, alpha: s.look.alpha, abs: s.abs, maxSide: s.limits.maxSide }), true) }];
        if (s.raw) {
          const shape = explainer.layout === 'NCHW' ? [e.channels, e.height, e.width] : [e.height, e.width, e.channels];
          files.push({ suffix: '.npy', bytes: writeNpy(e.gradientInputLayout, shape) });
        }
        const out = outs[i]!;
        for (const f of files) out.files.push({ path: stem + f.suffix, bytes: f.bytes });
        out.files.push({ path: `${stem}.json`, bytes: json(gradientJson(e, {
          input: inp.file, model: s.model, rectifierOps: gradientKind ? s.guidedOps : undefined, files: files.map((f) => stem + f.suffix),
          timings: g.timings, imageSize: imageSize(inp), options: s.methodOptions[s.pixelMethod],
        })) });
        out.lines.push(`${inp.file}: ${e.method}: ${describeClass(e)} → ${path.join(s.out, `${stem}.png`)}`);
        out.predicted = e.predicted;
        out.explained = e.target;
        if (batch[i]!.extraWarning) out.warnings.push(batch[i]!.extraWarning!);
        if (!gradientKind) out.warnings.push(...(e.warnings ?? []));
      }
      continue;
    }
    const r = await explainMany(explainer, data, dims, {
      methods: s.methods, layers: s.groups, layout: s.layout, classes, output: s.output, target, topK: s.topK, contrast: s.contrast, counterfactual: s.counterfactual,
      augSmooth: s.augSmooth, eigenSmooth: s.eigenSmooth, batchSize: s.camBatch, scoreCamTopN: s.scoreTop, randomSeed: s.seed, onProgress: onPasses,
    });
    const rows = r.results[0]!.explanations.length;
    for (let row = 0; row < rows; row++) {
      const first = r.results[0]!.explanations[row]!;
      const j = first.image ?? row;
      const i = idx[j]!;
      const { input: inp, picture } = batch[i]!;
      const out = outs[i]!;
      const stem = batch[i]!.stem + (s.topK !== undefined ? `-top${first.rank}` : '');
      const base = picture ?? tensorPicture(inp, explainer.layout, s.norm);
      if (batch[i]!.extraWarning && !out.warnings.includes(batch[i]!.extraWarning!)) out.warnings.push(batch[i]!.extraWarning!);
      out.predicted ??= first.predicted;
      out.explained ??= first.target;
      if (s.grid) {
        const tiles = r.results.map((res) => res.explanations[row]!);
        out.files.push({ path: `${stem}.grid.png`, bytes: pngBytes(gridPicture(tiles, s.methods, s.groups, base, s.look), true) });
        out.files.push({ path: `${stem}.grid.json`, bytes: json({
          ...explanationJson(first, { input: inp.file, model: s.model, timings: r.timings, imageSize: imageSize(inp), options: s.jsonOptions, files: [`${stem}.grid.png`] }),
          method: undefined, layer: undefined, layer_layout: undefined, raw_map: undefined, warnings: undefined,
          methods: s.methods, layers: s.groups, tiles: tiles.map((e) => ({ method: e.method, layers: e.layers, warnings: e.warnings })),
        }) });
        out.lines.push(`${inp.file}: ${describeTarget(first)} → ${path.join(s.out, `${stem}.grid.png`)}`);
        out.warnings.push(...tiles.flatMap((e) => e.warnings.map((w) => `${e.method} @ ${e.layers.join('+')}: ${w}`)));
      } else {
        for (const res of r.results) {
          const e = res.explanations[row]!;
          // PNGs are compressed in the thread pool while this thread goes on (the next image's run)
          const files = explanationFiles(e, base, { ...s.look, background: true });
          const name = `${stem}.${e.method}`;
          for (const f of files) out.files.push({ path: name + f.suffix, bytes: f.bytes });
          out.files.push({ path: `${name}.json`, bytes: json(explanationJson(e, { input: inp.file, model: s.model, timings: r.timings, imageSize: imageSize(inp), options: s.jsonOptions, files: files.map((f) => name + f.suffix) })) });
          out.lines.push(`${inp.file}: ${e.method}: ${describeTarget(e)} → ${path.join(s.out, `${name}.png`)}`);
          out.warnings.push(...e.warnings);
        }
      }
    }
  }
  return outs;
}

/** The target of every image (--target and its files), read before any model run. */
async function readTarget(explainer: Explainer, s: Settings): Promise<TargetSpec | undefined> {
  const { kind, index } = s;
  switch (kind.kind) {
    case 'logit': return s.targetGiven ? { kind: 'logit' } : undefined;
    case 'softmax': return { kind: 'softmax' };
    case 'binary': return { kind: 'binary', negative: !!kind.negative, index: index?.[0] };
    case 'regression': return { kind: 'regression', index: index?.[0] };
    case 'element': return { kind: 'element', index: index! };
    case 'segmentation': return { kind: 'segmentation', mask: s.mask ? await readMask(s.mask) : undefined, pixel: s.pixel, threshold: s.threshold };
    case 'similarity': {
      const ref = await prepareInputs(explainer, s.reference!, { ...s.norm, size: s.size, maxPixels: s.limits.maxPixels, maxInputPixels: s.maxInputPixels, picture: false, ...s.rc, scan: s.scan });
      if (ref.length !== 1) throw new InputError(`--reference ${s.reference} holds ${ref.length} inputs; give one`);
      return { kind: 'similarity', referenceInput: { data: ref[0]!.tensor, dims: ref[0]!.dims } };
    }
  }
  return undefined;
}

/** Pixels of pictures `explain` on files keeps from the first decode (about 100 MB of RGB). */
const PICTURE_BUDGET = 32e6;

/** Image and .npy files: every input read first, every output written only when all succeeded. */
async function explainFiles(explainer: Explainer, s: Settings, positionals: string[]): Promise<number> {
  return allOrNothing(s.out, [...positionals, ...(s.mask ? [s.mask] : []), ...(s.reference ? [s.reference] : [])], async (add) => {
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
    const progress = new Progress(inputs.length, s.quiet);
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
  });
}

/** A row of explain.jsonl: an image of a dataset run, its files (relative to --out), or its error. */
interface ExplainRow {
  key: string;
  index: number;
  file: string;
  status: 'ok' | 'error';
  error?: string;
  predicted?: { index: number; label: string | null; probability: number | null };
  explained?: { index: number; label: string | null; probability: number | null };
  files: string[];
  warnings: string[];
}

export const EXPLAIN_STORE: StoreKind = { config: 'explain.json', results: 'explain.jsonl', what: 'explain', folders: [] };

/** An item's output stem: its path under the folder, glob or manifest it came from, without extension ('#2' → '-2'; never outside --out). */
export function datasetStem(key: string): string {
  const m = /#(\d+)$/.exec(key);
  const parts = key.replace(/#\d+$/, '').split('/').filter((x) => x !== '' && x !== '.').map((x) => (x === '..' ? '_' : x.replace(/[\u0000-\u001f]/g, '_')));
  const last = (parts.pop() ?? 'item').replace(/\.[^.]*$/, '') || 'item';
  return [...parts, `${last}${m ? `-${m[1]}` : ''}`].join('/');
}

/** Folders, globs and manifests: the resumable run of the audit's engine, writing explain's per-image files. */
async function explainDataset(explainer: Explainer, s: Settings, positionals: string[], shardText: string | undefined, retryErrors: boolean): Promise<number> {
  const shard = readShard(EXPLAIN, shardText);
  const items = await listInputs(positionals, { exclude: [s.out] });
  const target = await readTarget(explainer, s);
  const config = {
    format: 'gradcam-explain/1',
    model: await modelIdentity(s.model),
    methods: s.pixelMethod ? [s.pixelMethod] : s.methods, method_options: s.methodOptions, layers: s.groups, layout: s.layout ?? null, output: s.output ?? null,
    class: s.labelled ? 'true' : String(s.classChoice), target: s.kind, index: s.index ?? null, pixel: s.pixel ?? null, ...(s.threshold !== undefined ? { threshold: s.threshold } : {}), top_k: s.topK ?? null, options: s.jsonOptions,
    cam_batch: s.camBatch ?? null, score_top: s.scoreTop ?? null, seed: s.seed, guided_ops: s.guidedOps, abs: s.abs, grid: s.grid, look: s.look,
    normalize: { preset: s.norm.preset ?? null, mean: s.norm.mean ? [...s.norm.mean] : null, std: s.norm.std ? [...s.norm.std] : null, ...(s.norm.divisor !== undefined ? { divisor: s.norm.divisor } : {}) },
    size: s.size ?? null, ...(s.rc.resize !== undefined ? { resize: s.rc.resize, crop: s.rc.crop ?? null } : {}), labels: explainer.labels ?? null,
    shard: shard ?? null, total: shardItems(items, shard).length,
  };
  type Prep = { entry: { item: AuditItem; index: number }; input?: PreparedInput; picture?: RgbImage; classChoice?: ClassChoice; warning?: string; error?: string };
  const prepare = async (entry: { item: AuditItem; index: number }): Promise<Prep> => {
    try {
      const input = await prepareItemInput(explainer, entry.item.file, { ...s.norm, size: s.size, maxPixels: s.limits.maxPixels, maxInputPixels: s.maxInputPixels, picture: false, ...s.rc, scan: s.scan });
      const [picture] = await batchPictures([input], s.limits);
      let classChoice: ClassChoice | undefined;
      let warning: string | undefined;
      if (s.labelled) {
        const truth = resolveTruth(explainer, entry.item.label);
        if (truth?.index !== null && truth?.index !== undefined) classChoice = truth.index;
        else if (truth?.label) classChoice = truth.label;
        else warning = 'no true label: explained the predicted class';
      }
      return { entry, input, picture, classChoice, warning };
    } catch (e) {
      return { entry, error: oneLine((e as Error).message) };
    }
  };
  const classRef = (c: ClassScore | undefined) => (c ? { index: c.index, label: c.label ?? null, probability: c.probability ?? null } : undefined);
  const progress = new DatasetProgress(s.quiet);
  const process_ = async (prepared: Prep[]): Promise<{ rows: ExplainRow[]; files: FileOut[] }> => {
    const ok = prepared.filter((p) => !p.error);
    const items = ok.map((p) => ({ input: p.input!, stem: datasetStem(p.entry.item.key), picture: p.picture, classChoice: p.classChoice, extraWarning: p.warning }));
    let outs: (ItemOutput | Error)[];
    try {
      outs = ok.length ? await explainBatch(explainer, s, target, items, progress.passes) : [];
    } catch (e) {
      if (ok.length === 1) outs = [e as Error];
      else {
        // one bad image (e.g. non-finite scores) must not fail its neighbours: run them one by one
        outs = [];
        for (const it of items) outs.push(await explainBatch(explainer, s, target, [it], progress.passes).then((x) => x[0]!, (err: Error) => err));
      }
    }
    const byPrep = new Map<Prep, ItemOutput | Error>();
    ok.forEach((p, i) => byPrep.set(p, outs[i]!));
    const rows: ExplainRow[] = [];
    const files: FileOut[] = [];
    for (const p of prepared) {
      const base = { key: p.entry.item.key, index: p.entry.index, file: p.entry.item.file };
      const out = p.error !== undefined ? new InputError(p.error) : byPrep.get(p)!;
      if (out instanceof Error) {
        rows.push({ ...base, status: 'error', error: oneLine(out.message), files: [], warnings: [] });
        warn(p.entry.item.file, [`failed: ${oneLine(out.message)}`]);
        continue;
      }
      files.push(...out.files);
      for (const l of out.lines) console.log(printable(l));
      warn(p.entry.item.file, out.warnings);
      rows.push({ ...base, status: 'ok', predicted: classRef(out.predicted), explained: classRef(out.explained), files: out.files.map((f) => f.path), warnings: out.warnings });
    }
    return { rows, files };
  };
  const r = await interruptible((signal) => {
    if (!s.quiet) process.stderr.write(listedLine(items.length, shard, config.total, s.out));
    return runDataset<Prep, ExplainRow>(items, {
      out: s.out, config, kind: EXPLAIN_STORE, shard, retryErrors, signal, batchSize: datasetBatchSize(explainer, { ...s, ...s.rc }),
      prepare, process: process_, onProgress: (p) => progress.update(p),
    });
  });
  progress.end();
  {
    const rate = r.info.processed / Math.max(r.info.elapsedS, 1e-9);
    console.log(`${doneLine(r.info)}, ${rate.toFixed(2)} images/s; rows in ${path.join(s.out, EXPLAIN_STORE.results)}`);
  }
  if (r.interrupted) return EXIT_INTERRUPTED;
  return r.info.errors > 0 ? EXIT_ITEMS_FAILED : 0;
}

/**
 * --intensity, --window, --channels and the mean/std that scans get: --mean/--std, or the --normalize
 * preset's, when given (no implicit ImageNet normalisation for scans).
 */
function scanOptions(o: { intensity?: string; window?: string; channels?: string; normalize?: string; mean?: string; std?: string }, norm: NormalizeOptions): PrepareScanOptions {
  let window: [number, number] | undefined;
  if (o.window !== undefined) {
    const w = parseNumbers('--window', o.window);
    if (!w || w.length !== 2 || !(w[1]! > 0)) throw usageError(EXPLAIN, `--window must be CENTRE,WIDTH with a positive width (e.g. 40,400), got '${o.window}'`);
    window = [w[0]!, w[1]!];
  }
  if (window && o.intensity !== undefined && o.intensity !== 'window') throw usageError(EXPLAIN, `--window goes with --intensity window (got --intensity ${o.intensity})`);
  let mean: number[] | undefined;
  let std: number[] | undefined;
  if (o.normalize !== undefined || o.mean !== undefined || o.std !== undefined) {
    const spec = resolveNormalization(norm);
    mean = norm.mean ? [...norm.mean] : o.normalize ? [...spec.mean] : undefined;
    std = norm.std ? [...norm.std] : o.normalize ? [...spec.std] : undefined;
  }
  return { intensity: (o.intensity ?? (window ? 'window' : undefined)) as IntensityMode | undefined, window, channels: o.channels === undefined ? undefined : Number(o.channels), mean, std };
}

type PrepareScanOptions = NonNullable<Parameters<typeof prepareInputs>[2]>['scan'];

/** The picture's own size [H, W] for images (not for .npy inputs). */
function imageSize(inp: PreparedInput): [number, number] | undefined {
  return inp.sourceSize ? [inp.sourceSize[1], inp.sourceSize[0]] : undefined;
}

function list(s: string): string[] {
  const v = s.split(',').map((x) => x.trim()).filter((x) => x.length > 0);
  if (!v.length) throw usageError(EXPLAIN, `empty list '${s}'`);
  return v;
}


function choice(s: string): ClassChoice {
  return s === 'top' ? 'top' : /^\d+$/.test(s) ? Number(s) : s;
}

/** Warnings on stderr, each once per run. */
const seenWarnings = new Set<string>();
function warn(file: string, warnings: string[]): void {
  for (const w of warnings) {
    const line = `gradcam: warning: ${printable(file)}: ${printable(w)}\n`;
    if (seenWarnings.has(line)) continue;
    seenWarnings.add(line);
    process.stderr.write(line);
  }
}

/** A segmentation mask: .npy [h,w] (or [1,h,w]) of any numeric dtype, or an image (non-black pixels). */
async function readMask(file: string): Promise<Float32Array> {
  if (file.toLowerCase().endsWith('.npy')) {
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(await readRegularFile(file));
    } catch (e) {
      throw new InputError((e as FileReadError).code === 'ENOENT' ? `mask not found: ${file}` : `cannot read mask ${file}: ${(e as Error).message}`);
    }
    let npy;
    try {
      npy = parseNpy(bytes);
    } catch (e) {
      throw new InputError(`mask ${file} cannot be used: ${(e as Error).message.replace(/^parseNpy: /, '')}`);
    }
    const shape = npy.shape.filter((d) => d !== 1);
    if (shape.length !== 2) throw new InputError(`mask ${file} has shape [${npy.shape.join(', ')}]; expected [h, w]`);
    return toFloat32(npy).map((v) => (v !== 0 ? 1 : 0));
  }
  const img = await readImageFile(file);
  const m = new Float32Array(img.width * img.height);
  for (let i = 0; i < m.length; i++) m[i] = img.data[3 * i]! || img.data[3 * i + 1]! || img.data[3 * i + 2]! ? 1 : 0;
  return m;
}


/** Each image input's overlay picture, read again (shrunk while decoding to the overlay bound); undefined for .npy inputs. */
export async function batchPictures(batch: readonly PreparedInput[], limits: { maxPixels?: number; maxSide: number }): Promise<(RgbImage | undefined)[]> {
  const out: (RgbImage | undefined)[] = [];
  for (const inp of batch) out.push(inp.image ?? (inp.sourceSize ? await readPicture(inp.file, { maxSide: limits.maxSide, maxPixels: limits.maxPixels, region: inp.region }) : undefined));
  return out;
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

