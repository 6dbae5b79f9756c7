/**
 * Dataset audits: the shared record types. Browser-safe.
 *
 * An audit runs Grad-CAM over a list of items (images, each with an optional true label and optional
 * object boxes or mask), writes one result row per item, and summarises the rows in reports.
 */

import type { RleMask } from '../util/rle.js';

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

export interface ScoredClass {
  index: number;
  label: string | null;
  logit: number;
  probability: number;
}

/** Per-image numbers computed from the map (at the original image's resolution). */
export interface MapMetrics {
  /** [x, y] of the map's maximum. */
  peak: [number, number];
  /** Fraction of the image where the map is >= 0.5. */
  coverage: number;
  /** Fraction of the map's energy (sum of its values) inside the object; null without boxes/mask or for an all-zero map. */
  energy_in_object: number | null;
  /** Fraction of the image covered by the object; null without boxes/mask. */
  object_area: number | null;
  /**
   * energy_in_object / object_area: how much more of the map's energy the object gets than a map spread
   * evenly would give it (1 = no preference, < 1 = the model looks more at the rest of the image); null
   * where energy_in_object is null.
   */
  lift: number | null;
  /** Whether the peak lies on the object (the pointing game); null without boxes/mask. */
  peak_in_object: boolean | null;
  /** 'mask', 'boxes' or null: what the object region came from. */
  region: 'mask' | 'boxes' | null;
}

/** One result row (one line of results.jsonl). */
export interface AuditRow {
  key: string;
  /** Position in the full (unsharded) input list when the item ran. */
  index: number;
  file: string;
  status: 'ok' | 'error';
  error?: string;
  /** The true class from the manifest, if given. */
  truth: ClassRef | null;
  predicted?: ScoredClass;
  /** The explained class (differs from `predicted` with --class). */
  explained?: ScoredClass;
  /** predicted == truth; null without a true label. */
  correct: boolean | null;
  size?: [number, number];
  metrics?: MapMetrics;
  /** The model looks mostly outside the object (see AuditConfig.flag_lift / flag_below). */
  flagged: boolean;
  warnings: string[];
  /** Files written for the item, relative to the output folder. */
  files: { thumb?: string; overlay?: string; map?: string };
}

/** What a run was asked to do; runs and shards combine only when these agree. */
export interface AuditConfig {
  format: 'gradcam-audit/1';
  model: { file: string; sha256: string; bytes: number };
  method: string;
  layer: string;
  /** 'top', 'true', an index or a label. */
  class: string;
  output: string | null;
  normalize: { preset: string | null; mean: number[] | null; std: number[] | null };
  size: [number, number] | null;
  /** torchvision's Resize(resize) + CenterCrop(crop) (--resize/--crop; crop null: the model's input size); absent: the plain resize. */
  resize?: number;
  crop?: [number, number] | null;
  labels: string[] | null;
  thumb: number;
  colormap: string;
  alpha: number;
  /** Flag images whose lift (energy on the object per unit of object area) is below this; null: off. */
  flag_lift: number | null;
  /** Flag images with less than this fraction of the map's energy on the object; null: off. */
  flag_below: number | null;
  maps: boolean;
  shard: { index: number; count: number } | null;
  /** Number of items in this run's (shard's) list when it last started. */
  total?: number;
}

/** The fields of a config that must agree for a resume (all but `total`); any settings object (audit's, evaluate's). */
export function configKey(c: object): string {
  const { total: _t, ...rest } = c as { total?: unknown };
  void _t;
  return stableJson(rest);
}

/** The fields that must agree to merge shards (also ignoring the shard index). */
export function mergeKey(c: AuditConfig): string {
  const { total: _t, shard, ...rest } = c;
  void _t;
  return stableJson({ ...rest, shard_count: shard?.count ?? 1 });
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
