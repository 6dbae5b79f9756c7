/** `gradcam explain`'s command line: its declaration (options, help), the settings read and checked from it before any model run, and the target's files. */
import { camMethod } from '../cam/index.js';
import { getMethod, isPixelMethod, methodNames, methodNames as namesOfKinds } from '../methods/index.js';
import { methodOptionsFor, methodOptionsGroup } from './methods.js';
import type { MethodOptionValue } from '../types.js';
import { parseTargetKind, type TargetSpec } from '../cam/targets.js';
import { readMask } from '../dataset/items.js';
import type { NormalizeOptions } from '../image/normalize.js';
import { InputError, type Explainer } from '../explainer.js';
import type { ClassChoice } from '../types.js';
import { prepareInputs, DEFAULT_PICTURE_SIDE } from '../node.js';
import { parseNumbers, parseOverlaySize, parseSize } from './common.js';
import type { PictureFormat } from '../image/encode.js';
import type { OverlaySizeRequest } from '../render/index.js';
import { command, num, parseCommand, usageError, DATASET, FAMILY, IMAGES, MODEL, PICTURES, RUN, TARGET, methodGroup } from './spec.js';
import { normalizeOptions, resizeCropOptions, type ResizeCropOptions } from './inputs.js';
import { INTENSITY_MODES, type IntensityMode } from '../image/volume.js';
import { VOLUME_RESIZES, type VolumeResize } from '../image/resize3d.js';
import { resolveNormalization } from '../image/normalize.js';
import { group } from './spec.js';

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
export interface Settings {
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
  /** Attribution pictures: the top P % of pixels (--top-percent). */
  topPercent?: number;
  grid: boolean;
  raw: boolean;
  look: { colormap: string; alpha: number; caption: boolean; heatmap: boolean; raw: boolean; maxSide: number; format?: PictureFormat; size?: OverlaySizeRequest };
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

export function readSettings(p: ReturnType<typeof parseCommand<typeof EXPLAIN.groups>>): Settings {
  const o = p.values;
  if (o.method !== undefined && p.given.has('method') && o.methods) throw usageError(EXPLAIN, 'give --method or --methods, not both');
  if (o.layer !== undefined && p.given.has('layer') && o.layers) throw usageError(EXPLAIN, 'give --layer or --layers, not both');
  const methodNames = list(o.methods ?? o.method ?? 'gradcam');
  const pixelMethod = methodNames.length === 1 && isPixelMethod(methodNames[0]!) ? getMethod(methodNames[0]!).name : undefined;
  if (pixelMethod) {
    // the family's flags that the method declares as its own shared options (--seed, --cam-batch) are its
    const pm = getMethod(pixelMethod);
    const family = [...p.given].filter((k) => k in FAMILY.options && !pm.options.some((x) => x.flag === k)).map((k) => `--${k}`);
    const how = pm.kind === 'gradient' ? 'explains through the input gradient' : `is a ${pm.kind} method`;
    if (family.length) throw usageError(EXPLAIN, `--method ${pixelMethod} ${how} and takes none of the CAM-family options (${family.join(', ')}); drop them, or choose a CAM method`);
    if (!pm.needs.layer && (p.given.has('layer') || p.given.has('layers'))) throw usageError(EXPLAIN, `--method ${pixelMethod} ${how} and reads no layer; drop --${p.given.has('layer') ? 'layer' : 'layers'}`);
  }
  for (const m of methodNames) {
    if (pixelMethod) break;
    if (isPixelMethod(m)) throw usageError(EXPLAIN, `${m} is a ${getMethod(m).kind} method: give it alone with --method ${m}`);
    try {
      getMethod(m); // unknown names: a clear error listing every method of every kind
    } catch (e) {
      throw usageError(EXPLAIN, (e as Error).message);
    }
  }
  const methods = pixelMethod ? [] : methodNames.map((m) => camMethod(m).name);
  if (p.given.has('top-percent') && (!pixelMethod || getMethod(pixelMethod).kind === 'gradient')) throw usageError(EXPLAIN, `--top-percent goes with the attribution methods (${namesOfKinds('path', 'noise', 'perturbation').join(', ')})`);
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
    guidedOps: o['guided-ops'] as 'all' | 'relu', abs: !!o.abs, topPercent: num(o['top-percent']), grid: !!o.grid, raw: !!o.raw,
    look: { colormap: o.colormap!, alpha: num(o.alpha) ?? 0.5, caption: !o['no-caption'], heatmap: !!o.heatmap, raw: !!o.raw, maxSide: limits.maxSide, format: o.format === 'png' ? undefined : o.format as PictureFormat, size: parseOverlaySize(o['overlay-size']) },
    limits, norm, scan: scanOptions(o, norm), volumeResize: o['volume-resize'] as VolumeResize, size: parseSize(o.size), rc: resizeCropOptions(o), maxInputPixels: num(o['max-input']), batchSize: num(o['batch-size']) ?? 8,
    out: o.out!, quiet: !!o.quiet,
    jsonOptions: {
      ...(contrast !== undefined ? { contrast: String(contrast) } : {}),
      ...(o.counterfactual ? { counterfactual: true } : {}), ...(o['aug-smooth'] ? { aug_smooth: true } : {}), ...(o['eigen-smooth'] ? { eigen_smooth: true } : {}),
    },
  };
}

/** The target of every image (--target and its files), read before any model run. */
export async function readTarget(explainer: Explainer, s: Settings): Promise<TargetSpec | undefined> {
  const { kind, index } = s;
  switch (kind.kind) {
    case 'logit': return s.targetGiven ? { kind: 'logit' } : undefined;
    case 'softmax': return { kind: 'softmax' };
    case 'binary': return { kind: 'binary', negative: !!kind.negative, index: index?.[0] };
    case 'regression': return { kind: 'regression', index: index?.[0] };
    case 'element': return { kind: 'element', index: index! };
    case 'segmentation': return { kind: 'segmentation', mask: s.mask ? Float32Array.from((await readMask(s.mask)).data) : undefined, pixel: s.pixel, threshold: s.threshold };
    case 'similarity': {
      const ref = await prepareInputs(explainer, s.reference!, { ...s.norm, size: s.size, maxPixels: s.limits.maxPixels, maxInputPixels: s.maxInputPixels, picture: false, ...s.rc, scan: s.scan });
      if (ref.length !== 1) throw new InputError(`--reference ${s.reference} holds ${ref.length} inputs; give one`);
      return { kind: 'similarity', referenceInput: { data: ref[0]!.tensor, dims: ref[0]!.dims } };
    }
  }
  return undefined;
}

/**
 * --intensity, --window, --channels and the mean/std that scans get: --mean/--std, or the --normalize
 * preset's, when given (no implicit ImageNet normalisation for scans).
 */
export function scanOptions(o: { intensity?: string; window?: string; channels?: string; normalize?: string; mean?: string; std?: string }, norm: NormalizeOptions): PrepareScanOptions {
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

export type PrepareScanOptions = NonNullable<Parameters<typeof prepareInputs>[2]>['scan'];

export function list(s: string): string[] {
  const v = s.split(',').map((x) => x.trim()).filter((x) => x.length > 0);
  if (!v.length) throw usageError(EXPLAIN, `empty list '${s}'`);
  return v;
}


export function choice(s: string): ClassChoice {
  return s === 'top' ? 'top' : /^\d+$/.test(s) ? Number(s) : s;
}

