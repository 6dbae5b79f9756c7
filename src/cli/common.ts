/** Shared CLI pieces: errors, error printing, progress displays, interruptible runs (options: spec.ts). */
import { printable } from '../util/text.js';
import type { DatasetProgressInfo as AuditProgressInfo } from '../dataset/run.js';

export class CliError extends Error {
  constructor(message: string, readonly exitCode = 2) {
    super(message);
    this.name = 'CliError';
  }
}




/** Errors that are the user's input or environment, reported without any hint of a bug. */
const KNOWN_ERRORS = ['CliError', 'InputError', 'ModelError', 'GradError', 'RangeError', 'AuditStoreError'];

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



/** Parses "224" or "224x192" (H×W). */
export function parseSize(s: string | undefined): [number, number] | undefined {
  if (s === undefined) return undefined;
  const m = /^(\d+)(?:[x×,](\d+))?$/.exec(s.trim());
  if (!m) throw new CliError(`--size must be H or HxW (e.g. 224 or 224x192), got '${s}'`);
  const h = Number(m[1]);
  return [h, m[2] ? Number(m[2]) : h];
}

export function parseNumbers(name: string, s: string | undefined): number[] | undefined {
  if (s === undefined) return undefined;
  const v = s.split(',').map((x) => optionNumber(x));
  if (v.some((x) => !Number.isFinite(x))) throw new CliError(`${name} must be comma-separated numbers, got '${s}'`);
  return v;
}

/** A one-line progress display on stderr (a plain log line per step when stderr is not a terminal). */
export class Progress {
  private readonly start = Date.now();
  private done = 0;
  private readonly sub: PassProgress;
  constructor(private readonly total: number, private readonly quiet = false) {
    this.sub = new PassProgress(quiet, () => `[${this.done}/${this.total}] `);
  }

  step(done: number, message: string): void {
    this.done = done;
    if (this.quiet) return;
    const elapsed = (Date.now() - this.start) / 1000;
    const rate = done / Math.max(elapsed, 1e-3);
    const eta = done < this.total ? ` eta ${Math.ceil((this.total - done) / Math.max(rate, 1e-9))}s` : '';
    const line = `[${done}/${this.total}] ${printable(message)} (${rate.toFixed(1)}/s${eta})`;
    process.stderr.write(process.stderr.isTTY ? `\r\x1b[2K${line}` : `${line}\n`);
    if (process.stderr.isTTY && done === this.total) process.stderr.write('\n');
  }

  /** The library's onProgress (Score-CAM / Ablation-CAM passes within the current step). */
  readonly passes = (done: number, total: number, stage: string): void => this.sub.update(done, total, stage);
}

/**
 * The passes of Score-CAM / Ablation-CAM (FamilyOptions.onProgress) within a step of a progress display,
 * after its `prefix`: shown only once a run of passes has taken a while (1 s on a terminal, then redrawn
 * at most five times a second; 2 s in a log, then a line every 5 s), and when that run ends.
 */
export class PassProgress {
  private start = 0;
  private last = 0;
  private prev = Infinity;
  private shown = false;
  constructor(private readonly quiet: boolean, private readonly prefix: () => string = () => '') {}

  update(done: number, total: number, stage: string): void {
    if (this.quiet) return;
    const now = Date.now();
    if (done < this.prev) { this.start = now; this.last = now; this.shown = false; } // a new run of passes
    this.prev = done;
    const tty = !!process.stderr.isTTY;
    const elapsed = (now - this.start) / 1000;
    const final = done >= total;
    const due = tty ? elapsed >= 1 && now - this.last >= 200 : this.shown ? now - this.last >= 5000 : elapsed >= 2;
    if (final ? !this.shown : !due) return;
    this.last = now;
    this.shown = true;
    const rate = done / Math.max(elapsed, 1e-3);
    const eta = !final && rate > 0 ? `, eta ${Math.ceil((total - done) / rate)}s` : '';
    const line = `${this.prefix()}${stage}: ${done}/${total} passes (${rate.toFixed(0)}/s${eta})`;
    process.stderr.write(tty ? `\r\x1b[2K${line.slice(0, (process.stderr.columns || 120) - 1)}` : `${line}\n`);
  }
}

/** The line a dataset run starts with (on stderr): how many images were listed, in this shard, and where the results go. */
export function listedLine(listed: number, shard: { index: number; count: number } | undefined, inShard: number, out: string): string {
  return `gradcam: ${listed} images listed${shard ? `, ${inShard} in shard ${shard.index}/${shard.count}` : ''}; writing to ${out}\n`;
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
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    if (signals > 1) process.exit(EXIT_INTERRUPTED);
    process.stderr.write(`\ngradcam: ${sig}: stopping after the current batch (again to stop at once); run the same command to resume\n`);
    abort.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await fn(abort.signal);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** Progress on stderr: done/total, rate of this session, ETA; redrawn in place on a terminal, a line every 10 s otherwise. */
export class DatasetProgress {
  private last = 0;
  private shown = false;
  private done = '';
  private readonly sub: PassProgress;
  constructor(private readonly quiet: boolean) {
    this.sub = new PassProgress(quiet, () => this.done);
  }

  /** Score-CAM / Ablation-CAM passes within the current batch. */
  readonly passes = (done: number, total: number, stage: string): void => {
    this.sub.update(done, total, stage);
    if (process.stderr.isTTY) this.shown = true;
  };

  update(p: AuditProgressInfo): void {
    this.done = `${p.done}/${p.total} · `;
    if (this.quiet) return;
    const tty = process.stderr.isTTY;
    const now = Date.now();
    const final = p.done >= p.total;
    if (!final && now - this.last < (tty ? 200 : 10_000)) return;
    this.last = now;
    const rate = p.processed / Math.max(p.elapsedS, 1e-9);
    const left = p.total - p.done;
    const eta = left > 0 && rate > 0 ? ` · eta ${duration(left / rate)}` : '';
    const width = 24;
    const fill = Math.round((p.done / Math.max(p.total, 1)) * width);
    const bar = `[${'#'.repeat(fill)}${'.'.repeat(width - fill)}]`;
    const line = `${bar} ${p.done}/${p.total} (${((p.done / Math.max(p.total, 1)) * 100).toFixed(1)}%) · ${rate.toFixed(2)} img/s${eta}${p.errors ? ` · ${p.errors} failed` : ''}${p.skipped ? ` · ${p.skipped} resumed` : ''}`;
    process.stderr.write(tty ? `\r\x1b[2K${line}` : `${line}\n`);
    this.shown = tty;
  }

  end(): void {
    if (this.shown) process.stderr.write('\n');
  }
}

function duration(s: number): string {
  if (s < 60) return `${Math.ceil(s)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(Math.floor(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
