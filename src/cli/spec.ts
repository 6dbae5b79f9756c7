/**
 * The command line, declared once: every option is defined in one of the shared groups below (model,
 * input images, what to explain, methods, pictures, runs over folders...) with its value name, default,
 * help and checks; each command lists the groups it takes. The parser, the checks of values (numbers,
 * ranges, choices) and every help text (`gradcam <cmd> --help`, `gradcam help`) come from these
 * declarations, so the same option means the same thing, with the same words, in every command.
 */
import { parseArgs } from 'node:util';
import { COLORMAPS } from '../image/colormap.js';
import { LOSSY, PICTURE_FORMATS } from '../image/encode.js';
import { NORMALIZE_PRESETS } from '../image/normalize.js';
import { DECODE_MODES } from '../image/types.js';
import { CliError, optionNumber } from './common.js';
import { editDistance } from '../util/closest.js';
import { parseShard, type Shard } from '../dataset/shard.js';
import { checkWorkers, machineCores, AUTO_MIN_IMAGES, type WorkersChoice } from '../dataset/pool.js';

/** A number option's checks: integer or not, bounds, and words that stand for a value ('off'). */
export interface NumberCheck {
  integer?: boolean;
  min?: number;
  max?: number;
  /** Words accepted besides numbers (e.g. 'off'): the parsed value is then the word. */
  words?: readonly string[];
}

export interface OptionDef {
  type: 'string' | 'boolean';
  /** The value's name in the help (FILE, N, NAME, a,b,c). */
  value?: string;
  default?: string | boolean;
  /** One or more sentences; wrapped to the terminal width by the help. May be a function (lists known at run time). */
  help: string | (() => string);
  short?: string;
  /** A number (checked: integer, bounds); the parsed value is a number. */
  number?: NumberCheck;
  /** The valid values (checked; listed in errors). */
  choices?: readonly string[] | (() => readonly string[]);
}

export type OptionTable = Record<string, OptionDef>;

export interface OptionGroup<T extends OptionTable = OptionTable> {
  title: string;
  options: T;
}

export function group<T extends OptionTable>(title: string, options: T): OptionGroup<T> {
  return { title, options };
}

/** A group with some options' defaults or help replaced for one command (e.g. --out's folder name). */
export function withDefaults<T extends OptionTable>(g: OptionGroup<T>, changes: { [K in keyof T]?: Partial<OptionDef> }, title = g.title): OptionGroup<T> {
  const options = { ...g.options };
  for (const [k, v] of Object.entries(changes)) options[k as keyof T] = { ...options[k as keyof T], ...v } as T[keyof T];
  return { title, options };
}

/** A group with only the named options. */
export function pick<T extends OptionTable, K extends keyof T & string>(g: OptionGroup<T>, names: readonly K[], title = g.title): OptionGroup<Pick<T, K>> {
  const options = {} as Pick<T, K>;
  for (const n of names) options[n] = g.options[n];
  return { title, options };
}

type UnionToIntersection<U> = (U extends unknown ? (x: U) => void : never) extends (x: infer I) => void ? I : never;
type Merged<G extends readonly OptionGroup[]> = UnionToIntersection<G[number]['options']>;
type ValueOf<D> = D extends { type: 'boolean' } ? boolean | undefined
  : D extends { number: { words: readonly string[] } } ? number | string | undefined
  : D extends { number: NumberCheck } ? number | undefined
  : string | undefined;
export type Values<T> = { [K in keyof T]: ValueOf<T[K]> };

export interface CommandSpec<G extends readonly OptionGroup[] = readonly OptionGroup[]> {
  name: string;
  /** After `gradcam <name> `: `<images...> --model FILE [options]`. */
  synopsis: string;
  /** One line for `gradcam help`. */
  summary: string;
  /** Text between the usage line and the options (paragraphs; kept as written). */
  description?: string;
  groups: G;
  /** Text after the options (kept as written). */
  notes?: string;
  /** Options that must be given (named in the error when missing). */
  required?: readonly string[];
  /** Messages for options other commands have and this one does not (`--layers` in sanity). */
  hints?: Readonly<Record<string, string>>;
  /** The name of the positional arguments when at least one is required ('inputs', 'audit folders'). */
  positionals?: string;
}

export function command<const G extends readonly OptionGroup[]>(spec: CommandSpec<G>): CommandSpec<G> {
  return spec;
}

const HELP = group('General', { help: { type: 'boolean', short: 'h', help: 'this help' } });

function allOptions(spec: CommandSpec): OptionTable {
  const out: OptionTable = {};
  for (const g of [...spec.groups, HELP]) {
    for (const [k, d] of Object.entries(g.options)) {
      if (out[k] && out[k] !== d) throw new Error(`${spec.name}: --${k} is declared twice`);
      out[k] = d;
    }
  }
  return out;
}

const text = (h: string | (() => string)) => (typeof h === 'function' ? h() : h);
const choicesOf = (d: OptionDef) => (typeof d.choices === 'function' ? d.choices() : d.choices);

/** The first sentence of an option's help (for errors). */
function firstSentence(d: OptionDef): string {
  const t = text(d.help).split(/\.\s+(?=[A-Z'(])/)[0]!.replace(/[.;,:]$/, '');
  return t.length > 200 ? `${t.slice(0, 199)}…` : t;
}

/** A bad-arguments error: one line and a pointer to the command's help. */
export function usageError(spec: { name: string } | undefined, message: string): CliError {
  return new CliError(spec ? `${message}; see 'gradcam ${spec.name} --help'` : message);
}

export interface Parsed<T> {
  values: Values<T>;
  positionals: string[];
  /** The options given on the command line (not defaults). */
  given: Set<string>;
}

/**
 * Parses a command's arguments against its declaration: unknown options, missing values, empty values,
 * numbers out of range and unknown choices are one-line errors naming the option, what it takes, and
 * `gradcam <cmd> --help`. Number options come back as numbers (or one of their words, such as 'off').
 * With --help the caller prints `helpText(spec)`.
 */
export function parseCommand<const G extends readonly OptionGroup[]>(spec: CommandSpec<G>, args: string[]): Parsed<Merged<G> & typeof HELP.options> {
  const defs = allOptions(spec);
  const config: Record<string, { type: 'string' | 'boolean'; short?: string; default?: string | boolean }> = {};
  for (const [k, d] of Object.entries(defs)) config[k] = { type: d.type, ...(d.short ? { short: d.short } : {}), ...(d.default !== undefined ? { default: d.default } : {}) };
  let r: { values: Record<string, string | boolean | undefined>; positionals: string[]; tokens?: { kind: string; name?: string }[] };
  try {
    r = parseArgs({ args: negativeValues(args, defs), options: config, allowPositionals: true, strict: true, tokens: true }) as typeof r;
  } catch (e) {
    const unknown = /^Unknown option '--([^'=]+)'/.exec((e as Error).message)?.[1];
    if (unknown && spec.hints?.[unknown]) throw usageError(spec, spec.hints[unknown]!);
    let m = (e as Error).message.replace(/\. To specify a positional.*$/s, '').replace(/^Unknown option '(--?[^']+)'$/, (_s, o: string) => {
      // the nearest option of this command (a typo, or another command's word for the same idea)
      const near = o.startsWith('--') ? Object.keys(defs).map((k) => ({ k, d: editDistance(o.slice(2), k) })).sort((a, b) => a.d - b.d)[0] : undefined;
      return `unknown option '${o}'${near && near.d <= Math.max(2, Math.floor(o.length / 4)) ? ` (did you mean --${near.k}?)` : ''}`;
    });
    const bad = /option '(?:-\w, )?--([\w-]+)(?: <value>)?' argument missing/i.exec(m);
    if (bad && defs[bad[1]!]) m = `--${bad[1]} needs a value (${firstSentence(defs[bad[1]!]!)})`;
    throw usageError(spec, m);
  }
  const given = new Set<string>();
  for (const t of r.tokens ?? []) if (t.kind === 'option' && t.name) given.add(t.name);
  const values: Record<string, unknown> = { ...r.values };
  if (values.help) return { values: values as Values<Merged<G> & typeof HELP.options>, positionals: r.positionals, given };
  for (const [k, d] of Object.entries(defs)) {
    const v = values[k];
    if (typeof v !== 'string') continue;
    if (v.trim() === '') throw usageError(spec, `--${k} needs a value (${firstSentence(d)}), got '${v}'`);
    const choices = choicesOf(d);
    if (choices && !choices.includes(v)) throw usageError(spec, `unknown --${k} '${v}'; choose one of: ${choices.join(', ')}`);
    if (d.number) values[k] = checkNumber(spec, k, d.number, v);
  }
  for (const k of spec.required ?? []) {
    if (values[k] === undefined) throw usageError(spec, `--${k}${defs[k]?.value ? ` ${defs[k]!.value}` : ''} is required`);
  }
  if (spec.positionals && r.positionals.length === 0) throw usageError(spec, `no ${spec.positionals} given`);
  return { values: values as Values<Merged<G> & typeof HELP.options>, positionals: r.positionals, given };
}

/** A value that starts with a minus sign and a digit: a negative number or list (`-3.2,75,24,101`), never an option. */
const NEGATIVE = /^-\.?\d/;

/**
 * The arguments with `--opt -3.2,...` written `--opt=-3.2,...`: node's parseArgs takes a value beginning
 * with '-' for a forgotten value ('argument is ambiguous'), but every option taking a value may take a
 * negative number (a box partly outside the image, a negative threshold), and no option is named by a digit.
 */
export function negativeValues(args: readonly string[], defs: OptionTable): string[] {
  const shorts = new Map(Object.entries(defs).filter(([, d]) => d.short).map(([k, d]) => [d.short!, k]));
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') {
      out.push(...args.slice(i));
      break;
    }
    const name = a.startsWith('--') ? a.slice(2) : /^-\w$/.test(a) ? shorts.get(a.slice(1)) : undefined;
    const next = args[i + 1];
    if (name !== undefined && !name.includes('=') && defs[name]?.type === 'string' && next !== undefined && NEGATIVE.test(next)) {
      out.push(`--${name}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}

function checkNumber(spec: { name: string }, name: string, c: NumberCheck, v: string): number | string {
  if (c.words?.includes(v)) return v;
  const x = optionNumber(v);
  const ok = Number.isFinite(x) && (!c.integer || Number.isInteger(x)) && (c.min === undefined || x >= c.min) && (c.max === undefined || x <= c.max);
  if (ok) return x;
  const kind = c.integer ? 'a whole number' : 'a number';
  const range = c.min !== undefined && c.max !== undefined ? ` from ${c.min} to ${c.max}` : c.min !== undefined ? (c.min === 0 ? ' ≥ 0' : ` ≥ ${c.min}`) : c.max !== undefined ? ` ≤ ${c.max}` : '';
  const words = c.words?.length ? ` or ${c.words.map((w) => `'${w}'`).join(' or ')}` : '';
  throw usageError(spec, `--${name} must be ${kind}${range}${words}, got '${v}'`);
}

/** A number option's value as a number (undefined when absent; a word such as 'off' gives `word`). */
export function num(v: number | string | undefined): number | undefined;
export function num<W>(v: number | string | undefined, word: W): number | W | undefined;
export function num<W>(v: number | string | undefined, word?: W): number | W | undefined {
  if (v === undefined) return undefined;
  return typeof v === 'number' ? v : word;
}

// ------------------------------------------------------------------------------------------- help

const WIDTH = 100;
const COL = 23;

function wrap(s: string, width: number): string[] {
  const lines: string[] = [];
  for (const para of s.split('\n')) {
    let line = '';
    for (const word of para.split(/\s+/).filter(Boolean)) {
      if (line && line.length + 1 + word.length > width) {
        lines.push(line);
        line = word;
      } else line = line ? `${line} ${word}` : word;
    }
    lines.push(line);
  }
  return lines;
}

function optionLines(name: string, d: OptionDef): string {
  const head = `  --${name}${d.value ? ` ${d.value}` : ''}`;
  let h = text(d.help);
  const choices = choicesOf(d);
  if (choices && !/\bchoose\b|: [a-z]/.test(h) && !h.includes(choices[0]!)) h += `: ${choices.join(', ')}`;
  if (d.default !== undefined && d.default !== false && !/default/.test(h)) h += ` (default ${d.default})`;
  const body = wrap(h, WIDTH - COL);
  const pad = ' '.repeat(COL);
  if (head.length >= COL - 1) return [head, ...body.map((l) => pad + l)].join('\n');
  return [head.padEnd(COL) + body[0], ...body.slice(1).map((l) => pad + l)].join('\n');
}

/** The command's help: usage line, description, the options by group, notes. */
export function helpText(spec: CommandSpec): string {
  const parts = [`Usage: gradcam ${spec.name} ${spec.synopsis}`];
  if (spec.description) parts.push(spec.description.trim());
  for (const g of spec.groups) {
    const entries = Object.entries(g.options);
    if (!entries.length) continue;
    parts.push(`${g.title}:\n${entries.map(([k, d]) => optionLines(k, d)).join('\n')}`);
  }
  parts.push(`${optionLines('help', HELP.options.help)}`);
  if (spec.notes) parts.push(spec.notes.trim());
  return `${parts.join('\n\n')}\n`;
}

// -------------------------------------------------------------------------------- shared groups

/** The model and how its inputs and outputs are read. */
export const MODEL = group('Model', {
  model: { type: 'string', value: 'FILE', help: 'the model (required): an .onnx file, a TF.js model.json, a Keras .keras/.h5 file, or a folder (a hub folder with model.onnx or onnx/model*.onnx, config.json and preprocessor_config.json; a TF.js folder)' },
  variant: { type: 'string', value: 'NAME', help: "a hub folder's ONNX variant: onnx/model_NAME.onnx (fp16, quantized, ...; default model.onnx)" },
  output: { type: 'string', value: 'NAME', help: 'the model output to explain (default: the first)' },
  labels: { type: 'string', value: 'FILE', help: "class labels: one per line, or JSON (default: the model's metadata)" },
  size: { type: 'string', value: 'H[xW]', help: 'input size for models with dynamic height/width' },
  'max-input': {
    type: 'string', value: 'N', number: { integer: true, min: 0 },
    help: "refuse model inputs above N pixels (H×W of the model's declared size, of --size or of .npy inputs; default 4194304 = 2048×2048; 0: no limit). A model run holds at most N input pixels in all (fewer images per run for large inputs)",
  },
});

/** How image files become model inputs. */
export const IMAGES = group('Input images', {
  normalize: { type: 'string', value: 'NAME', choices: NORMALIZE_PRESETS, help: `normalisation preset: ${NORMALIZE_PRESETS.join(', ')} (default imagenet; none with --mean/--std alone)` },
  mean: { type: 'string', value: 'a,b,c', help: 'custom mean (on [0,1] values unless a preset is given)' },
  std: { type: 'string', value: 'a,b,c', help: 'custom std' },
  resize: {
    type: 'string', value: 'N', number: { integer: true, min: 1 },
    help: "torchvision's Resize(N) + CenterCrop instead of resizing the whole image: the shorter side to N (Pillow bilinear), then the centre crop of the model's input size; overlays show the cropped part (e.g. --resize 256 for a 224 ImageNet model)",
  },
  crop: { type: 'string', value: 'H[xW]', help: "the centre crop after --resize (default: the model's input size; sets it for dynamic models)" },
  decode: {
    type: 'string', value: 'MODE', choices: DECODE_MODES,
    help: "exact: the whole picture decoded, then resized as Pillow/torchvision do (bit-exact; default, audit excepted); fast: a JPEG at least 3× larger than the model's resize (and the picture kept for overlays) needs is decoded at 1/2, 1/4 or 1/8 scale by libjpeg (shrink-on-load) — much faster on photos of several megapixels, not bit-exact (input values a few levels apart); other files decode exactly. Default of audit: fast",
  },
  'max-pixels': {
    type: 'string', value: 'N', number: { integer: true, min: 0 },
    help: "refuse images larger than N pixels (default 268402689, sharp's limit: about 16384×16384; 0: no limit). Images above 64 megapixels are shrunk while decoding, so memory stays bounded. Scans (NIfTI, DICOM) count voxels, default 67108864 (64 M: they are not shrunk)",
  },
});

/** Which class, which layer. */
export const TARGET = group('What to explain', {
  class: {
    type: 'string', value: 'C', default: 'top',
    help: "'top' (the predicted class), 'true' (the labelled class: a manifest's label or --annotations; 'gt' also works), a class index, or a label (default top)",
  },
  layer: {
    type: 'string', value: 'NAME', default: 'auto',
    help: "tensor or module to explain ('layer4', 'blocks.11.norm1': the last layer in that module's name scope), or 'auto' (default): the input of the last node that mixes grid positions — global pooling, attention, a flattening classifier — walked back past projections: a CNN's last block, a ViT's last norm1, Swin's final norm, ConvNeXt's last stage; see 'gradcam layers'",
  },
  layout: { type: 'string', value: 'L', help: "the layer's layout where gradcam cannot infer it: nchw, nhwc or tokens:HxW[+P] ([N, L, C] tokens: an H×W grid after P prefix tokens)" },
});

/** The explanation methods (their names are listed at run time). */
export function methodGroup(methodNames: () => readonly string[]) {
  return group('Method', {
    method: { type: 'string', value: 'NAME', default: 'gradcam', help: () => `${methodNames().join(', ')} (default gradcam)` },
    'guided-ops': {
      type: 'string', value: 'SET', default: 'all', choices: ['all', 'relu'],
      help: "rectifiers guided by guided-backprop/deconvnet: 'all' (Relu, Clip/ReLU6, LeakyRelu, PRelu; default) or 'relu' (only Relu, as pytorch-grad-cam)",
    },
  });
}

/** The CAM family's options (explain). */
export const FAMILY = group('CAM methods', {
  methods: { type: 'string', value: 'a,b,c', help: 'several methods (each writes its own files; with --grid one comparison)' },
  layers: { type: 'string', value: 'a,b,c', help: 'several layers: their maps are averaged as pytorch-grad-cam does (with --grid: one column per layer, plus their mean)' },
  grid: { type: 'boolean', default: false, help: 'write <stem>.grid.png: a labelled methods × layers comparison, and <stem>.grid.json' },
  target: { type: 'string', value: 'KIND', help: 'what to explain: logit (default), softmax, binary, binary-neg, regression, segmentation, similarity, element' },
  index: { type: 'string', value: 'I[,J..]', help: 'output index for binary / regression (default 0) and element (flat or per dim)' },
  mask: { type: 'string', value: 'FILE', help: "segmentation: .npy or .png mask at the output's class-plane size (default: the pixels whose arg-max class is --class); an image's pixel is inside where its brightest channel is at least half the mask's brightest value (0/255 and 0/1 masks both work), an .npy's where it is non-zero" },
  pixel: { type: 'string', value: 'Y,X', help: "segmentation: explain the class (--class, default the pixel's arg-max) at this one pixel of the output's class planes instead of a region" },
  'seg-threshold': { type: 'string', value: 'T', number: {}, help: "segmentation of a one-plane output ([N,1,H,W] or [N,H,W]: salient objects, matting, text): the region is output > T (default 0.5 after a final Sigmoid, whose input — the logit — is then the score; 0 without one)" },
  reference: { type: 'string', value: 'FILE', help: 'similarity: the image (or .npy) whose embedding the cosine is taken against' },
  'top-k': { type: 'string', value: 'K', number: { integer: true, min: 1 }, help: 'explain the K best classes of every image: <stem>-top1.<method>.png ...' },
  contrast: { type: 'string', value: 'D', help: "why --class rather than D (score_c − score_D); D may be 'top'" },
  counterfactual: { type: 'boolean', default: false, help: 'what speaks against the class (negated gradients)' },
  'aug-smooth': { type: 'boolean', default: false, help: "average over horizontal flip × input × 0.9/1/1.1 (pytorch-grad-cam's tta)" },
  'eigen-smooth': { type: 'boolean', default: false, help: 'first principal component of the weighted activations instead of their sum' },
  'cam-batch': { type: 'string', value: 'N', number: { integer: true, min: 1 }, help: 'forward passes per run for scorecam / ablationcam (default: as many as fit in 512 MB by the input and layer sizes, at most 32) and occlusion / rise (the same budget)' },
  'score-top': { type: 'string', value: 'N', number: { integer: true, min: 1 }, help: 'scorecam: score only the N channels with the largest activation variance' },
  seed: { type: 'string', value: 'S', default: '0', number: { integer: true, min: 0, max: 2 ** 32 - 1 }, help: 'random: numpy seed of the channel weights; rise: numpy seed of the masks (default 0)' },
});

/** How maps are drawn. */
export const PICTURES = group('Pictures', {
  colormap: { type: 'string', value: 'NAME', default: 'jet', choices: COLORMAPS, help: `colour map: ${COLORMAPS.join(', ')} (default jet)` },
  alpha: { type: 'string', value: 'A', default: '0.5', number: { min: 0, max: 1 }, help: 'heat-map opacity in the overlay, 0..1 (default 0.5)' },
  'no-caption': { type: 'boolean', default: false, help: 'overlay without the caption naming the class' },
  heatmap: { type: 'boolean', default: false, help: 'also write the heat map alone as <stem>.<method>.heatmap.png (.webp, .jpg with --format)' },
  raw: {
    type: 'boolean', default: false,
    help: 'also write the map as .npy float32 [H,W] at input resolution, and the raw map (weighted sum before ReLU and scaling, layer resolution) as .raw.npy; with a gradient method, the gradient as .npy float32 in the input tensor\'s layout without batch',
  },
  abs: { type: 'boolean', default: false, help: 'gradient pictures as grayscale |gradient| instead of the usual deprocessing; attribution pictures (kinds path, noise, perturbation) as a heat map of |attribution| instead of the signed red-white-green picture' },
  'top-percent': { type: 'string', value: 'P', number: { min: 0, max: 100 }, help: 'attribution pictures (methods of kinds path, noise, perturbation: occlusion, rise...): the third panel keeps the top P % of pixels (default 10)' },
  'max-overlay': { type: 'string', value: 'N', number: { integer: true, min: 16, max: 32768 }, help: 'longest side in pixels of the overlay, gradient, attribution and grid pictures, captions included (default 2048); a picture of several panels is bounded whole, its panels shrunk to fit' },
  'overlay-size': {
    type: 'string', value: 'N|HxW',
    help: "the overlays' size: a longest side N (aspect kept) or HxW, at most --max-overlay (the caption's strip comes on top); the picture is resized once and the map upsampled straight to it. Default: the picture's own size (small ones enlarged by a whole factor). Gradient and attribution pictures get each panel at this size (per-pixel panels nearest-enlarged where a whole multiple of the input, else resampled), grid pictures each tile; the whole picture at most --max-overlay",
  },
  format: {
    type: 'string', value: 'F', default: 'png', choices: PICTURE_FORMATS,
    help: `the pictures' format: png (lossless; fast zlib level 1 without filters, larger files), webp (lossy: quality ${LOSSY.webp.quality}, fastest effort; about 10× smaller than png) or jpeg (lossy: quality ${LOSSY.jpeg.quality}, no chroma subsampling); file names end in .png, .webp or .jpg; 3-D montages stay png`,
  },
});

/** Where results go and how runs are batched. */
export const RUN = group('Run', {
  out: { type: 'string', value: 'DIR', default: 'gradcam-out', help: 'output folder' },
  'batch-size': { type: 'string', value: 'N', default: '8', number: { integer: true, min: 1 }, help: 'images per model run (default 8)' },
  quiet: { type: 'boolean', default: false, help: 'no progress on stderr' },
});

/** Runs over folders, globs and manifests (explain and audit): resumable, sharded. */
export const DATASET = group('Folders, globs and manifests', {
  shard: { type: 'string', value: 'i/N', help: "process only shard i of N (0 <= i < N; a fixed partition by a hash of each item's path), for spreading a dataset over machines" },
  'retry-errors': { type: 'boolean', default: false, help: 'run again the images whose row is an error' },
  threads: { type: 'string', value: 'N', number: { integer: true, min: 1 }, help: 'onnxruntime intra-op threads (default: one per core; with --workers, the cores shared out)' },
  workers: {
    type: 'string', value: 'N|auto', default: 'auto',
    help: `sessions run side by side in worker threads, each reading, explaining and encoding whole batches; the command writes their outputs and rows in input order, as one session's (also for explain on image files). auto (default): one session (this thread's) unless the run has at least ${AUTO_MIN_IMAGES.compiled} images and the machine 2 cores or more, then one 1-thread session per core (at most 8 and 1 + images / ${AUTO_MIN_IMAGES.compiled}; cores / --threads of them when --threads is given), since the workers' start (0.5–1 s) must be repaid; files that may hold several inputs (.npy, TIFF, scans) keep one session; 1: one session in the command. Each worker holds its own copy of the model: N × its memory. At most the number of cores`,
  },
});

/** --workers N|auto of a command, checked: a count above the cores or not a whole number is refused in one line. */
export function readWorkers(spec: { name: string }, text: string | undefined): WorkersChoice {
  if (text === undefined || text === 'auto') return 'auto';
  if (!/^\d+$/.test(text.trim())) throw usageError(spec, `--workers ${text}: give auto or a whole number from 1 to ${machineCores()} (this machine's cores)`);
  const n = Number(text);
  checkWorkers(n);
  return n;
}

/** --shard i/N of a command (DATASET), checked: a bad value is that command's usage error. */
export function readShard(spec: { name: string }, text: string | undefined): Shard | undefined {
  if (text === undefined) return undefined;
  try {
    return parseShard(text);
  } catch (e) {
    throw usageError(spec, (e as Error).message);
  }
}
