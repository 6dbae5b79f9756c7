/**
 * Audit summaries and tabular exports, browser-safe: row order, per-class summaries, CSV.
 */
import type { AuditRow } from './types.js';
import { csvField, csvLine } from '../util/csv.js';

/** Canonical order of results: by input position, then key. */
export function byIndex(a: AuditRow, b: AuditRow): number {
  return a.index - b.index || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
}

/**
 * Report order: flagged images first (lowest lift first), then failed items, then the
 * rest in input order.
 */
export function reportOrder(rows: AuditRow[]): AuditRow[] {
  const rank = (r: AuditRow) => (r.flagged ? 0 : r.status === 'error' ? 1 : 2);
  return [...rows].sort((a, b) => {
    const d = rank(a) - rank(b);
    if (d) return d;
    if (a.flagged && b.flagged) {
      const e = (a.metrics?.lift ?? 0) - (b.metrics?.lift ?? 0) || (a.metrics?.energy_in_object ?? 0) - (b.metrics?.energy_in_object ?? 0);
      if (e) return e;
    }
    return byIndex(a, b);
  });
}

export interface ClassSummary {
  grouping: 'true' | 'predicted';
  index: number | null;
  label: string | null;
  n: number;
  errors: number;
  /** Rows with a true label among the ok ones, and how many were predicted right. */
  labelled: number;
  correct: number;
  accuracy: number | null;
  mean_probability: number | null;
  /** Rows with an object region among the ok ones. */
  with_region: number;
  mean_energy_in_object: number | null;
  mean_object_area: number | null;
  mean_lift: number | null;
  pointing_hit_rate: number | null;
  flagged: number;
}

export interface AuditSummary {
  n: number;
  ok: number;
  errors: number;
  labelled: number;
  correct: number;
  accuracy: number | null;
  with_region: number;
  mean_energy_in_object: number | null;
  mean_lift: number | null;
  pointing_hit_rate: number | null;
  flagged: number;
  flag_rule: string;
  by_true_class: ClassSummary[];
  by_predicted_class: ClassSummary[];
}

class Acc {
  n = 0; errors = 0; labelled = 0; correct = 0; probSum = 0; ok = 0;
  withRegion = 0; energySum = 0; energyN = 0; areaSum = 0; liftSum = 0; liftN = 0; hits = 0; flagged = 0;
  add(r: AuditRow): void {
    this.n++;
    if (r.status !== 'ok') { this.errors++; return; }
    this.ok++;
    if (r.predicted) this.probSum += r.predicted.probability;
    if (r.correct !== null) { this.labelled++; if (r.correct) this.correct++; }
    const m = r.metrics;
    if (m && m.object_area !== null) {
      this.withRegion++;
      this.areaSum += m.object_area;
      if (m.peak_in_object) this.hits++;
      if (m.energy_in_object !== null) { this.energySum += m.energy_in_object; this.energyN++; }
      if (m.lift !== null && m.lift !== undefined) { this.liftSum += m.lift; this.liftN++; }
    }
    if (r.flagged) this.flagged++;
  }
}

const ratio = (a: number, b: number) => (b ? Math.round((a / b) * 1e4) / 1e4 : null);

function classSummaries(rows: AuditRow[], grouping: 'true' | 'predicted'): ClassSummary[] {
  const groups = new Map<string, { index: number | null; label: string | null; acc: Acc }>();
  for (const r of rows) {
    const c = grouping === 'true' ? r.truth : r.predicted ? { index: r.predicted.index, label: r.predicted.label } : null;
    if (!c) continue;
    const k = c.index !== null ? `#${c.index}` : `@${c.label}`;
    let g = groups.get(k);
    if (!g) groups.set(k, (g = { index: c.index, label: c.label, acc: new Acc() }));
    g.acc.add(r);
  }
  return [...groups.values()]
    .sort((a, b) => (a.index ?? Infinity) - (b.index ?? Infinity) || String(a.label).localeCompare(String(b.label)))
    .map(({ index, label, acc: a }) => ({
      grouping, index, label, n: a.n, errors: a.errors, labelled: a.labelled, correct: a.correct,
      accuracy: ratio(a.correct, a.labelled), mean_probability: ratio(a.probSum, a.ok),
      with_region: a.withRegion, mean_energy_in_object: ratio(a.energySum, a.energyN),
      mean_object_area: ratio(a.areaSum, a.withRegion), mean_lift: ratio(a.liftSum, a.liftN), pointing_hit_rate: ratio(a.hits, a.withRegion), flagged: a.flagged,
    }));
}

export function summarize(rows: AuditRow[], flagRule = ''): AuditSummary {
  const a = new Acc();
  for (const r of rows) a.add(r);
  return {
    n: a.n, ok: a.ok, errors: a.errors, labelled: a.labelled, correct: a.correct, accuracy: ratio(a.correct, a.labelled),
    with_region: a.withRegion, mean_energy_in_object: ratio(a.energySum, a.energyN), mean_lift: ratio(a.liftSum, a.liftN), pointing_hit_rate: ratio(a.hits, a.withRegion),
    flagged: a.flagged, flag_rule: flagRule,
    by_true_class: classSummaries(rows, 'true'),
    by_predicted_class: classSummaries(rows, 'predicted'),
  };
}

export { csvField, csvLine };

export const ROW_COLUMNS = [
  'key', 'index', 'file', 'status', 'error', 'true_index', 'true_label', 'pred_index', 'pred_label', 'probability', 'logit',
  'explained_index', 'explained_label', 'explained_probability', 'correct', 'energy_in_object', 'object_area', 'lift', 'region',
  'peak_x', 'peak_y', 'peak_in_object', 'coverage', 'flagged', 'warnings', 'thumb', 'overlay', 'map',
] as const;

export function rowCsv(r: AuditRow): string {
  const m = r.metrics;
  return csvLine([
    r.key, r.index, r.file, r.status, r.error ?? '', r.truth?.index ?? '', r.truth?.label ?? '',
    r.predicted?.index ?? '', r.predicted?.label ?? '', r.predicted?.probability ?? '', r.predicted?.logit ?? '',
    r.explained?.index ?? '', r.explained?.label ?? '', r.explained?.probability ?? '',
    r.correct ?? '', m?.energy_in_object ?? '', m?.object_area ?? '', m?.lift ?? '', m?.region ?? '', m?.peak[0] ?? '', m?.peak[1] ?? '',
    m?.peak_in_object ?? '', m?.coverage ?? '', r.flagged, r.warnings.join(' | '), r.files.thumb ?? '', r.files.overlay ?? '', r.files.map ?? '',
  ]);
}

export const CLASS_COLUMNS = [
  'grouping', 'index', 'label', 'n', 'errors', 'labelled', 'correct', 'accuracy', 'mean_probability', 'with_region',
  'mean_energy_in_object', 'mean_object_area', 'mean_lift', 'pointing_hit_rate', 'flagged',
] as const;

export function classesCsv(s: AuditSummary): string {
  let out = csvLine([...CLASS_COLUMNS]);
  for (const c of [...s.by_true_class, ...s.by_predicted_class]) out += csvLine(CLASS_COLUMNS.map((k) => c[k]));
  return out;
}
