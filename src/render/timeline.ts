/**
 * The timeline plot of a video's explanations (issue 26): series in [0, 1] over time (the explained
 * class's score, the share of the map in its box, the overlap with the previous frame's map), with the
 * flagged frames marked in red. Browser-safe (the CLI's timeline.png and the web app's camera panel).
 */
import { createRgbImage, type RgbImage } from '../image/types.js';
import { drawText, measureText } from '../image/montage.js';

export interface TimelineSeries {
  name: string;
  color: [number, number, number];
  /** One value in [0, 1] per time (null: a gap). */
  values: (number | null)[];
}

export function timelinePlot(times: readonly number[], series: readonly TimelineSeries[], flagged: readonly number[], opts: { width?: number; height?: number; title?: string } = {}): RgbImage {
  const W = opts.width ?? 900;
  const H = opts.height ?? 260;
  const img = createRgbImage(W, H);
  img.data.fill(255);
  const [left, right, top, bottom] = [34, 10, 22, 34];
  const pw = W - left - right;
  const ph = H - top - bottom;
  const t0 = times.length ? times[0]! : 0;
  const t1 = times.length > 1 ? times[times.length - 1]! : t0 + 1;
  const X = (t: number) => left + ((t - t0) / (t1 - t0 || 1)) * pw;
  const Y = (v: number) => top + (1 - Math.min(1, Math.max(0, v))) * ph;
  const set = (x: number, y: number, c: readonly number[]) => {
    x = Math.round(x);
    y = Math.round(y);
    if (x < 0 || y < 0 || x >= W || y >= H) return;
    img.data.set(c, (y * W + x) * 3);
  };
  const line = (x0: number, y0: number, x1: number, y1: number, c: readonly number[]) => {
    const n = Math.max(1, Math.ceil(Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0))));
    for (let k = 0; k <= n; k++) {
      const x = x0 + ((x1 - x0) * k) / n;
      const y = y0 + ((y1 - y0) * k) / n;
      set(x, y, c);
      set(x, y + 1, c);
    }
  };
  // flagged frames: red bands under everything
  for (const t of flagged) for (let y = top; y <= top + ph; y++) set(X(t), y, [255, 180, 180]);
  // axes and grid
  for (const v of [0, 0.5, 1]) {
    for (let x = left; x <= left + pw; x += v === 0 ? 1 : 3) set(x, Y(v), v === 0 ? [0, 0, 0] : [200, 200, 200]);
    drawText(img, 4, Math.round(Y(v)) - 3, v.toFixed(1), [60, 60, 60]);
  }
  for (let y = top; y <= top + ph; y++) set(left, y, [0, 0, 0]);
  const step = niceStep((t1 - t0) / 8);
  for (let t = Math.ceil(t0 / step) * step; t <= t1 + 1e-9; t += step) {
    for (let y = top + ph; y < top + ph + 4; y++) set(X(t), y, [0, 0, 0]);
    const label = `${Number(t.toFixed(3))}s`;
    drawText(img, Math.round(X(t) - measureText(label).width / 2), top + ph + 7, label, [60, 60, 60]);
  }
  for (const s of series) {
    let prev: [number, number] | undefined;
    for (let i = 0; i < times.length; i++) {
      const v = s.values[i];
      if (v === null || v === undefined || !Number.isFinite(v)) { prev = undefined; continue; }
      const p: [number, number] = [X(times[i]!), Y(v)];
      if (prev) line(prev[0], prev[1], p[0], p[1], s.color);
      else set(p[0], p[1], s.color);
      prev = p;
    }
  }
  // legend and title
  let lx = left;
  if (opts.title) {
    drawText(img, lx, 6, opts.title, [0, 0, 0]);
    lx += measureText(opts.title).width + 16;
  }
  for (const s of [...series, { name: 'flagged frame', color: [255, 120, 120] as [number, number, number] }]) {
    for (let y = 7; y < 13; y++) for (let x = lx; x < lx + 14; x++) set(x, y, s.color);
    drawText(img, lx + 18, 6, s.name, [0, 0, 0]);
    lx += measureText(s.name).width + 34;
  }
  drawText(img, left + pw - measureText('time').width, H - 10, 'time', [60, 60, 60]);
  return img;
}

function niceStep(raw: number): number {
  if (!(raw > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}
