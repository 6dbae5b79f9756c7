/** `gradcam explain`: explain images or .npy tensors; write overlay PNGs, maps and JSON sidecars. */
import fs from 'node:fs';
import path from 'node:path';
import { CAM_METHODS, camMethod } from '../cam/index.js';
import { COLORMAPS } from '../image/colormap.js';
import { encodePng } from '../image/png.js';
import { writeNpy } from '../image/npy.js';
import { heatmapImage, overlay } from '../image/overlay.js';
import { montage } from '../image/montage.js';
import { enlargeNearest, resizeBilinear, resizeRgb } from '../image/resize.js';
import { deprocessGradient, gradientMagnitude } from '../image/gradient.js';
import { explainGradients, isGradientMethod, GRADIENT_METHODS, type GradientExplanation } from '../cam/guided.js';
import { tensorToRgb, NORMALIZE_PRESETS, type NormalizeOptions } from '../image/normalize.js';
import type { RgbImage } from '../image/types.js';
import type { LayerLayout } from '../layout/describe.js';
import { InputError, type ClassChoice, type Explanation, type ClassScore } from '../explainer.js';
import { loadExplainer, prepareInputs, readPicture, overlaySize, stackByShape, DEFAULT_MAX_PIXELS, DEFAULT_PICTURE_SIDE, type PreparedInput } from '../node.js';
import { StagedOutputs } from './output.js';
import { CliError, usageError, parse, parseNumbers, parseSize, Progress } from './common.js';
import { FAMILY_OPTIONS, familyFlags, isFamilyInvocation } from './family-usage.js';
import { runFamilyExplain } from './family.js';
import { isBatchInvocation, runAuditCli } from './audit.js';
import { RESIZE_CROP_USAGE, resizeCropOptions } from './inputs.js';

export const EXPLAIN_USAGE = `Usage: gradcam explain <images|.npy...> --model FILE [options]

Inputs are JPEG/PNG/WebP images (resized to the model's input and normalised) or .npy tensors
taken as the ready model input ([C,H,W] or [N,C,H,W] in the model's layout).

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
  --guided-ops SET     rectifiers guided by guided-backprop/deconvnet: 'all' (Relu, Clip/ReLU6,
                       LeakyRelu, PRelu; default) or 'relu' (only Relu, as pytorch-grad-cam)
  --abs                gradient pictures as grayscale |gradient| instead of the usual deprocessing
  With a gradient method (saliency, guided-backprop, deconvnet, guided-gradcam) the PNG shows the
  Grad-CAM overlay beside the gradient picture, and --raw writes the gradient as .npy float32 in the
  input tensor's layout without batch ([C,H,W] for NCHW models), not deprocessed.
  --quiet              no progress on stderr
`;

interface Output {
  path: string;
  bytes: Uint8Array;
}

export async function runExplain(args: string[]): Promise<number> {
  // folders, quoted globs and manifests go to the batch runner (gradcam audit)
  if (isBatchInvocation(args)) return runAuditCli(args);
  if (isFamilyInvocation(args)) {
    const i = args.findIndex((a) => a === '--method' || a.startsWith('--method='));
    const m = i < 0 ? undefined : args[i]!.includes('=') ? args[i]!.split('=')[1] : args[i + 1];
    if (m && isGradientMethod(m)) {
      throw new CliError(`--method ${m} explains through the input gradient and takes none of the CAM-family options (${familyFlags(args).join(', ')}); drop them, or choose a CAM method`);
    }
    return runFamilyExplain(args);
  }
  const { values: o, positionals } = parse(args, {
    model: { type: 'string' }, method: { type: 'string', default: 'gradcam' }, layer: { type: 'string', default: 'auto' }, layout: { type: 'string' },
    class: { type: 'string', default: 'top' }, output: { type: 'string' }, out: { type: 'string', default: 'gradcam-out' },
    raw: { type: 'boolean', default: false }, heatmap: { type: 'boolean', default: false },
    colormap: { type: 'string', default: 'jet' }, alpha: { type: 'string', default: '0.5' }, 'no-caption': { type: 'boolean', default: false },
    labels: { type: 'string' }, size: { type: 'string' }, normalize: { type: 'string' }, mean: { type: 'string' }, std: { type: 'string' },
    resize: { type: 'string' }, crop: { type: 'string' },
    'max-pixels': { type: 'string' }, 'max-overlay': { type: 'string' },
    'batch-size': { type: 'string', default: '8' }, abs: { type: 'boolean', default: false }, 'guided-ops': { type: 'string', default: 'all' }, quiet: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h' },
  }, EXPLAIN_USAGE);
  if (o.help) {
    console.log(EXPLAIN_USAGE);
    return 0;
  }
  if (!o.model) throw usageError(`--model FILE is required`, EXPLAIN_USAGE);
  if (positionals.length === 0) throw usageError(`no inputs given`, EXPLAIN_USAGE);
  const gradientMethod = isGradientMethod(o.method!) ? o.method : undefined;
  const method = gradientMethod ? undefined : camMethod(o.method!, Object.keys(GRADIENT_METHODS));
  if (!(COLORMAPS as readonly string[]).includes(o.colormap!)) throw new CliError(`unknown colour map '${o.colormap}'; choose one of: ${COLORMAPS.join(', ')}`);
  const alpha = Number(o.alpha);
  if (!(alpha >= 0 && alpha <= 1)) throw new CliError(`--alpha must be a number between 0 and 1, got '${o.alpha}'`);
  const batchSize = Number(o['batch-size']);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new CliError(`--batch-size must be a positive integer, got '${o['batch-size']}'`);
  if (o['guided-ops'] !== 'all' && o['guided-ops'] !== 'relu') throw new CliError(`--guided-ops must be 'all' or 'relu', got '${o['guided-ops']}'`);
  const size = parseSize(o.size);
  const norm: NormalizeOptions = { preset: o.normalize, mean: parseNumbers('--mean', o.mean), std: parseNumbers('--std', o.std) };
  if (!o.normalize && (norm.mean || norm.std)) norm.preset = undefined;
  if (!o.normalize && !norm.mean && !norm.std) norm.preset = 'imagenet';
  const classChoice: ClassChoice = o.class === 'top' ? 'top' : /^\d+$/.test(o.class!) ? Number(o.class) : o.class!;

  const limits = pictureLimits(o['max-pixels'], o['max-overlay']);
  const rc = resizeCropOptions(o);

  const explainer = await loadExplainer(o.model, { labelsFile: o.labels });
  const staged = new StagedOutputs(o.out!, positionals);
  try {
    checkOutputName(explainer, o.output);
    // Read every input first: a bad one stops the run before anything is written. Only the tensors are
    // kept; each batch's pictures are read again (shrunk while decoding) when its overlays are drawn.
    const inputs: PreparedInput[] = [];
    for (const file of positionals) inputs.push(...(await prepareInputs(explainer, file, { ...norm, size, maxPixels: limits.maxPixels, picture: false, ...rc })));
    const stems = uniqueStems(inputs);
    const progress = new Progress(inputs.length, o.quiet);
    const lines: string[] = [];
    for (let start = 0; start < inputs.length; start += batchSize) {
      const batch = inputs.slice(start, start + batchSize);
      const pictures = await batchPictures(batch, limits);
      for (const { index: idx, data, dims } of stackByShape(batch)) {
        if (gradientMethod) {
          const g = await explainGradients(explainer, data, dims, { method: gradientMethod, layer: o.layer, layout: o.layout, classes: classChoice, output: o.output, rectifierOps: o['guided-ops'] as 'relu' | 'all' });
          for (const [j, i] of idx.entries()) {
            const inp = batch[i]!;
            const e = g.explanations[j]!;
            const stem = stems[start + i]!;
            const base = pictures[i] ?? baseImage(inp, explainer.layout, norm);
            const produced = renderGradient(e, base, stem, o.out!, { colormap: o.colormap!, alpha, abs: o.abs!, raw: o.raw!, layout: explainer.layout, maxSide: limits.maxSide });
            const json = {
              input: inp.file, model: o.model, method: e.method, layer: e.layer, rectifier_ops: o['guided-ops'],
              class: classJson(e.target), predicted: classJson(e.predicted), explained_is_predicted: e.target.index === e.predicted.index,
              input_size: [e.height, e.width], timings_ms: { run: round(g.runMs) }, files: produced.map((p) => path.basename(p.path)),
            };
            produced.push({ path: path.join(o.out!, `${stem}.${e.method}.json`), bytes: new TextEncoder().encode(`${JSON.stringify(json, null, 2)}\n`) });
            for (const p of produced) await staged.add(p.path, p.bytes);
            lines.push(`${inp.file}: ${describe(e)} → ${produced[0]!.path}`);
            progress.step(start + i + 1, path.basename(inp.file));
          }
          continue;
        }
        const r = await explainer.explain(data, dims, { method: method!.name, layer: o.layer, layout: o.layout, classes: classChoice, output: o.output, onProgress: progress.passes });
        for (const [j, i] of idx.entries()) {
          const inp = batch[i]!;
          const e = r.explanations[j]!;
          const stem = stems[start + i]!;
          const base = pictures[i] ?? baseImage(inp, explainer.layout, norm);
          const produced = render(e, base, stem, o.out!, { colormap: o.colormap!, alpha, caption: !o['no-caption'], heatmap: o.heatmap!, raw: o.raw!, maxSide: limits.maxSide });
          const json = {
            input: inp.file, model: o.model, method: e.method, layer: e.layers.length === 1 ? e.layers[0] : e.layers,
            layer_layout: layoutJson(e.layouts),
            class: classJson(e.target), predicted: classJson(e.predicted),
            explained_is_predicted: e.target.index === e.predicted.index,
            input_size: [e.height, e.width], ...(inp.sourceSize ? { image_size: [inp.sourceSize[1], inp.sourceSize[0]] } : {}),
            raw_map: { shape: [e.rawHeight, e.rawWidth], min: min(e.raw), max: max(e.raw) },
            timings_ms: { compile: round(r.timings.compileMs), session: round(r.timings.sessionMs), run: round(r.timings.runMs), cam: round(r.timings.camMs) },
            warnings: e.warnings, files: produced.map((p) => path.basename(p.path)),
          };
          produced.push({ path: path.join(o.out!, `${stem}.${e.method}.json`), bytes: new TextEncoder().encode(`${JSON.stringify(json, null, 2)}\n`) });
          for (const p of produced) await staged.add(p.path, p.bytes);
          for (const w of e.warnings) process.stderr.write(`gradcam: warning: ${inp.file}: ${w}\n`);
          lines.push(`${inp.file}: ${describe(e)} → ${produced[0]!.path}`);
          progress.step(start + i + 1, path.basename(inp.file));
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

/** The --max-pixels and --max-overlay options. */
export function pictureLimits(maxPixels: string | undefined, maxOverlay: string | undefined): { maxPixels: number; maxSide: number } {
  const mp = maxPixels === undefined ? DEFAULT_MAX_PIXELS : Number(maxPixels);
  if (!Number.isInteger(mp) || mp < 0) throw new CliError(`--max-pixels must be a whole number of pixels (0 for no limit), got '${maxPixels}'`);
  const side = maxOverlay === undefined ? DEFAULT_PICTURE_SIDE : Number(maxOverlay);
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

function render(e: Explanation, base: RgbImage | undefined, stem: string, outDir: string, opt: { colormap: string; alpha: number; caption: boolean; heatmap: boolean; raw: boolean; maxSide: number }): Output[] {
  const out: Output[] = [];
  const file = (suffix: string) => path.join(outDir, `${stem}.${e.method}${suffix}`);
  // the overlay at the picture's own resolution (the map is resized like pytorch-grad-cam resizes it)
  // small pictures are enlarged to at least 256 px wide so that the map and its caption can be read;
  // the PNG's long side stays at most maxSide (--max-overlay), whatever the image's shape
  const pic = base ?? heatmapImage(e.map, e.width, e.height, 'viridis');
  const img = boundedOverlay(pic, e.map, e.width, e.height, { ...opt, minWidth: 256, decorate: opt.caption ? (x) => captioned(x, e) : undefined });
  out.push({ path: file('.png'), bytes: encodePng(img) });
  if (opt.heatmap) out.push({ path: file('.heatmap.png'), bytes: encodePng(heatmapImage(e.map, e.width, e.height, opt.colormap)) });
  if (opt.raw) {
    out.push({ path: file('.npy'), bytes: writeNpy(e.map, [e.height, e.width]) });
    out.push({ path: file('.raw.npy'), bytes: writeNpy(e.raw, [e.rawHeight, e.rawWidth]) });
  }
  return out;
}

/**
 * The overlay of `map` (mw × mh) on `base`, at the picture's size enlarged by a whole factor to at least
 * `minWidth` wide, with `decorate` (a caption) applied; the result's long side is at most `maxSide`.
 */
export function boundedOverlay(base: RgbImage, map: Float32Array, mw: number, mh: number, opt: { colormap: string; alpha: number; maxSide: number; minWidth: number; decorate?: (img: RgbImage) => RgbImage }): RgbImage {
  let [ow, oh] = overlaySize(base.width, base.height, opt.minWidth, opt.maxSide);
  for (let attempt = 0; ; attempt++) {
    const pic = ow === base.width && oh === base.height ? base : resizeRgb(base, ow, oh);
    const m = ow === mw && oh === mh ? map : resizeBilinear(map, mh, mw, oh, ow);
    let img = overlay(pic, m, { colormap: opt.colormap, alpha: opt.alpha });
    if (opt.decorate) img = opt.decorate(img);
    if (Math.max(img.width, img.height) <= opt.maxSide || attempt === 2) return img;
    // the caption and padding made it too long: shrink the overlay by what they add
    const s = Math.min((opt.maxSide - (img.width - ow)) / ow, (opt.maxSide - (img.height - oh)) / oh);
    [ow, oh] = [Math.max(1, Math.floor(ow * s)), Math.max(1, Math.floor(oh * s))];
  }
}

/** Gradient methods: [Grad-CAM overlay | gradient picture] with captions, and the raw gradient. */
function renderGradient(e: GradientExplanation, base: RgbImage | undefined, stem: string, outDir: string, opt: { colormap: string; alpha: number; abs: boolean; raw: boolean; layout: 'NCHW' | 'NHWC'; maxSide: number }): Output[] {
  const file = (suffix: string) => path.join(outDir, `${stem}.${e.method}${suffix}`);
  // small models get their pictures enlarged (at least 224 px wide) so that they can be looked at,
  // by a whole factor that keeps the long side within maxSide
  const f = Math.max(1, Math.min(Math.ceil(224 / e.width), Math.floor(opt.maxSide / Math.max(e.width, e.height))));
  const [W, H] = [e.width * f, e.height * f];
  const pic = base ? resizeRgb(base, W, H) : heatmapImage(e.cam, e.width, e.height, 'viridis');
  const cam = f === 1 ? e.cam : resizeBilinear(e.cam, e.height, e.width, H, W);
  const camOverlay = overlay(base ? pic : enlargeNearest(pic, f), cam, { colormap: opt.colormap, alpha: opt.alpha });
  const grad = enlargeNearest(opt.abs ? gradientMagnitude(e.gradient, e.width, e.height) : deprocessGradient(e.gradient, e.width, e.height), f);
  const scale = Math.max(1, Math.floor(W / 160));
  const head = `class ${label(e.target)} p=${e.target.probability.toFixed(3)}`;
  const pred = e.target.index === e.predicted.index ? '(the predicted class)' : `predicted ${label(e.predicted)}`;
  const img = montage([[camOverlay, grad]], { labels: [[`gradcam: ${head}\n${pred}`, `${e.method}${opt.abs ? ' |g|' : ''}`]], pad: 2 * scale, textScale: scale });
  const out: Output[] = [{ path: file('.png'), bytes: encodePng(img) }];
  if (opt.raw) {
    const shape = opt.layout === 'NCHW' ? [e.channels, e.height, e.width] : [e.height, e.width, e.channels];
    out.push({ path: file('.npy'), bytes: writeNpy(e.gradientInputLayout, shape) });
  }
  return out;
}

function captioned(img: RgbImage, e: Explanation): RgbImage {
  const scale = Math.max(1, Math.floor(img.width / 320));
  const lines = [`${e.method}: ${label(e.target)} p=${e.target.probability.toFixed(3)}`];
  lines.push(e.predicted.index !== e.target.index ? `predicted: ${label(e.predicted)} p=${e.predicted.probability.toFixed(3)}` : '(the predicted class)');
  return montage([[img]], { labels: [[lines.join('\n')]], pad: 2 * scale, textScale: scale });
}

function label(c: ClassScore): string {
  return c.label ? `${c.index} '${c.label}'` : `${c.index}`;
}

export function describe(e: { target: ClassScore; predicted: ClassScore }): string {
  const t = `class ${label(e.target)} (logit ${e.target.logit.toFixed(3)}, p=${e.target.probability.toFixed(3)})`;
  return e.predicted.index === e.target.index ? `${t}, the predicted class` : `${t}; predicted ${label(e.predicted)} p=${e.predicted.probability.toFixed(3)}`;
}

function classJson(c: ClassScore) {
  return { index: c.index, label: c.label ?? null, logit: c.logit, probability: c.probability };
}

export function baseImage(inp: PreparedInput, layout: 'NCHW' | 'NHWC', norm: NormalizeOptions): RgbImage | undefined {
  const [c, h, w] = layout === 'NCHW' ? [inp.dims[1]!, inp.dims[2]!, inp.dims[3]!] : [inp.dims[3]!, inp.dims[1]!, inp.dims[2]!];
  if (c !== 3) return undefined;
  return tensorToRgb(inp.tensor, w, h, { ...norm, layout });
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

const round = (v: number) => Math.round(v * 100) / 100;
const min = (a: Float32Array) => a.reduce((m, v) => Math.min(m, v), Infinity);
const max = (a: Float32Array) => a.reduce((m, v) => Math.max(m, v), -Infinity);

/** The layers' layouts for the JSON sidecars: `tokens 14×14 +1` (one layer) or a list. */
export function layoutJson(layouts: LayerLayout[] | undefined): unknown {
  if (!layouts) return undefined;
  const one = (l: LayerLayout) => ({ kind: l.kind, grid: l.grid, channels: l.channels, prefix_tokens: l.prefix, suffix_tokens: l.suffix, ...(l.override ? { given: true } : {}) });
  return layouts.length === 1 ? one(layouts[0]!) : layouts.map(one);
}
