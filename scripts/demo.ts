/**
 * `npm run demo` and `npm run demo:bias`: explain the bundled example scenes with the trained demo
 * models through the gradcam CLI, then score each map against the scene's ground truth and write a
 * small HTML page.
 *
 *   npm run demo         model "where" on one scene per class: does the map point at the object?
 *   npm run demo:bias    model "shortcut" (trained where one class always carries a small mark) on
 *                        scenes where the mark sits on objects of other classes: it follows the mark.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseNpy, toFloat32 } from '../src/image/npy.js';
import { decodeRle, type RleMask } from '../src/util/rle.js';

const ROOT = path.join(path.dirname(new URL(import.meta.url).pathname), '..');
const bias = process.argv.includes('--bias');
const modelName = bias ? 'shortcut' : 'where';
const model = path.join(ROOT, 'demo', 'models', `${modelName}.onnx`);
const out = path.join(ROOT, 'demo-out', modelName);

interface Scene { file: string; class: number; label: string; box: number[]; mask_rle: RleMask; mark_box?: number[] }
const ann = JSON.parse(fs.readFileSync(path.join(ROOT, 'demo', 'scenes', 'annotations.json'), 'utf8')) as { images: Scene[]; labels: string[] };
const scenes = ann.images.filter((s) => (bias ? true : !s.mark_box));
if (!fs.existsSync(model)) {
  console.error(`demo model missing: ${model}`);
  process.exit(1);
}

console.log(`gradcam demo: explaining ${scenes.length} scenes with demo/models/${modelName}.onnx\n`);
const cli = spawnSync(process.execPath, [
  path.join(ROOT, 'bin', 'gradcam.js'), 'explain', ...scenes.map((s) => path.join(ROOT, 'demo', 'scenes', s.file)),
  '--model', model, '--out', out, '--raw', '--heatmap',
], { stdio: ['ignore', 'inherit', 'inherit'] });
if (cli.status !== 0) process.exit(cli.status ?? 1);

interface Row { scene: Scene; stem: string; predicted: string; p: number; correct: boolean; hit: boolean; objectMass: number; markMass?: number; peakOnMark?: boolean }

/** The mark's box grown by 8 px (half a Grad-CAM cell of this 8×8-cell model), as in demo/RESULTS.json. */
const MARK_MARGIN = 8;
const rows: Row[] = scenes.map((s) => {
  const stem = s.file.replace(/\.png$/, '');
  const json = JSON.parse(fs.readFileSync(path.join(out, `${stem}.gradcam.json`), 'utf8'));
  const map = toFloat32(parseNpy(new Uint8Array(fs.readFileSync(path.join(out, `${stem}.gradcam.npy`)))));
  const mask = decodeRle(s.mask_rle);
  let best = 0;
  let total = 0;
  let inObj = 0;
  let inMark = 0;
  const [h, w] = s.mask_rle.size;
  for (let i = 0; i < map.length; i++) {
    if (map[i]! > map[best]!) best = i;
    total += map[i]!;
    if (mask[i]) inObj += map[i]!;
    if (s.mark_box && nearMark(s.mark_box, i % w, Math.floor(i / w)) && !mask[i]) inMark += map[i]!;
  }
  void h;
  return {
    scene: s, stem, predicted: json.predicted.label ?? String(json.predicted.index), p: json.predicted.probability,
    correct: json.predicted.index === s.class, hit: mask[best] === 1, objectMass: inObj / (total || 1),
    markMass: s.mark_box ? inMark / (total || 1) : undefined,
    peakOnMark: s.mark_box ? nearMark(s.mark_box, best % w, Math.floor(best / w)) : undefined,
  };
});

function nearMark(box: number[], x: number, y: number): boolean {
  return x >= box[0]! - MARK_MARGIN && x < box[2]! + MARK_MARGIN && y >= box[1]! - MARK_MARGIN && y < box[3]! + MARK_MARGIN;
}

const pct = (v: number) => `${(100 * v).toFixed(0)}%`;
console.log('\nscene                      true          predicted (p)          map peak on object   map mass on object' + (bias ? '   near the mark (peak there?)' : ''));
for (const r of rows) {
  const mark = r.markMass !== undefined ? ` ${pct(r.markMass)} (${r.peakOnMark ? 'yes' : 'no'})` : '';
  console.log(`${r.stem.padEnd(26)} ${r.scene.label.padEnd(13)} ${`${r.predicted} (${r.p.toFixed(2)})`.padEnd(22)} ${(r.hit ? 'yes' : 'no').padEnd(20)} ${pct(r.objectMass).padEnd(18)}${mark}`);
}
const acc = rows.filter((r) => r.correct).length;
const hits = rows.filter((r) => r.hit).length;
console.log(`\naccuracy ${acc}/${rows.length}, pointing game ${hits}/${rows.length}`);

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
const html = `<!doctype html><meta charset="utf-8"><title>gradcam demo: ${modelName}</title>
<style>body{font:14px system-ui,sans-serif;margin:2em}td,th{padding:4px 10px;text-align:left}img{width:192px;image-rendering:pixelated}.no{color:#b00}</style>
<h1>gradcam demo — model “${modelName}”</h1>
<p>${bias ? 'The shortcut model was trained on scenes where every “Bag” carries a small mark. Here the mark sits on objects of other classes: the predictions follow the mark, and Grad-CAM shows the model looking at it.' : 'Grad-CAM of the predicted class on held-out scenes. The pointing game counts a hit when the map’s peak lies on the object.'}</p>
<p>Accuracy ${acc}/${rows.length}; pointing game ${hits}/${rows.length}.</p>
<table><tr><th>scene</th><th>Grad-CAM overlay</th><th>true class</th><th>predicted (p)</th><th>peak on object</th><th>map mass on object</th>${bias ? '<th>map mass near the mark</th>' : ''}</tr>
${rows.map((r) => `<tr><td><img src="../../demo/scenes/${esc(r.scene.file)}"></td><td><img src="${esc(r.stem)}.gradcam.png"></td><td>${esc(r.scene.label)}</td><td class="${r.correct ? '' : 'no'}">${esc(r.predicted)} (${r.p.toFixed(2)})</td><td class="${r.hit ? '' : 'no'}">${r.hit ? 'yes' : 'no'}</td><td>${pct(r.objectMass)}</td>${r.markMass !== undefined ? `<td>${pct(r.markMass)}${r.peakOnMark ? ' (peak)' : ''}</td>` : bias ? '<td></td>' : ''}</tr>`).join('\n')}
</table>`;
fs.writeFileSync(path.join(out, 'index.html'), html);
console.log(`\npage: ${path.relative(process.cwd(), path.join(out, 'index.html'))}`);
