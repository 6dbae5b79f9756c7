/** Input handling shared by `gradcam sanity` and `gradcam evaluate`: files and folders, normalisation, pictures, output files. */
import fs from 'node:fs';
import path from 'node:path';
import type { Explainer } from '../explainer.js';
import { InputError } from '../explainer.js';
import { prepareInputs, type PreparedInput } from '../node.js';
import { tensorToRgb, type NormalizeOptions } from '../image/normalize.js';
import { resizeRgb } from '../image/resize.js';
import type { DecodeMode, RgbImage } from '../image/types.js';
import { CliError, parseNumbers, parseSize } from './common.js';

/** The --normalize / --mean / --std options as explain reads them (default: imagenet). */
export function normalizeOptions(o: { normalize?: string; mean?: string; std?: string }): NormalizeOptions {
  const norm: NormalizeOptions = { preset: o.normalize, mean: parseNumbers('--mean', o.mean), std: parseNumbers('--std', o.std) };
  if (!o.normalize && !norm.mean && !norm.std) norm.preset = 'imagenet';
  return norm;
}


/**
 * What an imported model's files state (a hub folder's preprocessor_config.json, a TF.js/Keras model's own
 * layers) as the defaults of --normalize/--mean/--std, --resize/--crop and --size: options the user gave
 * win. The import's notes (the variant used, what was read, where the preprocessing came from) go to
 * stderr unless `quiet`; an imported model whose files state no preprocessing says which one is assumed.
 */
export function importedDefaults<T extends { norm: NormalizeOptions; rc: ResizeCropOptions; size?: [number, number] }>(
  explainer: Pick<Explainer, 'imported'>, o: { normalize?: string; mean?: string; std?: string; resize?: number; crop?: string; size?: string }, s: T, quiet = false,
): T {
  const facts = explainer.imported;
  if (!facts) return s;
  const say = (line: string) => { if (!quiet) process.stderr.write(`gradcam: ${line}\n`); };
  for (const n of facts.notes) say(n);
  const p = facts.preprocess;
  const out = { ...s };
  const normGiven = o.normalize !== undefined || o.mean !== undefined || o.std !== undefined;
  if (!normGiven) {
    if (p && (p.mean || p.std || p.divisor !== undefined)) {
      out.norm = { mean: p.mean ?? [0], std: p.std ?? [1], divisor: p.divisor ?? 255, channelOrder: p.channelOrder ?? 'RGB' };
    } else {
      say(`the model's files state no input normalisation; assuming --normalize ${s.norm.preset ?? 'imagenet'} (give --normalize or --mean/--std if the model was trained otherwise)`);
    }
  }
  if (o.resize === undefined && o.crop === undefined && p?.resize !== undefined) out.rc = { ...s.rc, resize: p.resize, ...(p.crop ? { crop: p.crop } : {}) };
  if (o.size === undefined && p?.size) out.size = p.size;
  return out;
}

export interface LoadedInput extends PreparedInput {
  /** The picture at model input size (for overlays and edge maps). */
  picture?: RgbImage;
}

export async function loadInputs(explainer: Explainer, files: string[], norm: NormalizeOptions, size?: [number, number], maxPixels?: number, rc: ResizeCropOptions = {}, maxInputPixels?: number): Promise<LoadedInput[]> {
  const out: LoadedInput[] = [];
  for (const f of files) {
    for (const inp of await prepareInputs(explainer, f, { ...norm, size, maxPixels, maxInputPixels, ...rc, view: true })) {
      const [c, h, w] = explainer.layout === 'NCHW' ? [inp.dims[1]!, inp.dims[2]!, inp.dims[3]!] : [inp.dims[3]!, inp.dims[1]!, inp.dims[2]!];
      let picture: RgbImage | undefined = inp.view;
      if (!picture && inp.image) picture = resizeRgb(inp.image, w, h);
      else if (!picture && c === 3) picture = tensorToRgb(inp.tensor, w, h, { ...norm, layout: explainer.layout });
      out.push({ ...inp, image: undefined, view: undefined, picture }); // only the model-size picture is used
    }
  }
  return out;
}

/** --resize N [--crop H[xW]]: torchvision's Resize(N) + CenterCrop instead of the plain resize; --decode: how the picture is decoded. */
export interface ResizeCropOptions {
  resize?: number;
  crop?: [number, number];
  decode?: DecodeMode;
}

/** Reads --resize / --crop (checked against the model when the inputs are read). */
export function resizeCropOptions(o: { resize?: number; crop?: string; decode?: string }): ResizeCropOptions {
  const resize = o.resize; // checked by the option's declaration (a whole number ≥ 1)
  const crop = parseSize(o.crop, '--crop');
  if (crop && resize === undefined) throw new CliError(`--crop goes with --resize N (torchvision's Resize(N) then CenterCrop(${o.crop})); without --resize the whole image is resized to the model's input`);
  // --decode is checked by the option's choices
  return { ...(resize !== undefined ? { resize } : {}), ...(crop ? { crop } : {}), ...(o.decode ? { decode: o.decode as DecodeMode } : {}) };
}


/** Output stems from file names; repeats get -2, -3…; multi-image .npy files get _i. */
export function stems(inputs: { file: string }[]): string[] {
  const perFile = new Map<string, number>();
  for (const i of inputs) perFile.set(i.file, (perFile.get(i.file) ?? 0) + 1);
  const name = stemNamer((file) => perFile.get(file)!);
  return inputs.map((inp) => name(inp.file));
}

/**
 * The stems of `stems`, one input at a time (for inputs read as they are explained): `inputsOf(file)`
 * is how many inputs the run has from that file in all.
 */
export function stemNamer(inputsOf: (file: string) => number): (file: string) => string {
  const seen = new Map<string, number>();
  const counts = new Map<string, number>();
  return (file) => {
    let stem = path.basename(file).replace(/\.[^.]+$/, '');
    if (inputsOf(file) > 1) {
      const k = seen.get(file) ?? 0;
      seen.set(file, k + 1);
      stem = `${stem}_${k}`;
    }
    const n = (counts.get(stem) ?? 0) + 1;
    counts.set(stem, n);
    return n === 1 ? stem : `${stem}-${n}`;
  };
}
