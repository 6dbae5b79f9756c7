/**
 * `npm run demo:detect`: the driving-style detection demo. Both street detectors (demo/models/street.onnx,
 * trained on clean footage; street_glare.onnx, trained on wet-road footage where every pedestrian stood on
 * a light reflection) explain every detection of the demo scenes (demo/detect/) through `gradcam detect`;
 * each map is scored against its box and the scene's reflections, and an HTML page shows them side by
 * side: demo-out/detect/index.html.
 *
 * A detection is flagged when its map's peak lies outside its box (grown by 4 px): the detector looked
 * elsewhere. "On reflection" is the map mass within 4 px of a reflection (and whether the peak is there).
 *
 * `--figure FILE` also writes the README's picture: per scene (00, 03, 04), the scene and each model's
 * first two pedestrian detections (else its first two detections).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseNpy, toFloat32 } from '../src/image/npy.js';
import { decodePng, encodePng, toRgbImage } from '../src/image/png.js';
import { montage } from '../src/image/montage.js';
import { resizeRgb } from '../src/image/resize.js';

const ROOT = path.join(path.dirname(new URL(import.meta.url).pathname), '..');
const OUT = path.join(ROOT, 'demo-out', 'detect');
const SCENES = path.join(ROOT, 'demo', 'detect');
const MODELS = ['street', 'street_glare'];
const MARGIN = 4;
/**
 * LayerCAM at the 24×24 stage: the automatic layer (12×12, before the head) gives each detection's map on
 * its own anchor cell, which says where the box is but not what in it made the score; one stage earlier,
 * LayerCAM (element-wise positive gradients, made for earlier layers) shows the pixels. Grad-CAM's channel
 * averages at that stage are dominated by the sky.
 */
const METHOD = 'layercam';
const LAYER = 'backbone.2';

type Box = [number, number, number, number];
interface Scene { file: string; objects: { class: number; box: Box }[]; reflections: Box[] }
const ann = JSON.parse(fs.readFileSync(path.join(SCENES, 'annotations.json'), 'utf8')) as { classes: string[]; images: Scene[] };

interface Det { model: string; scene: Scene; png: string; label: string; score: number; box: Box; inBox: number; onReflection: number; flagged: boolean; peakOnReflection: boolean }
const dets: Det[] = [];
fs.rmSync(OUT, { recursive: true, force: true });
for (const model of MODELS) {
  const out = path.join(OUT, model);
  const cli = spawnSync(process.execPath, [
    path.join(ROOT, 'bin', 'gradcam.js'), 'detect', ...ann.images.map((s) => path.join(SCENES, s.file)),
    '--model', path.join(ROOT, 'demo', 'models', `${model}.onnx`), '--out', out, '--raw', '--score-threshold', '0.4', '--quiet',
    '--method', METHOD, '--layer', LAYER,
  ], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (cli.status !== 0) process.exit(cli.status ?? 1);
  for (const scene of ann.images) {
    const stem = scene.file.replace(/\.png$/, '');
    for (let k = 0; fs.existsSync(path.join(out, `${stem}.det${k}.${METHOD}.json`)); k++) {
      const j = JSON.parse(fs.readFileSync(path.join(out, `${stem}.det${k}.${METHOD}.json`), 'utf8'));
      const [h, w] = j.input_size as [number, number];
      const map = toFloat32(parseNpy(new Uint8Array(fs.readFileSync(path.join(out, `${stem}.det${k}.${METHOD}.npy`)))));
      const box = j.detection.box as Box;
      const near = (b: Box, x: number, y: number) => x >= b[0] - MARGIN && x < b[2] + MARGIN && y >= b[1] - MARGIN && y < b[3] + MARGIN;
      let total = 0;
      let inBox = 0;
      let onRefl = 0;
      let peak = 0;
      for (let i = 1; i < map.length; i++) if (map[i]! > map[peak]!) peak = i;
      for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
        const v = map[y * w + x]!;
        total += v;
        if (near(box, x, y)) inBox += v;
        if (scene.reflections.some((r) => near(r, x, y))) onRefl += v;
      }
      const fIn = inBox / (total || 1);
      dets.push({
        model, scene, png: `${model}/${stem}.det${k}.${METHOD}.png`, label: j.detection.label ?? String(j.detection.class), score: j.detection.score, box,
        inBox: fIn, onReflection: onRefl / (total || 1), flagged: !near(box, peak % w, Math.floor(peak / w)),
        peakOnReflection: scene.reflections.some((r) => near(r, peak % w, Math.floor(peak / w))),
      });
    }
  }
}

const pct = (v: number) => `${(100 * v).toFixed(0)}%`;
console.log(`${METHOD} at ${LAYER}\nmodel         scene            detection              map in its box   on a reflection (peak there?)`);
for (const d of dets) {
  console.log(`${d.model.padEnd(13)} ${d.scene.file.padEnd(16)} ${`${d.label} ${d.score.toFixed(2)}`.padEnd(22)} ${pct(d.inBox).padEnd(16)} ${d.scene.reflections.length ? `${pct(d.onReflection)} (${d.peakOnReflection ? 'yes' : 'no'})` : '-'}${d.flagged ? '   FLAGGED: peak outside its box' : ''}`);
}
const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
const results = JSON.parse(fs.readFileSync(path.join(SCENES, 'RESULTS.json'), 'utf8'));
const cell = (model: string, s: Scene) => dets.filter((d) => d.model === model && d.scene === s).map((d) =>
  `<figure><img src="${esc(d.png)}"><figcaption>${esc(d.label)} ${d.score.toFixed(2)} · in box ${pct(d.inBox)}${s.reflections.length ? ` · on reflection ${pct(d.onReflection)}` : ''}${d.peakOnReflection ? ' <b class="no">peak on the reflection</b>' : ''}${d.flagged ? ' <b class="no">peak outside its box</b>' : ''}</figcaption></figure>`).join('') || '<i>no detection</i>';
const html = `<!doctype html><meta charset="utf-8"><title>gradcam detect demo</title>
<style>body{font:14px system-ui,sans-serif;margin:2em}td,th{padding:4px 10px;text-align:left;vertical-align:top}img{width:192px;image-rendering:pixelated}figure{display:inline-block;margin:0 6px 6px 0}figcaption{max-width:192px}.no{color:#b00}</style>
<h1>gradcam detect — what did the detector look at?</h1>
<p>Two small YOLO-style detectors on generated street scenes. <b>street</b> was trained on clean footage (reflections on the road unrelated to anything);
<b>street_glare</b> on wet-road footage where every pedestrian stood on a light reflection. One Grad-CAM map per detection (box target: the class score
of the anchors matching the box), LayerCAM at the 24×24 stage (${LAYER}). mAP@0.5 on held-out scenes: street ${results.street.test_own_distribution.mAP50.toFixed(3)},
street_glare ${results.street_glare.test_own_distribution.mAP50.toFixed(3)} (on its own footage). A lone reflection on an empty road is reported as a
pedestrian by street in ${pct(results.street.reflection_test.rate)} of 200 test scenes, by street_glare in ${pct(results.street_glare.reflection_test.rate)}.</p>
<table><tr><th>scene</th>${MODELS.map((m) => `<th>${m}</th>`).join('')}</tr>
${ann.images.map((s) => `<tr><td><img src="../../demo/detect/${esc(s.file)}"><br>${s.objects.length} objects${s.reflections.length ? `, ${s.reflections.length} reflection(s)` : ''}</td>${MODELS.map((m) => `<td>${cell(m, s)}</td>`).join('')}</tr>`).join('\n')}
</table>`;
fs.writeFileSync(path.join(OUT, 'index.html'), html);

const fig = process.argv.indexOf('--figure');
if (fig > 0) {
  const read = (f: string) => toRgbImage(decodePng(new Uint8Array(fs.readFileSync(f))));
  const rows = ann.images.map((s) => {
    const sceneImg = read(path.join(SCENES, s.file));
    const cells = [resizeRgb(sceneImg, sceneImg.width * 3, sceneImg.height * 3)];
    const labels = [`${s.file}: ${s.objects.map((o) => ann.classes[o.class]).join(', ') || 'no object'}${s.reflections.length ? ` + ${s.reflections.length} reflection` : ''}`];
    for (const m of MODELS) {
      const mine = dets.filter((d) => d.model === m && d.scene === s);
      // the pedestrian detections (what the reflection triggers), else the best detection
      const peds = mine.filter((d) => d.label === 'pedestrian');
      const shown = (peds.length ? peds : mine).slice(0, 2);
      for (let k = 0; k < 2; k++) {
        const d = shown[k];
        if (d) {
          cells.push(read(path.join(OUT, d.png)));
          labels.push(`${m}: ${d.label} ${d.score.toFixed(2)}${d.scene.reflections.length ? `, ${pct(d.onReflection)} on the reflection` : ''}`);
        } else {
          cells.push(resizeRgb({ width: 1, height: 1, data: new Uint8Array([255, 255, 255]) }, 96 * 3, 96 * 3));
          labels.push(k === 0 ? `${m}: ${mine.length ? '' : 'no detection'}${!peds.length && mine.length ? '' : ''}` : '');
        }
      }
    }
    return { cells, labels };
  }).filter((_, i) => [0, 3, 4].includes(i));
  fs.mkdirSync(path.dirname(process.argv[fig + 1]!), { recursive: true });
  fs.writeFileSync(process.argv[fig + 1]!, encodePng(montage(rows.map((r) => r.cells), { labels: rows.map((r) => r.labels), pad: 6, textScale: 1 })));
  console.log(`figure: ${process.argv[fig + 1]}`);
}
console.log(`\npage: ${path.relative(process.cwd(), path.join(OUT, 'index.html'))}`);
