/** `gradcam explain`: explain images or .npy tensors; write overlay PNGs, maps and JSON sidecars. */
import path from 'node:path';
import { CAM_METHODS, camMethod } from '../cam/index.js';
import { explainMany } from '../cam/runner.js';
import { parseTargetKind, type TargetSpec } from '../cam/targets.js';
import { COLORMAPS } from '../image/colormap.js';
import { readImageFile } from '../image/node.js';
import { encodePng } from '../image/png.js';
import { parseNpy, toFloat32, writeNpy } from '../image/npy.js';
import { explainGradients, isGradientMethod, GRADIENT_METHODS, type GradientMethod } from '../cam/guided.js';
import { NORMALIZE_PRESETS, type NormalizeOptions } from '../image/normalize.js';
import type { RgbImage } from '../image/types.js';
import { InputError, type ClassChoice, type ClassScore } from '../explainer.js';
import { loadExplainer, prepareInputs, readPicture, stackByShape, tensorPicture, batchForInputs, inputPixels, DEFAULT_MAX_PIXELS, DEFAULT_PICTURE_SIDE, type PreparedInput } from '../node.js';
import { readRegularFile, type FileReadError } from '../image/node.js';
import { describeClass, describeTarget, explanationFiles, explanationJson, gradientJson, gradientPicture, gridPicture, type RenderedFile } from '../render/index.js';
import { StagedOutputs } from './output.js';
import { CliError, usageError, optionNumber, parse, parseMaxInput, parseNumbers, parseSize, maxInputHelp, Progress } from './common.js';
import { FAMILY_OPTIONS, familyFlags } from './family-usage.js';
import { isBatchInvocation, runAuditCli } from './audit.js';
import { RESIZE_CROP_USAGE, resizeCropOptions } from './inputs.js';
import { explainVolumes } from './explain-volume.js';
import { INTENSITY_MODES, type IntensityMode } from '../image/volume.js';
import { VOLUME_RESIZES, type VolumeResize } from '../image/resize3d.js';
import { resolveNormalization } from '../image/normalize.js';

export const EXPLAIN_USAGE = `Usage: gradcam explain <images|.npy...> --model FILE [options]

Inputs are JPEG/PNG/WebP images (resized to the model's input and normalised) or .npy tensors
taken as the ready model input ([C,H,W] or [N,C,H,W] in the model's layout). Scans: NIfTI (.nii,
.nii.gz), DICOM (.dcm; several files of one series make one volume for a 3-D model), 16-bit and
grayscale PNG/TIFF at full precision; a 3-D model (5-D input) explains volumes.

Options:
  --model FILE         ONNX model (required)
  --method NAME        ${[...Object.keys(CAM_METHODS), ...Object.keys(GRADIENT_METHODS)].join(', ')} (default gradcam)
  --layer NAME         tensor or module to explain ('layer4', 'blocks.11.norm1': the last layer in
                       that module's name scope), or 'auto' (default: the input of the last node that mixes
                       grid positions — global pooling, attention, a flattening classifier — walked
                       back past projections: a CNN's last block, a ViT's last norm1, Swin's final
                       norm, ConvNeXt's last stage; see 'gradcam layers')
  --layout L           the layer's layout where gradcam cannot infer it: nchw, nhwc or
                       tokens:HxW[+P] ([N, L, C] tokens: an H×W grid after P prefix tokens)
  --class C            'top' (the predicted class, default), a class index, or a label
${FAMILY_OPTIONS.trimEnd()}
  --output NAME        the model output to explain (default: the first)
  --out DIR            output folder (default: gradcam-out)
  --raw                also write the map as .npy float32 [H,W] at input resolution, and the raw
                       map (weighted sum before ReLU and scaling, layer resolution) as .raw.npy
  --heatmap            also write the heat map alone as <stem>.<method>.heatmap.png
  --colormap NAME      ${COLORMAPS.join(', ')} (default jet)
  --alpha A            heat-map opacity in the overlay, 0..1 (default 0.5)
  --no-caption         overlay PNG without the caption naming the class
  --labels FILE        class labels: one per line, or JSON (default: the model's metadata)
  --size H[xW]         input size for models with dynamic height/width
${RESIZE_CROP_USAGE}  --normalize NAME     ${NORMALIZE_PRESETS.join(', ')} (default imagenet)
  --mean a,b,c         custom mean (on [0,1] values unless a preset is given)
  --std a,b,c          custom std
  --batch-size N       images per model run (default 8)
  --max-pixels N       refuse images larger than N pixels (default 268402689, sharp's limit: about
                       16384×16384); 0 for no limit. Images above 64 megapixels are shrunk while
                       decoding, so memory stays bounded
  --max-overlay N      longest side of the overlay PNGs in pixels (default 2048)
${maxInputHelp()}
  --guided-ops SET     rectifiers guided by guided-backprop/deconvnet: 'all' (Relu, Clip/ReLU6,
                       LeakyRelu, PRelu; default) or 'relu' (only Relu, as pytorch-grad-cam)
  --abs                gradient pictures as grayscale |gradient| instead of the usual deprocessing
  With a gradient method (saliency, guided-backprop, deconvnet, guided-gradcam) the PNG shows the
  Grad-CAM overlay beside the gradient picture, and --raw writes the gradient as .npy float32 in the
  input tensor's layout without batch ([C,H,W] for NCHW models), not deprocessed.
  Scans and 3-D models (NIfTI, DICOM, grayscale or 16-bit images, 1-channel models):
  --intensity MODE     ${INTENSITY_MODES.join(' | ')}: none keeps the stored values (DICOM/NIfTI
                       after rescale slope/intercept, e.g. Hounsfield units; the default for them),
                       unit divides by the bit depth (images' default), minmax/zscore over the scan,
                       window clips to --window; then --mean/--std (or --normalize) if given
                       (grayscale images into 3-channel models: the --normalize preset, as photos)
  --window C,W         window centre and width (default: the DICOM file's first preset)
  --channels 1|3       the channels the scan becomes (a grayscale scan repeated into a 3-channel
                       model); default: the model's
  --volume-resize M    3-D maps: trilinear (half-pixel centres, default) or spline
                       (scipy.ndimage.zoom's cubic spline, pytorch-grad-cam's 3-D resize)
  A 3-D model writes per volume the slice montage (.png), the map as NIfTI aligned with the scan
  (.nii.gz, NIfTI and DICOM inputs) and the JSON; --raw adds the map (.npy [D,H,W]) and raw map.
  --quiet              no progress on stderr
`;

interface Output {
  path: string;
  bytes: Uint8Array;
}

/**
 * One explain for every method and option: CAM methods (one, several, a grid; any target, top-k,
 * contrast, smoothing) run through the shared pipeline (explainMany), gradient methods through
 * explainGradients; every explanation is drawn by the one renderer (src/render) and described by the
 * same JSON sidecar.
 */
export async function runExplain(args: string[]): Promise<number> {
  // folders, quoted globs and manifests go to the batch runner (gradcam audit)
  if (isBatchInvocation(args)) return runAuditCli(args);
  const { values: o, positionals } = parse(args, {
    model: { type: 'string' }, method: { type: 'string' }, methods: { type: 'string' }, layer: { type: 'string' }, layers: { type: 'string' }, layout: { type: 'string' },
    grid: { type: 'boolean', default: false }, class: { type: 'string', default: 'top' }, output: { type: 'string' }, out: { type: 'string', default: 'gradcam-out' },
    target: { type: 'string' }, index: { type: 'string' }, mask: { type: 'string' }, reference: { type: 'string' },
    'top-k': { type: 'string' }, contrast: { type: 'string' }, counterfactual: { type: 'boolean', default: false },
    'aug-smooth': { type: 'boolean', default: false }, 'eigen-smooth': { type: 'boolean', default: false },
    'cam-batch': { type: 'string' }, 'score-top': { type: 'string' }, seed: { type: 'string', default: '0' },
    raw: { type: 'boolean', default: false }, heatmap: { type: 'boolean', default: false },
    colormap: { type: 'string', default: 'jet' }, alpha: { type: 'string', default: '0.5' }, 'no-caption': { type: 'boolean', default: false },
    labels: { type: 'string' }, size: { type: 'string' }, normalize: { type: 'string' }, mean: { type: 'string' }, std: { type: 'string' },
    resize: { type: 'string' }, crop: { type: 'string' },
    'max-pixels': { type: 'string' }, 'max-overlay': { type: 'string' }, 'max-input': { type: 'string' },
    intensity: { type: 'string' }, window: { type: 'string' }, channels: { type: 'string' }, 'volume-resize': { type: 'string', default: 'trilinear' },
    'batch-size': { type: 'string', default: '8' }, abs: { type: 'boolean', default: false }, 'guided-ops': { type: 'string', default: 'all' }, quiet: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h' },
  }, EXPLAIN_USAGE);
  if (o.help) {
    console.log(EXPLAIN_USAGE);
    return 0;
  }
  if (!o.model) throw usageError(`--model FILE is required`, EXPLAIN_USAGE);
  if (positionals.length === 0) throw usageError(`no inputs given`, EXPLAIN_USAGE);
  if (o.method && o.methods) throw new CliError('give --method or --methods, not both');
  if (o.layer && o.layers) throw new CliError('give --layer or --layers, not both');
  const methodNames = list(o.methods ?? o.method ?? 'gradcam');
  const gradientMethod = methodNames.length === 1 && isGradientMethod(methodNames[0]!.toLowerCase()) ? methodNames[0]!.toLowerCase() as GradientMethod : undefined;
  if (gradientMethod) {
    const family = familyFlags(args);
    if (family.length) throw new CliError(`--method ${gradientMethod} explains through the input gradient and takes none of the CAM-family options (${family.join(', ')}); drop them, or choose a CAM method`);
  }
  for (const m of methodNames) {
    if (gradientMethod) break;
    if (isGradientMethod(m.toLowerCase())) throw new CliError(`${m} is a gradient method: give it alone with --method ${m}`);
    camMethod(m, Object.keys(GRADIENT_METHODS)); // unknown names: a clear error listing every method
  }
  const methods = gradientMethod ? [] : methodNames.map((m) => camMethod(m).name);
  if (new Set(methods).size !== methods.length) throw new CliError(`--methods names a method twice: ${methodNames.join(',')}`);
  const layers = list(o.layers ?? o.layer ?? 'auto');
  if (!(COLORMAPS as readonly string[]).includes(o.colormap!)) throw new CliError(`unknown colour map '${o.colormap}'; choose one of: ${COLORMAPS.join(', ')}`);
  const alpha = optionNumber(o.alpha!);
  if (!(alpha >= 0 && alpha <= 1)) throw new CliError(`--alpha must be a number between 0 and 1, got '${o.alpha}'`);
  const batchSize = positiveInt('--batch-size', o['batch-size']!);
  const camBatch = o['cam-batch'] === undefined ? undefined : positiveInt('--cam-batch', o['cam-batch']);
  const topK = o['top-k'] === undefined ? undefined : positiveInt('--top-k', o['top-k']);
  const scoreTop = o['score-top'] === undefined ? undefined : positiveInt('--score-top', o['score-top']);
  const seed = optionNumber(o.seed!);
  if (!Number.isInteger(seed) || seed < 0 || seed > 2 ** 32 - 1) throw new CliError(`--seed must be an integer from 0 to 2^32−1, got '${o.seed}'`);
  if (o['guided-ops'] !== 'all' && o['guided-ops'] !== 'relu') throw new CliError(`--guided-ops must be 'all' or 'relu', got '${o['guided-ops']}'`);
  const size = parseSize(o.size);
  const norm: NormalizeOptions = { preset: o.normalize, mean: parseNumbers('--mean', o.mean), std: parseNumbers('--std', o.std) };
  if (!o.normalize && (norm.mean || norm.std)) norm.preset = undefined;
  if (!o.normalize && !norm.mean && !norm.std) norm.preset = 'imagenet';
  const scan = scanOptions(o, norm);
  if (!(VOLUME_RESIZES as readonly string[]).includes(o['volume-resize']!)) throw new CliError(`--volume-resize must be one of: ${VOLUME_RESIZES.join(', ')}; got '${o['volume-resize']}'`);
  const classChoice = choice(o.class!);
  const contrast = o.contrast === undefined ? undefined : choice(o.contrast);
  let kind;
  try {
    kind = parseTargetKind(o.target ?? 'logit');
  } catch (e) {
    throw new CliError((e as Error).message);
  }
  const index = o.index === undefined ? undefined : parseNumbers('--index', o.index)!;
  if (index && index.some((v) => !Number.isInteger(v) || v < 0)) throw new CliError(`--index must be non-negative integers, got '${o.index}'`);
  if (kind.kind === 'element' && !index) throw new CliError('--target element needs --index I[,J..]');
  if (o.mask && kind.kind !== 'segmentation') throw new CliError('--mask goes with --target segmentation');
  if (o.reference && kind.kind !== 'similarity') throw new CliError('--reference goes with --target similarity');
  if (kind.kind === 'similarity' && !o.reference) throw new CliError('--target similarity needs --reference FILE (the image to compare with)');

  const limits = pictureLimits(o['max-pixels'], o['max-overlay']);
  const maxInputPixels = parseMaxInput(o['max-input']);
  const rc = resizeCropOptions(o);
  const look = { colormap: o.colormap!, alpha, caption: !o['no-caption'], heatmap: o.heatmap!, raw: o.raw!, maxSide: limits.maxSide };

  const explainer = await loadExplainer(o.model, { labelsFile: o.labels, size, maxInputPixels });
  const staged = new StagedOutputs(o.out!, [...positionals, ...(o.mask ? [o.mask] : []), ...(o.reference ? [o.reference] : [])]);
  const add = async (file: string, bytes: Uint8Array) => staged.add(path.join(o.out!, file), bytes);
  const json = (x: unknown) => new TextEncoder().encode(`${JSON.stringify(x, null, 2)}\n`);
  try {
    checkOutputName(explainer, o.output);
    if (explainer.volume) {
      const refused = ['methods', 'layers', 'grid', 'target', 'top-k', 'contrast', 'counterfactual', 'aug-smooth', 'eigen-smooth', 'heatmap', 'resize', 'crop', 'mask', 'reference']
        .filter((k) => args.some((a) => a === `--${k}` || a.startsWith(`--${k}=`))).map((k) => `--${k}`);
      const lines: string[] = [];
      await explainVolumes(explainer, positionals, {
        model: o.model, out: o.out!, method: methodNames[0]!, layer: layers.length === 1 && layers[0] === 'auto' ? undefined : layers, layout: o.layout, classes: classChoice,
        output: o.output, volumeResize: o['volume-resize'] as VolumeResize, rectifierOps: o['guided-ops'] as 'relu' | 'all', look, refused,
        prepare: { size, maxPixels: limits.maxPixels, maxInputPixels, picture: false, scan },
      }, add, lines, warn);
      await staged.commit();
      for (const l of lines) console.log(l);
      return 0;
    }
    // Read every input first: a bad one stops the run before anything is written. Only the tensors are
    // kept; each batch's pictures are read again (shrunk while decoding) when its overlays are drawn.
    const inputs: PreparedInput[] = [];
    for (const file of positionals) inputs.push(...(await prepareInputs(explainer, file, { ...norm, size, maxPixels: limits.maxPixels, maxInputPixels, picture: false, ...rc, scan })));
    let target: TargetSpec | undefined;
    switch (kind.kind) {
      case 'logit': target = o.target === undefined ? undefined : { kind: 'logit' }; break;
      case 'softmax': target = { kind: 'softmax' }; break;
      case 'binary': target = { kind: 'binary', negative: !!kind.negative, index: index?.[0] }; break;
      case 'regression': target = { kind: 'regression', index: index?.[0] }; break;
      case 'element': target = { kind: 'element', index: index! }; break;
      case 'segmentation': target = { kind: 'segmentation', mask: o.mask ? await readMask(o.mask) : undefined }; break;
      case 'similarity': {
        const ref = await prepareInputs(explainer, o.reference!, { ...norm, size, maxPixels: limits.maxPixels, maxInputPixels, picture: false, ...rc });
        if (ref.length !== 1) throw new InputError(`--reference ${o.reference} holds ${ref.length} inputs; give one`);
        target = { kind: 'similarity', referenceInput: { data: ref[0]!.tensor, dims: ref[0]!.dims } };
        break;
      }
    }
    const options = {
      ...(contrast !== undefined ? { contrast: String(contrast) } : {}),
      ...(o.counterfactual ? { counterfactual: true } : {}), ...(o['aug-smooth'] ? { aug_smooth: true } : {}), ...(o['eigen-smooth'] ? { eigen_smooth: true } : {}),
    };
    const groups: string[][] = o.grid && layers.length > 1 ? [...layers.map((l) => [l]), layers] : [layers];
    const stems = uniqueStems(inputs);
    const progress = new Progress(inputs.length, o.quiet);
    const lines: string[] = [];
    const perRun = batchForInputs(batchSize, Math.max(1, ...inputs.map((i) => inputPixels(i.dims, explainer.layout))), maxInputPixels);
    for (let start = 0; start < inputs.length; start += perRun) {
      const batch = inputs.slice(start, start + perRun);
      const pictures = await batchPictures(batch, limits);
      for (const { index: idx, data, dims } of stackByShape(batch)) {
        if (gradientMethod) {
          const g = await explainGradients(explainer, data, dims, { method: gradientMethod, layer: layers[0], layout: o.layout, classes: classChoice, output: o.output, rectifierOps: o['guided-ops'] as 'relu' | 'all' });
          for (const [j, i] of idx.entries()) {
            const inp = batch[i]!;
            const e = g.explanations[j]!;
            const stem = `${stems[start + i]!}.${e.method}`;
            const base = pictures[i] ?? tensorPicture(inp, explainer.layout, norm);
            const files: RenderedFile[] = [{ suffix: '.png', bytes: encodePng(gradientPicture(e, base, { colormap: o.colormap!, alpha, abs: o.abs!, maxSide: limits.maxSide })) }];
            if (o.raw) {
              const shape = explainer.layout === 'NCHW' ? [e.channels, e.height, e.width] : [e.height, e.width, e.channels];
              files.push({ suffix: '.npy', bytes: writeNpy(e.gradientInputLayout, shape) });
            }
            for (const f of files) await add(stem + f.suffix, f.bytes);
            await add(`${stem}.json`, json(gradientJson(e, {
              input: inp.file, model: o.model, rectifierOps: o['guided-ops']!, files: files.map((f) => stem + f.suffix),
              timings: { compileMs: 0, sessionMs: 0, runMs: g.runMs, camMs: 0 }, imageSize: imageSize(inp),
            })));
            lines.push(`${inp.file}: ${e.method}: ${describeClass(e)} → ${path.join(o.out!, `${stem}.png`)}`);
            progress.step(start + i + 1, path.basename(inp.file));
          }
          continue;
        }
        const r = await explainMany(explainer, data, dims, {
          methods, layers: groups, layout: o.layout, classes: classChoice, output: o.output, target, topK, contrast, counterfactual: o.counterfactual,
          augSmooth: o['aug-smooth'], eigenSmooth: o['eigen-smooth'], batchSize: camBatch, scoreCamTopN: scoreTop, randomSeed: seed,
          onProgress: progress.passes,
        });
        const rows = r.results[0]!.explanations.length;
        for (let row = 0; row < rows; row++) {
          const first = r.results[0]!.explanations[row]!;
          const j = first.image ?? row;
          const inp = batch[idx[j]!]!;
          const stem = stems[start + idx[j]!]! + (topK !== undefined ? `-top${first.rank}` : '');
          const base = pictures[idx[j]!] ?? tensorPicture(inp, explainer.layout, norm);
          if (o.grid) {
            const tiles = r.results.map((res) => res.explanations[row]!);
            await add(`${stem}.grid.png`, encodePng(gridPicture(tiles, methods, groups, base, look)));
            await add(`${stem}.grid.json`, json({
              ...explanationJson(first, { input: inp.file, model: o.model, timings: r.timings, imageSize: imageSize(inp), options, files: [`${stem}.grid.png`] }),
              method: undefined, layer: undefined, layer_layout: undefined, raw_map: undefined, warnings: undefined,
              methods, layers: groups, tiles: tiles.map((e) => ({ method: e.method, layers: e.layers, warnings: e.warnings })),
            }));
            lines.push(`${inp.file}: ${describeTarget(first)} → ${path.join(o.out!, `${stem}.grid.png`)}`);
            warn(inp.file, tiles.flatMap((e) => e.warnings.map((w) => `${e.method} @ ${e.layers.join('+')}: ${w}`)));
          } else {
            for (const res of r.results) {
              const e = res.explanations[row]!;
              const files = explanationFiles(e, base, look);
              const name = `${stem}.${e.method}`;
              for (const f of files) await add(name + f.suffix, f.bytes);
              await add(`${name}.json`, json(explanationJson(e, { input: inp.file, model: o.model, timings: r.timings, imageSize: imageSize(inp), options, files: files.map((f) => name + f.suffix) })));
              lines.push(`${inp.file}: ${e.method}: ${describeTarget(e)} → ${path.join(o.out!, `${name}.png`)}`);
              warn(inp.file, e.warnings);
            }
          }
          const next = r.results[0]!.explanations[row + 1];
          if (!next || next.image !== first.image) progress.step(start + idx[j]! + 1, path.basename(inp.file));
        }
      }
    }
    await staged.commit();
    for (const l of lines) console.log(l);
    return 0;
  } catch (e) {
    await staged.abort();
    throw e;
  } finally {
    await explainer.release();
  }
}

/**
 * --intensity, --window, --channels and the mean/std that scans get: --mean/--std, or the --normalize
 * preset's, when given (no implicit ImageNet normalisation for scans).
 */
function scanOptions(o: { intensity?: string; window?: string; channels?: string; normalize?: string; mean?: string; std?: string }, norm: NormalizeOptions): PrepareScanOptions {
  if (o.intensity !== undefined && !(INTENSITY_MODES as readonly string[]).includes(o.intensity)) throw new CliError(`--intensity must be one of: ${INTENSITY_MODES.join(', ')}; got '${o.intensity}'`);
  let window: [number, number] | undefined;
  if (o.window !== undefined) {
    const w = parseNumbers('--window', o.window);
    if (!w || w.length !== 2 || !(w[1]! > 0)) throw new CliError(`--window must be CENTRE,WIDTH with a positive width (e.g. 40,400), got '${o.window}'`);
    window = [w[0]!, w[1]!];
  }
  if (window && o.intensity !== undefined && o.intensity !== 'window') throw new CliError(`--window goes with --intensity window (got --intensity ${o.intensity})`);
  let channels: number | undefined;
  if (o.channels !== undefined) {
    if (o.channels !== '1' && o.channels !== '3') throw new CliError(`--channels must be 1 or 3, got '${o.channels}'`);
    channels = Number(o.channels);
  }
  let mean: number[] | undefined;
  let std: number[] | undefined;
  if (o.normalize !== undefined || o.mean !== undefined || o.std !== undefined) {
    const spec = resolveNormalization(norm);
    mean = norm.mean ? [...norm.mean] : o.normalize ? [...spec.mean] : undefined;
    std = norm.std ? [...norm.std] : o.normalize ? [...spec.std] : undefined;
  }
  return { intensity: (o.intensity ?? (window ? 'window' : undefined)) as IntensityMode | undefined, window, channels, mean, std };
}

type PrepareScanOptions = NonNullable<Parameters<typeof prepareInputs>[2]>['scan'];

/** The picture's own size [H, W] for images (not for .npy inputs). */
function imageSize(inp: PreparedInput): [number, number] | undefined {
  return inp.sourceSize ? [inp.sourceSize[1], inp.sourceSize[0]] : undefined;
}

function list(s: string): string[] {
  const v = s.split(',').map((x) => x.trim()).filter((x) => x.length > 0);
  if (!v.length) throw new CliError(`empty list '${s}'`);
  return v;
}

function positiveInt(name: string, s: string): number {
  const v = optionNumber(s);
  if (!Number.isInteger(v) || v < 1) throw new CliError(`${name} must be a positive integer, got '${s}'`);
  return v;
}

function choice(s: string): ClassChoice {
  return s === 'top' ? 'top' : /^\d+$/.test(s) ? Number(s) : s;
}

/** Warnings on stderr, each once per run. */
const seenWarnings = new Set<string>();
function warn(file: string, warnings: string[]): void {
  for (const w of warnings) {
    const line = `gradcam: warning: ${file}: ${w}\n`;
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

/** The --max-pixels and --max-overlay options. */
export function pictureLimits(maxPixels: string | undefined, maxOverlay: string | undefined): { maxPixels: number; maxSide: number } {
  const mp = maxPixels === undefined ? DEFAULT_MAX_PIXELS : optionNumber(maxPixels);
  if (!Number.isInteger(mp) || mp < 0) throw new CliError(`--max-pixels must be a whole number of pixels (0 for no limit), got '${maxPixels}'`);
  const side = maxOverlay === undefined ? DEFAULT_PICTURE_SIDE : optionNumber(maxOverlay);
  if (!Number.isInteger(side) || side < 16 || side > 32768) throw new CliError(`--max-overlay must be a whole number of pixels from 16 to 32768, got '${maxOverlay}'`);
  return { maxPixels: mp, maxSide: side };
}

/** Each image input's overlay picture, read again (shrunk while decoding to the overlay bound); undefined for .npy inputs. */
export async function batchPictures(batch: readonly PreparedInput[], limits: { maxPixels: number; maxSide: number }): Promise<(RgbImage | undefined)[]> {
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


/** Output stems from input file names; repeated names get -2, -3...; multi-image .npy files get _i. */
export function uniqueStems(inputs: PreparedInput[]): string[] {
  const counts = new Map<string, number>();
  const perFile = new Map<string, number>();
  for (const i of inputs) perFile.set(i.file, (perFile.get(i.file) ?? 0) + 1);
  const seenInFile = new Map<string, number>();
  return inputs.map((inp) => {
    let stem = path.basename(inp.file).replace(/\.[^.]+$/, '');
    if (perFile.get(inp.file)! > 1) {
      const k = seenInFile.get(inp.file) ?? 0;
      seenInFile.set(inp.file, k + 1);
      stem = `${stem}_${k}`;
    }
    const n = (counts.get(stem) ?? 0) + 1;
    counts.set(stem, n);
    return n === 1 ? stem : `${stem}-${n}`;
  });
}

/** Writes every output, all or nothing (see StagedOutputs); no output may replace one of `inputs`. */
export async function writeAll(outDir: string, outputs: Output[], inputs: readonly string[] = []): Promise<void> {
  const staged = new StagedOutputs(outDir, inputs);
  try {
    for (const f of outputs) await staged.add(f.path, f.bytes);
    await staged.commit();
  } catch (e) {
    await staged.abort();
    throw e;
  }
}
