/** An audit folder's report files, rewritten from its rows: results.jsonl (de-duplicated), results.csv, classes.csv, summary.json, report.html. */
import fs from 'node:fs';
import path from 'node:path';
import { acquireLock } from '../dataset/lock.js';
import { readConfig, readRows, type StoreKind } from '../dataset/store.js';
import { OutputError, guardedWrite, syncDir, writeAtomic } from '../util/write-node.js';
import { csvLine } from '../util/csv.js';
import { flagRuleText } from './metrics.js';
import { byIndex, classesCsv, reportOrder, rowCsv, ROW_COLUMNS, summarize } from './summary.js';
import { reportHtml } from './report.js';
import type { AuditConfig, AuditRow } from './types.js';

/** An audit folder's rows file and settings file. */
export const RESULTS = 'results.jsonl';
export const CONFIG = 'audit.json';

/** The audit's folder (with maps/ when `maps`). */
export function auditStoreKind(maps = false): StoreKind {
  return { config: CONFIG, results: RESULTS, what: 'audit', folders: maps ? ['thumbs', 'maps'] : ['thumbs'] };
}

/** An audit folder's rows (the last row per key wins). */
export const readAuditRows = (dir: string) => readRows<AuditRow>(dir, RESULTS);

/** An audit folder's settings; undefined when there are none. */
export const readAuditConfig = (dir: string) => readConfig<AuditConfig>(dir, CONFIG);

export interface ReportResult {
  rows: number;
  errors: number;
  flagged: number;
  files: string[];
}

/**
 * Rewrites results.jsonl (de-duplicated, in input order) and writes results.csv, classes.csv,
 * summary.json and report.html from it. Takes the folder's lock: a run writing to it makes this an error.
 */
export async function writeReports(dir: string, opts: { notes?: string[]; title?: string } = {}): Promise<ReportResult> {
  const lockPath = await acquireLock(dir);
  try {
    return await writeReportsLocked(dir, opts);
  } finally {
    await fs.promises.unlink(lockPath).catch(() => {});
  }
}

/** writeReports for a caller that holds the folder's lock. */
export async function writeReportsLocked(dir: string, opts: { notes?: string[]; title?: string; beforeRewrite?: () => Promise<void> | void } = {}): Promise<ReportResult> {
  const config = await readAuditConfig(dir);
  if (!config) throw new OutputError(`${dir} is not an audit folder (no ${CONFIG})`);
  const { rows: map } = await readAuditRows(dir);
  await opts.beforeRewrite?.();
  const rows = [...map.values()].sort(byIndex);
  const at = (f: string) => path.join(dir, f);
  await guardedWrite(at(RESULTS), () => writeAtomic(at(RESULTS), chunked(rows, (r) => `${JSON.stringify(r)}\n`)));
  await guardedWrite(at('results.csv'), () => writeAtomic(at('results.csv'), [csvLine([...ROW_COLUMNS]), ...chunked(rows, rowCsv)]));
  const summary = summarize(rows, flagRuleText(config));
  await guardedWrite(at('summary.json'), () => writeAtomic(at('summary.json'), json({ config, notes: opts.notes ?? [], ...summary })));
  await guardedWrite(at('classes.csv'), () => writeAtomic(at('classes.csv'), new TextEncoder().encode(classesCsv(summary))));
  await guardedWrite(at('report.html'), () => writeAtomic(at('report.html'), reportHtml(config, summary, reportOrder(rows), { notes: opts.notes, title: opts.title })));
  await syncDir(dir);
  return { rows: rows.length, errors: summary.errors, flagged: summary.flagged, files: ['report.html', RESULTS, 'results.csv', 'classes.csv', 'summary.json'].map((f) => path.join(dir, f)) };
}

export function* chunked<T>(items: T[], f: (x: T) => string): Generator<string> {
  let s = '';
  for (const x of items) {
    s += f(x);
    if (s.length > 1 << 16) { yield s; s = ''; }
  }
  yield s;
}

export const json = (v: unknown) => new TextEncoder().encode(`${JSON.stringify(v, null, 2)}\n`);
