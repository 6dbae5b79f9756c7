/**
 * `gradcam evaluate`: faithfulness (deletion, insertion, Average Drop / Increase in Confidence, ROAD)
 * and, with ground truth, localisation (pointing game, energy pointing game, IoU) of explanation
 * methods over a set of images; per-image CSV and JSONL and a per-method summary (mean ± std).
 */
import fs from 'node:fs';
import path from 'node:path';
import { loadExplainer, prepareInputs, stackByShape, type PreparedInput } from '../node.js';
import { fileIdentity, modelIdentity } from '../dataset/identity.js';
import { listInputs } from '../dataset/listing.js';
import { readRows, type StoreKind } from '../dataset/store.js';
import { runDataset } from '../dataset/run.js';
import { csvLine } from '../util/csv.js';
import { writeFiles } from '../util/write-node.js';
import { createNodeSession } from '../runtime/node.js';
import type { Explainer } from '../explainer.js';
import type { ClassChoice } from '../types.js';
import { rankMethods, rankingCsv, rankingHtml, rankingMarkdown } from '../metrics/ranking.js';
import { randomisedExplainer, randomisationDistances } from '../sanity/distance.js';
import { methodOptionsFor, methodOptionsGroup } from './methods.js';
import { methodMaps, methodNames, checkMethod, type MethodMap } from '../metrics/maps.js';
import { plainForward } from '../metrics/forward.js';
import { faithfulness, FAITHFULNESS_METRICS, ROAD_FRACTIONS, type FaithfulnessMetric, type FaithfulnessResult, type Substrate } from '../metrics/faithfulness.js';
import { localisation, type LocalisationResult } from '../metrics/localisation.js';
import { parseAnnotations, findAnnotation, groundTruthFor, objectClass, type ImageAnnotation } from '../metrics/annotations.js';
import { CliError, interruptible, parseNumbers, parseSize, ProgressDisplay, EXIT_INTERRUPTED } from './common.js';
import { command, group, helpText, methodGroup, num, parseCommand, pick, usageError, withDefaults, IMAGES, MODEL, RUN, TARGET } from './spec.js';
import { importedDefaults, normalizeOptions, resizeCropOptions } from './inputs.js';
import { testHooks } from '../util/test-hooks.js';

const METRICS = [...FAITHFULNESS_METRICS, 'randomisation', 'localisation'] as const;
type Metric = (typeof METRICS)[number];
const SUBSTRATES: Substrate[] = ['zero', 'mean', 'blur'];

const EVALUATION = group('Evaluation', {
  methods: { type: 'string', value: 'a,b,c', default: 'gradcam', help: () => `the methods to score (default gradcam); any of: ${methodNames().join(', ')}` },
  metrics: { type: 'string', value: 'a,b,c', help: `default: all (${METRICS.join(', ')}); localisation needs --annotations` },
  annotations: { type: 'string', value: 'FILE', help: 'boxes or masks: gradcam/demo JSON ({images: [{file, class, box, mask_rle}]}) or COCO ({images, annotations, categories}); images matched by file name' },
  steps: { type: 'string', value: 'N', default: '50', number: { integer: true, min: 1 }, help: 'deletion/insertion steps (default 50)' },
  'deletion-substrate': { type: 'string', value: 'S', default: 'zero', choices: SUBSTRATES, help: "zero (the normalisation mean colour) | mean (the image's mean) | blur (default zero)" },
  'insertion-substrate': { type: 'string', value: 'S', default: 'blur', choices: SUBSTRATES, help: 'blur (default) | zero | mean' },
  'road-fractions': { type: 'string', value: 'a,b', help: 'fractions of pixels ROAD removes (default 0.2,0.4,0.6,0.8)' },
  tolerance: { type: 'string', value: 'PX', default: '15', number: { min: 0, max: 1e6 }, help: 'pointing-game tolerance for pointing_tol (default 15)' },
  'map-threshold': { type: 'string', value: 'T', default: '0.15', number: { min: 0, max: 1 }, help: 'map threshold for the IoUs, a fraction of the max (default 0.15)' },
  'forward-batch': { type: 'string', value: 'N', default: '64', number: { integer: true, min: 1 }, help: 'perturbed inputs per model call (default 64)' },
  limit: { type: 'string', value: 'N', number: { integer: true, min: 1 }, help: 'only the first N inputs' },
  seed: { type: 'string', value: 'N', default: '0', number: { integer: true, min: 0 }, help: 'ROAD noise seed (default 0)' },
});

export const EVALUATE = command({
  name: 'evaluate',
  synopsis: '<images|.npy|folders...> --model FILE [--methods a,b,c] [--annotations FILE] [options]',
  summary: 'faithfulness and localisation metrics per method',
  description: `Scores explanation methods on a set of images:
  deletion      RISE deletion AUC: remove pixels most-important-first (towards --deletion-substrate);
                area under the class probability curve (lower is better)
  insertion     RISE insertion AUC: insert pixels most-important-first into a blurred copy (higher
                is better)
  average_drop  Grad-CAM++ Average Drop % (lower is better) and Increase in Confidence % (higher is
                better), from the probability on image × map
  road          ROAD with noisy linear imputation: mean probability after removing --road-fractions
                of the pixels most-relevant-first (MoRF, lower is better) and least-relevant-first
                (LeRF, higher is better)
  randomisation 1 − |Spearman| of |map| and the map of the model with all parameterised layers
                re-initialised (sanity's last cascading stage; higher is better: a map that does
                not change explains the input, not the model); every method runs once more
  localisation  with --annotations: pointing game (peak on the object; and within --tolerance px),
                energy-based pointing game (share of the map on the object), IoU of the box around
                the largest segment of the map thresholded at --map-threshold × max with the box,
                and pixel IoU of the thresholded map with the object (higher is better for all)
Probabilities are the softmax of the explained class, from plain forward runs of the model in
batches. A folder stands for its image files (walked as gradcam explain does; files named *_mask.*
are skipped).`,
  groups: [
    MODEL, IMAGES,
    withDefaults(TARGET, { class: { default: undefined, help: "'top' (the predicted class), 'true' (the annotated class; 'gt' also works), a class index, or a label (default: true where the annotations give a class, else top)" } }),
    // the methods' own flags (--rise-masks...) but those evaluate declares itself (--steps: deletion steps)
    pick(methodGroup(methodNames), ['guided-ops']), methodOptionsGroup(Object.keys(EVALUATION.options)), EVALUATION,
    withDefaults(RUN, { out: { default: 'gradcam-eval' }, 'batch-size': { help: 'images per explanation run (default 8)' }, quiet: { help: 'no progress bar' } }),
  ],
  required: ['model'],
  positionals: 'inputs',
  hints: { 'iou-threshold': "--iou-threshold is the detectors' NMS threshold (gradcam detect); the map threshold of the IoUs is --map-threshold T" },
  notes: `Writes DIR/evaluate.csv (a row per image and method), DIR/evaluate.jsonl (the same with curves),
DIR/summary.json and DIR/summary.md (per method: mean ± std); prints the summary. The run is
resumable: every row is appended to DIR/evaluate.jsonl (and synced) as soon as it is made, so a run
that is interrupted (Ctrl-C, kill, crash) and started again with the same DIR and settings computes
only the rows it lacks; other inputs or methods add rows; another model or other settings are
refused (DIR/evaluate.json holds them). Exit status 130 when interrupted.`,
});

interface Row {
  image: string;
  method: string;
  class: number;
  label: string | null;
  probability: number;
  predicted: number;
  gt_class: number | null;
  correct: boolean | null;
  deletion?: number;
  insertion?: number;
  average_drop?: number;
  increase_confidence?: number;
  road_morf?: number;
  road_lerf?: number;
  randomisation?: number;
  pointing?: number;
  pointing_tol?: number;
  energy?: number;
  iou?: number;
  mask_iou?: number;
  region?: 'class' | 'all';
  curves?: { deletion?: number[]; insertion?: number[]; road?: FaithfulnessResult['road'] };
}

/** A row as stored: with its identity in the store (the method and the input's absolute path). */
interface StoredEvalRow extends Row {
  key: string;
  status: 'ok';
}

/** Numeric columns, their direction, for the CSV and the summary. */
export const COLUMNS: [keyof Row, string][] = [
  ['deletion', 'lower'], ['insertion', 'higher'], ['average_drop', 'lower'], ['increase_confidence', 'higher'],
  ['road_morf', 'lower'], ['road_lerf', 'higher'], ['randomisation', 'higher'], ['pointing', 'higher'], ['pointing_tol', 'higher'],
  ['energy', 'higher'], ['iou', 'higher'], ['mask_iou', 'higher'],
];

export async function runEvaluate(args: string[]): Promise<number> {
  const { values: o, positionals, given } = parseCommand(EVALUATE, args);
  if (o.help) {
    console.log(helpText(EVALUATE));
    return 0;
  }
  const methods = o.methods!.split(',').map((m) => m.trim()).filter(Boolean);
  if (!methods.length) throw usageError(EVALUATE, '--methods is empty');
  for (const m of methods) {
    try { checkMethod(m); } catch (e) { throw usageError(EVALUATE, (e as Error).message); }
  }
  let methodOptions: ReturnType<typeof methodOptionsFor>;
  try { methodOptions = methodOptionsFor(methods, o, given); } catch (e) { throw usageError(EVALUATE, (e as Error).message); }
  const metrics = new Set<Metric>((o.metrics ? o.metrics.split(',').map((m) => m.trim()) : METRICS.filter((m) => m !== 'localisation' || o.annotations)) as Metric[]);
  for (const m of metrics) if (!METRICS.includes(m)) throw usageError(EVALUATE, `unknown metric '${m}'; choose from: ${METRICS.join(', ')}`);
  if (metrics.has('localisation') && !o.annotations) throw usageError(EVALUATE, 'the localisation metrics need --annotations FILE');
  const steps = num(o.steps)!;
  const delSub = o['deletion-substrate'] as Substrate;
  const insSub = o['insertion-substrate'] as Substrate;
  const fractions = parseNumbers('--road-fractions', o['road-fractions']);
  if (fractions?.some((f) => !(f > 0 && f < 1))) throw usageError(EVALUATE, `--road-fractions must lie strictly between 0 and 1, got '${o['road-fractions']}'`);
  const tolerance = num(o.tolerance)!;
  const iouThreshold = num(o['map-threshold'])!;
  const batchSize = num(o['batch-size'])!;
  const forwardBatch = num(o['forward-batch'])!;
  const limit = num(o.limit);
  const seed = num(o.seed)!;
  let norm = normalizeOptions(o);
  let size = parseSize(o.size);
  let rc = resizeCropOptions(o);

  let annotations: ImageAnnotation[] | undefined;
  let annotationsText = '';
  if (o.annotations) {
    try { annotationsText = fs.readFileSync(o.annotations, 'utf8'); } catch { throw new CliError(`annotations file not found: ${o.annotations}`); }
    let doc: unknown;
    try { doc = JSON.parse(annotationsText); } catch (e) { throw new CliError(`${o.annotations}: not valid JSON (${(e as Error).message})`); }
    try { annotations = parseAnnotations(doc); } catch (e) { throw new CliError(`${o.annotations}: ${(e as Error).message}`); }
  }

  let items = await listInputs(positionals, { exclude: [o.out!] });
  if (limit) items = items.slice(0, limit);
  const files = items.map((i) => i.file);
  for (const f of files) if (!fs.existsSync(f)) throw new CliError(`image not found: ${f}`);
  const maxInputPixels = num(o['max-input']);
  const explainer = await loadExplainer(o.model!, { labelsFile: o.labels, size, maxInputPixels, variant: o.variant });
  ({ norm, rc, size } = importedDefaults(explainer, o, { norm, rc, size }, !!o.quiet));
  // 'true' is the name audit uses too; 'gt' stays accepted
  const choice = o.class === 'true' ? 'gt' : o.class ?? (annotations ? 'gt' : 'top');
  let fwd: Awaited<ReturnType<typeof plainForward>> | undefined;
  let randomised: Explainer | undefined;
  const throttle = testHooks().batchPauseMs ?? 0; // a test's pause after each stored batch of rows (util/test-hooks.ts)
  const counts = { stored: 0, missing: 0, inputs: 0 };
  try {
    // what the rows depend on: a folder resumes only with these (not with other inputs or methods: rows are per image and method)
    const config: EvaluateConfig = {
      format: 'gradcam-evaluate/1', model: await modelIdentity(o.model!), layer: o.layer!, output: o.output ?? null, class: choice,
      metrics: METRICS.filter((m) => metrics.has(m)), steps, deletion_substrate: delSub, insertion_substrate: insSub, road_fractions: [...(fractions ?? ROAD_FRACTIONS)],
      tolerance, iou_threshold: iouThreshold, seed, annotations: o.annotations ? fileIdentity(o.annotations, annotationsText) : null,
      normalize: { preset: norm.preset ?? null, mean: norm.mean ? [...norm.mean] : null, std: norm.std ? [...norm.std] : null }, size: size ?? null,
      ...(rc.resize !== undefined ? { resize: rc.resize, crop: rc.crop ?? null } : {}), ...(rc.decode === 'fast' ? { decode: 'fast' } : {}), labels: explainer.labels ?? null, guided_ops: o['guided-ops']!,
      total: files.length * methods.length,
      ...(Object.values(methodOptions).some((v) => Object.keys(v).length) ? { method_options: methodOptions } : {}),
    };
    fwd = await plainForward(explainer, createNodeSession, { output: o.output, batchSize: forwardBatch });
    // the sanity check's number: the maps of the model with every parameterised layer re-initialised
    if (metrics.has('randomisation')) randomised = randomisedExplainer(explainer, { createSession: createNodeSession, output: o.output, seed });
    const bar = new ProgressDisplay(0, o.quiet);
    const ctx: EvalContext = {
      explainer, forward: fwd.forward, methods, metrics, choice, annotations, layer: o.layer, output: o.output, rectifierOps: o['guided-ops'] as 'all' | 'relu',
      steps, delSub, insSub, fractions, seed, forwardBatch, tolerance, iouThreshold, onPasses: bar.passes, methodOptions, randomised,
    };
    const prepare = { ...norm, size, maxPixels: num(o['max-pixels']), maxInputPixels, ...rc, picture: false };
    // the dataset engine: images a batch at a time, decoded ahead, rows appended (fsync'ed) per batch;
    // an image is done when every method has its row (a multi-image .npy: its first image's rows)
    const r = await interruptible((signal) => runDataset<EvalPrepared, StoredEvalRow>(items, {
      out: o.out!, config, kind: EVALUATE_STORE, batchSize, signal,
      isDone: (item, done) => methods.every((m) => done.has(rowKey(m, path.resolve(item.file))) || done.has(rowKey(m, `${path.resolve(item.file)}#0`))),
      // a bad input stops the evaluation (in `process`, in order; a rejection read ahead would go unhandled)
      prepare: (entry) => prepareInputs(explainer, entry.item.file, prepare).then((inputs) => ({ inputs }), (error: Error) => ({ inputs: [], error })),
      process: async (prepared) => {
        const bad = prepared.find((p) => p.error);
        if (bad) throw bad.error;
        const rows = await evaluateBatch(ctx, prepared.flatMap((p) => p.inputs), counts);
        counts.stored += rows.length;
        return { rows, files: [] };
      },
      onProgress: (p) => {
        bar.update(p);
        if (throttle > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, throttle);
      },
    }));
    bar.end();
    if (r.interrupted) {
      process.stderr.write(`gradcam: interrupted: ${r.info.done} of ${r.info.total} images are in ${path.join(o.out!, EVALUATE_STORE.results)}; run the same command to finish\n`);
      return EXIT_INTERRUPTED;
    }
    // the outputs, from the store: this run's rows in input × method order (rows of other inputs or
    // methods made in this folder before stay in evaluate.jsonl, after them)
    const { rows: all } = await readRows<StoredEvalRow>(o.out!, EVALUATE_STORE.results);
    const order = files.flatMap((f) => fileKeys(f, methods[0]!, all)).flatMap((k) => methods.map((m) => rowKey(m, k)));
    if (r.info.skipped && !o.quiet) process.stderr.write(`gradcam: resumed ${o.out}: ${order.filter((k) => all.has(k)).length - counts.stored} of ${order.length} rows were done before\n`);
    if (counts.missing) process.stderr.write(`gradcam: warning: ${counts.missing} of ${counts.inputs} inputs have no entry in ${o.annotations}; no localisation scores for them\n`);
    const wanted = new Set(order);
    const rows = order.map((k) => all.get(k)).filter((x): x is StoredEvalRow => !!x);
    if (rows.length !== order.length) throw new Error(`internal: ${order.length - rows.length} rows are missing from ${EVALUATE_STORE.results}`);
    const others = [...all.values()].filter((x) => !wanted.has(x.key));
    const summary = summarise(rows, methods);
    const used = COLUMNS.filter(([k]) => rows.some((x) => x[k] !== undefined));
    let csv = csvLine(['image', 'method', 'class', 'label', 'probability', 'predicted', 'gt_class', 'correct', ...used.map(([k]) => k), 'region']);
    for (const x of rows) csv += csvLine([x.image, x.method, x.class, x.label ?? '', fmt(x.probability), x.predicted, x.gt_class ?? '', x.correct ?? '', ...used.map(([k]) => (x[k] === undefined ? '' : fmt(x[k] as number))), x.region ?? '']);
    const jsonl = [...rows, ...others].map((x) => JSON.stringify(x)).join('\n');
    const settings = { model: o.model, inputs: files.length, methods, metrics: [...metrics], class: choice, steps, deletion_substrate: delSub, insertion_substrate: insSub, road_fractions: fractions ?? ROAD_FRACTIONS, tolerance, iou_threshold: iouThreshold, seed, annotations: o.annotations ?? null, ...(rc.resize !== undefined ? { resize: rc.resize, crop: rc.crop ?? null } : {}), ...(rc.decode === 'fast' ? { decode: 'fast' } : {}) };
    const table = formatSummary(summary, methods, used);
    const ranking = rankMethods(summary, methods);
    const written = await writeFiles(o.out!, [
      { name: 'evaluate.csv', bytes: csv },
      { name: EVALUATE_STORE.results, bytes: `${jsonl}\n` },
      { name: 'summary.json', bytes: `${JSON.stringify({ settings, summary }, null, 2)}\n` },
      { name: 'summary.md', bytes: `${table}\n` },
      { name: 'ranking.csv', bytes: rankingCsv(ranking) },
      { name: 'ranking.html', bytes: rankingHtml(ranking, { model: o.model!, images: rows.length / methods.length }) },
    ], files);
    console.log(table);
    if (ranking.columns.length && methods.length > 1) console.log(`\nWhich map to trust (ranking.csv, ranking.html):\n${rankingMarkdown(ranking)}`);
    console.log(`\n${rows.length} rows (${rows.length / methods.length} inputs × ${methods.length} methods); wrote ${written.map((p) => path.basename(p)).join(', ')} to ${o.out}`);
    return 0;
  } catch (e) {
    if (counts.stored) process.stderr.write(`gradcam: the finished rows are kept in ${path.join(o.out!, EVALUATE_STORE.results)}; the same command resumes\n`);
    throw e;
  } finally {
    await fwd?.release();
    await randomised?.release();
    await explainer.release();
  }
}

/** The row keys' image part for `file`: its absolute path, or path#k for each image of a multi-image .npy (as stored). */
function fileKeys(file: string, method: string, rows: ReadonlyMap<string, unknown>): string[] {
  const abs = path.resolve(file);
  if (rows.has(rowKey(method, abs))) return [abs];
  const keys: string[] = [];
  while (rows.has(rowKey(method, `${abs}#${keys.length}`))) keys.push(`${abs}#${keys.length}`);
  return keys.length ? keys : [abs];
}

interface EvalPrepared {
  inputs: PreparedInput[];
  error?: Error;
}

interface EvalContext {
  explainer: Explainer;
  forward: Awaited<ReturnType<typeof plainForward>>['forward'];
  methods: string[];
  metrics: Set<Metric>;
  choice: string;
  annotations?: ImageAnnotation[];
  layer?: string;
  output?: string;
  rectifierOps: 'all' | 'relu';
  steps: number;
  delSub: Substrate;
  insSub: Substrate;
  fractions?: number[];
  seed: number;
  forwardBatch: number;
  tolerance: number;
  iouThreshold: number;
  onPasses: (done: number, total: number, stage: string) => void;
  methodOptions: ReturnType<typeof methodOptionsFor>;
  /** The model with every parameterised layer re-initialised (metric randomisation). */
  randomised?: Explainer;
}

/** The rows of a batch of inputs: per shape group, per method, the map and its metrics per image. */
async function evaluateBatch(c: EvalContext, inputs: PreparedInput[], counts: { missing: number; inputs: number }): Promise<StoredEvalRow[]> {
  const { explainer } = c;
  counts.inputs += inputs.length;
  const keys = imageKeys(inputs);
  const anns = inputs.map((inp) => (c.annotations ? findAnnotation(c.annotations, inp.file) : undefined));
  const gt = anns.map((a) => {
    if (!a) return undefined;
    for (const obj of a.objects) { const k = objectClass(obj, explainer.labels); if (k !== undefined) return k; }
    return undefined;
  });
  counts.missing += c.annotations ? anns.filter((a) => !a).length : 0;
  const classes: ClassChoice[] = inputs.map((_, i) => (c.choice === 'gt' ? gt[i] ?? 'top' : c.choice === 'top' ? 'top' : /^\d+$/.test(c.choice) ? Number(c.choice) : c.choice));
  const faithMetrics = FAITHFULNESS_METRICS.filter((m) => c.metrics.has(m)) as FaithfulnessMetric[];
  const rows: StoredEvalRow[] = [];
  // group by input shape (.npy inputs may differ), batch each group
  for (const { index: idx, data, dims } of stackByShape(inputs)) {
    for (const method of c.methods) {
      const maps: MethodMap[] = await methodMaps(explainer, data, dims, method, { classes: idx.map((i) => classes[i]!), layer: c.layer, output: c.output, rectifierOps: c.rectifierOps, methodOptions: c.methodOptions, onProgress: c.onPasses });
      const distances = c.randomised ? await randomisationDistances(c.randomised, data, dims, maps, { output: c.output, rectifierOps: c.rectifierOps, methodOptions: c.methodOptions, onProgress: c.onPasses }) : undefined;
      for (let j = 0; j < idx.length; j++) {
        const i = idx[j]!;
        const inp = inputs[i]!;
        const m = maps[j]!;
        const row: Row = {
          image: inp.file, method, class: m.target.index, label: m.target.label ?? null, probability: m.target.probability, predicted: m.predicted.index,
          gt_class: gt[i] ?? null, correct: gt[i] === undefined ? null : m.predicted.index === gt[i],
          ...(distances ? { randomisation: distances[j]! } : {}),
        };
        if (faithMetrics.length) {
          const f = await faithfulness(c.forward, { data: inp.tensor, dims: inp.dims, layout: explainer.layout }, m.magnitude, m.target.index, {
            metrics: faithMetrics, steps: c.steps, deletionSubstrate: c.delSub, insertionSubstrate: c.insSub, roadFractions: c.fractions, seed: c.seed, mask: m.display, chunk: c.forwardBatch,
          });
          row.curves = {};
          if (f.deletion) { row.deletion = f.deletion.auc; row.curves.deletion = f.deletion.curve; }
          if (f.insertion) { row.insertion = f.insertion.auc; row.curves.insertion = f.insertion.curve; }
          if (f.average_drop) { row.average_drop = f.average_drop.drop; row.increase_confidence = f.average_drop.increase; }
          if (f.road) { row.road_morf = f.road.morf_mean; row.road_lerf = f.road.lerf_mean; row.curves.road = f.road; }
        }
        const ann = anns[i];
        if (c.metrics.has('localisation') && ann) {
          const imageSize: [number, number] | undefined = inp.sourceSize ? [inp.sourceSize[1], inp.sourceSize[0]] : undefined;
          const g = groundTruthFor(ann, m.height, m.width, m.target.index, explainer.labels, imageSize, inp.region);
          const l: LocalisationResult = localisation(m.display, m.height, m.width, g, { tolerance: c.tolerance, threshold: c.iouThreshold });
          Object.assign(row, { pointing: l.pointing ? 1 : 0, pointing_tol: l.pointing_tol ? 1 : 0, energy: l.energy, iou: l.iou, mask_iou: l.mask_iou, region: g.matched });
        }
        rows.push({ key: rowKey(method, keys[i]!), status: 'ok', ...row });
      }
    }
  }
  return rows;
}

/** The output folder of `gradcam evaluate`: its settings and its rows, resumable (the audit's store). */
export const EVALUATE_STORE: StoreKind = {
  config: 'evaluate.json', results: 'evaluate.jsonl', what: 'evaluation', folders: [],
  // an older gradcam's evaluate outputs (no evaluate.json): replaced
  replaceable: ['evaluate.jsonl', 'evaluate.csv', 'summary.json', 'summary.md'],
};

/** Exit status of an interrupted evaluation (as audit's): run the same command to resume. */
export { EXIT_INTERRUPTED };

/** What the rows of an evaluation depend on (evaluate.json); a folder resumes only with the same. */
export interface EvaluateConfig {
  format: 'gradcam-evaluate/1';
  model: { file: string; sha256: string; bytes: number };
  layer: string;
  output: string | null;
  class: string;
  metrics: string[];
  steps: number;
  deletion_substrate: string;
  insertion_substrate: string;
  road_fractions: number[];
  tolerance: number;
  iou_threshold: number;
  seed: number;
  annotations: { file: string; sha256: string; bytes: number } | null;
  normalize: { preset: string | null; mean: number[] | null; std: number[] | null };
  size: [number, number] | null;
  resize?: number;
  crop?: [number, number] | null;
  labels: string[] | null;
  guided_ops: string;
  /** The methods' own options where given (--rise-masks...). */
  method_options?: Record<string, Record<string, unknown>>;
  /** Rows asked for when the folder was last run (inputs × methods); not compared. */
  total?: number;
}

/** Each input's identity: its file's absolute path, with #i for the images of a multi-image .npy. */
function imageKeys(inputs: readonly { file: string }[]): string[] {
  const count = new Map<string, number>();
  for (const i of inputs) count.set(i.file, (count.get(i.file) ?? 0) + 1);
  const seen = new Map<string, number>();
  return inputs.map((i) => {
    const k = seen.get(i.file) ?? 0;
    seen.set(i.file, k + 1);
    return path.resolve(i.file) + (count.get(i.file)! > 1 ? `#${k}` : '');
  });
}

const rowKey = (method: string, image: string) => `${method} ${image}`;

export interface Stat { mean: number; std: number; n: number }

export function summarise(rows: Row[], methods: string[]): Record<string, Record<string, Stat>> {
  const out: Record<string, Record<string, Stat>> = {};
  for (const m of methods) {
    const rs = rows.filter((r) => r.method === m);
    const s: Record<string, Stat> = {};
    for (const [k] of COLUMNS) {
      const v = rs.map((r) => r[k]).filter((x): x is number => typeof x === 'number');
      if (!v.length) continue;
      const mean = v.reduce((a, x) => a + x, 0) / v.length;
      const std = Math.sqrt(v.reduce((a, x) => a + (x - mean) ** 2, 0) / v.length);
      s[k] = { mean, std, n: v.length };
    }
    out[m] = s;
  }
  return out;
}

const PERCENT = new Set(['average_drop', 'increase_confidence', 'pointing', 'pointing_tol']);

/** A markdown table: a row per method, a column per metric, mean ± std (population std over the images). */
export function formatSummary(summary: Record<string, Record<string, Stat>>, methods: string[], used: [keyof Row, string][]): string {
  const head = used.map(([k, dir]) => `${k}${PERCENT.has(k) ? ' %' : ''} (${dir === 'lower' ? '↓' : '↑'})`);
  const lines = [`| method | ${head.join(' | ')} |`, `|---|${used.map(() => '---').join('|')}|`];
  for (const m of methods) {
    const cells = used.map(([k]) => {
      const s = summary[m]?.[k];
      if (!s) return '';
      // pointing hits are stored as 0/1 and shown as %; Average Drop / Increase are % already
      const f = k === 'pointing' || k === 'pointing_tol' ? 100 : 1;
      const d = PERCENT.has(k) ? 1 : 3;
      return `${(s.mean * f).toFixed(d)} ± ${(s.std * f).toFixed(d)}`;
    });
    lines.push(`| ${m} | ${cells.join(' | ')} |`);
  }
  lines.push('', 'mean ± std over the images (n per method: the number of images; localisation: those with annotations). ↓ lower is better, ↑ higher is better.');
  return lines.join('\n');
}

const fmt = (v: number) => (Number.isInteger(v) ? String(v) : v.toPrecision(6));
