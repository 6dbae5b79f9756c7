/** `gradcam audit merge`: the shards of one audit combined into one folder, checked, linked and reported. */
import fs from 'node:fs';
import path from 'node:path';
import { InputError } from '../explainer.js';
import { fileInside, type FileReadError } from '../image/node.js';
import { printable } from '../util/text.js';
import { acquireLock, LOCK } from '../dataset/lock.js';
import { assertEmptyFolder, assertSameSettings } from '../dataset/store.js';
import { guardedWrite, linkOrCopy, writeAtomic } from '../util/write-node.js';
import { byIndex } from './summary.js';
import { configDiff, mergeKey, type AuditConfig, type AuditRow } from './types.js';
import { chunked, CONFIG, json, readAuditConfig, readAuditRows, RESULTS, writeReportsLocked, type ReportResult } from './reports.js';

export interface MergeResult extends ReportResult {
  notes: string[];
  /** Shards missing or unfinished, or items in two inputs with different results. */
  incomplete: boolean;
}

/**
 * Combines audit folders (normally the N shards of one audit) into `out`: checks that they were run with
 * the same settings, links (or copies) their thumbnails and maps, and writes the combined results and
 * reports. Missing shards and unfinished shards are reported in `notes` (and in the report).
 */
export async function mergeAudits(dirs: string[], out: string): Promise<MergeResult> {
  if (!dirs.length) throw new InputError('merge: give the audit folders to combine');
  const outAbs = path.resolve(out);
  const inputs: { dir: string; config: AuditConfig }[] = [];
  for (const dir of dirs) {
    if (path.resolve(dir) === outAbs) throw new InputError(`merge: the output folder ${out} is also an input`);
    for (const f of [CONFIG, RESULTS]) {
      try {
        fileInside(dir, f);
      } catch (e) {
        if ((e as FileReadError).code === 'EOUTSIDE') throw new InputError(`merge: refused ${dir}: ${(e as Error).message}`);
      }
    }
    const config = await readAuditConfig(dir);
    if (!config) throw new InputError(`merge: ${dir} is not an audit folder (no ${CONFIG})`);
    inputs.push({ dir, config });
  }
  const first = inputs[0]!.config;
  for (const x of inputs.slice(1)) {
    if (mergeKey(x.config) !== mergeKey(first)) {
      throw new InputError(`merge: ${x.dir} was run with other settings than ${inputs[0]!.dir} (${configDiff(first, x.config, ['total', 'shard']).join('; ')})`);
    }
  }
  const notes: string[] = [];
  const count = first.shard?.count ?? 1;
  const seenShards = new Map<number, string>();
  for (const x of inputs) {
    const i = x.config.shard?.index ?? 0;
    if (seenShards.has(i)) throw new InputError(`merge: ${seenShards.get(i)} and ${x.dir} are both shard ${i}/${count}`);
    seenShards.set(i, x.dir);
  }
  const missing = Array.from({ length: count }, (_, i) => i).filter((i) => !seenShards.has(i));
  if (missing.length) notes.push(`missing shard${missing.length > 1 ? 's' : ''} ${missing.map((i) => `${i}/${count}`).join(', ')}: their images are not in this report`);
  for (const x of inputs) {
    const rel = path.relative(path.resolve(x.dir), outAbs);
    if (rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel))) throw new InputError(`merge: the output folder ${out} lies inside the input ${x.dir}; choose a folder outside the inputs`);
  }
  // every shard is checked before anything is linked or copied: a shard folder may come from another
  // machine, and a row may name only its own folder's thumbs/ and maps/ files (fileInside: no '..',
  // no symbolic link leading out of the folder)
  const rows = new Map<string, AuditRow>();
  const copies: { src: string; dst: string }[] = [];
  let total = 0;
  let conflicts = 0;
  for (const x of inputs) {
    const { rows: r } = await readAuditRows(x.dir);
    total += x.config.total ?? r.size;
    if (x.config.total !== undefined && r.size < x.config.total) notes.push(`${x.dir}: ${r.size} of ${x.config.total} items finished (rerun that shard to complete it)`);
    for (const row of r.values()) {
      if (rows.has(row.key)) { conflicts++; continue; }
      const refuse = (why: string) => new InputError(`merge: refused ${x.dir}: item '${printable(row.key)}' ${why}; a shard's rows may name only files inside its own thumbs/ and maps/ folders (nothing was merged)`);
      for (const f of Object.values(row.files ?? {})) {
        if (f === undefined || f === null || f === '') continue;
        if (typeof f !== 'string' || !isItemFile(f)) throw refuse(`names '${printable(String(f))}', not a file in its thumbs/ or maps/ folder`);
        let src: string;
        try {
          src = fileInside(x.dir, f);
        } catch (e) {
          if ((e as FileReadError).code === 'ENOENT') continue; // a file the row names is gone: the report shows a gap
          throw refuse(`names '${printable(f)}': ${printable((e as Error).message)}`);
        }
        if (!fs.statSync(src).isFile()) throw refuse(`names '${printable(f)}', which is not a regular file`);
        copies.push({ src, dst: path.join(out, f) });
      }
      rows.set(row.key, row);
    }
  }
  try {
    const st = await fs.promises.stat(out).catch(() => undefined);
    if (st && !st.isDirectory()) throw new InputError(`merge: the output ${out} is a file; choose a folder`);
    await fs.promises.mkdir(out, { recursive: true });
  } catch (e) {
    if (e instanceof InputError) throw e;
    throw new InputError(`merge: cannot create the output folder ${out}: ${(e as Error).message}`);
  }
  const lockPath = await acquireLock(out);
  try {
    // a new or empty folder, or the output of an earlier merge (which this one replaces)
    const earlier = await fs.promises.stat(path.join(out, MERGE_MARK)).then(() => true, () => false);
    // an audit or an earlier merge made with another model or other settings is never replaced
    const prev = await readAuditConfig(out).catch(() => undefined);
    if (prev) assertSameSettings(out, prev, { ...first, shard: null, total: 0 });
    if (!earlier) await assertEmptyFolder(out, 'merge', [LOCK]);
    await guardedWrite(path.join(out, MERGE_MARK), () => writeAtomic(path.join(out, MERGE_MARK), json({ format: 'gradcam-merge/1', inputs: dirs.map((d) => path.resolve(d)) })));
    for (const c of copies) await guardedWrite(c.dst, () => linkOrCopy(c.src, c.dst));
    if (conflicts) notes.push(`${conflicts} item${conflicts > 1 ? 's' : ''} appeared in more than one input; the first was kept`);
    const config: AuditConfig = { ...first, shard: null, total };
    await guardedWrite(path.join(out, CONFIG), () => writeAtomic(path.join(out, CONFIG), json(config)));
    await guardedWrite(path.join(out, RESULTS), () => writeAtomic(path.join(out, RESULTS), chunked([...rows.values()].sort(byIndex), (r) => `${JSON.stringify(r)}\n`)));
    const rep = await writeReportsLocked(out, { notes });
    return { ...rep, notes, incomplete: notes.length > 0 };
  } finally {
    await fs.promises.unlink(lockPath).catch(() => {});
  }
}

const MERGE_MARK = 'merge.json';

/** A row's file: a plain relative path under thumbs/ or maps/ (never absolute, never '..'). */
function isItemFile(f: string): boolean {
  if (f.includes('\\') || f.includes('\0') || path.posix.isAbsolute(f)) return false;
  const n = path.posix.normalize(f);
  return n === f && /^(thumbs|maps)\/[^/]+$/.test(n) && !n.split('/').includes('..');
}
