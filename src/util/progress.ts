/**
 * The one progress text of gradcam, browser-safe: the CLI's progress display (src/cli/common.ts
 * ProgressDisplay, on stderr) and the web app's progress line (web/main.ts) both write it.
 *
 *   [#########...............] 12/150 (8.0%) · cat.jpg · 2.10 img/s · eta 1m06s · 1 failed · 3 resumed
 *   Score-CAM: 40/128 passes (52/s, eta 2s)
 */

export interface ProgressState {
  /** Steps done (items, rows, stages); undefined: a step of unknown length (only the label and the time). */
  done?: number;
  total?: number;
  /** What is being done now (a file name, a stage). */
  label?: string;
  /** Seconds since the run (or this session of it) began. */
  elapsedS: number;
  /** Steps done in `elapsedS` (default `done`): a resumed run counts only what it did itself. */
  processed?: number;
  errors?: number;
  /** Steps found done by an earlier run. */
  skipped?: number;
  /** The unit of the rate, 'img' by default; '' leaves the rate out. */
  unit?: string;
  /** Draw a text bar this many characters wide (0: none, the default). */
  bar?: number;
}

/** The progress line for `p` (no line end, no terminal codes). */
export function progressText(p: ProgressState): string {
  const parts: string[] = [];
  const counted = p.done !== undefined && p.total !== undefined && p.total > 0;
  if (!counted) return `${p.label ?? ''}${p.label ? ' · ' : ''}${duration(p.elapsedS)}`;
  const done = p.done!;
  const total = p.total!;
  const frac = Math.min(1, done / total);
  let head = `${done}/${total} (${(frac * 100).toFixed(1)}%)`;
  if (p.bar) {
    const fill = Math.round(frac * p.bar);
    head = `[${'#'.repeat(fill)}${'.'.repeat(p.bar - fill)}] ${head}`;
  }
  parts.push(head);
  if (p.label) parts.push(p.label);
  const processed = p.processed ?? done;
  const rate = processed / Math.max(p.elapsedS, 1e-9);
  const unit = p.unit ?? 'img';
  if (unit && processed > 0) parts.push(`${rate >= 10 ? rate.toFixed(0) : rate.toFixed(2)} ${unit}/s`);
  const left = total - done;
  if (left > 0 && processed > 0) parts.push(`eta ${duration(left / rate)}`);
  else if (left <= 0) parts.push(`${duration(p.elapsedS)}`);
  if (p.errors) parts.push(`${p.errors} failed`);
  if (p.skipped) parts.push(`${p.skipped} resumed`);
  return parts.join(' · ');
}

/** The line of Score-CAM / Ablation-CAM's passes within a step (FamilyOptions.onProgress). */
export function passesText(done: number, total: number, stage: string, elapsedS: number): string {
  const rate = done / Math.max(elapsedS, 1e-3);
  const eta = done < total && rate > 0 ? `, eta ${duration((total - done) / rate)}` : '';
  return `${stage}: ${done}/${total} passes (${rate.toFixed(0)}/s${eta})`;
}

/** A duration for people: 42s, 3m07s, 2h05m (tenths below 10 s). */
export function duration(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '?';
  if (s < 10) return `${s.toFixed(1)}s`;
  if (s < 60) return `${Math.ceil(s)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(Math.floor(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
