/** Shared CLI pieces: argument parsing with clear errors, error printing, progress. */
import { parseArgs, type ParseArgsConfig } from 'node:util';

export class CliError extends Error {
  constructor(message: string, readonly exitCode = 2) {
    super(message);
    this.name = 'CliError';
  }
}

type Options = NonNullable<ParseArgsConfig['options']>;

type Values<T extends Options> = { [K in keyof T]: T[K]['type'] extends 'boolean' ? boolean | undefined : string | undefined };

export function parse<T extends Options>(args: string[], options: T, usage: string): { values: Values<T>; positionals: string[] } {
  let r: { values: Values<T>; positionals: string[] };
  try {
    r = parseArgs({ args, options, allowPositionals: true, strict: true }) as unknown as { values: Values<T>; positionals: string[] };
  } catch (e) {
    throw usageError((e as Error).message.replace(/\. To specify a positional.*$/s, ''), usage);
  }
  // an empty value (--alpha '', --labels "") is never meant: some were read as 0, others as absent
  for (const [name, v] of Object.entries(r.values as Record<string, unknown>)) {
    if (typeof v === 'string' && v.trim() === '' && options[name]?.type === 'string') {
      const help = optionHelp(usage, name);
      throw usageError(`--${name} needs a value${help ? ` (${help})` : ''}, got '${v}'`, usage);
    }
  }
  return r;
}

/** The one-line description of `--name` in a usage text ("heat-map opacity in the overlay, 0..1 (default 0.5)"), if it has one. */
function optionHelp(usage: string, name: string): string | undefined {
  const esc = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const m = new RegExp(`^\\s*--${esc}(?:[ =][A-Za-z][\\w\\[\\].|,-]*)?\\s{2,}(\\S.*)$`, 'm').exec(usage);
  if (!m) return undefined;
  // with its continuation lines (indented further, not another option), up to the first sentence's end
  let text = m[1]!.trim();
  for (const line of usage.slice(m.index + m[0].length + 1).split('\n')) {
    if (!/^\s{6,}\S/.test(line) || /^\s*-/.test(line)) break;
    text += ` ${line.trim()}`;
  }
  text = text.split(/\.\s+(?=[A-Z])/)[0]!.replace(/[.;,:]$/, '');
  return text.length > 240 ? `${text.slice(0, 239)}…` : text;
}

/** A bad-arguments error: one line, pointing at the command's help (`Usage: gradcam <cmd> ...` in `usage`). */
export function usageError(message: string, usage: string): CliError {
  const cmd = /^Usage: gradcam (\w+)/.exec(usage)?.[1];
  return new CliError(cmd ? `${message}; see 'gradcam help ${cmd}'` : message);
}

/** Errors that are the user's input or environment, reported without any hint of a bug. */
const KNOWN_ERRORS = ['CliError', 'InputError', 'ModelError', 'GradError', 'RangeError', 'AuditStoreError'];

/** One line: a message's lines joined with ' | ', control characters dropped, at most `max` characters. */
export function oneLine(message: string, max = 2000): string {
  const s = message.split(/\r?\n/).map((l) => l.trim()).filter(Boolean).join(' | ').replace(/[\u0000-\u001f\u007f]/g, ' ');
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

/** --max-input N: the most pixels (H × W) of one model input, 0 for no limit; undefined: the default. */
export function parseMaxInput(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const x = optionNumber(v);
  if (!Number.isInteger(x) || x < 0) throw new CliError(`--max-input must be a whole number of pixels (0 for no limit; default 4194304 = 2048×2048), got '${v}'`);
  return x;
}

/** The help line of --max-input (indented to `width` columns). */
export function maxInputHelp(width = 21): string {
  const pad = ' '.repeat(width + 2);
  return `  ${'--max-input N'.padEnd(width)}refuse model inputs above N pixels (H×W of the model's declared size,
${pad}of --size or of .npy inputs; default 4194304 = 2048×2048; 0: no limit). A model
${pad}run holds at most N input pixels in all (fewer images per run for large inputs)`;
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
    const line = `[${done}/${this.total}] ${message} (${rate.toFixed(1)}/s${eta})`;
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
