/** Shared CLI pieces: errors, error printing, progress displays, interruptible runs (options: spec.ts). */
import { printable } from '../util/text.js';
import { parseHxW, parseSideOrHxW } from '../util/size.js';
import { onInterrupt } from '../util/interrupt-node.js';
import { progressText, passesText, type ProgressState } from '../util/progress.js';
import type { DatasetProgressInfo } from '../dataset/run.js';

export class CliError extends Error {
  constructor(message: string, readonly exitCode = 2) {
    super(message);
    this.name = 'CliError';
  }
}




/** Errors that are the user's input or environment, reported without any hint of a bug. */
const KNOWN_ERRORS = ['CliError', 'InputError', 'ModelError', 'GradError', 'RangeError'];

/** One line: a message's lines joined with ' | ', control characters dropped, at most `max` characters. */
export function oneLine(message: string, max = 2000): string {
  const s = message.split(/\r?\n/).map((l) => l.trim()).filter(Boolean).join(' | ').replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, ' ');
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/**
 * Prints an error as one line on stderr: `gradcam: error: <message>`. Errors that are not the user's
 * (a bug) say so; their stack trace is printed only with GRADCAM_DEBUG=1.
 */
export function printError(e: unknown): void {
  const err = e as Error;
  const message = oneLine(typeof (e as { message?: unknown })?.message === 'string' ? err.message : String(e));
  const sys = typeof (err as NodeJS.ErrnoException)?.code === 'string' && /^E[A-Z]+$/.test((err as NodeJS.ErrnoException).code!);
  const known = KNOWN_ERRORS.includes(err?.name) || sys || /^(image|model|npy|labels|mask|manifest) /.test(message) || message.startsWith('cannot ');
  process.stderr.write(known ? `gradcam: error: ${message}\n` : `gradcam: error: internal error: ${message || err?.name || 'unknown'} (please report it; GRADCAM_DEBUG=1 prints details)\n`);
  if (err?.stack && process.env.GRADCAM_DEBUG) process.stderr.write(`${err.stack}\n`);
}

/**
 * An option's value as a number: NaN for an empty or blank value (which `Number` reads as 0, so that
 * `--alpha ''` or `--max-pixels ''` was taken as 0 without a word), else `Number(v)`.
 */
export function optionNumber(v: string): number {
  return v.trim() === '' ? NaN : Number(v);
}



/** Parses --size "224" or "224x192" (H×W): util/size.ts's parseHxW, a usage error when it does not parse. */
export function parseSize(s: string | undefined, option = '--size'): [number, number] | undefined {
  if (s === undefined) return undefined;
  try {
    return parseHxW(s, option);
  } catch (e) {
    throw new CliError((e as Error).message);
  }
}

/** Parses --overlay-size "512" (a longest side) or "375x500" (H×W): util/size.ts's parseSideOrHxW, a usage error when it does not parse. */
export function parseOverlaySize(s: string | undefined): { side: number } | { width: number; height: number } | undefined {
  if (s === undefined) return undefined;
  try {
    return parseSideOrHxW(s, '--overlay-size');
  } catch (e) {
    throw new CliError((e as Error).message);
  }
}

export function parseNumbers(name: string, s: string | undefined): number[] | undefined {
  if (s === undefined) return undefined;
  const v = s.split(',').map((x) => optionNumber(x));
  if (v.some((x) => !Number.isFinite(x))) throw new CliError(`${name} must be comma-separated numbers, got '${s}'`);
  return v;
}

/**
 * The one progress display of the CLI, on stderr: the text of src/util/progress.ts (shared with the web
 * app), redrawn in place on a terminal (at most five times a second), else a log line at the first step,
 * every 10 s and at the end. `step` counts sequential work (files, rows, stages), `update` a dataset
 * run's state (runDataset's onProgress), `passes` Score-CAM / Ablation-CAM's passes within the current
 * step (shown once a run of passes has taken a while: 1 s on a terminal, 2 s in a log, then every 5 s).
 */
export class ProgressDisplay {
  private readonly start = Date.now();
  private last = 0;
  private logged = false;
  private open = false;
  private prefix = '';
  private pass = { start: 0, last: 0, prev: Infinity, shown: false };
  constructor(public total = 0, private readonly quiet = false) {}

  /** `done` of `total` steps are finished; `label` names the last. */
  step(done: number, label: string): void {
    this.show({ done, total: this.total, label: printable(label), elapsedS: (Date.now() - this.start) / 1000 });
  }

  /** A dataset run's state. */
  update(p: DatasetProgressInfo): void {
    this.total = p.total;
    this.show({ done: p.done, total: p.total, elapsedS: p.elapsedS, processed: p.processed, errors: p.errors, skipped: p.skipped, bar: 24 });
  }

  private show(s: ProgressState): void {
    this.prefix = `${s.done}/${s.total} · `;
    if (this.quiet || !s.total) return;
    const now = Date.now();
    const tty = !!process.stderr.isTTY;
    const final = s.done! >= s.total;
    if (!final && this.logged && now - this.last < (tty ? 200 : 10_000)) return;
    this.last = now;
    this.logged = true;
    this.write(progressText(s), tty);
    if (final) this.end();
  }

  /** The library's onProgress: Score-CAM / Ablation-CAM passes within the current step. */
  readonly passes = (done: number, total: number, stage: string): void => {
    if (this.quiet) return;
    const now = Date.now();
    const p = this.pass;
    if (done < p.prev) Object.assign(p, { start: now, last: now, shown: false }); // a new run of passes
    p.prev = done;
    const tty = !!process.stderr.isTTY;
    const elapsed = (now - p.start) / 1000;
    const final = done >= total;
    const due = tty ? elapsed >= 1 && now - p.last >= 200 : p.shown ? now - p.last >= 5000 : elapsed >= 2;
    if (final ? !p.shown : !due) return;
    p.last = now;
    p.shown = true;
    this.write(`${this.prefix}${passesText(done, total, stage, elapsed)}`, tty);
  };

  private write(line: string, tty: boolean): void {
    if (tty) {
      process.stderr.write(`\r\x1b[2K${line.slice(0, (process.stderr.columns || 120) - 1)}`);
      this.open = true;
    } else process.stderr.write(`${line}\n`);
  }

  /** Ends a line drawn in place (call when the run stops early). */
  end(): void {
    if (this.open) process.stderr.write('\n');
    this.open = false;
  }
}

/** The line a dataset run starts with (on stderr): how many images were listed, in this shard, and where the results go. */
export function listedLine(listed: number, shard: { index: number; count: number } | undefined, inShard: number, out: string): string {
  return `gradcam: ${listed} images listed${shard ? `, ${inShard} in shard ${shard.index}/${shard.count}` : ''}; writing to ${out}\n`;
}

/** The line a run prints (unless --quiet) when it starts worker sessions (--workers N, or auto's choice). */
export function workersLine(count: number, threads: number, choice: number | 'auto'): string {
  return `gradcam: ${count} sessions in worker threads (--workers ${choice}), ${threads} intra-op thread${threads === 1 ? '' : 's'} each\n`;
}

/** The head of a dataset run's summary: '12/12 images done (3 now, 9 already done), 0 failed'. */
export function doneLine(p: { done: number; total: number; processed: number; skipped: number; errors: number }): string {
  return `${p.done}/${p.total} images done (${p.processed} now, ${p.skipped} already done), ${p.errors} failed`;
}

/** Prints a run's summary lines on stdout (control characters made visible); exit status 0. */
export function printLines(lines: readonly string[]): number {
  for (const l of lines) console.log(printable(l));
  return 0;
}

/** Exit status when the run finished but some items failed (they have error rows). */
export const EXIT_ITEMS_FAILED = 3;
/** Exit status when the run was interrupted (Ctrl-C / SIGTERM); run the same command again to resume. */
export const EXIT_INTERRUPTED = 130;

/**
 * Runs resumable work with Ctrl-C / SIGTERM turned into an abort signal: the first stops after the
 * current batch (the same command resumes), a second stops at once.
 */
export async function interruptible<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const abort = new AbortController();
  const off = onInterrupt((sig, count) => {
    if (count > 1) process.exit(EXIT_INTERRUPTED);
    process.stderr.write(`\ngradcam: ${sig}: stopping after the current batch (again to stop at once); run the same command to resume\n`);
    abort.abort();
  });
  try {
    return await fn(abort.signal);
  } finally {
    off();
  }
}
