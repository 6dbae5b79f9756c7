/**
 * The scan viewer (volume.html): opens a NIfTI volume, a DICOM series or a multi-frame DICOM file and an
 * ONNX model (3-D, or 2-D: then the current slice is explained), explains it with the CAM methods that
 * take volumes, and shows any slice (axial, coronal, sagittal) with the map over it, window/level and
 * opacity. Everything runs in this page (onnxruntime-web from the app's own files); nothing is uploaded.
 */
import { Explainer } from '../src/explainer.js';
import { camMethods } from '../src/methods/index.js';
import { readNifti, isNifti } from '../src/image/nifti.js';
import { isDicom, readDicom, stackSeries, type DicomFile } from '../src/image/dicom.js';
import { scanToTensors, voxelSpacing, type IntensityMode, type Volume } from '../src/image/volume.js';
import { applyColormap } from '../src/image/colormap.js';
import { mapAtScan, volumePeak, volumeSlice, type SliceAxis } from '../src/render/index.js';
import { configureWebRuntime, createWebSessionFactory, type OrtWebModule } from '../src/runtime/web.js';

/** What the tests read: the last map (at the scan's grid), its dims, the method and the numbers shown. */
(window as unknown as { gradcamVolume: unknown }).gradcamVolume = null;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const status = (s: string) => { $('status').textContent = s; };

let explainer: Explainer | undefined;
let modelName = '';
let scan: Volume | undefined;
let map: Float32Array | undefined;
let ort: OrtWebModule | undefined;

const methods = camMethods().filter((m) => m.volumes).map((m) => m.name);
$<HTMLSelectElement>('method').innerHTML = methods.map((m) => `<option>${m}</option>`).join('');

async function runtime(): Promise<OrtWebModule> {
  if (ort) return ort;
  const base = new URL('./ort/', document.baseURI).href;
  ort = (await import(/* @vite-ignore */ new URL('ort.wasm.min.mjs', base).href)) as OrtWebModule;
  await configureWebRuntime(ort, { backend: 'wasm', wasmPaths: base });
  return ort;
}

async function setModel(name: string, bytes: Uint8Array): Promise<void> {
  const o = await runtime();
  const next = Explainer.fromBytes(bytes, { createSession: createWebSessionFactory(o, 'wasm'), source: name });
  await explainer?.release();
  explainer = next;
  modelName = name;
  map = undefined;
  ready();
}

function setScan(v: Volume): void {
  scan = v;
  map = undefined;
  const w = v.windows?.[0];
  let lo = Infinity;
  let hi = -Infinity;
  for (const x of v.data) { if (x < lo) lo = x; if (x > hi) hi = x; }
  const level = $<HTMLInputElement>('level');
  const width = $<HTMLInputElement>('width');
  level.min = String(Math.floor(lo));
  level.max = String(Math.ceil(hi));
  width.max = String(Math.max(1, Math.ceil(hi - lo)));
  level.value = String(w ? w.center : (lo + hi) / 2);
  width.value = String(w ? w.width : hi - lo);
  setAxis();
  ready();
}

function ready(): void {
  $<HTMLButtonElement>('explain').disabled = !(explainer && scan);
  const parts = [explainer ? `model ${modelName} (${explainer.volume ? '3-D' : '2-D'})` : 'no model', scan ? scan.description : 'no scan'];
  status(parts.join(' · '));
}

function count(): number {
  if (!scan) return 1;
  const [D, H, W] = scan.dims;
  const axis = $<HTMLSelectElement>('axis').value as SliceAxis;
  return axis === 'axial' ? D : axis === 'coronal' ? H : W;
}

function setAxis(): void {
  const idx = $<HTMLInputElement>('index');
  idx.max = String(count() - 1);
  idx.value = String(Math.floor(count() / 2));
  draw();
}

/** The current slice, windowed, with the map over it. */
function draw(): void {
  for (const id of ['index', 'level', 'width', 'opacity']) $(`${id}-v`).textContent = $<HTMLInputElement>(id).value;
  if (!scan) return;
  const axis = $<HTMLSelectElement>('axis').value as SliceAxis;
  const k = Number($<HTMLInputElement>('index').value);
  const level = Number($<HTMLInputElement>('level').value);
  const width = Math.max(1, Number($<HTMLInputElement>('width').value));
  const alpha = Number($<HTMLInputElement>('opacity').value) / 100;
  const [D, H, W] = scan.dims;
  const s = volumeSlice(scan.data.subarray(0, D * H * W), scan.dims, axis, k);
  const m = map ? volumeSlice(map, scan.dims, axis, k) : undefined;
  const colours = m ? applyColormap(m.data, 'jet') : undefined;
  const canvas = $<HTMLCanvasElement>('slice');
  // physical aspect: voxel sizes along the slice's rows and columns
  const [sx, sy, sz] = voxelSpacing(scan.affine);
  const [ph, pw] = axis === 'axial' ? [sy * s.rows, sx * s.cols] : axis === 'coronal' ? [sz * s.rows, sx * s.cols] : [sz * s.rows, sy * s.cols];
  const scale = 384 / Math.max(ph, pw);
  canvas.width = s.cols;
  canvas.height = s.rows;
  canvas.style.width = `${Math.round(pw * scale)}px`;
  canvas.style.height = `${Math.round(ph * scale)}px`;
  const ctx = canvas.getContext('2d')!;
  const img = ctx.createImageData(s.cols, s.rows);
  const lo = level - width / 2;
  for (let p = 0; p < s.data.length; p++) {
    const g = Math.min(Math.max((s.data[p]! - lo) / width, 0), 1) * 255;
    for (let c = 0; c < 3; c++) img.data[p * 4 + c] = colours ? Math.round((1 - alpha) * g + alpha * colours[p * 3 + c]!) : g;
    img.data[p * 4 + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}

async function explain(): Promise<void> {
  if (!explainer || !scan) return;
  const btn = $<HTMLButtonElement>('explain');
  btn.disabled = true;
  try {
    status('Explaining…');
    const intensity = $<HTMLSelectElement>('intensity').value as IntensityMode;
    const win: [number, number] = [Number($<HTMLInputElement>('in-center').value), Number($<HTMLInputElement>('in-width').value)];
    const declared = explainer.layout === 'NCHW' ? explainer.inputDims[1] : explainer.inputDims[explainer.inputDims.length - 1];
    const target = { channels: typeof declared === 'number' ? declared : 1, channelsFirst: explainer.layout === 'NCHW', grid: explainer.inputGrid };
    const method = $<HTMLSelectElement>('method').value;
    const [D, H, W] = scan.dims;
    if (explainer.volume) {
      const [t] = scanToTensors(scan, target, { intensity, window: win }, 'the scan');
      const e = (await explainer.explain(t!.tensor, t!.dims, { method })).explanations[0]!;
      map = mapAtScan(e, scan.dims);
      show(`${e.method}: class ${e.target.index}${e.target.label ? ` '${e.target.label}'` : ''} p=${e.target.probability.toFixed(3)}${e.target.index === e.predicted.index ? ' (predicted)' : ''}\nmap ${e.depth}×${e.height}×${e.width}, layer grid ${e.rawDepth}×${e.rawHeight}×${e.rawWidth}`);
    } else {
      // a 2-D model: every axial slice is explained, the maps stacked into a volume
      const slices = scanToTensors(scan, target, { intensity, window: win }, 'the scan');
      map = new Float32Array(D * H * W);
      const lines: string[] = [];
      for (const [k, t] of slices.entries()) {
        const e = (await explainer.explain(t.tensor, t.dims, { method })).explanations[0]!;
        map.set(mapAtScan({ ...e, depth: 1 }, [1, H, W]), k * H * W);
        if (k === Number($<HTMLInputElement>('index').value)) lines.push(`slice ${k}: class ${e.target.index} p=${e.target.probability.toFixed(3)}`);
      }
      show(`${method} on ${D} slices\n${lines.join('\n')}`);
    }
    $<HTMLButtonElement>('peak').disabled = false;
    (window as unknown as { gradcamVolume: unknown }).gradcamVolume = { map: Array.from(map), dims: scan.dims, method, text: $('numbers').textContent };
    draw();
    ready();
  } catch (e) {
    status(`error: ${(e as Error).message}`);
  } finally {
    btn.disabled = false;
  }
}

function show(text: string): void {
  $('numbers').textContent = text;
}

function goToPeak(): void {
  if (!scan || !map) return;
  const p = volumePeak(map, scan.dims);
  const axis = $<HTMLSelectElement>('axis').value as SliceAxis;
  $<HTMLInputElement>('index').value = String(axis === 'axial' ? p[0] : axis === 'coronal' ? p[1] : p[2]);
  draw();
}

async function openFiles(files: File[]): Promise<void> {
  try {
    const dicoms: DicomFile[] = [];
    for (const f of files) {
      const bytes = new Uint8Array(await f.arrayBuffer());
      if (/\.onnx$/i.test(f.name)) await setModel(f.name, bytes);
      else if (isDicom(bytes)) dicoms.push(readDicom(bytes, f.name));
      else if (/\.nii(\.gz)?$/i.test(f.name) || isNifti(bytes)) setScan(readNifti(bytes, f.name));
      else throw new Error(`${f.name}: not an ONNX model, a NIfTI volume or a DICOM file`);
    }
    if (dicoms.length) setScan(dicoms.length === 1 ? dicoms[0]! : stackSeries(dicoms.filter((d) => d.dims[0] === 1), `the DICOM series (${dicoms.length} files)`));
  } catch (e) {
    status(`error: ${(e as Error).message}`);
  }
}

async function example(): Promise<void> {
  try {
    status('Loading the example…');
    const get = async (url: string) => new Uint8Array(await (await fetch(url)).arrayBuffer());
    await setModel('med3d.onnx', await get('demo/med3d.onnx'));
    setScan(readNifti(await get('demo/medical-example.nii.gz'), 'medical-example.nii.gz'));
    await explain();
    goToPeak();
  } catch (e) {
    status(`error: the example is not available (${(e as Error).message})`);
  }
}

$<HTMLInputElement>('files').addEventListener('change', (ev) => void openFiles([...((ev.target as HTMLInputElement).files ?? [])]));
for (const id of ['index', 'level', 'width', 'opacity']) $(id).addEventListener('input', draw);
$('axis').addEventListener('change', setAxis);
$('explain').addEventListener('click', () => void explain());
$('peak').addEventListener('click', goToPeak);
$('example').addEventListener('click', () => void example());
