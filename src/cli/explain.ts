/** `gradcam explain`: explain images or .npy tensors; write overlay PNGs, maps and JSON sidecars. */
import fs from 'node:fs';
import path from 'node:path';
import { InputError, type Explainer } from '../explainer.js';
import { hasOp } from '../detect/prenms.js';
import type { GraphProto } from '../onnx/model.js';
import { batchForInputs, inputPixels, type PreparedInput } from '../node.js';
import { isDatasetInput } from '../dataset/listing.js';
import { writeAllOrNothing } from '../util/write-node.js';
import { preparedAhead } from '../util/ahead.js';
import { printLines, workersLine, ProgressDisplay } from './common.js';
import { helpText, num, parseCommand, readWorkers, usageError, DATASET } from './spec.js';
import { importedDefaults, stemNamer } from './inputs.js';
import { explainVolumes } from './explain-volume.js';
import { EXPLAIN, readSettings, readTarget, type Settings } from './explain-options.js';
import { batchPictures, explainBatch, readExplainFile, warn } from './explain-batch.js';
import { explainDataset, explainWorkerInit, openExplainModel, EXPLAIN_WORKER, type ExplainLoad, type FileRow } from './explain-dataset.js';
import { resolveWorkers, threadsPerWorker, WorkerPool, type WorkersChoice } from '../dataset/pool.js';
import { datasetBatchSize } from '../dataset/items.js';
import { isScanFile } from '../image/scan-node.js';
export { EXPLAIN, SCANS } from './explain-options.js';
export { batchPictures } from './explain-batch.js';
export { datasetStem, EXPLAIN_STORE } from './explain-dataset.js';
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
  // --threads and --workers apply to files too; --shard and --retry-errors make a dataset run
  const dataset = positionals.some(isDatasetInput) || [...parsed.given].some((k) => k in DATASET.options && k !== 'threads' && k !== 'workers');
  const workers = readWorkers(EXPLAIN, parsed.values.workers);
  if (s.labelled && !dataset) throw usageError(EXPLAIN, `--class ${parsed.values.class} explains each image's labelled class, which only a manifest gives; for image files give top, a class index or a label`);
  const load = { labelsFile: parsed.values.labels, variant: parsed.values.variant, threads: num(parsed.values.threads) };
  // worker sessions for files start now: their threads import the library while this one reads the model
  const count = dataset ? 1 : filesWorkers(s, positionals, workers, load.threads);
  const pool = count > 1 ? new WorkerPool<FileRow>({ ...EXPLAIN_WORKER, count }) : undefined;
  const explainer = await openExplainModel(s, load).catch(async (e: unknown) => {
    await pool?.close();
    throw e;
  });
  // with worker sessions, the command's own goes as they start (released once: release() is idempotent)
  let released = false;
  const release = async () => {
    if (!released) await explainer.release();
    released = true;
  };
  try {
    Object.assign(s, importedDefaults(explainer, parsed.values, s, s.quiet));
    checkOutputName(explainer, s.output);
    refuseDetector(explainer, s.model, s.output);
    // a float16 / bfloat16 model runs promoted to float32 (onnx/precision.ts): each sidecar says so
    if (explainer.promoted.length) s.jsonOptions.precision = { model: explainer.promoted.join('+'), computed_in: 'float32' };
    // a 3-D model explains volumes: files, or the folder of a DICOM series
    if (explainer.volume) return await explainVolumeFiles(explainer, s, positionals, parsed.given);
    if (dataset) return await explainDataset(explainer, s, positionals, parsed.values.shard, !!parsed.values['retry-errors'], { ...load, workers, release });
    return await explainFiles(explainer, s, positionals, { ...load, workers, release, pool });
  } finally {
    await pool?.close();
    await release();
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
  return printLines(await writeAllOrNothing(s.out, files, async (add) => {
    const lines: string[] = [];
    await explainVolumes(explainer, files, {
      model: s.model, out: s.out, method: s.pixelMethod ?? s.methods[0]!, layer: s.layers.length === 1 && s.layers[0] === 'auto' ? undefined : s.layers, layout: s.layout,
      classes: s.classChoice, output: s.output, volumeResize: s.volumeResize, rectifierOps: s.guidedOps, look: s.look, refused,
      prepare: { size: s.size, maxPixels: s.limits.maxPixels, maxInputPixels: s.maxInputPixels, picture: false, scan: s.scan },
    }, add, lines, warn);
    return lines;
  }));
}

export { isDatasetInput };

/** Sessions for explain on files: --workers N, or auto's choice for files that are one image each by their kind (not .npy, TIFF or scans). */
function filesWorkers(s: Settings, files: string[], workers: WorkersChoice, threads: number | undefined): number {
  const plain = files.every((f) => /\.(jpe?g|png|webp|gif|avif|bmp)$/i.test(f) && !isScanFile(f)) && s.scan?.intensity === undefined && s.scan?.channels === undefined;
  return workers === 'auto' && !plain ? 1 : resolveWorkers(workers, files.length, threads);
}

/** How explain on files opens its sessions: the model's load options, --workers, the command's session's release, the workers (when started). */
type FilesLoad = ExplainLoad & { workers: WorkersChoice; release: () => Promise<void>; pool?: WorkerPool<FileRow> };

/**
 * Image and .npy files, all or nothing: outputs are staged (writeAllOrNothing) and moved into place only
 * when every input has been explained, so a bad input anywhere leaves --out as it was. Inputs are read
 * as they are explained, one file ahead (its decode in the thread pool while this batch runs; its outputs
 * written meanwhile by the staging), after a cheap check that every file exists, so that a missing one
 * stops the run before any model run. An undecodable file stops it when it is reached (its error, nothing written).
 * With worker sessions (`load.pool`: --workers N, or auto's choice) the batches run in them instead.
 */
async function explainFiles(explainer: Explainer, s: Settings, positionals: string[], load: FilesLoad): Promise<number> {
  return printLines(await writeAllOrNothing(s.out, [...positionals, ...(s.mask ? [s.mask] : []), ...(s.reference ? [s.reference] : [])], async (add) => {
    // a missing file is reported (by prepareInputs, with its usual message) before anything runs
    for (const file of positionals) if (!(await fs.promises.stat(file).catch(() => undefined))) await readExplainFile(explainer, s, file);
    const target = await readTarget(explainer, s);
    // how often each file is given: its outputs' names say which occurrence they are
    const occurrences = new Map<string, number>();
    for (const f of positionals) occurrences.set(f, (occurrences.get(f) ?? 0) + 1);
    if (load.pool) return explainFilesInWorkers(explainer, s, positionals, occurrences, target, load.pool, load, add);
    const read = (file: string) => readExplainFile(explainer, s, file);
    const perFile = new Map<string, number>();
    const name = stemNamer((file) => occurrences.get(file)! * perFile.get(file)!);
    const progress = new ProgressDisplay(positionals.length, s.quiet);
    const lines: string[] = [];
    let done = 0;
    const queue: { input: PreparedInput; stem: string }[] = [];
    const run = async (batch: { input: PreparedInput; stem: string }[]) => {
      const pictures = await batchPictures(batch.map((b) => b.input), s.limits);
      const outs = await explainBatch(explainer, s, target, batch.map((b, i) => ({ ...b, picture: pictures[i] })), progress.passes);
      outs.forEach((out, i) => {
        lines.push(...out.lines);
        warn(batch[i]!.input.file, out.warnings);
      });
      // add() starts each write (staged) and returns: the writes overlap the next run
      for (const out of outs) for (const f of out.files) await add(f.path, f.bytes);
      done += batch.length;
      progress.step(done, path.basename(batch[batch.length - 1]!.input.file));
    };
    for await (const got of preparedAhead(positionals.length, (i) => read(positionals[i]!))) {
      if (!got.length) continue;
      perFile.set(got[0]!.file, got.length);
      progress.total += got.length - 1;
      for (const input of got) {
        // a batch holds at most --batch-size inputs and --max-input-pixels pixels in all; a full one runs at once
        const perRun = (q: { input: PreparedInput }[]) => batchForInputs(s.batchSize, Math.max(1, ...q.map((x) => inputPixels(x.input.dims, explainer.layout))), s.maxInputPixels);
        if (queue.length && queue.length + 1 > perRun([...queue, { input }])) await run(queue.splice(0));
        queue.push({ input, stem: name(input.file) });
        if (queue.length >= perRun(queue)) await run(queue.splice(0));
      }
    }
    if (queue.length) await run(queue);
    return lines;
  }));
}

/**
 * explain on files with worker sessions: each worker reads, explains, renders and encodes whole batches
 * (explain-dataset.ts openExplainWorker, the same explainBatch); the command names the outputs (every
 * file one image, as the workers check), stages the files and prints the lines in input order, all or
 * nothing as with one session. The pool was started with the command (its settings are sent now); the
 * command's session is released.
 */
async function explainFilesInWorkers(explainer: Explainer, s: Settings, files: string[], occurrences: ReadonlyMap<string, number>, target: Awaited<ReturnType<typeof readTarget>>, pool: WorkerPool<FileRow>,
  load: FilesLoad, add: (name: string, bytes: Uint8Array | Promise<Uint8Array>) => Promise<void>): Promise<string[]> {
  const name = stemNamer((file) => occurrences.get(file)!);
  const items = files.map((file, index) => ({ item: { key: name(file), file }, index }));
  const size = datasetBatchSize(explainer, { ...s, ...s.rc });
  const batches: (typeof items)[] = [];
  for (let i = 0; i < items.length; i += size) batches.push(items.slice(i, i + size));
  pool.settle(explainWorkerInit(s, target, load, true));
  const lines: string[] = [];
  try {
    await load.release();
    if (!s.quiet) process.stderr.write(workersLine(pool.size, threadsPerWorker(pool.size, load.threads), load.workers));
    const progress = new ProgressDisplay(files.length, s.quiet);
    const resultOf = pool.ordered(batches);
    let done = 0;
    for (let b = 0; b < batches.length; b++) {
      const r = await resultOf(b);
      for (const row of r.rows) {
        lines.push(...row.lines);
        warn(row.file, row.warnings);
      }
      for (const f of r.files) await add(f.path, f.bytes);
      done += batches[b]!.length;
      progress.step(done, path.basename(batches[b]![batches[b]!.length - 1]!.item.file));
    }
  } finally {
    await pool.close();
  }
  return lines;
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
