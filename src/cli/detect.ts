/** `gradcam detect`: decode a detector's detections, then one map per detection, drawn with its box and label. */
import fs from 'node:fs';
import path from 'node:path';
import { getMethod, methodNames } from '../methods/index.js';
import { NORMALIZE_PRESETS, type NormalizeOptions } from '../image/normalize.js';
import { InputError, type Explainer } from '../explainer.js';
import { loadDetector, prepareInputs, tensorPicture, DEFAULT_PICTURE_SIDE, type PreparedInput } from '../node.js';
import { printable } from '../util/text.js';
import { explanationFiles, explanationJson, type DrawnBox, type FileBytes } from '../render/index.js';
import type { PictureFormat } from '../image/encode.js';
import { BOX_FORMAT_HELP } from '../detect/head.js';
import { DEFAULT_NMS_IOU, DEFAULT_SCORE_THRESHOLD, type Box, type Detection } from '../util/boxes.js';
import type { DetectionExplanation } from '../detect/detector.js';
import { doneLine, oneLine, parseNumbers, parseOverlaySize, parseSize, printLines, ProgressDisplay, interruptible, EXIT_INTERRUPTED, EXIT_ITEMS_FAILED } from './common.js';
import { boxesRegion, isFlagged, mapMetrics } from '../audit/metrics.js';
import type { AuditItem } from '../audit/types.js';
import { modelIdentity } from '../dataset/identity.js';
import { listInputs, shardItems } from '../dataset/listing.js';
import { prepareItemInput } from '../dataset/items.js';
import { runDataset, type FileOut } from '../dataset/run.js';
import type { StoreKind } from '../dataset/store.js';
import { writeAllOrNothing } from '../util/write-node.js';
import { REPORT } from './audit.js';
import { importedDefaults, resizeCropOptions, stems } from './inputs.js';
import { batchPictures, datasetStem, isDatasetInput } from './explain.js';
import { command, group, helpText, methodGroup, num, parseCommand, pick, readShard, usageError, withDefaults, DATASET, IMAGES, MODEL, PICTURES, RUN, TARGET } from './spec.js';

export const DETECTION = group('Detections', {
  'box-format': { type: 'string', value: 'F', default: 'auto', help: `how the detector's outputs are laid out: auto (default, recognised from their shapes), ${BOX_FORMAT_HELP}` },
  'score-threshold': { type: 'string', value: 'S', number: { min: 0, max: 1 }, help: `keep detections scoring at least S (default ${DEFAULT_SCORE_THRESHOLD})` },
  'iou-threshold': { type: 'string', value: 'T', number: { min: 0, max: 1 }, help: `NMS: drop boxes overlapping a better one of their class by more than T (default ${DEFAULT_NMS_IOU})` },
  top: { type: 'string', value: 'K', number: { integer: true, min: 1 }, help: 'explain only the K best detections per image' },
  box: { type: 'string', value: 'x1,y1,x2,y2', help: 'explain this box (model input pixels) instead of the detections; needs --class' },
  match: { type: 'string', value: 'M', default: 'sum', choices: ['sum', 'best'], help: "sum (default: every anchor with IoU >= --match-iou) or best (pytorch-grad-cam's FasterRCNNBoxScoreTarget: the best-overlapping anchor, if of the class, + its IoU)" },
  'match-iou': { type: 'string', value: 'T', number: { min: 0, max: 1 }, help: 'IoU that makes an anchor match the box (default 0.5)' },
  'iou-term': { type: 'boolean', default: false, help: "add the matched anchors' IoU with the box to the target (as FasterRCNNBoxScoreTarget)" },
  renormalize: { type: 'boolean', default: false, help: 'each map min-max scaled inside its box, zero outside' },
});

const ALL_METHODS = () => methodNames('cam', 'gradient');

export const DETECT = command({
  name: 'detect',
  synopsis: "<images|.npy|folders|'globs'|manifests...> --model FILE [options]",
  summary: 'explain every detection of a detector, box by box; flag maps outside their box',
  description: `Decodes the detector's detections (score threshold, class-aware NMS), then explains each one: the map of
the box target (the class score summed over the anchors whose box overlaps the detection, IoU >=
--match-iou), drawn with the box and its label. Writes <stem>.det<k>.<method>.png (or .webp/.jpg: --format) and .json per detection,
with where the map lies against its box (energy in the box, lift, peak); a detection whose map lies
mostly outside its box is flagged. On folders, globs and manifests the run is resumable (detect.jsonl:
a row per image with its detections) and ends with the list of flagged detections.
Eigen-CAM (--method eigencam) is gradient-free and the same for every detection.`,
  groups: [
    withDefaults(MODEL, { model: { help: 'ONNX detection model (required)' } }), DETECTION,
    withDefaults(IMAGES, { normalize: { help: `normalisation preset: ${NORMALIZE_PRESETS.join(', ')} (default unit: pixels / 255, as YOLO exports expect)` } }),
    withDefaults(pick(TARGET, ['class', 'layer', 'layout']), { class: { default: undefined, help: 'the class of --box (an index or a label)' }, layer: { help: 'tensor or module to explain (default auto: the feature map before the detection head)' } }),
    pick(methodGroup(ALL_METHODS), ['method']), pick(PICTURES, ['colormap', 'alpha', 'no-caption', 'raw', 'max-overlay', 'overlay-size', 'format']),
    pick(RUN, ['out', 'quiet']),
    withDefaults(pick(REPORT, ['flag-lift']), { 'flag-lift': { help: "flag detections whose map lies outside their box: its peak outside the box, or a lift (the share of the map's energy in the box ÷ the share of the image the box covers) below L (default 1); 'off' to disable" } }, 'Flags'),
    pick(DATASET, ['shard', 'retry-errors']),
  ],
  required: ['model'],
  positionals: 'inputs',
});

export async function runDetect(args: string[]): Promise<number> {
  const { values: o, positionals } = parseCommand(DETECT, args);
  if (o.help) {
    console.log(helpText(DETECT));
    return 0;
  }
  const method = o.method!.toLowerCase();
  try {
    const m = getMethod(method);
    if (m.kind !== 'cam' && m.kind !== 'gradient') throw new Error(`${m.name} (a ${m.kind} method) does not explain detections yet; choose one of: ${ALL_METHODS().join(', ')}`);
  } catch (e) {
    throw usageError(DETECT, (e as Error).message);
  }
  const scoreThreshold = num(o['score-threshold']) ?? DEFAULT_SCORE_THRESHOLD;
  const iouThreshold = num(o['iou-threshold']) ?? DEFAULT_NMS_IOU;
  const matchIou = num(o['match-iou']) ?? 0.5;
  const top = num(o.top);
  let box: Box | undefined;
  if (o.box !== undefined) {
    const v = parseNumbers('--box', o.box);
    if (!v || v.length !== 4 || !(v[2]! > v[0]!) || !(v[3]! > v[1]!)) throw usageError(DETECT, `--box must be x1,y1,x2,y2 with x1 < x2 and y1 < y2, got '${o.box}'`);
    if (o.class === undefined) throw usageError(DETECT, '--box needs --class C (an index or a label)');
    box = v as Box;
  } else if (o.class !== undefined) throw usageError(DETECT, '--class goes with --box (detections carry their own class)');
  const dataset = positionals.some(isDatasetInput);
  if (box && dataset) throw usageError(DETECT, '--box names a box of one image; for folders, globs and manifests explain the detections');
  const alpha = num(o.alpha) ?? 0.5;
  let size = parseSize(o.size);
  let norm: NormalizeOptions = { preset: o.normalize, mean: parseNumbers('--mean', o.mean), std: parseNumbers('--std', o.std) };
  if (!o.normalize && !norm.mean && !norm.std) norm.preset = 'unit';
  const limits = { maxPixels: num(o['max-pixels']), maxSide: num(o['max-overlay']) ?? DEFAULT_PICTURE_SIDE };
  const maxInputPixels = num(o['max-input']);
  const format = o.format as PictureFormat;
  const overlaySize = parseOverlaySize(o['overlay-size']);
  let rc = resizeCropOptions(o);

  const flagLift = num(o['flag-lift'], null) as number | null;
  const detector = await loadDetector(o.model!, { labelsFile: o.labels, size, maxInputPixels, boxFormat: o['box-format'], variant: o.variant });
  const ex = detector.explainer;
  ({ norm, rc, size } = importedDefaults(ex, o, { norm, rc, size }, !!o.quiet));
  const json = (x: unknown) => new TextEncoder().encode(`${JSON.stringify(x, null, 2)}\n`);
  const options = { match: o.match, match_iou: matchIou, iou_term: o['iou-term'] || o.match === 'best', renormalize: o.renormalize, score_threshold: scoreThreshold, iou_threshold: iouThreshold };
  try {
    const cls = o.class === undefined ? undefined : ex.classIndex(/^\d+$/.test(o.class) ? Number(o.class) : o.class, detector.head.classes);
    const prep = { ...norm, size, maxPixels: limits.maxPixels, maxInputPixels, picture: false, ...rc };
    if (!o.quiet) process.stderr.write(`gradcam: ${o.model!}: ${detector.head.description}\n`);

    /** One image: its detections, one map each (files, lines, and where each map lies against its box). */
    const detectOne = async (inp: PreparedInput, stem: string): Promise<{ files: { path: string; bytes: FileBytes }[]; lines: string[]; detections: DetectionRow[] }> => {
      const out = { files: [] as { path: string; bytes: FileBytes }[], lines: [] as string[], detections: [] as DetectionRow[] };
      const dets: Detection[] = box ? [detector.detectionFor(0, box, cls!)] : (await detector.detect(inp.tensor, inp.dims, { scoreThreshold, iouThreshold, top }))[0]!;
      if (!dets.length) {
        out.lines.push(`${inp.file}: no detection scores ${scoreThreshold} or more`);
        return out;
      }
      const r = await detector.explain(inp.tensor, inp.dims, dets, {
        method, layer: o.layer, layout: o.layout, match: o.match as 'sum' | 'best', iouThreshold: matchIou, iouTerm: o['iou-term'], renormalize: o.renormalize,
      });
      const [picture] = await batchPictures([inp], limits);
      const base = picture ?? tensorPicture(inp, ex.layout, norm);
      for (const [k, e] of r.explanations.entries()) {
        const d = e.detection;
        const name = `${stem}.det${k}.${e.method}`;
        // where the map lies against its own box (the audit's measures: energy share, lift, peak)
        const m = mapMetrics(e.map, e.width, e.height, boxesRegion([d.box], e.width, e.height));
        // flagged: the map's peak lies outside the box, or the box holds less than its share of the map (lift < --flag-lift)
        const flagged = flagLift !== null && m.energy_in_object !== null && (m.peak_in_object === false || isFlagged(m, { flag_lift: flagLift, flag_below: null }));
        const boxes: DrawnBox[] = [{ box: d.box, label: detectionLabel(d) }];
        // the one writer of an explanation's files (render): the overlay, and with --raw the map and the raw map
        const files = explanationFiles(e, base, { colormap: o.colormap!, alpha, caption: !o['no-caption'], maxSide: limits.maxSide, size: overlaySize, format, boxes, heatmap: false, raw: !!o.raw, background: true });
        for (const f of files) out.files.push({ path: name + f.suffix, bytes: f.bytes });
        const row: DetectionRow = {
          index: k, class: d.class, label: d.label ?? null, score: Number.isFinite(d.score) ? d.score : null, box: d.box,
          energy_in_box: m.energy_in_object, lift: m.lift, peak_in_box: m.peak_in_object, flagged, files: files.map((f) => name + f.suffix),
        };
        out.detections.push(row);
        out.files.push({ path: `${name}.json`, bytes: json({ ...detectionJson(e, { input: inp.file, model: o.model!, files: row.files, head: detector.head.description, options }), box_metrics: { energy_in_box: m.energy_in_object, lift: m.lift, peak_in_box: m.peak_in_object, flagged } }) });
        out.lines.push(`${inp.file}: detection ${k}: ${detectionLabel(d)} [${d.box.map((v) => v.toFixed(1)).join(', ')}]${flagged ? ` — flagged: ${m.peak_in_object === false ? 'the map peaks outside its box, ' : ''}${pct(m.energy_in_object)} of the map in its box` : ''} → ${path.join(o.out!, name + files[0]!.suffix)}`);
        for (const w of e.warnings) process.stderr.write(`gradcam: warning: ${printable(inp.file)}: detection ${k}: ${printable(w)}\n`);
      }
      return out;
    };

    if (dataset) {
      return await detectDataset(positionals, { ...o, flagLift, options }, prep, ex, detectOne);
    }
    return printLines(await writeAllOrNothing(o.out!, positionals, async (add) => {
      const inputs: PreparedInput[] = [];
      for (const file of positionals) inputs.push(...(await prepareInputs(ex, file, prep)));
      const names = stems(inputs);
      const progress = new ProgressDisplay(inputs.length, !!o.quiet);
      const lines: string[] = [];
      for (const [i, inp] of inputs.entries()) {
        const r = await detectOne(inp, names[i]!);
        for (const f of r.files) await add(f.path, f.bytes);
        lines.push(...r.lines);
        progress.step(i + 1, path.basename(inp.file));
      }
      return lines;
    }));
  } finally {
    await detector.release();
  }
}

/** A detection's row (explain.jsonl-style rows of `detect` on datasets, and the summary). */
interface DetectionRow {
  index: number;
  class: number;
  label: string | null;
  score: number | null;
  box: Box;
  energy_in_box: number | null;
  lift: number | null;
  peak_in_box: boolean | null;
  flagged: boolean;
  files: string[];
}

const pct = (v: number | null) => (v === null ? 'none' : `${(v * 100).toFixed(0)}%`);

/**
 * Folders, globs and manifests: the resumable dataset run (runDataset, as explain and audit), a row per
 * image in detect.jsonl with its detections and where each map lies against its box; detections whose
 * map lies mostly outside their box (lift below --flag-lift) are flagged and listed at the end.
 */
async function detectDataset(
  positionals: string[], o: { out?: string; quiet?: boolean; model?: string; shard?: string; 'retry-errors'?: boolean; flagLift: number | null; options: Record<string, unknown> },
  prep: Parameters<typeof prepareInputs>[2], ex: Explainer,
  detectOne: (inp: PreparedInput, stem: string) => Promise<{ files: { path: string; bytes: FileBytes }[]; lines: string[]; detections: DetectionRow[] }>,
): Promise<number> {
  const shard = readShard(DETECT, o.shard);
  const items = await listInputs(positionals, { exclude: [o.out!] });
  const config = {
    format: 'gradcam-detect/1', model: await modelIdentity(o.model!),
    options: o.options, flag_lift: o.flagLift, prepare: prep, shard: shard ?? null, total: shardItems(items, shard).length,
  };
  type Row = { key: string; index: number; file: string; status: 'ok' | 'error'; error?: string; detections: DetectionRow[] };
  type Prep = { entry: { item: AuditItem; index: number }; input?: PreparedInput; error?: string };
  const flaggedLines: string[] = [];
  let detections = 0;
  const progress = new ProgressDisplay(0, !!o.quiet);
  const r = await interruptible((signal) => runDataset<Prep, Row>(items, {
    out: o.out!, config, kind: DETECT_STORE, shard, retryErrors: o['retry-errors'], signal, batchSize: 1,
    prepare: async (entry) => {
      try {
        return { entry, input: await prepareItemInput(ex, entry.item.file, prep) };
      } catch (e) {
        return { entry, error: oneLine((e as Error).message) };
      }
    },
    process: async (prepared) => {
      const rows: Row[] = [];
      const files: FileOut[] = [];
      for (const p of prepared) {
        const base = { key: p.entry.item.key, index: p.entry.index, file: p.entry.item.file };
        try {
          if (p.error !== undefined) throw new InputError(p.error);
          const out = await detectOne(p.input!, datasetStem(p.entry.item.key));
          files.push(...out.files);
          for (const l of out.lines) console.log(printable(l));
          detections += out.detections.length;
          for (const d of out.detections) if (d.flagged) flaggedLines.push(`${p.entry.item.file}: detection ${d.index} (${d.label ?? `class ${d.class}`}): ${d.peak_in_box === false ? 'peak outside the box, ' : ''}${pct(d.energy_in_box)} of its map in its box`);
          rows.push({ ...base, status: 'ok', detections: out.detections });
        } catch (e) {
          process.stderr.write(`gradcam: warning: ${printable(p.entry.item.file)}: failed: ${oneLine((e as Error).message)}\n`);
          rows.push({ ...base, status: 'error', error: oneLine((e as Error).message), detections: [] });
        }
      }
      return { rows, files };
    },
    onProgress: (p) => progress.update(p),
  }));
  progress.end();
  console.log(`${doneLine(r.info)}; ${detections} detections explained now, ${flaggedLines.length} flagged (the map's peak outside its box, or a lift below ${o.flagLift ?? 'off'}); rows in ${path.join(o.out!, DETECT_STORE.results)}`);
  for (const l of flaggedLines) console.log(`flagged: ${l}`);
  if (r.interrupted) return EXIT_INTERRUPTED;
  return r.info.errors > 0 ? EXIT_ITEMS_FAILED : 0;
}

const DETECT_STORE: StoreKind = { config: 'detect.json', results: 'detect.jsonl', what: 'detect', folders: [] };

function detectionLabel(d: Detection): string {
  const name = d.label ?? `class ${d.class}`;
  return Number.isFinite(d.score) ? `${name} ${d.score.toFixed(2)}` : name;
}

function detectionJson(e: DetectionExplanation, ctx: { input: string; model: string; files: string[]; head: string; options: Record<string, unknown> }): Record<string, unknown> {
  const d = e.detection;
  return {
    ...explanationJson(e, { input: ctx.input, model: ctx.model, timings: { compileMs: 0, sessionMs: 0, runMs: 0, camMs: 0 }, files: ctx.files, options: ctx.options }),
    timings_ms: undefined,
    detection: { box: d.box, class: d.class, label: d.label ?? null, score: Number.isFinite(d.score) ? d.score : null, anchor: d.anchor >= 0 ? d.anchor : null },
    head: ctx.head,
  };
}
