/**
 * What `gradcam video` writes besides the rows: the overlay video (the clip decoded a second time while
 * the frames are explained, each frame drawn with the map of the latest explained frame, --smooth's moving
 * average when asked), then strip.png (thumbnails), timeline.png and index.html. Streams: one frame
 * decoded, drawn and encoded at a time.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseNpy } from '../image/npy.js';
import { encodePng } from '../image/png.js';
import { resizeRgb } from '../image/resize.js';
import { montage, drawText, measureText } from '../image/montage.js';
import type { RgbImage } from '../image/types.js';
import { writeFileAtomic } from '../node.js';
import { drawBoxes, mapOverlay, thumbSize, type DrawnBox } from '../render/index.js';
import { timelinePlot } from '../render/timeline.js';
import { dequantizeMap, MapSmoother, type FrameDrift } from '../video/drift.js';
import { FrameDecoder, FrameEncoder, type ClipInfo, type VideoFormat } from '../video/node.js';
import { readRows } from '../dataset/store.js';

type Box = [number, number, number, number];
type Cls = { index: number; label: string | null; logit: number; probability: number };

/** A row of frames.jsonl. */
export interface FrameRow {
  key: string;
  status: 'ok' | 'error';
  error?: string;
  frame: number;
  /** Seconds from the clip's start (frame / frame rate). */
  time: number;
  /** Classifiers: the explained class and the predicted one. */
  class?: Cls;
  predicted?: Cls;
  /** Detectors: the explained detections (best first). */
  detections?: { class: number; label: string | null; score: number; box: Box }[];
  /** The explained class's probability, or the explained detection's score. */
  score: number | null;
  /** Where the map lies (fractions of the width and height), and the share of its energy in the explained box. */
  map: { peak: [number, number] | null; centroid: [number, number] | null; energy_in_box: number | null } | null;
  drift: FrameDrift | null;
  flagged: boolean;
}

export interface RenderOptions {
  colormap: string;
  alpha: number;
  smooth: number;
  format: VideoFormat;
  model: string;
  method: string;
  selected: number[];
  /** The maps' size [w, h] (the model input). */
  mapSize: [number, number];
  quiet: boolean;
  flagJump: number;
  flagOverlap: number;
}

const STRIP_FRAMES = 10;
const frameKey = (i: number) => `f${String(i).padStart(6, '0')}`;

/**
 * Renders the overlay video while the frames are explained: its own decoder reads the clip from the start
 * and each frame waits (FFmpeg's pipe holds the rest) until the row of the latest selected frame at or
 * before it is known: stored by an earlier run (read back from frames.jsonl and maps/) or pushed by this
 * one. The encoding runs alongside the model; `finish()` renders what is left and writes the pictures.
 */
export class OverlayRenderer {
  private readonly known = new Map<string, { row: FrameRow; q?: Uint8Array }>();
  private readonly waiting = new Map<string, () => void>();
  private readonly selected: Set<number>;
  private stopped: Error | undefined;
  private readonly rendering: Promise<{ file: string; thumbs: { img: RgbImage; label: string }[] }>;

  constructor(private readonly info: ClipInfo, private readonly out: string, private readonly o: RenderOptions) {
    this.selected = new Set(o.selected);
    this.rendering = this.render();
    this.rendering.catch(() => {}); // awaited by finish()
  }

  /** A frame explained now: its row and its 8-bit map (none for an error or no detection). */
  push(row: FrameRow, q?: Uint8Array): void {
    this.known.set(row.key, { row, q });
    this.waiting.get(row.key)?.();
  }

  /** Stops rendering (an interrupted or failed run): the partial video is removed. */
  async abort(): Promise<void> {
    this.stopped ??= new Error('overlay rendering stopped');
    for (const w of this.waiting.values()) w();
    await this.rendering.catch(() => {});
  }

  private async rowOf(key: string): Promise<{ row: FrameRow; q?: Uint8Array }> {
    for (;;) {
      if (this.stopped) throw this.stopped;
      const k = this.known.get(key);
      if (k) {
        this.known.delete(key); // each selected frame is drawn once: its map is not held after
        return k;
      }
      await new Promise<void>((resolve) => this.waiting.set(key, resolve));
      this.waiting.delete(key);
    }
  }

  private async render(): Promise<{ file: string; thumbs: { img: RgbImage; label: string }[] }> {
    const { info, o, out } = this;
    const stored = (await readRows<FrameRow>(out, 'frames.jsonl')).rows;
    for (const [k, row] of stored) if (!this.known.has(k)) this.known.set(k, { row });
    // the strip: STRIP_FRAMES frames spread over the selected ones (a slot whose frame has no map takes the next one that has)
    const n = Math.min(STRIP_FRAMES, o.selected.length);
    const stripAt = new Set(Array.from({ length: n }, (_, k) => o.selected[Math.floor((k * o.selected.length) / n)]!));
    let wantThumb = false;
    const thumbs: { img: RgbImage; label: string }[] = [];
    const [mw, mh] = o.mapSize;
    const file = path.join(out, `overlay.${o.format}`);
    const tmp = `${file}.tmp-${process.pid}`;
    const decoder = new FrameDecoder(info);
    const encoder = new FrameEncoder(tmp, info.width, info.height, info.rate, o.format);
    const smoother = new MapSmoother(o.smooth);
    let shown: { map?: Float32Array; boxes: DrawnBox[]; caption: string; flagged: boolean } = { boxes: [], caption: '', flagged: false };
    try {
      for (let i = 0; i < info.frames; i++) {
        const frame = await decoder.frame(i);
        const got = this.selected.has(i) ? await this.rowOf(frameKey(i)) : undefined;
        const row = got?.row;
        if (row) {
          let map: Float32Array | undefined;
          if (row.status === 'ok' && row.map) {
            const q = got.q ?? (parseNpy(new Uint8Array(await fs.promises.readFile(path.join(out, 'maps', `${row.key}.npy`)))).data as Uint8Array);
            map = smoother.push(dequantizeMap(q)).slice();
          }
          shown = { map, boxes: (row.detections ?? []).map((d) => ({ box: d.box, label: `${d.label ?? `class ${d.class}`} ${d.score.toFixed(2)}` })), caption: captionOf(row), flagged: row.flagged };
        }
        let img = shown.map ? mapOverlay(frame, shown.map, mw, mh, { colormap: o.colormap, alpha: o.alpha }) : frame;
        if (shown.boxes.length) drawBoxes(img, shown.boxes, mw, mh);
        img = caption(img, `${(i / info.fps).toFixed(2)}s ${shown.caption}${shown.flagged ? ' FLAGGED' : ''}`, shown.flagged);
        await encoder.write(img);
        if (stripAt.has(i)) wantThumb = true;
        if (wantThumb && row?.status === 'ok' && row.map) {
          wantThumb = false;
          const [tw, th] = thumbSize(img.width, img.height, 160);
          thumbs.push({ img: resizeRgb(img, tw, th), label: `${(i / info.fps).toFixed(2)}s${row.flagged ? ' !' : ''}` });
        }
      }
      await encoder.finish();
      await fs.promises.rename(tmp, file);
    } catch (e) {
      encoder.abort();
      await fs.promises.rm(tmp, { force: true });
      throw e;
    } finally {
      decoder.close();
    }
    return { file, thumbs };
  }

  /** Waits for the overlay video, then writes strip.png, timeline.png and index.html from every row. */
  async finish(): Promise<void> {
    const { info, o, out } = this;
    const { file, thumbs } = await this.rendering;
    const { rows } = await readRows<FrameRow>(out, 'frames.jsonl');
    const ordered = o.selected.map((f) => rows.get(frameKey(f))).filter((r): r is FrameRow => !!r);
    if (thumbs.length) await writeFileAtomic(path.join(out, 'strip.png'), encodePng(montage([thumbs.map((t) => t.img)], { labels: [thumbs.map((t) => t.label)] })));
    const times = ordered.map((r) => r.time);
    const detector = ordered.some((r) => r.detections);
    const plot = timelinePlot(times, [
      { name: detector ? 'detection score' : 'class probability', color: [40, 90, 220], values: ordered.map((r) => r.score) },
      ...(detector ? [{ name: 'map share in its box', color: [30, 160, 60] as [number, number, number], values: ordered.map((r) => r.map?.energy_in_box ?? null) }] : []),
      { name: 'top-20% overlap with previous', color: [230, 140, 20], values: ordered.map((r) => r.drift?.overlap ?? null) },
    ], ordered.filter((r) => r.flagged).map((r) => r.time), { title: `${o.model} ${o.method}` });
    await writeFileAtomic(path.join(out, 'timeline.png'), encodePng(plot));
    await writeFileAtomic(path.join(out, 'index.html'), new TextEncoder().encode(pageHtml(info, ordered, o, !!thumbs.length)));
    if (!o.quiet) process.stderr.write(`gradcam: wrote ${file}, strip.png, timeline.png, index.html\n`);
    const flagged = ordered.filter((r) => r.flagged);
    for (const r of flagged) console.log(`flagged: ${r.time.toFixed(3)}s (frame ${r.frame}): ${r.drift?.flags.join(', ')}`);
  }
}

function captionOf(r: FrameRow): string {
  if (r.status !== 'ok') return 'error';
  if (r.class) return `${r.class.label ?? `class ${r.class.index}`} ${r.class.probability.toFixed(2)}`;
  if (r.detections) return r.detections.length ? '' : 'no detection';
  return '';
}

/** The caption drawn on the frame's top-left corner (on a dark strip; red when flagged). */
function caption(img: RgbImage, text: string, flagged: boolean): RgbImage {
  const scale = Math.max(1, Math.floor(img.width / 320));
  const m = measureText(text, scale);
  const w = Math.min(img.width, m.width + 4 * scale);
  const h = Math.min(img.height, m.height + 4 * scale);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) img.data.set(flagged ? [170, 0, 0] : [0, 0, 0], (y * img.width + x) * 3);
  return drawText(img, 2 * scale, 2 * scale, text, [255, 255, 255], scale);
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function pageHtml(info: ClipInfo, rows: FrameRow[], o: RenderOptions, strip: boolean): string {
  const flagged = rows.filter((r) => r.flagged);
  const video = `overlay.${o.format}`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>gradcam video: ${esc(path.basename(info.file))}</title>
<style>body{font-family:system-ui,sans-serif;margin:1.5em;max-width:1000px}img,video{max-width:100%}td,th{padding:2px 8px;text-align:left}tr.f{color:#a00}</style></head>
<body><h1>${esc(path.basename(info.file))}</h1>
<p>${info.width}×${info.height}, ${info.fps.toFixed(3)} frames/s, ${info.frames} frames; ${rows.length} explained with <b>${esc(o.method)}</b> on <b>${esc(o.model)}</b>.
${o.smooth > 1 ? `The overlay shows the moving average of the maps over ${o.smooth} explained frames (--smooth, a display aid: the measures below are each frame's own map).` : ''}</p>
<video id="v" src="${video}" controls muted loop></video>
${strip ? '<h2>Frames</h2><img src="strip.png" alt="thumbnails">' : ''}
<h2>Timeline</h2><img src="timeline.png" alt="timeline">
<h2>Flagged frames (${flagged.length})</h2>
<p>A frame is flagged when its map's peak moved more than ${o.flagJump} of the image diagonal since the previous explained frame (peak-jump), its top-20% region overlaps the previous one's by less than ${o.flagOverlap} (low-overlap), its peak lies outside the explained box (outside-box), or it has no detection.</p>
<table><tr><th>time</th><th>frame</th><th>flags</th><th>peak jump</th><th>overlap</th><th>score</th></tr>
${flagged.map((r) => `<tr class="f"><td><a href="#" onclick="document.getElementById('v').currentTime=${r.time};return false">${r.time.toFixed(3)} s</a></td><td>${r.frame}</td><td>${esc(r.drift?.flags.join(', ') ?? '')}</td><td>${r.drift?.peak_jump ?? ''}</td><td>${r.drift?.overlap ?? ''}</td><td>${r.score ?? ''}</td></tr>`).join('\n')}
</table>
<p>Every frame's row: <a href="frames.jsonl">frames.jsonl</a>.</p>
</body></html>
`;
}
