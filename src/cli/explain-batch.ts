/** `gradcam explain`: one batch explained with any method and option and rendered (files, lines, warnings per image). */
import path from 'node:path';
import { getMethod } from '../methods/index.js';
import { explainPixels } from '../methods/pixels.js';
import { explainMany } from '../cam/runner.js';
import { type TargetSpec } from '../cam/targets.js';
import { writeNpy } from '../image/npy.js';
import type { RgbImage } from '../image/types.js';
import { type Explainer } from '../explainer.js';
import type { ClassChoice, ClassScore } from '../types.js';
import { prepareInputs, readPicture, stackByShape, tensorPicture, type PreparedInput } from '../node.js';
import { attributionFacts, attributionPicture } from '../render/attribution.js';
import { describeClass, describeTarget, explanationFiles, explanationJson, gradientJson, pictureBytes, type FileBytes, type RenderedFile } from '../render/index.js';
import { gradientPicture, gridPicture } from '../render/panels.js';
import { pictureExtension } from '../image/encode.js';
import { printable } from '../util/text.js';
import { type Settings } from './explain-options.js';

/** One image of a batch: its input tensor, its output stem (relative to --out), its overlay picture, its own class. */
export interface BatchItem {
  input: PreparedInput;
  stem: string;
  picture?: RgbImage;
  classChoice?: ClassChoice;
  extraWarning?: string;
}

/** What one image of a batch gives: its files (relative to --out), the lines to print, warnings, its scores. */
export interface ItemOutput {
  files: { path: string; bytes: FileBytes }[];
  lines: string[];
  warnings: string[];
  predicted?: ClassScore;
  explained?: ClassScore;
}

export const json = (x: unknown) => new TextEncoder().encode(`${JSON.stringify(x, null, 2)}\n`);

/** Explains and renders one batch (any method, any option). */
export async function explainBatch(explainer: Explainer, s: Settings, target: TargetSpec | undefined, batch: BatchItem[], onPasses?: (d: number, t: number, st: string) => void): Promise<ItemOutput[]> {
  const outs: ItemOutput[] = batch.map(() => ({ files: [], lines: [], warnings: [] }));
  // the pictures' format (look.format: undefined for png, so that a dataset folder's settings read as before)
  const format = s.look.format ?? 'png';
  const ext = pictureExtension(format);
  for (const { index: idx, data, dims } of stackByShape(batch.map((b) => b.input))) {
    const classes = batch.some((b) => b.classChoice !== undefined) ? idx.map((i) => batch[i]!.classChoice ?? s.classChoice) : s.classChoice;
    if (s.pixelMethod) {
      const g = await explainPixels(explainer, data, dims, {
        method: s.pixelMethod, layer: s.layers[0], layout: s.layout, classes, output: s.output, rectifierOps: s.guidedOps,
        methodOptions: s.methodOptions[s.pixelMethod], batchSize: s.camBatch, randomSeed: s.seed, onProgress: onPasses,
      }, (x, d, o) => explainer.explain(x, d, o));
      const gradientKind = getMethod(s.pixelMethod).kind === 'gradient';
      for (const [j, i] of idx.entries()) {
        const { input: inp, stem: st, picture } = batch[i]!;
        const e = g.explanations[j]!;
        const stem = `${st}.${e.method}`;
        const base = picture ?? tensorPicture(inp, explainer.layout, s.norm);
        const look = { colormap: s.look.colormap, alpha: s.look.alpha, abs: s.abs, maxSide: s.limits.maxSide, size: s.look.size, topPercent: s.topPercent };
        // path, noise and perturbation methods: the signed attribution (render/attribution.ts); gradient methods: beside Grad-CAM
        const pic = gradientKind ? gradientPicture(e, base, look) : attributionPicture(e, base, look);
        const files: RenderedFile[] = [{ suffix: ext, bytes: pictureBytes(pic, format, true) }];
        if (s.raw) {
          const shape = explainer.layout === 'NCHW' ? [e.channels, e.height, e.width] : [e.height, e.width, e.channels];
          files.push({ suffix: '.npy', bytes: writeNpy(e.gradientInputLayout, shape) });
        }
        const out = outs[i]!;
        for (const f of files) out.files.push({ path: stem + f.suffix, bytes: f.bytes });
        out.files.push({ path: `${stem}.json`, bytes: json({ ...gradientJson(e, {
          input: inp.file, model: s.model, rectifierOps: gradientKind ? s.guidedOps : undefined, files: files.map((f) => stem + f.suffix),
          timings: g.timings, imageSize: imageSize(inp), options: s.methodOptions[s.pixelMethod],
        }), ...(gradientKind ? {} : attributionFacts(e, look)) }) });
        out.lines.push(`${inp.file}: ${e.method}: ${describeClass(e)} → ${path.join(s.out, `${stem}${ext}`)}`);
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
        out.files.push({ path: `${stem}.grid${ext}`, bytes: pictureBytes(gridPicture(tiles, s.methods, s.groups, base, s.look), format, true) });
        out.files.push({ path: `${stem}.grid.json`, bytes: json({
          ...explanationJson(first, { input: inp.file, model: s.model, timings: r.timings, imageSize: imageSize(inp), options: s.jsonOptions, files: [`${stem}.grid${ext}`] }),
          method: undefined, layer: undefined, layer_layout: undefined, raw_map: undefined, warnings: undefined,
          methods: s.methods, layers: s.groups, tiles: tiles.map((e) => ({ method: e.method, layers: e.layers, warnings: e.warnings })),
        }) });
        out.lines.push(`${inp.file}: ${describeTarget(first)} → ${path.join(s.out, `${stem}.grid${ext}`)}`);
        out.warnings.push(...tiles.flatMap((e) => e.warnings.map((w) => `${e.method} @ ${e.layers.join('+')}: ${w}`)));
      } else {
        for (const res of r.results) {
          const e = res.explanations[row]!;
          // pictures are encoded in the thread pool while this thread goes on (the next image's run)
          const files = explanationFiles(e, base, { ...s.look, background: true });
          const name = `${stem}.${e.method}`;
          for (const f of files) out.files.push({ path: name + f.suffix, bytes: f.bytes });
          out.files.push({ path: `${name}.json`, bytes: json(explanationJson(e, { input: inp.file, model: s.model, timings: r.timings, imageSize: imageSize(inp), options: s.jsonOptions, files: files.map((f) => name + f.suffix) })) });
          out.lines.push(`${inp.file}: ${e.method}: ${describeTarget(e)} → ${path.join(s.out, `${name}${ext}`)}`);
          out.warnings.push(...e.warnings);
        }
      }
    }
  }
  return outs;
}

/** The picture's own size [H, W] for images (not for .npy inputs). */
export function imageSize(inp: PreparedInput): [number, number] | undefined {
  return inp.sourceSize ? [inp.sourceSize[1], inp.sourceSize[0]] : undefined;
}

/** Warnings on stderr, each once per run. */
const seenWarnings = new Set<string>();
export function warn(file: string, warnings: string[]): void {
  for (const w of warnings) {
    const line = `gradcam: warning: ${printable(file)}: ${printable(w)}\n`;
    if (seenWarnings.has(line)) continue;
    seenWarnings.add(line);
    process.stderr.write(line);
  }
}

/** Each image input's overlay picture, read again (shrunk while decoding to the overlay bound); undefined for .npy inputs. */
export async function batchPictures(batch: readonly PreparedInput[], limits: { maxPixels?: number; maxSide: number }): Promise<(RgbImage | undefined)[]> {
  const out: (RgbImage | undefined)[] = [];
  for (const inp of batch) out.push(inp.image ?? (inp.sourceSize ? await readPicture(inp.file, { maxSide: limits.maxSide, maxPixels: limits.maxPixels, region: inp.region }) : undefined));
  return out;
}

/**
 * explain on files: a file's inputs as the command reads them (an .npy or a scan may give several), the
 * overlay's picture of the first decode kept unless it was shrunk (then read again, shrunk while decoding).
 */
export async function readExplainFile(explainer: Explainer, s: Settings, file: string): Promise<PreparedInput[]> {
  const opts = { ...s.norm, size: s.size, maxPixels: s.limits.maxPixels, maxInputPixels: s.maxInputPixels, picture: true, ...s.rc, scan: s.scan };
  return (await prepareInputs(explainer, file, opts)).map((g) => (!g.scan && !!g.sourceSize && Math.max(...g.sourceSize) > s.limits.maxSide ? { ...g, image: undefined } : g));
}
