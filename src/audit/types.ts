/**
 * Dataset audits: the shared record types. Browser-safe.
 *
 * An audit runs Grad-CAM over a list of items (images, each with an optional true label and optional
 * object boxes or mask), writes one result row per item, and summarises the rows in reports.
 */

import { stableJson } from '../dataset/types.js';
import type { Box, ClassRef, MaskRle } from '../dataset/types.js';

export type { Box, MaskRle, AuditItem, ClassRef } from '../dataset/types.js';
export { configKey, configDiff, stableJson } from '../dataset/types.js';

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
  /** 'fast': large JPEGs were decoded at a reduced scale (--decode fast, audit's default; not bit-exact); absent: the exact decode. */
  decode?: 'fast';
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

/** The fields that must agree to merge shards (also ignoring the shard index). */
export function mergeKey(c: AuditConfig): string {
  const { total: _t, shard, ...rest } = c;
  void _t;
  return stableJson({ ...rest, shard_count: shard?.count ?? 1 });
}

