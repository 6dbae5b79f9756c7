/** `gradcam explain` on folders, globs and manifests: the resumable run of the dataset engine writing explain's per-image files. */
import path from 'node:path';
import type { RgbImage } from '../image/types.js';
import { InputError, type Explainer } from '../explainer.js';
import type { ClassChoice, ClassScore } from '../types.js';
import { loadExplainer, type PreparedInput } from '../node.js';
import type { TargetSpec } from '../cam/targets.js';
import { resolveWorkers, threadsPerWorker, type DatasetWorkerSide, type WorkersChoice } from '../dataset/pool.js';
import { modelIdentity } from '../dataset/identity.js';
import { listInputs, shardItems } from '../dataset/listing.js';
import { datasetBatchSize, prepareItemInput, resolveTruth } from '../dataset/items.js';
import { runDataset, type FileOut } from '../dataset/run.js';
import type { StoreKind } from '../dataset/store.js';
import type { AuditItem } from '../audit/types.js';
import { doneLine, listedLine, oneLine, workersLine, ProgressDisplay, interruptible, EXIT_INTERRUPTED, EXIT_ITEMS_FAILED } from './common.js';
import { readShard } from './spec.js';
import { printable } from '../util/text.js';
import { EXPLAIN, readTarget, type Settings } from './explain-options.js';
import { batchPictures, explainBatch, readExplainFile, warn, type ItemOutput } from './explain-batch.js';

/** An item read for a batch (or the error that stopped it). */
type Prep = { entry: { item: AuditItem; index: number }; input?: PreparedInput; picture?: RgbImage; classChoice?: ClassChoice; warning?: string; error?: string };

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

/** How explain opens its model: labels, variant and intra-op threads (absent: one per core). */
export interface ExplainLoad { labelsFile?: string; variant?: string; threads?: number }

/**
 * The command's session and each --workers thread's: no spinning within runs (the previous image's
 * pictures are encoded in the thread pool meanwhile; a spinning worker thread slowed the command by about
 * 6 % on resnet50 here).
 */
export function openExplainModel(s: Settings, load: ExplainLoad): Promise<Explainer> {
  return loadExplainer(s.model, { labelsFile: load.labelsFile, variant: load.variant, size: s.size, maxInputPixels: s.maxInputPixels, sessionOptions: { spinning: false, ...(load.threads ? { intraOpThreads: load.threads } : {}) } });
}

/** Folders, globs and manifests: the resumable run of the audit's engine, writing explain's per-image files. */
export async function explainDataset(explainer: Explainer, s: Settings, positionals: string[], shardText: string | undefined, retryErrors: boolean, load: ExplainLoad & { workers?: WorkersChoice; release?: () => Promise<void> } = {}): Promise<number> {
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
  const progress = new ProgressDisplay(0, s.quiet);
  const side = datasetSide(explainer, s, target, progress.passes);
  const choice = load.workers ?? 'auto';
  const r = await interruptible((signal) => {
    if (!s.quiet) process.stderr.write(listedLine(items.length, shard, config.total, s.out));
    return runDataset<Prep, ExplainRow>(items, {
      out: s.out, config, kind: EXPLAIN_STORE, shard, retryErrors, signal, batchSize: datasetBatchSize(explainer, { ...s, ...s.rc }),
      prepare: side.prepare, process: side.process, onProgress: (p) => progress.update(p),
      workers: {
        ...EXPLAIN_WORKER, init: explainWorkerInit(s, target, load, false), count: (pending) => resolveWorkers(choice, pending, load.threads),
        started: async (n) => {
          // the workers load their own sessions: the command's goes now
          await load.release?.();
          if (!s.quiet) process.stderr.write(workersLine(n, threadsPerWorker(n, load.threads), choice));
        },
      },
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

interface ExplainWorkerInit {
  s: Settings;
  target: TargetSpec | undefined;
  load: ExplainLoad;
  /** explain on files (all or nothing) rather than a dataset run. */
  files: boolean;
}

/** The worker module of explain's --workers (files, folders, globs, manifests): this module's openExplainWorker. */
export const EXPLAIN_WORKER = { module: import.meta.url, name: 'openExplainWorker' } as const;

/** A worker's settings (structured clone): the run's, its target, how it loads the model, files or a dataset. */
export function explainWorkerInit(s: Settings, target: TargetSpec | undefined, load: ExplainLoad, files: boolean): ExplainWorkerInit {
  return { s, target, load: { labelsFile: load.labelsFile, variant: load.variant, threads: load.threads }, files };
}

/**
 * A `--workers` thread's side of explain (dataset/pool.ts): its own session (its share of the cores),
 * the same batch explaining and rendering (explainBatch) as the command's session.
 */
export async function openExplainWorker(init: ExplainWorkerInit, count: number): Promise<DatasetWorkerSide<unknown, unknown>> {
  const explainer = await openExplainModel(init.s, { ...init.load, threads: threadsPerWorker(count, init.load.threads) });
  const side = init.files ? filesSide(explainer, init.s, init.target) : datasetSide(explainer, init.s, init.target);
  return { prepare: side.prepare, process: side.process as DatasetWorkerSide<unknown, unknown>['process'], release: () => explainer.release() };
}

/** What explain on files gets back for each image from a worker: its lines and warnings, in order (its files beside). */
export interface FileRow { file: string; lines: string[]; warnings: string[] }

/**
 * explain on files in a worker: an item is a file (`key`: its output stem, named by the command); a file
 * that cannot be read or explained fails the run with its own message, as in the command's session.
 */
function filesSide(explainer: Explainer, s: Settings, target: TargetSpec | undefined) {
  const prepare = async (entry: { item: AuditItem; index: number }) => {
    // (a decode that libvips reports as 'Unknown error', its error buffer cleared by another thread, is tried again: image/node.ts onceMore)
    const inputs = await readExplainFile(explainer, s, entry.item.file);
    if (inputs.length !== 1) throw new InputError(`${entry.item.file} holds ${inputs.length} inputs; with --workers every input file must be one image (give --workers 1 for .npy batches, multi-slice scans or TIFF stacks)`);
    const [picture] = await batchPictures(inputs, s.limits);
    return { input: inputs[0]!, stem: entry.item.key, picture };
  };
  const process = async (prepared: Awaited<ReturnType<typeof prepare>>[]): Promise<{ rows: FileRow[]; files: FileOut[] }> => {
    const outs = await explainBatch(explainer, s, target, prepared);
    return { rows: outs.map((o, i) => ({ file: prepared[i]!.input.file, lines: o.lines, warnings: o.warnings })), files: outs.flatMap((o) => o.files) };
  };
  return { prepare, process };
}

/** An item's reading and a batch's explaining and rendering (this thread's, or a worker's). */
function datasetSide(explainer: Explainer, s: Settings, target: TargetSpec | undefined, passes?: (d: number, t: number, st: string) => void) {
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
  const process = async (prepared: Prep[]): Promise<{ rows: ExplainRow[]; files: FileOut[] }> => {
    const ok = prepared.filter((p) => !p.error);
    const items = ok.map((p) => ({ input: p.input!, stem: datasetStem(p.entry.item.key), picture: p.picture, classChoice: p.classChoice, extraWarning: p.warning }));
    let outs: (ItemOutput | Error)[];
    try {
      outs = ok.length ? await explainBatch(explainer, s, target, items, passes) : [];
    } catch (e) {
      if (ok.length === 1) outs = [e as Error];
      else {
        // one bad image (e.g. non-finite scores) must not fail its neighbours: run them one by one
        outs = [];
        for (const it of items) outs.push(await explainBatch(explainer, s, target, [it], passes).then((x) => x[0]!, (err: Error) => err));
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
  return { prepare, process };
}
