/**
 * `npm run demo:medical`: the medical demo (issue 16). The phantoms of scripts/demo/medical/phantom.ts
 * (test seeds, never trained on) are written as real scan files — NIfTI volumes, one volume as a DICOM
 * series, 16-bit PNG slices — and explained through the gradcam CLI with the two demo models
 * (demo/models/med3d.onnx, a 3-D CNN; med2d.onnx, a 1-channel 2-D CNN). The whole test set is then scored
 * with the library: accuracy, the pointing game (the map's peak inside the lesion) and the energy inside
 * the lesion (its share of the map's sum; a uniform map gets the lesion's share of the volume). Writes
 * demo-out/medical/index.html (slice montages with the lesion outlined, and the numbers) and RESULTS.json.
 *
 *   npm run demo:medical [-- --volumes 40 --slices 100]
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Explainer } from '../src/explainer.js';
import { createNodeSession } from '../src/runtime/node.js';
import { writeNifti } from '../src/image/nifti.js';
import { scanToTensors, type Volume } from '../src/image/volume.js';
import { encodePng } from '../src/image/png.js';
import { parseNpy, toFloat32 } from '../src/image/npy.js';
import { energyPointing, pointingGame } from '../src/metrics/localisation.js';
import { volumeMontage, volumePeak } from '../src/render/index.js';
import { writeDicom } from './medical/dicom-writer.js';
import { png16 } from './medical/image16-writer.js';
import { LABELS, phantomSlice, phantomVolume, sliceInput, volumeInput, type Phantom } from './demo/medical/phantom.js';

const ROOT = path.join(path.dirname(new URL(import.meta.url).pathname), '..');
const OUT = path.join(ROOT, 'demo-out', 'medical');
const arg = (name: string, def: number) => { const i = process.argv.indexOf(`--${name}`); return i > 0 ? Number(process.argv[i + 1]) : def; };
const NV = arg('volumes', 40);
const NS = arg('slices', 100);
const SEED = 100000;
const M3 = path.join(ROOT, 'demo', 'models', 'med3d.onnx');
const M2 = path.join(ROOT, 'demo', 'models', 'med2d.onnx');
const AFFINE = new Float64Array([-0.8, 0, 0, 12.4, 0, -0.8, 0, 12.4, 0, 0, 1.5, -23.25, 0, 0, 0, 1]);

for (const m of [M3, M2]) if (!fs.existsSync(m)) { console.error(`demo model missing: ${m} (scripts/demo/medical/train_medical.py makes it)`); process.exit(1); }
fs.rmSync(OUT, { recursive: true, force: true });
fs.mkdirSync(path.join(OUT, 'scans'), { recursive: true });

const cli = (...args: string[]) => {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'gradcam.js'), ...args, '--quiet'], { encoding: 'utf8', cwd: ROOT });
  if (r.status !== 0) { console.error(r.stderr); process.exit(1); }
  process.stdout.write(r.stdout);
};

/** The phantom as a scan file's Volume (HU values, the demo geometry: 0.8 mm in-plane, 1.5 mm slices). */
const asVolume = (p: Phantom): Volume => ({ data: p.data, channels: 1, dims: p.dims as [number, number, number], affine: AFFINE, source: 'nifti', description: 'phantom' });

/**
 * The 3-D maps shown and scored in the first table: Grad-CAM at the automatic layer (the last block,
 * 8×8×8). The second table scores more methods there and at the block before it (`features.4`).
 */
const LAYER3 = 'auto';
const COMBOS3: [string, string][] = [['gradcam', 'auto'], ['gradcam++', 'auto'], ['xgradcam', 'auto'], ['layercam', 'auto'], ['hirescam', 'auto'], ['gradcam', 'features.4'], ['layercam', 'features.4']];

interface Score { n: number; correct: number; lesions: number; pointing: number; pointingTol1: number; energy: number; baseline: number; peak: number[] }
const score = (): Score => ({ n: 0, correct: 0, lesions: 0, pointing: 0, pointingTol1: 0, energy: 0, baseline: 0, peak: [] });

async function main(): Promise<void> {
  // ---- 3-D: the whole test set through the library ----
  const ex3 = Explainer.fromBytes(new Uint8Array(fs.readFileSync(M3)), { createSession: createNodeSession, source: 'med3d.onnx' });
  const s3 = score();
  const combos = COMBOS3.map(() => ({ pointing: 0, energy: 0 }));
  const showcase: { name: string; p: Phantom }[] = [];
  for (let k = 0; k < NV; k++) {
    const label = (k % 2 === 0 ? 1 : 0) as 0 | 1;
    const p = phantomVolume(SEED + k, label);
    const [t] = scanToTensors(asVolume(p), { channels: 1, channelsFirst: true, grid: [32, 32, 32] }, { intensity: 'window', window: [40, 400] }, 'phantom');
    // the scan path gives what the model was trained on
    if (k === 0) { const ref = volumeInput(p); for (let i = 0; i < ref.length; i += 97) if (Math.abs(ref[i]! - t!.tensor[i]!) > 1e-6) throw new Error('input mismatch'); }
    const e = (await ex3.explain(t!.tensor, t!.dims, { classes: 1, layer: LAYER3 })).explanations[0]!;
    if (label === 1) {
      for (const [j, [method, layer]] of COMBOS3.entries()) {
        const m = (await ex3.explain(t!.tensor, t!.dims, { classes: 1, layer, method })).explanations[0]!;
        if (pointingGame(m.map, p.mask, 32 * 32)) combos[j]!.pointing++;
        combos[j]!.energy += energyPointing(m.map, p.mask);
      }
    }
    s3.n++;
    if (e.predicted.index === label) s3.correct++;
    if (label === 1) {
      s3.lesions++;
      const hit = pointingGame(e.map, p.mask, 32 * 32);
      const [pk, pj, pi] = volumePeak(e.map, [32, 32, 32]);
      let near = false;
      for (let dz = -1; dz <= 1; dz++) for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) {
        const [z, y, x] = [pk + dz, pj + dy, pi + dx];
        if (z >= 0 && y >= 0 && x >= 0 && z < 32 && y < 32 && x < 32 && p.mask[(z * 32 + y) * 32 + x]) near = true;
      }
      if (hit) s3.pointing++;
      if (near) s3.pointingTol1++;
      s3.energy += energyPointing(e.map, p.mask);
      s3.baseline += p.mask.reduce((a, v) => a + v, 0) / p.mask.length;
      if (showcase.length < 3) showcase.push({ name: `ct-${k}`, p });
    }
  }
  await ex3.release();

  // ---- 2-D ----
  const ex2 = Explainer.fromBytes(new Uint8Array(fs.readFileSync(M2)), { createSession: createNodeSession, source: 'med2d.onnx' });
  const s2 = score();
  const xrays: { name: string; p: Phantom }[] = [];
  for (let k = 0; k < NS; k++) {
    const label = (k % 2 === 0 ? 1 : 0) as 0 | 1;
    const p = phantomSlice(SEED + k, label);
    const e = (await ex2.explain(sliceInput(p), [1, 1, 64, 64], { classes: 1 })).explanations[0]!;
    s2.n++;
    if (e.predicted.index === label) s2.correct++;
    if (label === 1) {
      s2.lesions++;
      if (pointingGame(e.map, p.mask, 64)) s2.pointing++;
      if (pointingGame(e.map, p.mask, 64, 2)) s2.pointingTol1++;
      s2.energy += energyPointing(e.map, p.mask);
      s2.baseline += p.mask.reduce((a, v) => a + v, 0) / p.mask.length;
      if (xrays.length < 3) xrays.push({ name: `xray-${k}`, p });
    }
  }
  await ex2.release();

  // ---- scan files through the CLI ----
  const scans = path.join(OUT, 'scans');
  for (const { name, p } of showcase) {
    fs.writeFileSync(path.join(scans, `${name}.nii.gz`), writeNifti(p.data, asVolume(p), { gzip: true, description: 'gradcam phantom CT' }));
    fs.writeFileSync(path.join(scans, `${name}.mask.nii.gz`), writeNifti(Float32Array.from(p.mask), asVolume(p), { gzip: true, description: 'lesion mask' }));
  }
  // the first showcase volume also as a DICOM series (int16 HU, one file per slice)
  const series = path.join(scans, 'ct-series');
  fs.mkdirSync(series);
  const first = showcase[0]!.p;
  for (let z = 0; z < 32; z++) {
    const pixels = Array.from(first.data.subarray(z * 1024, (z + 1) * 1024), (v) => Math.round(v) + 1024);
    fs.writeFileSync(path.join(series, `slice-${String(z).padStart(3, '0')}.dcm`), writeDicom({ rows: 32, cols: 32, pixels, signed: false, slope: 1, intercept: -1024, windows: [{ center: 40, width: 400 }], spacing: [0.8, 0.8], position: [-12.4, -12.4, -23.25 + 1.5 * z], orientation: [1, 0, 0, 0, 1, 0], instance: z + 1, series: '1.2.826.0.1.3680043.10.1604.77' }));
  }
  for (const { name, p } of xrays) fs.writeFileSync(path.join(scans, `${name}.png`), png16(64, 64, Uint16Array.from(p.data)));
  const maps = path.join(OUT, 'maps');
  console.log('gradcam explain on the scan files:');
  cli('explain', ...showcase.map((s) => path.join(scans, `${s.name}.nii.gz`)), '--model', M3, '--out', maps, '--class', 'lesion', '--intensity', 'window', '--window', '40,400', '--raw');
  cli('explain', ...fs.readdirSync(series).map((f) => path.join(series, f)), '--model', M3, '--out', maps, '--class', 'lesion', '--intensity', 'window', '--raw');
  // montages with the lesion outlined (the CLI's montages have no ground truth)
  const cards: string[] = [];
  for (const { name, p } of showcase) {
    const m = toFloat32(parseNpy(new Uint8Array(fs.readFileSync(path.join(maps, `${name}.gradcam.npy`)))));
    const gray = p.data.map((v) => Math.min(Math.max((v + 160) / 400, 0), 1));
    const png = encodePng(volumeMontage(gray, m, [32, 32, 32], [0.8, 0.8, 1.5], { colormap: 'jet', alpha: 0.45, outline: p.mask, caption: `${name}: Grad-CAM for 'lesion' (lesion outlined in white)` }));
    fs.writeFileSync(path.join(OUT, `${name}.outlined.png`), png);
    cards.push(`<figure><img src="${name}.outlined.png" alt="${name}"><figcaption>${name}.nii.gz — <a href="maps/${name}.gradcam.png">CLI montage</a>, <a href="maps/${name}.gradcam.nii.gz">NIfTI map</a></figcaption></figure>`);
  }
  cards.push(`<figure><img src="maps/ct-series.gradcam.png" alt="DICOM series"><figcaption>the same phantom as ct-0, read as a DICOM series of 32 files (int16 with rescale intercept −1024)</figcaption></figure>`);

  const pct = (a: number, b: number) => (b ? (100 * a) / b : 0);
  const results = {
    generated_by: 'scripts/demo-medical.ts (npm run demo:medical)',
    test_seeds: `phantoms ${SEED}..: never seen in training (seeds 0.. train)`,
    method: 'gradcam for class lesion at the automatic layer (the last block); 3-D: trilinear upsampling; 2-D: OpenCV bilinear',
    med3d_methods_on_lesions: Object.fromEntries(COMBOS3.map(([m, l], j) => [`${m} @ ${l === 'auto' ? 'last block (auto)' : l}`, { pointing_game: pct(combos[j]!.pointing, s3.lesions), energy_in_lesion: pct(combos[j]!.energy, s3.lesions) }])),
    med3d: { volumes: s3.n, accuracy: pct(s3.correct, s3.n), lesions: s3.lesions, pointing_game: pct(s3.pointing, s3.lesions), pointing_game_1voxel: pct(s3.pointingTol1, s3.lesions), energy_in_lesion: pct(s3.energy, s3.lesions), energy_uniform_baseline: pct(s3.baseline, s3.lesions) },
    med2d: { slices: s2.n, accuracy: pct(s2.correct, s2.n), lesions: s2.lesions, pointing_game: pct(s2.pointing, s2.lesions), pointing_game_2px: pct(s2.pointingTol1, s2.lesions), energy_in_lesion: pct(s2.energy, s2.lesions), energy_uniform_baseline: pct(s2.baseline, s2.lesions) },
  };
  fs.writeFileSync(path.join(OUT, 'RESULTS.json'), `${JSON.stringify(results, null, 1)}\n`);
  const row = (name: string, r: typeof results.med3d | typeof results.med2d, n: number) => `<tr><td>${name}</td><td>${n}</td><td>${r.accuracy.toFixed(1)} %</td><td>${r.pointing_game.toFixed(1)} %</td><td>${r.energy_in_lesion.toFixed(1)} %</td><td>${r.energy_uniform_baseline.toFixed(2)} %</td></tr>`;
  const xrayCards = xrays.map(({ name }) => `<figure><img src="maps/${name}.gradcam.png" alt="${name}"><figcaption>${name}.png (16-bit)</figcaption></figure>`);
  cli('explain', ...xrays.map((x) => path.join(scans, `${x.name}.png`)), '--model', M2, '--out', maps, '--class', 'lesion');
  fs.writeFileSync(path.join(OUT, 'index.html'), `<!doctype html><meta charset="utf-8"><title>gradcam medical demo</title>
<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}img{max-width:100%;image-rendering:pixelated}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px}figure{margin:1em 0}</style>
<h1>gradcam on scans: a 3-D CNN and a 2-D grayscale CNN</h1>
<p>Phantom CT volumes (32³, Hounsfield-like units: body, organ, spine, vessels) and chest-like 16-bit slices, some with a
lesion whose voxels are known exactly; models trained for a few minutes on a shared CPU (scripts/demo/medical/).
Test phantoms were never seen in training. Scores: Grad-CAM for the class 'lesion' on the volumes that have one.</p>
<table><tr><th>model</th><th>test scans</th><th>accuracy</th><th>pointing game (peak in the lesion)</th><th>energy in the lesion</th><th>uniform map's energy</th></tr>
${row('med3d (3-D CNN, NIfTI/DICOM volumes)', results.med3d, s3.n)}
${row('med2d (2-D CNN, 1-channel 16-bit slices)', results.med2d, s2.n)}</table>
<p>Both rows: Grad-CAM for 'lesion' at the automatic layer (the last block; 8×8×8 for the 3-D model). More 3-D methods and the
block before the last, on the ${s3.lesions} lesion volumes:</p>
<table><tr><th>method @ layer</th><th>pointing game</th><th>energy in the lesion</th></tr>
${Object.entries(results.med3d_methods_on_lesions).map(([k, v]) => `<tr><td>${k}</td><td>${v.pointing_game.toFixed(1)} %</td><td>${v.energy_in_lesion.toFixed(1)} %</td></tr>`).join('\n')}</table>
<h2>Volumes</h2>${cards.join('\n')}
<h2>16-bit slices</h2>${xrayCards.join('\n')}
<p>Labels: ${LABELS.join(', ')}. Numbers: RESULTS.json.</p>`);
  console.log(`\n${JSON.stringify(results, null, 1)}\nwrote ${path.join(OUT, 'index.html')}`);
}

await main();
