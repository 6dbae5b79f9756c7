/**
 * `gradcam audit` (also `gradcam explain` given a directory, a quoted glob or a manifest) and
 * `gradcam merge`: batch explanations over datasets, resumable, with HTML/CSV/JSONL reports.
 */
import fs from 'node:fs';
import path from 'node:path';
import { CAM_METHODS, camMethod } from '../cam/index.js';
import { COLORMAPS } from '../image/colormap.js';
import { NORMALIZE_PRESETS, type NormalizeOptions } from '../image/normalize.js';
import { hasGlobMagic } from '../audit/glob.js';
import { isManifestName } from '../audit/manifest.js';
import { parseShard } from '../audit/shard.js';
import { listInputs, mergeAudits, runAudit, shardItems, type AuditProgressInfo } from '../node-audit.js';
import { CliError, PassProgress, usageError, parse, parseMaxInput, parseNumbers, parseSize } from './common.js';
import { RESIZE_CROP_USAGE, resizeCropOptions } from './inputs.js';

/** Exit status when the run finished but some items failed (they have error rows). */
export const EXIT_ITEMS_FAILED = 3;
/** Exit status when the run was interrupted (Ctrl-C / SIGTERM); run the same command again to resume. */
export const EXIT_INTERRUPTED = 130;

export const AUDIT_USAGE = `Usage: gradcam audit <folders|'globs'|manifests|images...> --model FILE [options]
       gradcam explain <folder|'glob'|manifest> --model FILE [options]   (the same)

Explains every image of a dataset in batches and writes, under --out: results.jsonl and results.csv
(one row per image), classes.csv and summary.json (per-class summaries), report.html (a sortable,
filterable gallery, flagged images first), thumbs/ (image and overlay thumbnails).

Inputs: folders (walked recursively for .jpg .jpeg .png .webp .gif .tif .tiff .avif .npy; hidden
entries skipped), quoted glob patterns ('data/**/*.jpg'), image files, and manifests: .csv, .jsonl or
.json listing path, optional true label (index or class name), optional boxes [x0,y0,x1,y1] (image
pixels, x1/y1 exclusive) or mask (mask image file, or mask_rle). See docs/AUDIT.md.

The run is resumable: interrupted (Ctrl-C, kill, crash) and started again with the same command, it
skips every finished image. An unreadable image becomes an error row and the run goes on.
Exit status: 0 all images explained; ${EXIT_ITEMS_FAILED} finished, but some images failed (error rows);
${EXIT_INTERRUPTED} interrupted (run again to resume); 1 the run could not start; 2 bad arguments.

Options:
  --model FILE         ONNX model (required)
  --out DIR            output folder (default gradcam-audit); the same folder resumes a run
  --method NAME        ${Object.keys(CAM_METHODS).join(', ')} (default gradcam)
  --layer NAME         tensor to explain, or 'auto' (default)
  --class C            'top' (the predicted class, default), 'true' (the manifest's label; 'gt' also works,
                       as in evaluate), an index or a label
  --output NAME        the model output to explain (default: the first)
  --labels FILE        class labels: one per line, or JSON (default: the model's metadata)
  --size H[xW]         input size for models with dynamic height/width
${RESIZE_CROP_USAGE}  --normalize NAME     ${NORMALIZE_PRESETS.join(', ')} (default imagenet)
  --mean a,b,c         custom mean
  --std a,b,c          custom std
  --batch-size N       images per model run (default 8)
  --threads N          onnxruntime intra-op threads (default: one per core)
  --shard i/N          process only shard i of N (0 <= i < N; a fixed partition by a hash of each item's
                       path), for spreading a dataset over machines; combine with 'gradcam merge'
  --flag-lift L        flag images whose lift, the fraction of the map's energy on the object (boxes/
                       mask) divided by the fraction of the image the object covers, is below L
                       (default 1: the object gets less than its share; the model looks mostly
                       elsewhere); 'off' to disable
  --flag-below F       also flag images with less than this fraction of the map's energy on the object
                       (e.g. 0.5: more than half of it outside; default off)
  --max-pixels N       images larger than N pixels become error rows (default 268402689, sharp's
                       limit: about 16384×16384; 0 for no limit); images above 64 megapixels are
                       shrunk while decoding, and the map metrics are measured at most 2048 px long
  --max-input N        refuse model inputs above N pixels (H×W; default 4194304 = 2048×2048; 0: no
                       limit); a model run holds at most N input pixels in all
  --thumb N            thumbnail size, longest side in pixels (default 128)
  --colormap NAME      ${COLORMAPS.join(', ')} (default jet)
  --alpha A            heat-map opacity in the overlay thumbnails, 0..1 (default 0.5)
  --maps               also write each map as maps/<stem>.npy (float32 [H,W], input resolution)
  --retry-errors       run again the images whose row is an error
  --no-report          skip report.html/results.csv/summary at the end (run 'gradcam merge' later)
  --quiet              no progress on stderr
`;

export const MERGE_USAGE = `Usage: gradcam merge <audit folders...> --out DIR

Combines audit folders (the shards of one 'gradcam audit --shard i/N' run, or audits of different
inputs made with the same settings) into one: results.jsonl/.csv, classes.csv, summary.json,
report.html and the thumbnails (hard-linked where possible). Refuses folders made with different
models or settings. Exit status ${EXIT_ITEMS_FAILED} when shards are missing or unfinished, or some images failed.

Options:
  --out DIR            output folder (required): new or empty, or the output of an earlier merge;
                       not one of the inputs nor inside one
  --quiet              no summary on stdout
`;

const VALUE_OPTIONS = new Set([
  '--model', '--method', '--layer', '--class', '--output', '--out', '--colormap', '--alpha', '--labels', '--size',
  '--normalize', '--mean', '--std', '--batch-size', '--threads', '--shard', '--flag-below', '--flag-lift', '--thumb',
  '--max-pixels', '--max-overlay', '--max-input', '--resize', '--crop',
]);
const AUDIT_ONLY = new Set(['--threads', '--shard', '--flag-below', '--flag-lift', '--thumb', '--maps', '--retry-errors', '--no-report']);

/**
 * Whether `gradcam explain` arguments ask for a batch run: an input that is a folder, a manifest
 * (.csv, .jsonl, .ndjson, .json) or a glob pattern that is not a file, or an audit-only option.
 */
export function isBatchInvocation(args: string[]): boolean {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') continue;
    if (a.startsWith('--')) {
      const name = a.split('=')[0]!;
      if (AUDIT_ONLY.has(name)) return true;
      if (VALUE_OPTIONS.has(name) && !a.includes('=')) i++;
      continue;
    }
    if (a.startsWith('-') && a.length > 1) continue;
    let st: fs.Stats | undefined;
    try {
      st = fs.statSync(a);
    } catch {
      st = undefined;
    }
    if (st?.isDirectory()) return true;
    if (st?.isFile() && isManifestName(a)) return true;
    if (!st && hasGlobMagic(a)) return true;
  }
  return false;
}

function number(name: string, v: string | undefined, check: (x: number) => boolean, what: string): number | undefined {
  if (v === undefined) return undefined;
  const x = Number(v);
  if (!check(x) || v.trim() === '') throw new CliError(`${name} must be ${what}, got '${v}'`);
  return x;
}

export async function runAuditCli(args: string[]): Promise<number> {
  const { values: o, positionals } = parse(args, {
    model: { type: 'string' }, out: { type: 'string', default: 'gradcam-audit' }, method: { type: 'string', default: 'gradcam' },
    layer: { type: 'string', default: 'auto' }, class: { type: 'string', default: 'top' }, output: { type: 'string' },
    labels: { type: 'string' }, size: { type: 'string' }, normalize: { type: 'string' }, mean: { type: 'string' }, std: { type: 'string' },
    resize: { type: 'string' }, crop: { type: 'string' },
    'batch-size': { type: 'string', default: '8' }, threads: { type: 'string' }, shard: { type: 'string' },
    'flag-below': { type: 'string' }, 'flag-lift': { type: 'string', default: '1' }, thumb: { type: 'string', default: '128' },
    colormap: { type: 'string', default: 'jet' }, alpha: { type: 'string', default: '0.5' }, maps: { type: 'boolean', default: false },
    'retry-errors': { type: 'boolean', default: false }, 'no-report': { type: 'boolean', default: false },
    'max-pixels': { type: 'string' }, 'max-input': { type: 'string' }, quiet: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h' },
  }, AUDIT_USAGE);
  if (o.help) {
    console.log(AUDIT_USAGE);
    return 0;
  }
  if (!o.model) throw usageError(`--model FILE is required`, AUDIT_USAGE);
  if (positionals.length === 0) throw usageError(`no inputs given`, AUDIT_USAGE);
  camMethod(o.method!);
  if (!(COLORMAPS as readonly string[]).includes(o.colormap!)) throw new CliError(`unknown colour map '${o.colormap}'; choose one of: ${COLORMAPS.join(', ')}`);
  const alpha = number('--alpha', o.alpha, (x) => x >= 0 && x <= 1, 'a number between 0 and 1')!;
  const batchSize = number('--batch-size', o['batch-size'], (x) => Number.isInteger(x) && x >= 1, 'a positive integer')!;
  const threads = number('--threads', o.threads, (x) => Number.isInteger(x) && x >= 1, 'a positive integer');
  const flagBelow = o['flag-below'] === 'off' ? null : number('--flag-below', o['flag-below'], (x) => x >= 0 && x <= 1, 'a fraction between 0 and 1') ?? null;
  const flagLift = o['flag-lift'] === 'off' ? null : number('--flag-lift', o['flag-lift'], (x) => x >= 0, 'a non-negative number or off')!;
  const maxPixels = number('--max-pixels', o['max-pixels'], (x) => Number.isInteger(x) && x >= 0, 'a whole number of pixels (0 for no limit)');
  const thumb = number('--thumb', o.thumb, (x) => Number.isInteger(x) && x >= 8 && x <= 1024, 'an integer between 8 and 1024')!;
  let shard;
  try {
    shard = o.shard !== undefined ? parseShard(o.shard) : undefined;
  } catch (e) {
    throw new CliError((e as Error).message);
  }
  const size = parseSize(o.size);
  const maxInputPixels = parseMaxInput(o['max-input']);
  const rc = resizeCropOptions(o);
  const norm: NormalizeOptions = { preset: o.normalize, mean: parseNumbers('--mean', o.mean), std: parseNumbers('--std', o.std) };
  if (!o.normalize && !norm.mean && !norm.std) norm.preset = 'imagenet';

  const items = await listInputs(positionals, { exclude: [o.out!] });
  const mine = shardItems(items, shard).length;
  const progress = new AuditProgress(o.quiet!);
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
  // testing aid: a pause after each batch, so that tests can interrupt a run part-way
  const throttle = Number(process.env['GRADCAM_AUDIT_THROTTLE_MS'] ?? 0);
  // testing aid: a pause inside the lock, just before the final rewrite of results.jsonl
  const rewritePause = Number(process.env['GRADCAM_AUDIT_REWRITE_PAUSE_MS'] ?? 0);
  const beforeRewrite = rewritePause > 0 ? async () => {
    process.stderr.write('gradcam: (test) pausing before the final rewrite\n');
    await new Promise((r) => setTimeout(r, rewritePause));
  } : undefined;
  let result;
  try {
    if (!o.quiet) process.stderr.write(`gradcam: ${items.length} images listed${shard ? `, ${mine} in shard ${shard.index}/${shard.count}` : ''}; writing to ${o.out}\n`);
    result = await runAudit(items, {
      model: o.model, out: o.out!, method: o.method, layer: o.layer, classChoice: o.class, output: o.output, normalize: norm, size, ...rc,
      labelsFile: o.labels, maxPixels, maxInputPixels, thumb, colormap: o.colormap, alpha, flagBelow, flagLift, maps: o.maps, batchSize, threads, shard,
      retryErrors: o['retry-errors'], signal: abort.signal, report: !o['no-report'], beforeRewrite, onPasses: progress.passes,
      onProgress: (p) => {
        progress.update(p);
        if (throttle > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, throttle);
      },
    });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  progress.end();
  const rep = result.report;
  const rate = result.processed / Math.max(result.elapsedS, 1e-9);
  if (!o.quiet) {
    console.log(`${result.done}/${result.total} images done (${result.processed} now, ${result.skipped} already done), ${result.errors} failed, ${rep ? `${rep.flagged} flagged, ` : ''}${result.elapsedS.toFixed(1)} s, ${rate.toFixed(2)} images/s`);
    if (rep) console.log(`report: ${path.join(o.out!, 'report.html')}`);
  }
  if (result.interrupted) return EXIT_INTERRUPTED;
  return result.errors > 0 ? EXIT_ITEMS_FAILED : 0;
}

export async function runMergeCli(args: string[]): Promise<number> {
  const { values: o, positionals } = parse(args, { out: { type: 'string' }, quiet: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h' } }, MERGE_USAGE);
  if (o.help) {
    console.log(MERGE_USAGE);
    return 0;
  }
  if (!o.out) throw usageError(`--out DIR is required`, MERGE_USAGE);
  if (!positionals.length) throw usageError(`no audit folders given`, MERGE_USAGE);
  const r = await mergeAudits(positionals, o.out);
  for (const n of r.notes) process.stderr.write(`gradcam: warning: ${n}\n`);
  if (!o.quiet) console.log(`${r.rows} images (${r.errors} failed, ${r.flagged} flagged) from ${positionals.length} folders → ${path.join(o.out, 'report.html')}`);
  return r.incomplete || r.errors > 0 ? EXIT_ITEMS_FAILED : 0;
}

/** Progress on stderr: done/total, rate of this session, ETA; redrawn in place on a terminal, a line every 10 s otherwise. */
class AuditProgress {
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
