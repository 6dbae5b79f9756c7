/**
 * The audit's HTML gallery, browser-safe: one self-contained page (inline CSS and script, thumbnails
 * referenced relative to the page) with the summary, per-class tables and one table row per item.
 * Rows come flagged-first; the column headers sort; check boxes filter misclassified, flagged and failed
 * items; a text box filters by file name or class. The markup is well-formed XML apart from the doctype.
 * Produced as a sequence of string chunks so that large audits can be streamed to a file.
 */
import type { AuditConfig, AuditRow, ScoredClass, ClassRef } from './types.js';
import type { AuditSummary, ClassSummary } from './summary.js';
import { flagRuleText } from './metrics.js';

export function escapeHtml(s: unknown): string {
  return String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const fmt = (v: number | null | undefined, digits = 3) => (v === null || v === undefined ? '–' : v.toFixed(digits));
const pct = (v: number | null | undefined) => (v === null || v === undefined ? '–' : `${(v * 100).toFixed(1)}%`);

function cls(c: ScoredClass | ClassRef | null | undefined): string {
  if (!c) return '–';
  if (c.index === null) return c.label ?? '–';
  return c.label ? `${c.index} ${c.label}` : String(c.index);
}

const STYLE = `
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em;margin:0 0 .3em} h2{font-size:1.15em;margin:1.4em 0 .4em}
.meta{color:#555;font-size:.9em} .cards{display:flex;gap:1em;flex-wrap:wrap;margin:1em 0}
.card{border:1px solid #ddd;border-radius:6px;padding:.5em 1em;min-width:8em} .card b{display:block;font-size:1.3em}
table{border-collapse:collapse} th,td{border-bottom:1px solid #eee;padding:3px 8px;text-align:left;vertical-align:middle}
th{background:#f6f6f6;position:sticky;top:0} th.sort{cursor:pointer;user-select:none} th.sort:hover{background:#e8e8ff}
th.asc::after{content:" \\25B2"} th.desc::after{content:" \\25BC"}
td.num{text-align:right;font-variant-numeric:tabular-nums} img{display:block;image-rendering:auto}
tr.flagged{background:#fff1f0} tr.error{background:#fffbe6} tr.wrong td.pred{color:#c00;font-weight:600}
.controls{margin:1em 0;display:flex;gap:1.2em;align-items:center;flex-wrap:wrap}
.err{color:#a60;font-size:.9em;max-width:30em} .warn{color:#777;font-size:.85em;max-width:30em}
.file{max-width:18em;word-break:break-all;font-size:.9em}
`;

// No '<' or '&' in the script, so that the page stays well-formed XML without CDATA.
const SCRIPT = `
(function(){
  var tbody = document.getElementById('items');
  var rows = Array.prototype.slice.call(tbody.querySelectorAll('tr.item'));
  var count = document.getElementById('shown');
  function filter(){
    var mis = document.getElementById('f-mis').checked, fl = document.getElementById('f-flag').checked,
        er = document.getElementById('f-err').checked, q = document.getElementById('f-q').value.toLowerCase(), n = 0;
    rows.forEach(function(r){
      var show = (!mis || r.dataset.correct === 'false') ? (!fl || r.dataset.flagged === 'true') ? (!er || r.dataset.status === 'error') : false : false;
      if (show ? q : false) show = r.dataset.search.indexOf(q) !== -1;
      r.style.display = show ? '' : 'none'; if (show) n++;
    });
    count.textContent = String(n);
  }
  ['f-mis','f-flag','f-err'].forEach(function(id){ document.getElementById(id).addEventListener('change', filter); });
  document.getElementById('f-q').addEventListener('input', filter);
  var ths = Array.prototype.slice.call(document.querySelectorAll('th.sort'));
  ths.forEach(function(th){
    th.addEventListener('click', function(){
      var key = th.dataset.key, num = th.dataset.type === 'num', dir = th.classList.contains('asc') ? -1 : 1;
      ths.forEach(function(o){ o.classList.remove('asc'); o.classList.remove('desc'); });
      th.classList.add(dir === 1 ? 'asc' : 'desc');
      rows.sort(function(a, b){
        var x = a.dataset[key], y = b.dataset[key];
        if (num) { x = x === '' ? Infinity : Number(x); y = y === '' ? Infinity : Number(y); return dir * ((x > y) - (y > x)) || (Number(a.dataset.index) - Number(b.dataset.index)); }
        return dir * String(x).localeCompare(String(y)) || (Number(a.dataset.index) - Number(b.dataset.index));
      });
      var frag = document.createDocumentFragment();
      rows.forEach(function(r){ frag.appendChild(r); });
      tbody.appendChild(frag);
    });
  });
  filter();
})();
`;

export interface ReportOptions {
  title?: string;
  /** Notes shown under the title (e.g. missing shards). */
  notes?: string[];
}

function classTable(title: string, list: ClassSummary[]): string {
  if (!list.length) return '';
  let s = `<h2>${escapeHtml(title)}</h2>\n<table class="classes"><thead><tr><th>class</th><th>images</th><th>errors</th><th>accuracy</th><th>mean p(predicted)</th><th>with object</th><th>mean energy on object</th><th>mean object area</th><th>mean lift</th><th>peak on object</th><th>flagged</th></tr></thead><tbody>\n`;
  for (const c of list) {
    s += `<tr><td>${escapeHtml(cls(c))}</td><td class="num">${c.n}</td><td class="num">${c.errors}</td><td class="num">${c.labelled ? `${pct(c.accuracy)} (${c.correct}/${c.labelled})` : '–'}</td><td class="num">${fmt(c.mean_probability)}</td><td class="num">${c.with_region}</td><td class="num">${pct(c.mean_energy_in_object)}</td><td class="num">${pct(c.mean_object_area)}</td><td class="num">${fmt(c.mean_lift, 2)}</td><td class="num">${pct(c.pointing_hit_rate)}</td><td class="num">${c.flagged}</td></tr>\n`;
  }
  return `${s}</tbody></table>\n`;
}

function itemRow(r: AuditRow, pos: number): string {
  const m = r.metrics;
  const classes = ['item', r.flagged ? 'flagged' : '', r.status === 'error' ? 'error' : '', r.correct === false ? 'wrong' : ''].filter(Boolean).join(' ');
  const search = [r.key, r.file, cls(r.truth), cls(r.predicted)].join(' ').toLowerCase();
  const data: Record<string, string | number | boolean> = {
    key: r.key, index: r.index, pos, status: r.status, flagged: r.flagged, correct: r.correct === null ? 'null' : r.correct,
    file: r.file, truth: cls(r.truth), pred: cls(r.predicted), prob: r.predicted?.probability ?? '',
    energy: m?.energy_in_object ?? '', area: m?.object_area ?? '', lift: m?.lift ?? '', hit: m?.peak_in_object === null || m?.peak_in_object === undefined ? '' : m.peak_in_object ? 1 : 0,
    coverage: m?.coverage ?? '', search,
  };
  const attrs = Object.entries(data).map(([k, v]) => ` data-${k}="${escapeHtml(v)}"`).join('');
  const img = (src: string | undefined, alt: string) => (src ? `<img src="${escapeHtml(src)}" alt="${escapeHtml(alt)}" loading="lazy" />` : '');
  const explained = r.explained && r.predicted && r.explained.index !== r.predicted.index ? `<div class="warn">explained: ${escapeHtml(cls(r.explained))} p=${fmt(r.explained.probability)}</div>` : '';
  const notes = r.status === 'error' ? `<div class="err">${escapeHtml(r.error)}</div>` : r.warnings.map((w) => `<div class="warn">${escapeHtml(w)}</div>`).join('');
  return `<tr class="${classes}"${attrs}><td class="num">${r.index}</td><td>${img(r.files.thumb, 'image')}</td><td>${img(r.files.overlay, 'Grad-CAM overlay')}</td>`
    + `<td class="file">${escapeHtml(r.file)}</td><td>${escapeHtml(cls(r.truth))}</td><td class="pred">${escapeHtml(cls(r.predicted))}${explained}</td>`
    + `<td class="num">${fmt(r.predicted?.probability)}</td><td class="num">${pct(m?.energy_in_object)}</td><td class="num">${pct(m?.object_area)}</td><td class="num">${fmt(m?.lift, 2)}</td>`
    + `<td>${m?.peak_in_object === null || m?.peak_in_object === undefined ? '–' : m.peak_in_object ? 'yes' : 'no'}</td><td class="num">${pct(m?.coverage)}</td>`
    + `<td>${r.flagged ? 'FLAGGED' : r.status === 'error' ? 'ERROR' : ''}${notes}</td></tr>\n`;
}

/** The report page in chunks; `rows` in the order to show (see reportOrder). */
export function* reportHtml(config: AuditConfig, summary: AuditSummary, rows: Iterable<AuditRow>, opts: ReportOptions = {}): Generator<string> {
  const title = opts.title ?? `gradcam audit: ${config.model.file}`;
  const s = summary;
  yield `<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8" /><meta name="viewport" content="width=device-width, initial-scale=1" /><title>${escapeHtml(title)}</title><style>${STYLE}</style></head><body>\n`;
  yield `<h1>${escapeHtml(title)}</h1>\n<p class="meta">model ${escapeHtml(config.model.file)} (sha256 ${escapeHtml(config.model.sha256.slice(0, 12))}…) · method ${escapeHtml(config.method)} · layer ${escapeHtml(config.layer)} · class explained: ${escapeHtml(config.class)} · flagged when ${escapeHtml(flagRuleText(config))}${config.shard ? ` · shards: ${config.shard.count}` : ''}</p>\n`;
  for (const n of opts.notes ?? []) yield `<p class="err">${escapeHtml(n)}</p>\n`;
  yield `<div class="cards"><div class="card">images<b>${s.n}</b></div><div class="card">errors<b>${s.errors}</b></div>`
    + `<div class="card">accuracy<b>${s.labelled ? pct(s.accuracy) : '–'}</b>${s.labelled ? `${s.correct}/${s.labelled}` : 'no true labels'}</div>`
    + `<div class="card">mean energy on object<b>${pct(s.mean_energy_in_object)}</b>${s.with_region} with boxes/masks</div>`
    + `<div class="card">peak on object<b>${pct(s.pointing_hit_rate)}</b></div>`
    + `<div class="card">flagged<b>${s.flagged}</b>looks mostly outside the object</div><div class="card">mean lift<b>${fmt(s.mean_lift, 2)}</b>energy on object / object area</div></div>\n`;
  yield classTable('By true class', s.by_true_class);
  yield classTable('By predicted class', s.by_predicted_class);
  yield `<h2>Images</h2>\n<p class="meta">Flagged images (lowest lift first) are listed first, then failed items, then the rest in input order. Click a column header to sort. The object is outlined in green.</p>\n`;
  yield `<div class="controls"><label><input type="checkbox" id="f-mis" /> misclassified only</label><label><input type="checkbox" id="f-flag" /> flagged only</label><label><input type="checkbox" id="f-err" /> errors only</label><label>filter <input type="search" id="f-q" placeholder="file or class" /></label><span><span id="shown">${s.n}</span> of ${s.n} shown</span></div>\n`;
  const th = (label: string, key?: string, type: 'num' | 'text' = 'text') => (key ? `<th class="sort" data-key="${key}" data-type="${type}">${label}</th>` : `<th>${label}</th>`);
  yield `<table class="gallery"><thead><tr>${th('#', 'index', 'num')}${th('image')}${th('Grad-CAM')}${th('file', 'file')}${th('true', 'truth')}${th('predicted', 'pred')}${th('p', 'prob', 'num')}${th('energy on object', 'energy', 'num')}${th('object area', 'area', 'num')}${th('lift', 'lift', 'num')}${th('peak on object', 'hit', 'num')}${th('map ≥ 0.5', 'coverage', 'num')}${th('notes')}</tr></thead>\n<tbody id="items">\n`;
  let pos = 0;
  let chunk = '';
  for (const r of rows) {
    chunk += itemRow(r, pos++);
    if (chunk.length > 1 << 16) {
      yield chunk;
      chunk = '';
    }
  }
  yield chunk;
  yield `</tbody></table>\n<script>${SCRIPT}</script>\n</body></html>\n`;
}
