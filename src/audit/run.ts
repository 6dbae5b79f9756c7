/**
 * `gradcam audit`'s run: every item explained (batched, resumable: the dataset engine, runDataset),
 * its map measured against the item's boxes or mask, thumbnails (and maps) written, one row per item.
 *
 * Output folder:
 *   audit.json     what the run was asked to do (model hash, method, layer, class, ...); a restart must agree
 *   results.jsonl  one JSON row per finished item: appended (and fsync'ed) batch by batch while running,
 *                  rewritten (atomically, de-duplicated, in input order) when a run ends
 *   thumbs/        <stem>.png (the image) and <stem>.cam.png (the overlay), written atomically before
 *                  the item's row, so that every row's files exist
 *   maps/          <stem>.npy, the map [H, W] float32 at input resolution (with --maps)
 *   results.csv, classes.csv, summary.json, report.html: rewritten at the end of every run and by merge (reports.ts, merge.ts)
 *
 * A restart reads results.jsonl, drops a torn last line (a kill during an append), and skips every item
 * with a row; items whose row is an error are retried only with `retryErrors`.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Explainer, Explanation, ClassChoice } from '../explainer.js';
import { loadExplainer, tensorPicture, stackByShape, type PreparedInput } from '../dataset/inputs.js';
import { DEFAULT_PICTURE_SIDE } from '../render/index.js';
import { resizeBilinear } from '../image/resize.js';
import { boxInView, maskInView } from '../image/view.js';
import { heatmapImage } from '../image/overlay.js';
import { writeNpy } from '../image/npy.js';
import type { NormalizeOptions } from '../image/normalize.js';
import type { DecodeMode, RgbImage } from '../image/types.js';
import { camMethod } from '../cam/index.js';
import { pictureBytes, thumbnails } from '../render/index.js';
import { decodeRle } from '../dataset/manifest.js';
import { boxesRegion, maskRegion, mapMetrics, scaleRegion, round6, isFlagged, type Region } from './metrics.js';
import { itemStem, type Shard } from '../dataset/shard.js';
import type { AuditConfig, AuditItem, AuditRow, ClassRef, ScoredClass } from './types.js';
import { shardItems } from '../dataset/listing.js';
import { modelIdentity } from '../dataset/identity.js';
import { datasetBatchSize, prepareItemInput, readMask, resolveTruth } from '../dataset/items.js';
import { runDataset, type DatasetProgressInfo, type FileOut } from '../dataset/run.js';
import { checkWorkers, resolveWorkers, threadsPerWorker, type DatasetWorkerSide, type WorkersChoice } from '../dataset/pool.js';
import { auditStoreKind, CONFIG, writeReportsLocked, type ReportResult } from './reports.js';

export interface AuditOptions {
  model: string;
  out: string;
  method?: string;
  layer?: string;
  /** 'top' (default), 'true' (the manifest's label; the predicted class where there is none), an index or a label. */
  classChoice?: string;
  output?: string;
  normalize?: NormalizeOptions;
  size?: [number, number];
  /** torchvision's Resize(resize) + CenterCrop(crop) instead of the plain resize (see PrepareOptions). */
  resize?: number;
  crop?: [number, number];
  /**
   * 'fast' (the default: what a large run wants): a JPEG at least 3× larger than the model's resize and
   * the audit's picture (long side AUDIT_FAST_PICTURE_SIDE, or --thumb if larger) is decoded at a reduced
   * scale (shrink-on-load; not bit-exact, the config says `decode: 'fast'`); 'exact': as explain decodes.
   */
  decode?: DecodeMode;
  labelsFile?: string;
  /** A hub folder's ONNX variant (LoadModelOptions.variant). */
  variant?: string;
  /**
   * Defaults from what an imported model's files state (the CLI's importedDefaults), applied once the
   * model is read: normalisation, size, resize and crop.
   */
  importedDefaults?: (explainer: Explainer) => Pick<AuditOptions, 'normalize' | 'size' | 'resize' | 'crop'>;
  thumb?: number;
  colormap?: string;
  alpha?: number;
  /** Flag images whose lift (energy on the object / object area) is below this (default 1; null: off). */
  flagLift?: number | null;
  /** Flag images with less than this fraction of map energy on the object (default null: off). */
  flagBelow?: number | null;
  /** Also write each map as maps/<stem>.npy. */
  maps?: boolean;
  /** Refuse images with more pixels than this (default DEFAULT_MAX_PIXELS, sharp's limit); 0: none. */
  maxPixels?: number;
  /** Refuse model inputs above this many pixels (default DEFAULT_MAX_INPUT_PIXELS); 0: none. Also bounds a batch's pixels. */
  maxInputPixels?: number;
  batchSize?: number;
  /** onnxruntime intra-op threads (default: its own choice; with workers, the cores shared out). */
  threads?: number;
  /**
   * Sessions in worker threads, batches shared out, rows in order: for machines with more cores than one
   * session uses well. Each holds the model (N × its memory); at most the cores. 1: this thread's
   * session; 'auto' (the default): decided from the images left and the cores (dataset/pool.ts autoWorkers).
   */
  workers?: WorkersChoice;
  /** Told how many worker sessions started (count > 1), before the first batch. */
  onWorkers?: (count: number) => void;
  shard?: Shard;
  retryErrors?: boolean;
  /** Stop after the current batch when aborted (Ctrl-C). */
  signal?: AbortSignal;
  /**
   * Also rewrite results.jsonl and write the reports (as writeReports) before the folder's lock is
   * released, so that no other run can append rows between the last append and the rewrite; an
   * interrupted run's report says it is unfinished. Default false (call writeReports later).
   */
  report?: boolean;
  /** Testing aid: awaited inside the lock, after the rows are read for the final rewrite and before it. */
  beforeRewrite?: () => Promise<void> | void;
  onProgress?: (p: DatasetProgressInfo) => void;
  /** Progress of Score-CAM / Ablation-CAM's passes within a batch (see FamilyOptions.onProgress). */
  onPasses?: (done: number, total: number, stage: string) => void;
}


export interface AuditRunResult extends DatasetProgressInfo {
  interrupted: boolean;
  config: AuditConfig;
  /** The reports written (with `report`). */
  report?: ReportResult;
}

interface Prepared {
  entry: { item: AuditItem; index: number };
  input?: PreparedInput;
  /** The picture (long side at most DEFAULT_PICTURE_SIDE): thumbnails, and the map metrics at its size. */
  base?: RgbImage;
  /** The image's own size [w, h] (boxes and masks are in its pixels). */
  size?: [number, number];
  region?: Region;
  truth: ClassRef | null;
  error?: string;
}

/** Runs (or resumes) an audit of `items` into opts.out. Report files are written by writeReports. */
export async function runAudit(items: AuditItem[], options: AuditOptions): Promise<AuditRunResult> {
  const t0 = performance.now();
  let opts = options;
  // no --decode given and a folder started before audits decoded fast: go on as it began (exact), not refuse it
  if (opts.decode === undefined) {
    const before = await existingConfig(opts.out);
    if (before && before.decode === undefined) opts = { ...opts, decode: 'exact' };
  }
  const method = camMethod(opts.method ?? 'gradcam');
  if (typeof opts.workers === 'number') checkWorkers(opts.workers);
  let explainer: Explainer | undefined = await openAuditModel(opts, opts.threads);
  try {
    if (opts.importedDefaults) opts = { ...opts, ...opts.importedDefaults(explainer) };
    const batchSize = datasetBatchSize(explainer, opts);
    const layer = !opts.layer || opts.layer === 'auto' ? await explainer.autoLayer(opts.size ?? (opts.resize !== undefined ? opts.crop : undefined), opts.output) : opts.layer;
    const config = await auditConfig(opts, explainer, method.name, layer, shardItems(items, opts.shard).length);
    const ctx: RunContext = { explainer, opts, layer, method: method.name, config };
    const { importedDefaults: _d, signal: _s, onProgress: _p, onPasses: _q, beforeRewrite: _b, onWorkers: _w, ...plain } = opts;
    const init: AuditWorkerInit = { opts: plain, layer, method: method.name, config };
    const r = await runDataset<Prepared, AuditRow, ReportResult>(items, {
      out: opts.out, config, kind: auditStoreKind(config.maps), shard: opts.shard, retryErrors: opts.retryErrors, signal: opts.signal, batchSize,
      prepare: (entry) => prepareItem(ctx, entry),
      process: (prepared) => explainBatch(ctx, prepared),
      workers: {
        count: (pending) => resolveWorkers(opts.workers, pending, opts.threads), module: import.meta.url, name: 'openAuditWorker', init,
        started: async (count) => {
          // each worker loads its own session (from the compile cache this one filled): this one goes now
          await explainer?.release();
          explainer = undefined;
          opts.onWorkers?.(count);
        },
      },
      onProgress: opts.onProgress,
      // still holding the lock: a run started now is refused instead of appending rows that this
      // rewrite of results.jsonl would drop
      finish: opts.report ? (info, interrupted) => writeReportsLocked(opts.out, {
        notes: interrupted ? [`unfinished: ${info.done} of ${info.total} images; run the same command again to resume`] : [],
        beforeRewrite: opts.beforeRewrite,
      }) : undefined,
    });
    r.info.elapsedS = (performance.now() - t0) / 1000;
    return { ...r.info, interrupted: r.interrupted, config, ...(r.finished ? { report: r.finished } : {}) };
  } finally {
    await explainer?.release();
  }
}

/**
 * The audit's session (this thread's, or a --workers thread's): no spinning, since between runs this thread
 * resizes, renders and measures while the pool encodes and writes, and a spinning intra-op thread would
 * take one of their cores; `threads` intra-op threads (absent: one per core).
 */
function openAuditModel(opts: AuditOptions, threads: number | undefined): Promise<Explainer> {
  return loadExplainer(opts.model, {
    labelsFile: opts.labelsFile, sessionOptions: { spinning: false, ...(threads ? { intraOpThreads: threads } : {}) }, size: opts.size, maxInputPixels: opts.maxInputPixels, variant: opts.variant,
  });
}

interface AuditWorkerInit {
  opts: AuditOptions;
  layer: string;
  method: string;
  config: AuditConfig;
}

/** A `--workers` thread's side of an audit (dataset/pool.ts): its own session, the same prepare and process. */
export async function openAuditWorker(init: AuditWorkerInit, count: number): Promise<DatasetWorkerSide<Prepared, AuditRow>> {
  const { opts } = init;
  const explainer = await openAuditModel(opts, threadsPerWorker(count, opts.threads));
  const ctx: RunContext = { explainer, opts, layer: init.layer, method: init.method, config: init.config };
  return { prepare: (entry) => prepareItem(ctx, entry), process: (prepared) => explainBatch(ctx, prepared), release: () => explainer.release() };
}

interface RunContext {
  explainer: Explainer;
  opts: AuditOptions;
  layer: string;
  method: string;
  config: AuditConfig;
}

async function auditConfig(opts: AuditOptions, explainer: Explainer, method: string, layer: string, total: number): Promise<AuditConfig> {
  const n = opts.normalize ?? {};
  return {
    format: 'gradcam-audit/1',
    model: await modelIdentity(opts.model),
    method, layer, class: String(opts.classChoice ?? 'top'), output: opts.output ?? null,
    normalize: { preset: n.preset ?? null, mean: n.mean ? [...n.mean] : null, std: n.std ? [...n.std] : null, ...(n.divisor !== undefined ? { divisor: n.divisor } : {}) },
    size: opts.size ?? null, ...(opts.resize !== undefined ? { resize: opts.resize, crop: opts.crop ?? null } : {}), ...((opts.decode ?? 'fast') === 'fast' ? { decode: 'fast' as const } : {}), labels: explainer.labels ?? null,
    thumb: opts.thumb ?? 128, colormap: opts.colormap ?? 'jet', alpha: opts.alpha ?? 0.5, flag_lift: opts.flagLift === undefined ? 1 : opts.flagLift, flag_below: opts.flagBelow ?? null,
    maps: !!opts.maps, shard: opts.shard ?? null, total,
  };
}


async function prepareItem(ctx: RunContext, entry: { item: AuditItem; index: number }): Promise<Prepared> {
  const { item } = entry;
  let truth: ClassRef | null = null;
  try {
    truth = resolveTruth(ctx.explainer, item.label);
    const input = await prepareItemInput(ctx.explainer, item.file, { ...ctx.opts.normalize, size: ctx.opts.size, maxPixels: ctx.opts.maxPixels, maxInputPixels: ctx.opts.maxInputPixels, resize: ctx.opts.resize, crop: ctx.opts.crop, ...fastDecode(ctx.opts) }, 'an audit item');
    const base = input.image ?? tensorPicture(input, ctx.explainer.layout, ctx.opts.normalize ?? {});
    // metrics at the picture's size (bounded: big images are shrunk), boxes scaled from image pixels
    const [w, h] = base ? [base.width, base.height] : sizeOf(input, ctx.explainer.layout);
    const size: [number, number] = input.sourceSize ?? [w, h];
    const [sx, sy] = [w / size[0], h / size[1]];
    // with --resize/--crop the picture is the cropped part (input.region): boxes and masks follow it
    const view = input.region;
    const masked = (m: { data: Uint8Array; width: number; height: number }): Region => (view ? { data: maskInView(m, size, view, w, h), width: w, height: h, kind: 'mask' } : maskRegion(m, w, h));
    let region: Region | undefined;
    if (item.maskRle) region = masked(decodeRle(item.maskRle));
    else if (item.mask) region = masked(await readMask(item.mask, { maxPixels: ctx.opts.maxPixels, maxSide: 2 * DEFAULT_PICTURE_SIDE }));
    else if (item.boxes?.length) region = boxesRegion(view ? item.boxes.map((b) => boxInView(b, view, w, h)) : sx === 1 && sy === 1 ? item.boxes : item.boxes.map(([x0, y0, x1, y1]) => [x0 * sx, y0 * sy, x1 * sx, y1 * sy] as typeof item.boxes[number]), w, h);
    input.image = undefined; // the picture lives on as `base`
    return { entry, input, base, size, region, truth };
  } catch (e) {
    return { entry, truth, error: (e as Error).message };
  }
}


/** The settings of an audit already in `out` (its audit.json), or undefined where there is none (or it cannot be read: the store says why). */
async function existingConfig(out: string): Promise<Partial<AuditConfig> | undefined> {
  try {
    const c = JSON.parse(await fs.promises.readFile(path.join(out, CONFIG), 'utf8')) as Partial<AuditConfig>;
    return c && typeof c === 'object' && c.format === 'gradcam-audit/1' ? c : undefined;
  } catch {
    return undefined;
  }
}

/** The fast decode's picture (thumbnails, and the map metrics at its size): this long side, or --thumb where larger. */
export const AUDIT_FAST_PICTURE_SIDE = 512;

/** An audit's decode options for prepareInputs: fast (the default) keeps a picture of AUDIT_FAST_PICTURE_SIDE. */
function fastDecode(opts: AuditOptions): { decode: DecodeMode; maxSide?: number } {
  return (opts.decode ?? 'fast') === 'fast' ? { decode: 'fast', maxSide: Math.max(AUDIT_FAST_PICTURE_SIDE, opts.thumb ?? 128) } : { decode: 'exact' };
}

function sizeOf(inp: PreparedInput, layout: 'NCHW' | 'NHWC'): [number, number] {
  return layout === 'NCHW' ? [inp.dims[3]!, inp.dims[2]!] : [inp.dims[2]!, inp.dims[1]!];
}

async function explainBatch(ctx: RunContext, prepared: Prepared[]): Promise<{ rows: AuditRow[]; files: FileOut[] }> {
  const rows: AuditRow[] = [];
  const files: FileOut[] = [];
  const errorRow = (p: Prepared, error: string): AuditRow => ({
    key: p.entry.item.key, index: p.entry.index, file: p.entry.item.file, status: 'error', error,
    truth: p.truth, correct: null, flagged: false, warnings: [], files: {},
  });
  const byPos = new Map<Prepared, AuditRow>();
  const ok = prepared.filter((p) => !p.error);
  for (const p of prepared) if (p.error) byPos.set(p, errorRow(p, p.error));
  const run = async (group: Prepared[], data: Float32Array, dims: number[]) => {
    const classes = group.map((p) => classFor(ctx, p));
    const r = await ctx.explainer.explain(data, dims, { method: ctx.method, layer: ctx.layer, classes, output: ctx.opts.output, onProgress: ctx.opts.onPasses });
    return r.explanations;
  };
  for (const stacked of stackByShape(ok.map((p) => p.input!))) {
    const group = stacked.index.map((i) => ok[i]!);
    let exps: (Explanation | Error)[];
    try {
      exps = await run(group, stacked.data, stacked.dims);
    } catch (e) {
      if (group.length === 1) exps = [e as Error];
      else {
        // one bad image (e.g. non-finite scores) must not fail its neighbours: run them one by one
        exps = [];
        for (const p of group) exps.push(await run([p], p.input!.tensor, p.input!.dims).then((x) => x[0]!, (err: Error) => err));
      }
    }
    group.forEach((p, j) => {
      const e = exps[j]!;
      if (e instanceof Error) { byPos.set(p, errorRow(p, e.message)); return; }
      try {
        const { row, out } = finishItem(ctx, p, e);
        byPos.set(p, row);
        files.push(...out);
      } catch (err) {
        byPos.set(p, errorRow(p, (err as Error).message));
      }
    });
  }
  for (const p of prepared) rows.push(byPos.get(p)!);
  return { rows, files };
}

function classFor(ctx: RunContext, p: Prepared): ClassChoice {
  const c = ctx.opts.classChoice ?? 'top';
  if (c === 'top') return 'top';
  if (c === 'true' || c === 'gt') return p.truth?.index ?? 'top';
  return /^\d+$/.test(c) ? Number(c) : c;
}

function scored(c: { index: number; label?: string; logit: number; probability: number }): ScoredClass {
  return { index: c.index, label: c.label ?? null, logit: round6(c.logit), probability: round6(c.probability) };
}

function finishItem(ctx: RunContext, p: Prepared, e: Explanation): { row: AuditRow; out: FileOut[] } {
  const { item, index } = p.entry;
  const cfg = ctx.config;
  const warnings = [...e.warnings];
  if ((ctx.opts.classChoice === 'true' || ctx.opts.classChoice === 'gt') && !p.truth) warnings.push('no true label: explained the predicted class');
  const base = p.base;
  const [w, h] = base ? [base.width, base.height] : [e.width, e.height];
  const map = w === e.width && h === e.height ? e.map : resizeBilinear(e.map, e.height, e.width, h, w);
  const metrics = mapMetrics(map, w, h, p.region);
  if (p.region && metrics.energy_in_object === null) warnings.push('the map is all zero: no energy to place on the object');
  const predicted = scored(e.predicted);
  const explained = scored(e.target);
  const truth = p.truth;
  const correct = truth ? (truth.index !== null ? truth.index === predicted.index : predicted.label !== null ? truth.label === predicted.label : null) : null;
  const stem = itemStem(item.key);
  const files: AuditRow['files'] = { thumb: `thumbs/${stem}.png`, overlay: `thumbs/${stem}.cam.png` };
  const pic = base ?? heatmapImage(e.map, e.width, e.height, 'viridis');
  const th = thumbnails(pic, e.map, e.width, e.height, cfg.thumb, { colormap: cfg.colormap, alpha: cfg.alpha, region: p.region ? (w, h) => scaleRegion(p.region!, w, h).data : undefined });
  const out: FileOut[] = [
    // compressed in the thread pool while this thread goes on (the next item, the next batch's run)
    { path: files.thumb!, bytes: pictureBytes(th.image, 'png', true) },
    { path: files.overlay!, bytes: pictureBytes(th.overlay, 'png', true) },
  ];
  if (cfg.maps) {
    files.map = `maps/${stem}.npy`;
    out.push({ path: files.map, bytes: writeNpy(e.map, [e.height, e.width]) });
  }
  const row: AuditRow = {
    key: item.key, index, file: item.file, status: 'ok', truth, predicted,
    ...(explained.index !== predicted.index ? { explained } : {}),
    correct, size: p.size ?? [w, h], metrics,
    flagged: isFlagged(metrics, cfg),
    warnings, files,
  };
  return { row, out };
}
