/**
 * Datasets: the item and settings vocabulary shared by the dataset engine and its users (audit, evaluate,
 * explain and detect on folders). Browser-safe.
 */

import type { RleMask } from '../util/rle.js';
import type { FileBytes } from '../render/index.js';

/** A file an item's processing writes, relative to the output folder. */
export interface FileOut {
  path: string;
  bytes: FileBytes;
}

/** [x0, y0, x1, y1] in the original image's pixels; x1 and y1 exclusive. */
export type Box = [number, number, number, number];

/**
 * Run-length encoded mask: alternating 0-runs and 1-runs (first a 0-run, possibly empty); 'column-major'
 * (COCO's uncompressed RLE, the default) or 'row-major' (src/util/rle.ts).
 */
export type MaskRle = RleMask;

/** One entry of the input list. */
export interface AuditItem {
  /**
   * Stable identity, independent of the working folder and of the other items: the path relative to the
   * root it was found under (the directory argument, the glob's fixed prefix, the manifest's folder,
   * or the file's own folder for a plain file argument), '/'-separated; '#2', '#3'... for repeats.
   */
  key: string;
  /** The file to read (as given, resolved against the manifest folder where relevant). */
  file: string;
  /** The true class: an index or a label (resolved against the model's labels when it runs). */
  label?: number | string;
  boxes?: Box[];
  /** A mask image file (non-zero pixels are the object). */
  mask?: string;
  maskRle?: MaskRle;
}

export interface ClassRef {
  index: number | null;
  label: string | null;
}

/** The fields of a config that must agree for a resume (all but `total`); any settings object (audit's, evaluate's). */
export function configKey(c: object): string {
  const { total: _t, ...rest } = c as { total?: unknown };
  void _t;
  return stableJson(rest);
}

/** JSON with object keys sorted, for comparisons. */
export function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o).sort().filter((k) => o[k] !== undefined).map((k) => `${JSON.stringify(k)}:${stableJson(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

/** Explains which config fields differ, for error messages. */
export function configDiff(a: object, b: object, ignore: string[] = ['total']): string[] {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  const out: string[] = [];
  for (const k of keys) {
    if (ignore.includes(k)) continue;
    const va = stableJson((a as unknown as Record<string, unknown>)[k]);
    const vb = stableJson((b as unknown as Record<string, unknown>)[k]);
    if (va !== vb) out.push(`${k}: ${short(va)} vs ${short(vb)}`);
  }
  return out;
}

function short(s: string | undefined): string {
  if (s === undefined) return '(none)';
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}
