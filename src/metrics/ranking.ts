/**
 * "Which map to trust": the methods of an evaluation ranked by the faithfulness metrics and the
 * randomisation distance, in one table (browser-safe; `gradcam evaluate` writes it as ranking.csv and
 * ranking.html and prints it).
 *
 * Ranked columns (each method's mean over the images):
 * - deletion AUC (lower is better: removing the pixels the map ranks first kills the score fast),
 * - insertion AUC (higher is better),
 * - ROAD MoRF (lower is better) and LeRF (higher is better): the same questions with noisy linear
 *   imputation instead of a fixed colour (no out-of-distribution shortcut),
 * - randomisation distance, 1 − |Spearman(|map| of the trained model, |map| of the model with every
 *   parameterised layer re-initialised)| (higher is better: a map that survives the randomisation of the
 *   weights explains the input, not what the model learned; Adebayo et al. 2018).
 * Each column ranks the methods 1 (best) .. n (ties share the better rank); the overall score is the
 * mean of a method's ranks over the columns it has, and the table is sorted by it (ties: by name).
 */

export interface RankColumn {
  key: string;
  label: string;
  better: 'lower' | 'higher';
}

export const RANK_COLUMNS: readonly RankColumn[] = [
  { key: 'deletion', label: 'deletion AUC', better: 'lower' },
  { key: 'insertion', label: 'insertion AUC', better: 'higher' },
  { key: 'road_morf', label: 'ROAD MoRF', better: 'lower' },
  { key: 'road_lerf', label: 'ROAD LeRF', better: 'higher' },
  { key: 'randomisation', label: 'randomisation distance', better: 'higher' },
];

export interface RankedMethod {
  method: string;
  /** 1 = the most trustworthy by the mean rank. */
  position: number;
  meanRank: number;
  /** Per column: the method's mean, its std and its rank (absent where the method has no value). */
  cells: Record<string, { mean: number; std: number; rank: number } | undefined>;
}

export interface Ranking {
  columns: RankColumn[];
  methods: RankedMethod[];
}

/** Ranks `methods` from their per-metric means (`summary[method][metric] = {mean, std}`), over the columns that have values. */
export function rankMethods(summary: Record<string, Record<string, { mean: number; std: number } | undefined>>, methods: readonly string[], columns: readonly RankColumn[] = RANK_COLUMNS): Ranking {
  const used = columns.filter((c) => methods.some((m) => Number.isFinite(summary[m]?.[c.key]?.mean)));
  const rows: RankedMethod[] = methods.map((method) => ({ method, position: 0, meanRank: NaN, cells: {} }));
  for (const c of used) {
    const have = rows.filter((r) => Number.isFinite(summary[r.method]?.[c.key]?.mean));
    const value = (r: RankedMethod) => summary[r.method]![c.key]!.mean;
    for (const r of have) {
      const v = value(r);
      const better = have.filter((o) => (c.better === 'lower' ? value(o) < v : value(o) > v)).length;
      r.cells[c.key] = { mean: v, std: summary[r.method]![c.key]!.std, rank: better + 1 };
    }
  }
  for (const r of rows) {
    const ranks = used.map((c) => r.cells[c.key]?.rank).filter((x): x is number => x !== undefined);
    r.meanRank = ranks.length ? ranks.reduce((a, x) => a + x, 0) / ranks.length : NaN;
  }
  const sorted = [...rows].sort((a, b) => (Number.isNaN(a.meanRank) ? 1 : 0) - (Number.isNaN(b.meanRank) ? 1 : 0) || a.meanRank - b.meanRank || (a.method < b.method ? -1 : a.method > b.method ? 1 : 0));
  sorted.forEach((r, i) => (r.position = i > 0 && r.meanRank === sorted[i - 1]!.meanRank ? sorted[i - 1]!.position : i + 1));
  return { columns: used, methods: sorted };
}

const num = (v: number | undefined, d = 4) => (v === undefined || !Number.isFinite(v) ? '' : v.toFixed(d));

/** The ranking as CSV: position, method, mean rank, then per column its mean, std and rank. */
export function rankingCsv(r: Ranking): string {
  const head = ['position', 'method', 'mean_rank', ...r.columns.flatMap((c) => [c.key, `${c.key}_std`, `${c.key}_rank`])];
  const lines = [head.join(',')];
  for (const m of r.methods) lines.push([m.position, m.method, num(m.meanRank, 2), ...r.columns.flatMap((c) => { const x = m.cells[c.key]; return [num(x?.mean), num(x?.std), x ? String(x.rank) : '']; })].join(','));
  return `${lines.join('\n')}\n`;
}

/** The ranking as a markdown table (printed by `gradcam evaluate`, shown in the README). */
export function rankingMarkdown(r: Ranking): string {
  const lines = [
    `| # | method | mean rank | ${r.columns.map((c) => `${c.label} (${c.better === 'lower' ? '↓' : '↑'})`).join(' | ')} |`,
    `|---|---|---|${r.columns.map(() => '---').join('|')}|`,
  ];
  for (const m of r.methods) lines.push(`| ${m.position} | ${m.method} | ${num(m.meanRank, 2)} | ${r.columns.map((c) => { const x = m.cells[c.key]; return x ? `${num(x.mean, 3)} (${x.rank})` : ''; }).join(' | ')} |`);
  lines.push('', 'Each cell: the mean over the images and, in brackets, the method\'s rank in that column (1 = best). ↓ lower is better, ↑ higher is better.');
  return lines.join('\n');
}

const esc = (s: string) => s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);

/** The ranking as a standalone HTML page (no script, no external resources). */
export function rankingHtml(r: Ranking, facts: { model: string; images: number; settings?: string }): string {
  const head = r.columns.map((c) => `<th title="${c.better} is better">${esc(c.label)} ${c.better === 'lower' ? '↓' : '↑'}</th>`).join('');
  const body = r.methods.map((m) => `<tr><td class="num">${m.position}</td><td>${esc(m.method)}</td><td class="num">${num(m.meanRank, 2)}</td>${r.columns.map((c) => {
    const x = m.cells[c.key];
    return x ? `<td class="num${x.rank === 1 ? ' best' : ''}">${num(x.mean, 3)} <small>± ${num(x.std, 3)} (${x.rank})</small></td>` : '<td></td>';
  }).join('')}</tr>`).join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Which map to trust: ${esc(facts.model)}</title>
<style>body{font:14px system-ui,sans-serif;margin:2em}table{border-collapse:collapse}th,td{border:1px solid #ccc;padding:4px 8px}td.num{text-align:right}td.best{background:#e6f4e6;font-weight:bold}small{color:#666}</style>
</head><body>
<h1>Which map to trust</h1>
<p>Model <code>${esc(facts.model)}</code>, ${facts.images} image${facts.images === 1 ? '' : 's'}${facts.settings ? `; ${esc(facts.settings)}` : ''}.</p>
<table><thead><tr><th>#</th><th>method</th><th>mean rank</th>${head}</tr></thead><tbody>
${body}
</tbody></table>
<p>Each cell: the mean over the images ± its standard deviation, and the method's rank in that column (1 = best, highlighted).
Deletion / insertion: the class probability as the pixels the map ranks first are removed / inserted (area under the curve).
ROAD: the same with noisy linear imputation (MoRF: most relevant first; LeRF: least relevant first).
Randomisation distance: 1 − |Spearman rank correlation| of |map| on the trained model and on the model with all its parameterised layers re-initialised (a faithful map changes).
The methods are ordered by their mean rank.</p>
</body></html>
`;
}
