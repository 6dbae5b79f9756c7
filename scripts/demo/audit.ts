/**
 * The demo models' dataset audit, in one command (the numbers for the README):
 *
 *   npx tsx scripts/demo/audit.ts [--demo DIR] [--out DIR] [--batch-size N]
 *
 * Runs `gradcam audit` (the library calls behind it) for demo/models/{where,shortcut}.onnx over the
 * shipped test splits demo/testset (clean scenes) and demo/testset_marked (scenes of the nine non-'Bag'
 * classes carrying the spurious mark that the shortcut model learnt to read as 'Bag'), with the object
 * masks from their annotations.json, explaining the predicted class. Writes out/demo-audit/<model>-<split>/
 * (report.html, results.csv, ...) and prints a Markdown table: accuracy, mean fraction of Grad-CAM energy
 * on the object, mean lift (that fraction / the object's share of the image), images where the map's peak
 * is on the object, and images flagged (lift < 1: the object gets less than its share of the energy). Each audit is the same as, for example:
 *
 *   gradcam audit demo/testset_marked/annotations.json --model demo/models/shortcut.onnx --out out/demo-audit/shortcut-testset_marked
 *
 * Reruns resume (finished images are skipped); delete out/demo-audit to start over.
 */
import fs from 'node:fs';
import path from 'node:path';
import { listInputs } from '../../src/dataset/listing.js';
import { runAudit } from '../../src/audit/run.js';
import { writeReports } from '../../src/audit/reports.js';
import type { AuditSummary } from '../../src/audit/summary.js';

const ROOT = path.join(path.dirname(new URL(import.meta.url).pathname), '..', '..');
const arg = (name: string, def: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : def;
};
const DEMO = path.resolve(arg('demo', path.join(ROOT, 'demo')));
const OUT = path.resolve(arg('out', path.join(ROOT, 'out', 'demo-audit')));
const BATCH = Number(arg('batch-size', '16'));

const pct = (v: number | null) => (v === null ? '–' : `${(v * 100).toFixed(1)}%`);

const lines: string[] = [];
let missing = 0;
for (const model of ['where', 'shortcut']) {
  const file = path.join(DEMO, 'models', `${model}.onnx`);
  if (!fs.existsSync(file)) {
    console.error(`skipping ${model}: ${file} does not exist (train it with scripts/demo/train.py)`);
    missing++;
    continue;
  }
  for (const split of ['testset', 'testset_marked']) {
    const manifest = path.join(DEMO, split, 'annotations.json');
    const out = path.join(OUT, `${model}-${split}`);
    const items = await listInputs([manifest], { exclude: [out] });
    const r = await runAudit(items, { model: file, out, batchSize: BATCH });
    await writeReports(out);
    const s = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8')) as AuditSummary;
    const predictedBag = s.by_predicted_class.find((c) => c.label === 'Bag')?.n ?? 0;
    lines.push(`| ${model} | ${split} | ${s.n} | ${pct(s.accuracy)} | ${pct(predictedBag / s.n)} | ${pct(s.mean_energy_in_object)} | ${s.mean_lift?.toFixed(2) ?? '–'} | ${pct(s.pointing_hit_rate)} | ${s.flagged} (${pct(s.flagged / s.n)}) | ${path.relative(ROOT, path.join(out, 'report.html'))} |`);
    console.error(`${model} ${split}: ${r.done}/${r.total} images, ${r.errors} failed, ${r.elapsedS.toFixed(1)} s`);
  }
}
console.log('| model | split | images | accuracy | predicted Bag | mean energy on object | mean lift | peak on object | flagged (lift < 1) | report |');
console.log('|---|---|---|---|---|---|---|---|---|---|');
for (const l of lines) console.log(l);
process.exitCode = missing ? 1 : 0;
