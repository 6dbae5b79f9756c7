/**
 * `gradcam audit` (also `gradcam explain` given a directory, a quoted glob or a manifest) and
 * `gradcam merge`: batch explanations over datasets, resumable, with HTML/CSV/JSONL reports.
 */
import path from 'node:path';
import { CAM_METHODS } from '../cam/index.js';
import { listInputs, shardItems } from '../dataset/listing.js';
import { runAudit } from '../audit/run.js';
import { mergeAudits } from '../audit/merge.js';
import { ProgressDisplay, doneLine, interruptible, listedLine, parseSize, workersLine, EXIT_INTERRUPTED, EXIT_ITEMS_FAILED } from './common.js';
import { threadsPerWorker } from '../dataset/pool.js';
import { command, group, helpText, methodGroup, num, parseCommand, pick, readShard, readWorkers, withDefaults, DATASET, IMAGES, MODEL, PICTURES, RUN, TARGET } from './spec.js';
import { importedDefaults, normalizeOptions, resizeCropOptions } from './inputs.js';
import { testHooks } from '../util/test-hooks.js';

export { EXIT_INTERRUPTED, EXIT_ITEMS_FAILED };

export const REPORT = group('Report', {
  'flag-lift': {
    type: 'string', value: 'L', default: '1', number: { min: 0, words: ['off'] },
    help: "flag images whose lift, the fraction of the map's energy on the object (boxes/mask) divided by the fraction of the image the object covers, is below L (default 1: the object gets less than its share; the model looks mostly elsewhere); 'off' to disable",
  },
  'flag-below': {
    type: 'string', value: 'F', number: { min: 0, max: 1, words: ['off'] },
    help: "also flag images with less than this fraction of the map's energy on the object (e.g. 0.5: more than half of it outside; default off)",
  },
  thumb: { type: 'string', value: 'N', default: '128', number: { integer: true, min: 8, max: 1024 }, help: 'thumbnail size, longest side in pixels (default 128)' },
  maps: { type: 'boolean', default: false, help: 'also write each map as maps/<stem>.npy (float32 [H,W], input resolution)' },
  'no-report': { type: 'boolean', default: false, help: "skip report.html/results.csv/summary at the end (run 'gradcam merge' later)" },
});

export const AUDIT = command({
  name: 'audit',
  synopsis: "<folders|'globs'|manifests|images...> --model FILE [options]",
  summary: 'explain a dataset: resumable, batched, HTML/CSV report, bias audit with boxes/masks',
  description: `Explains every image of a dataset in batches — the run of 'gradcam explain' on folders, with
thumbnails and map metrics instead of full-size overlays — and writes, under --out: results.jsonl and
results.csv (one row per image), classes.csv and summary.json (per-class summaries), report.html (a
sortable, filterable gallery, flagged images first), thumbs/ (image and overlay thumbnails).

Inputs: folders (walked recursively for .jpg .jpeg .png .webp .gif .tif .tiff .avif .npy; hidden
entries skipped), quoted glob patterns ('data/**/*.jpg'), image files, and manifests: .csv, .jsonl or
.json listing path, optional true label (index or class name), optional boxes [x0,y0,x1,y1] (image
pixels, x1/y1 exclusive) or mask (mask image file, or mask_rle). A mask image's pixel is the object
where its brightest channel is at least half the mask's brightest value (0/255 and 0/1 masks both
work; JPEG noise stays out); an .npy mask's where it is non-zero. See docs/AUDIT.md.

The run is resumable: interrupted (Ctrl-C, kill, crash) and started again with the same command, it
skips every finished image. An unreadable image becomes an error row and the run goes on.
Exit status: 0 all images explained; ${EXIT_ITEMS_FAILED} finished, but some images failed (error rows);
${EXIT_INTERRUPTED} interrupted (run again to resume); 1 the run could not start; 2 bad arguments.`,
  groups: [
    MODEL, IMAGES, TARGET, pick(methodGroup(() => Object.keys(CAM_METHODS)), ['method']), pick(PICTURES, ['colormap', 'alpha']), REPORT,
    withDefaults(RUN, { out: { default: 'gradcam-audit', help: 'output folder; the same folder resumes a run' } }),
    withDefaults(DATASET, { shard: { help: "process only shard i of N (0 <= i < N; a fixed partition by a hash of each item's path), for spreading a dataset over machines; combine with 'gradcam merge'" } }),
  ],
  required: ['model'],
  positionals: 'inputs',
});

export const MERGE = command({
  name: 'merge',
  synopsis: '<audit folders...> --out DIR',
  summary: 'combine the shards of an audit into one report',
  description: `Combines audit folders (the shards of one 'gradcam audit --shard i/N' run, or audits of different
inputs made with the same settings) into one: results.jsonl/.csv, classes.csv, summary.json,
report.html and the thumbnails (hard-linked where possible). Refuses folders made with different
models or settings. Exit status ${EXIT_ITEMS_FAILED} when shards are missing or unfinished, or some images failed.`,
  groups: [group('Options', {
    out: { type: 'string', value: 'DIR', help: 'output folder (required): new or empty, or the output of an earlier merge; not one of the inputs nor inside one' },
    quiet: { type: 'boolean', default: false, help: 'no summary on stdout' },
  })],
  required: ['out'],
  positionals: 'audit folders',
});

export async function runAuditCli(args: string[]): Promise<number> {
  const { values: o, positionals } = parseCommand(AUDIT, args);
  if (o.help) {
    console.log(helpText(AUDIT));
    return 0;
  }
  const shard = readShard(AUDIT, o.shard);
  const workers = readWorkers(AUDIT, o.workers);
  const size = parseSize(o.size);
  const rc = resizeCropOptions(o);
  const norm = normalizeOptions(o);

  const items = await listInputs(positionals, { exclude: [o.out!] });
  const mine = shardItems(items, shard).length;
  const progress = new ProgressDisplay(0, !!o.quiet);
  // tests' pauses (src/util/test-hooks.ts): after each batch, and inside the lock before the final rewrite
  const throttle = testHooks().batchPauseMs ?? 0;
  const rewritePause = testHooks().rewritePauseMs ?? 0;
  const beforeRewrite = rewritePause > 0 ? async () => {
    process.stderr.write('gradcam: (test) pausing before the final rewrite\n');
    await new Promise((r) => setTimeout(r, rewritePause));
  } : undefined;
  if (!o.quiet) process.stderr.write(listedLine(items.length, shard, mine, o.out!));
  const result = await interruptible((signal) => runAudit(items, {
    model: o.model!, out: o.out!, method: o.method, layer: o.layer, classChoice: o.class, output: o.output, normalize: norm, size, ...rc,
    labelsFile: o.labels, variant: o.variant, importedDefaults: (e) => {
      const d = importedDefaults(e, o, { norm, rc, size }, !!o.quiet);
      return { normalize: d.norm, size: d.size, resize: d.rc.resize, crop: d.rc.crop };
    },
    maxPixels: num(o['max-pixels']), maxInputPixels: num(o['max-input']), thumb: num(o.thumb), colormap: o.colormap, alpha: num(o.alpha),
    flagBelow: num(o['flag-below'], null) ?? null, flagLift: num(o['flag-lift'], null) as number | null, maps: o.maps, batchSize: num(o['batch-size']), threads: num(o.threads), workers, shard,
    onWorkers: (n) => { if (!o.quiet) process.stderr.write(workersLine(n, threadsPerWorker(n, num(o.threads)), workers)); },
    retryErrors: o['retry-errors'], signal, report: !o['no-report'], beforeRewrite, onPasses: progress.passes,
    onProgress: (p) => {
      progress.update(p);
      if (throttle > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, throttle);
    },
  }));
  progress.end();
  const rep = result.report;
  const rate = result.processed / Math.max(result.elapsedS, 1e-9);
  if (!o.quiet) {
    console.log(`${doneLine(result)}, ${rep ? `${rep.flagged} flagged, ` : ''}${result.elapsedS.toFixed(1)} s, ${rate.toFixed(2)} images/s`);
    if (rep) console.log(`report: ${path.join(o.out!, 'report.html')}`);
  }
  if (result.interrupted) return EXIT_INTERRUPTED;
  return result.errors > 0 ? EXIT_ITEMS_FAILED : 0;
}

export async function runMergeCli(args: string[]): Promise<number> {
  const { values: o, positionals } = parseCommand(MERGE, args);
  if (o.help) {
    console.log(helpText(MERGE));
    return 0;
  }
  const r = await mergeAudits(positionals, o.out!);
  for (const n of r.notes) process.stderr.write(`gradcam: warning: ${n}\n`);
  if (!o.quiet) console.log(`${r.rows} images (${r.errors} failed, ${r.flagged} flagged) from ${positionals.length} folders → ${path.join(o.out!, 'report.html')}`);
  return r.incomplete || r.errors > 0 ? EXIT_ITEMS_FAILED : 0;
}

