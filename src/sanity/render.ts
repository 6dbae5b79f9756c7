/** Pictures of a sanity check: the montage (rows = methods, columns = stages) and the similarity curves (SVG). Browser-safe. */
import type { RgbImage } from '../image/types.js';
import { montage } from '../image/montage.js';
import { grayscaleImage, heatmapImage, overlay } from '../image/overlay.js';
import { enlargeNearest, resizeRgb } from '../image/resize.js';
import { isPixelMethod } from '../methods/index.js';
import type { MapSimilarity } from '../metrics/similarity.js';
import type { SanityMode, SanityResult } from './check.js';
import { shortLayerName } from './randomize.js';

export interface MontageRenderOptions {
  /** The input picture (any size; resized to the map size) for CAM overlays and the reference row. */
  picture?: RgbImage;
  /** Tiles are enlarged (nearest) to at least this width (default 128). */
  minTile?: number;
  /** The stages to show (stage numbers; 0 = the trained model). Default: all. */
  stages?: readonly number[];
}

/**
 * The montage of one image and one mode: a row per method (CAM methods as heat maps over the picture,
 * gradient methods as grey |gradient| maps), a column per stage (the trained model first), captioned
 * with the stage's layer and the rank correlation of |map| with the original; and a reference row with
 * the input and its Sobel edge map.
 */
export function sanityMontage(r: SanityResult, image: number, mode: SanityMode, opts: MontageRenderOptions = {}): RgbImage {
  const show = (k: number) => !opts.stages || opts.stages.includes(k);
  const columns = [...(show(0) ? [null] : []), ...r.stages.filter((s) => s.mode === mode && s.stage > 0 && show(s.stage))];
  if (columns.length === 0) throw new RangeError(`sanityMontage: none of the stages ${opts.stages?.join(', ')} exists (1 to ${r.layers.length})`);
  const m0 = r.original[r.methods[0]!]![image]!;
  const { width: w, height: h } = m0;
  const f = Math.max(1, Math.ceil((opts.minTile ?? 128) / w));
  const pic = opts.picture ? (opts.picture.width === w && opts.picture.height === h ? opts.picture : resizeRgb(opts.picture, w, h)) : undefined;
  const tiles: RgbImage[][] = [];
  const labels: string[][] = [];
  for (const m of r.methods) {
    const row: RgbImage[] = [];
    const lab: string[] = [];
    for (const s of columns) {
      const map = s ? s.maps[m]![image]! : r.original[m]![image]!;
      const tile = isPixelMethod(m) ? grayscaleImage(map.display, w, h) : pic ? overlay(pic, map.display) : heatmapImage(map.display, w, h);
      row.push(enlargeNearest(tile, f));
      if (!s) lab.push(`${m}\noriginal`);
      else {
        const sim = s.similarity[m]![image]!;
        lab.push(`${mode === 'cascading' ? 'to ' : ''}${shortLayerName(s.layer!)}\nrs=${sim.spearman_abs.toFixed(2)} ssim=${sim.ssim.toFixed(2)}`);
      }
    }
    tiles.push(row);
    labels.push(lab);
  }
  const edges = r.edges?.[image];
  if (edges || pic) {
    const row: RgbImage[] = [];
    const lab: string[] = [];
    if (pic) { row.push(enlargeNearest(pic, f)); lab.push('input'); }
    if (edges) for (let c = pic ? 1 : 0; c < Math.max(columns.length, 2); c++) { row.push(enlargeNearest(grayscaleImage(edges, w, h), f)); lab.push('Sobel edges\n(reference)'); }
    tiles.push(row);
    labels.push(lab);
  }
  const scale = Math.max(1, Math.floor((w * f) / 160));
  const grid = montage(tiles, { labels, pad: 3 * scale, textScale: scale });
  const title = `${mode} randomisation (${mode === 'cascading' ? 'from the logits down, cumulative' : 'one layer at a time'}), init '${r.init}', seed ${r.seed}; class ${r.classes[image]}; rs = Spearman of |map| with the original`;
  return montage([[grid]], { labels: [[title]], pad: 3 * scale, textScale: scale });
}

const COLOURS = ['#d62728', '#1f77b4', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];
const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

/**
 * The similarity curves as an SVG: one panel per (mode, measure), x = stages (layers from the top
 * down), y = mean similarity with the original map, one line per method; the verdict threshold dashed
 * on the Spearman |map| panels.
 */
export function sanityCurvesSvg(r: SanityResult, title = 'Model-parameter randomisation test'): string {
  const modes = [...new Set(r.stages.filter((s) => s.stage > 0).map((s) => s.mode))];
  const measures: [keyof MapSimilarity, string][] = [['spearman', 'Spearman (signed)'], ['spearman_abs', 'Spearman |map|'], ['ssim', 'SSIM'], ['hog', 'HOG correlation']];
  const pw = 320;
  const ph = 230;
  const ml = 44;
  const mt = 28;
  const mb = 110;
  const top = 60;
  const W = measures.length * (pw + ml) + 60;
  const H = top + modes.length * (ph + mt + mb);
  let lo = -0.25;
  for (const m of r.methods) for (const e of r.table[m]!) for (const [k] of measures) lo = Math.min(lo, Math.floor(e[k] * 4) / 4);
  lo = Math.max(-1, lo);
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`);
  out.push(`<rect width="100%" height="100%" fill="white"/>`);
  out.push(`<text x="10" y="20" font-size="15" font-weight="bold">${esc(title)}</text>`);
  r.methods.forEach((m, i) => {
    const x = 10 + i * 150;
    out.push(`<line x1="${x}" y1="40" x2="${x + 24}" y2="40" stroke="${COLOURS[i % COLOURS.length]}" stroke-width="2.5"/><text x="${x + 30}" y="44">${esc(m)}</text>`);
  });
  modes.forEach((mode, mi) => {
    const rows = (m: string) => r.table[m]!.filter((e) => e.mode === mode || (mode === 'cascading' && e.stage === 0));
    const xs = rows(r.methods[0]!);
    const n = xs.length;
    measures.forEach(([key, name], ci) => {
      const x0 = 10 + ml + ci * (pw + ml);
      const y0 = top + mi * (ph + mt + mb) + mt;
      const X = (i: number) => x0 + (n <= 1 ? pw / 2 : (i * pw) / (n - 1));
      const Y = (v: number) => y0 + ((1 - v) / (1 - lo)) * ph;
      out.push(`<text x="${x0}" y="${y0 - 8}" font-weight="bold">${esc(`${name} — ${mode}`)}</text>`);
      out.push(`<rect x="${x0}" y="${y0}" width="${pw}" height="${ph}" fill="none" stroke="#999"/>`);
      for (let t = Math.ceil(lo * 4) / 4; t <= 1.0001; t += 0.25) {
        out.push(`<line x1="${x0}" y1="${Y(t)}" x2="${x0 + pw}" y2="${Y(t)}" stroke="${Math.abs(t) < 1e-9 ? '#666' : '#e5e5e5'}"/>`);
        out.push(`<text x="${x0 - 4}" y="${Y(t) + 4}" text-anchor="end">${t.toFixed(2)}</text>`);
      }
      if (key === 'spearman_abs') {
        const th = r.verdicts[0]?.threshold;
        if (th !== undefined) out.push(`<line x1="${x0}" y1="${Y(th)}" x2="${x0 + pw}" y2="${Y(th)}" stroke="#000" stroke-dasharray="5,4"/><text x="${x0 + pw - 4}" y="${Y(th) - 4}" text-anchor="end">threshold ${th}</text>`);
      }
      xs.forEach((e, i) => {
        const label = e.stage === 0 ? 'original' : shortLayerName(e.layer ?? '');
        out.push(`<text transform="translate(${X(i) + 3},${y0 + ph + 8}) rotate(60)" font-size="9">${esc(label)}</text>`);
      });
      r.methods.forEach((m, k) => {
        const pts = rows(m).map((e, i) => `${X(i).toFixed(1)},${Y(e[key]).toFixed(1)}`);
        const c = COLOURS[k % COLOURS.length];
        out.push(`<polyline fill="none" stroke="${c}" stroke-width="2" points="${pts.join(' ')}"/>`);
        for (const p of pts) { const [px, py] = p.split(','); out.push(`<circle cx="${px}" cy="${py}" r="2.5" fill="${c}"/>`); }
      });
    });
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
