/**
 * `gradcam video <clip> --model M`: explains a clip frame by frame (every frame, every N-th, or F per
 * second) with any method, a classifier or (--detect) a detector's per-box maps, through the resumable
 * dataset engine (runDataset: frames.jsonl, a row per explained frame, each frame's 8-bit map in maps/),
 * then renders the overlay video (the clip's size and rate), a thumbnail strip, the timeline plot and an
 * HTML page (src/cli/video-report.ts). Decoding streams (src/video/node.ts); attention drift per frame
 * (src/video/drift.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { getMethod, methodNames } from '../methods/index.js';
import { imageToTensor, NORMALIZE_PRESETS, type NormalizeOptions } from '../image/normalize.js';
import { resizeRgb } from '../image/resize.js';
import { parseNpy, writeNpy } from '../image/npy.js';
import type { RgbImage } from '../image/types.js';
import type { ClassChoice, Explainer, Explanation } from '../explainer.js';
import { loadDetector, loadExplainer } from '../node.js';
import type { Detector } from '../detect/detector.js';
import { DEFAULT_NMS_IOU, DEFAULT_SCORE_THRESHOLD, type Box, type Detection } from '../util/boxes.js';
import { DEFAULT_DRIFT, energyInBox, frameDrift, mapPlace, quantizeMap, type DriftThresholds, type FrameDrift, type MapPlace } from '../video/drift.js';
import { ffmpegTools, probeClip, FrameDecoder, type ClipInfo } from '../video/node.js';
import { modelIdentity } from '../dataset/identity.js';
import { runDataset, type FileOut } from '../dataset/run.js';
import type { StoreKind } from '../dataset/store.js';
import type { AuditItem } from '../audit/types.js';
import { ProgressDisplay, doneLine, interruptible, oneLine, parseNumbers, parseSize, EXIT_INTERRUPTED, EXIT_ITEMS_FAILED } from './common.js';
import { importedDefaults } from './inputs.js';
import { DETECTION } from './detect.js';
import { OverlayRenderer, type FrameRow } from './video-report.js';
import { command, group, helpText, methodGroup, num, parseCommand, pick, usageError, withDefaults, IMAGES, MODEL, PICTURES, RUN, TARGET } from './spec.js';

export const VIDEO_STORE: StoreKind = { config: 'video.json', results: 'frames.jsonl', what: 'video', folders: ['maps'] };

const VIDEO_OPTIONS = group('Video', {
  every: { type: 'string', value: 'N', number: { integer: true, min: 1 }, help: 'explain every N-th frame (default: every frame); the overlay holds each map until the next' },
  fps: { type: 'string', value: 'F', number: { min: 0.001 }, help: 'explain F frames per second of the clip (the first frame of each 1/F s)' },
  detect: { type: 'boolean', default: false, help: "the model is a detector: per-box maps as 'gradcam detect' (the best detection, or the K best with --top: their maps' maximum; inputs default to pixels / 255, --normalize unit)" },
  smooth: { type: 'string', value: 'K', number: { min: 1 }, help: "a display aid: the overlay shows the exponential moving average of the maps over K explained frames (weight 2/(K+1) on the newest). It changes what is shown, not the rows' measures (default 1: each frame's own map)" },
  format: { type: 'string', value: 'F', default: 'mp4', choices: ['mp4', 'webm'], help: 'overlay video: mp4 (H.264, default) or webm (VP9)' },
  'input-fps': { type: 'string', value: 'R', default: '25', number: { min: 0.001 }, help: 'frame rate of a folder of frames (default 25)' },
  'flag-jump': { type: 'string', value: 'D', number: { min: 0, max: 2 }, help: `flag a frame whose map peak moved more than D (a fraction of the image diagonal) since the previous explained frame (default ${DEFAULT_DRIFT.peakJump})` },
  'flag-overlap': { type: 'string', value: 'O', number: { min: 0, max: 1 }, help: `flag a frame whose top-20% region overlaps the previous one's by less than O (IoU; default ${DEFAULT_DRIFT.overlap})` },
});

const ALL_METHODS = () => methodNames('cam', 'gradient');

export const VIDEO = command({
  name: 'video',
  synopsis: '<clip.mp4|.webm|.mov|.avi|frames-folder> --model FILE [options]',
  summary: 'explain a video frame by frame: overlay video, frames.jsonl, attention drift, timeline',
  description: `Decodes the clip with FFmpeg (on PATH, or GRADCAM_FFMPEG / GRADCAM_FFPROBE) and explains its frames:
each frame (or every --every N-th, or --fps F per second) resized to the model's input. Writes
frames.jsonl (a row per explained frame: time, class or detections, score, where the map's peak and
energy are, its drift from the previous explained frame, flags), overlay.mp4 (the clip's size and frame
rate), strip.png (thumbnails), timeline.png and index.html. A frame is flagged when its map's peak jumps
(--flag-jump), its top-20% region overlaps the previous one's too little (--flag-overlap), or (detectors)
its peak leaves the explained box. Resumable: a killed run started again continues at the next frame.`,
  groups: [
    withDefaults(pick(MODEL, ['model', 'variant', 'labels', 'size']), { model: { help: 'ONNX model (required): a classifier, or a detector with --detect' } }),
    pick(IMAGES, ['normalize', 'mean', 'std']),
    withDefaults(pick(TARGET, ['class', 'layer', 'layout']), { class: { help: "classifiers: 'top' (each frame's predicted class, default), an index or a label; detectors: explain only detections of this class" } }),
    pick(methodGroup(ALL_METHODS), ['method']),
    VIDEO_OPTIONS,
    pick(DETECTION, ['box-format', 'score-threshold', 'iou-threshold', 'top']),
    pick(PICTURES, ['colormap', 'alpha']),
    pick(RUN, ['out', 'quiet']),
  ],
  required: ['model'],
  positionals: 'inputs',
});

/** Frames per stored batch (their rows are appended and fsync'ed together; a killed run redoes at most these). */
const VIDEO_BATCH = 8;

const frameKey = (i: number) => `f${String(i).padStart(6, '0')}`;

/** The frames explained: every one, every N-th, or the first of each 1/F second. */
export function selectFrames(info: Pick<ClipInfo, 'frames' | 'fps'>, every?: number, fps?: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < info.frames; i++) {
    if (every !== undefined) { if (i % every === 0) out.push(i); } else if (fps !== undefined) {
      const slot = (k: number) => Math.floor((k * fps) / info.fps + 1e-9);
      if (i === 0 || slot(i) !== slot(i - 1)) out.push(i);
    } else out.push(i);
  }
  return out;
}

async function clipIdentity(info: ClipInfo): Promise<Record<string, unknown>> {
  const h = crypto.createHash('sha256');
  let bytes = 0;
  for (const f of info.frameFiles ?? [info.file]) {
    h.update(path.basename(f));
    for await (const chunk of fs.createReadStream(f)) { h.update(chunk as Buffer); bytes += (chunk as Buffer).length; }
  }
  return { file: path.basename(info.file), sha256: h.digest('hex'), bytes, width: info.width, height: info.height, frames: info.frames, rate: info.rate };
}

export async function runVideo(args: string[]): Promise<number> {
  const { values: o, positionals } = parseCommand(VIDEO, args);
  if (o.help) {
    console.log(helpText(VIDEO));
    return 0;
  }
  if (positionals.length !== 1) throw usageError(VIDEO, `give one clip (a video file or a folder of frames), got ${positionals.length}`);
  const method = o.method!.toLowerCase();
  try {
    const m = getMethod(method);
    if (m.kind !== 'cam' && m.kind !== 'gradient') throw new Error(`${m.name} (a ${m.kind} method) does not explain video frames yet; choose one of: ${ALL_METHODS().join(', ')}`);
  } catch (e) {
    throw usageError(VIDEO, (e as Error).message);
  }
  if (o.every !== undefined && o.fps !== undefined) throw usageError(VIDEO, '--every N and --fps F both choose the frames; give one');
  if (!o.detect) for (const k of ['score-threshold', 'iou-threshold', 'top', 'box-format'] as const) if (o[k] !== undefined && !(k === 'box-format' && o[k] === 'auto')) throw usageError(VIDEO, `--${k} goes with --detect (a detector's detections)`);
  const thresholds: DriftThresholds = { peakJump: num(o['flag-jump']) ?? DEFAULT_DRIFT.peakJump, overlap: num(o['flag-overlap']) ?? DEFAULT_DRIFT.overlap };
  ffmpegTools(); // the overlay video needs it whatever the input: a missing FFmpeg is said first
  const clip = positionals[0]!;
  const info = await probeClip(clip, num(o['input-fps']) ?? 25);
  const selected = selectFrames(info, num(o.every), num(o.fps));
  const scoreThreshold = num(o['score-threshold']) ?? DEFAULT_SCORE_THRESHOLD;
  const iouThreshold = num(o['iou-threshold']) ?? DEFAULT_NMS_IOU;
  const top = num(o.top) ?? 1;
  let norm: NormalizeOptions = { preset: o.normalize, mean: parseNumbers('--mean', o.mean), std: parseNumbers('--std', o.std) };
  if (o.detect && !o.normalize && !norm.mean && !norm.std) norm.preset = 'unit';
  let size = parseSize(o.size);
  let detector: Detector | undefined;
  let ex: Explainer;
  if (o.detect) {
    detector = await loadDetector(o.model!, { labelsFile: o.labels, variant: o.variant, boxFormat: o['box-format'] });
    ex = detector.explainer;
  } else ex = await loadExplainer(o.model!, { labelsFile: o.labels, variant: o.variant });
  try {
    ({ norm, size } = importedDefaults(ex, o, { norm, rc: {}, size }, !!o.quiet));
    const dims = ex.imageDims(size);
    const [mh, mw] = ex.layout === 'NCHW' ? [dims[2]!, dims[3]!] : [dims[1]!, dims[2]!];
    if (ex.channels !== 3) throw usageError(VIDEO, `the model takes ${ex.channels} channels; gradcam video explains RGB frames (3 channels)`);
    let classChoice: ClassChoice = 'top';
    let detClass: number | undefined;
    if (o.class !== undefined && o.class !== 'top') {
      const c = /^\d+$/.test(o.class) ? Number(o.class) : o.class;
      if (detector) detClass = ex.classIndex(c, detector.head.classes);
      else classChoice = c;
    }
    const config = {
      format: 'gradcam-video/1', model: await modelIdentity(o.model!), clip: await clipIdentity(info),
      frames: { every: num(o.every) ?? null, fps: num(o.fps) ?? null, selected: selected.length },
      method, layer: o.layer, layout: o.layout ?? null, class: o.class ?? 'top', normalize: norm, size: size ?? null, drift: thresholds,
      detect: detector ? { score_threshold: scoreThreshold, iou_threshold: iouThreshold, top, class: detClass ?? null, box_format: o['box-format'] } : null,
    };
    const items: AuditItem[] = selected.map((i) => ({ key: frameKey(i), file: `${info.file}#${i}` }) as AuditItem);
    const position = new Map(selected.map((f, k) => [f, k]));
    const decoder = new FrameDecoder(info);
    let decoding: Promise<unknown> = Promise.resolve();
    const out = o.out!;
    // the previous explained frame's place (by position in `selected`): in memory while running, read back from maps/ after a restart
    let last: { pos: number; place: MapPlace } | undefined;
    const placeBefore = (pos: number): MapPlace | undefined => {
      for (let p = pos - 1; p > (last?.pos ?? -1); p--) {
        const f = path.join(out, 'maps', `${frameKey(selected[p]!)}.npy`);
        if (!fs.existsSync(f)) continue;
        const npy = parseNpy(new Uint8Array(fs.readFileSync(f)));
        return mapPlace(npy.data as Uint8Array, npy.shape[1]!, npy.shape[0]!);
      }
      return last?.place;
    };
    /** A prepared frame; `q` is its 8-bit map once explained (handed to the overlay renderer). */
    type Prep = { frame: number; input?: { tensor: Float32Array; dims: number[] }; error?: string; q?: Uint8Array };
    /** A frame's results from its batch's runs: a classifier's explanation, or a detector's detections and their maps' maximum. */
    type Batched = { e?: Explanation; dets?: Detection[]; map?: Float32Array };
    const chooseDets = (all: Detection[]) => (detClass !== undefined ? all.filter((x) => x.class === detClass) : all).slice(0, top);
    let flaggedNow = 0;
    const explainFrame = async (p: Prep, files: FileOut[], batched?: Batched): Promise<FrameRow> => {
      const base = { key: frameKey(p.frame), frame: p.frame, time: Math.round((p.frame / info.fps) * 1e4) / 1e4 };
      try {
        if (p.error !== undefined) throw new Error(p.error);
        const { tensor, dims: d } = p.input!;
        let map: Float32Array | undefined;
        let row: Omit<FrameRow, 'map' | 'drift' | 'flagged'>;
        let box: Box | undefined;
        if (detector) {
          const dets = batched?.dets ?? chooseDets((await detector.detect(tensor, d, { scoreThreshold, iouThreshold }))[0]!);
          row = { ...base, status: 'ok', detections: dets.map((x) => ({ class: x.class, label: x.label ?? null, score: Math.round(x.score * 1e4) / 1e4, box: x.box.map((v) => Math.round(v * 100) / 100) as Box })), score: dets[0] ? Math.round(dets[0].score * 1e4) / 1e4 : null };
          if (batched?.dets) map = batched.map;
          else if (dets.length) {
            const res = await detector.explain(tensor, d, dets, { method, layer: o.layer, layout: o.layout });
            map = res.explanations[0]!.map.slice();
            for (const e of res.explanations.slice(1)) for (let i = 0; i < map.length; i++) map[i] = Math.max(map[i]!, e.map[i]!);
          }
          if (dets.length) box = dets[0]!.box;
        } else {
          const e = batched?.e ?? (await ex.explain(tensor, d, { method, layer: o.layer, layout: o.layout, classes: classChoice })).explanations[0]!;
          map = e.map;
          const cs = (c: typeof e.target) => ({ index: c.index, label: c.label ?? null, logit: Math.round(c.logit * 1e4) / 1e4, probability: Math.round(c.probability * 1e4) / 1e4 });
          row = { ...base, status: 'ok', class: cs(e.target), predicted: cs(e.predicted), score: cs(e.target).probability };
        }
        const pos = position.get(p.frame)!;
        if (!map) {
          const drift: FrameDrift = { peak_jump: null, overlap: null, peak_in_box: null, flags: ['no-detection'] };
          flaggedNow++;
          return { ...row, map: null, drift, flagged: true };
        }
        const q = quantizeMap(map);
        const place = mapPlace(q, mw, mh);
        const drift = frameDrift(place, placeBefore(pos), box, thresholds);
        last = { pos, place };
        p.q = q;
        files.push({ path: `maps/${base.key}.npy`, bytes: writeNpy(q, [mh, mw]) });
        const flagged = drift.flags.length > 0;
        if (flagged) flaggedNow++;
        return { ...row, map: { peak: place.peak, centroid: place.centroid, energy_in_box: box ? energyInBox(q, mw, mh, box) : null }, drift, flagged };
      } catch (e) {
        process.stderr.write(`gradcam: warning: ${info.file}: frame ${p.frame}: ${oneLine((e as Error).message)}\n`);
        return { ...base, status: 'error', error: oneLine((e as Error).message), score: null, map: null, drift: null, flagged: false };
      }
    };
    /**
     * A batch's frames in one run each (each image's map does not depend on the batch): a classifier's
     * explanations; a detector's detections, then every chosen detection's map. A failed run leaves each
     * frame to be run, and to fail, alone.
     */
    const explainBatch = async (batch: Prep[]): Promise<Map<Prep, Batched>> => {
      const out = new Map<Prep, Batched>();
      const ok = batch.filter((p) => p.input);
      if (ok.length < 2) return out;
      const per = ok[0]!.input!.tensor.length;
      const stacked = new Float32Array(per * ok.length);
      ok.forEach((p, k) => stacked.set(p.input!.tensor, k * per));
      const bdims = [ok.length, ...dims.slice(1)];
      try {
        if (detector) {
          const chosen = (await detector.detect(stacked, bdims, { scoreThreshold, iouThreshold })).map(chooseDets);
          const all = chosen.flat();
          const res = all.length ? (await detector.explain(stacked, bdims, all, { method, layer: o.layer, layout: o.layout })).explanations : [];
          if (chosen.length !== ok.length || res.length !== all.length) return out;
          let k = 0;
          ok.forEach((p, i) => {
            let map: Float32Array | undefined;
            for (let n = chosen[i]!.length; n > 0; n--) {
              const m = res[k++]!.map;
              if (!map) map = m.slice();
              else for (let j = 0; j < map.length; j++) map[j] = Math.max(map[j]!, m[j]!);
            }
            out.set(p, { dets: chosen[i]!, map });
          });
        } else {
          const res = await ex.explain(stacked, bdims, { method, layer: o.layer, layout: o.layout, classes: classChoice });
          if (res.explanations.length === ok.length) ok.forEach((p, k) => out.set(p, { e: res.explanations[k]! }));
        }
      } catch {
        out.clear(); /* each frame alone: its own error row */
      }
      return out;
    };
    // the overlay video is rendered alongside (started with the first batch, once the store is open)
    let overlay: OverlayRenderer | undefined;
    const renderer = () => (overlay ??= new OverlayRenderer(info, out, {
      colormap: o.colormap!, alpha: num(o.alpha) ?? 0.5, smooth: num(o.smooth) ?? 1, format: o.format as 'mp4' | 'webm',
      model: path.basename(o.model!), method, selected, mapSize: [mw, mh], quiet: !!o.quiet, flagJump: thresholds.peakJump, flagOverlap: thresholds.overlap,
    }));
    const progress = new ProgressDisplay(0, !!o.quiet);
    const t0 = performance.now();
    let explainS = 0;
    let renderS = 0;
    // the steady rate: from the second batch on (the sessions are created during the first)
    let batches = 0;
    let first: { at: number; done: number } | undefined;
    let steady = '';
    const r = await interruptible((signal) => runDataset<Prep, FrameRow, void>(items, {
      out, config, kind: VIDEO_STORE, signal, batchSize: VIDEO_BATCH,
      prepare: async ({ index }) => {
        const frame = selected[index]!;
        renderer();
        try {
          // a batch's frames are prepared together: their decoding is chained, in order
          const decoded = decoding.then(() => decoder.frame(frame));
          decoding = decoded.catch(() => undefined);
          const img = await decoded;
          return { frame, input: { tensor: imageToTensor(resizeRgb(img, mw, mh), { ...norm, layout: ex.layout }), dims } };
        } catch (e) {
          return { frame, error: oneLine((e as Error).message) };
        }
      },
      process: async (batch) => {
        if (++batches === 2) first = { at: performance.now(), done: VIDEO_BATCH };
        const rows: FrameRow[] = [];
        const files: FileOut[] = [];
        const batched = await explainBatch(batch);
        for (const p of batch) {
          const row = await explainFrame(p, files, batched.get(p));
          rows.push(row);
          renderer().push(row, p.q);
        }
        return { rows, files };
      },
      onProgress: (pr) => progress.update(pr),
      finish: async (_info, interrupted) => {
        decoder.close();
        explainS = (performance.now() - t0) / 1000;
        if (first && _info.processed > first.done) steady = `; ${((_info.processed - first.done) / ((performance.now() - first.at) / 1000)).toFixed(1)} frames/s after the first batch of ${VIDEO_BATCH}`;
        if (interrupted) return overlay?.abort();
        await renderer().finish();
        renderS = (performance.now() - t0) / 1000 - explainS;
      },
    }).finally(async () => {
      decoder.close();
      await overlay?.abort(); // a failed run: no partial video (after finish() it does nothing)
    }));
    progress.end();
    console.log(`${doneLine(r.info)}; ${flaggedNow} flagged among the frames explained now; rows in ${path.join(out, VIDEO_STORE.results)}`);
    if (r.info.processed) console.log(`timing: ${r.info.processed} frames explained in ${explainS.toFixed(2)} s (${(r.info.processed / explainS).toFixed(1)} frames/s${steady})${renderS ? `, the ${info.frames}-frame overlay video (rendered alongside) done ${renderS.toFixed(2)} s later` : ''}`);
    if (r.interrupted) {
      console.log('interrupted: run the same command again to continue at the next frame');
      return EXIT_INTERRUPTED;
    }
    return r.info.errors > 0 ? EXIT_ITEMS_FAILED : 0;
  } finally {
    await (detector ?? ex).release();
  }
}

export type { RgbImage };
