/** The detection page: boxes drawn on the scene; a click on a box (or its line) explains that detection. */
import { overlay } from '../src/image/overlay.js';
import { resizeBilinear, resizeRgb } from '../src/image/resize.js';
import { decodePng, toRgbImage } from '../src/image/png.js';
import type { RgbImage } from '../src/image/types.js';
import type { DetectReply, DetectRequest, ShownDetection } from './detect-protocol.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const worker = new Worker(new URL('./detect-worker.ts', import.meta.url), { type: 'module', name: 'gradcam-detect' });
let nextId = 1;
const pending = new Map<number, { resolve: (r: DetectReply) => void; reject: (e: Error) => void }>();
worker.onmessage = (e: MessageEvent<{ id: number; ok: boolean; reply?: DetectReply; error?: string }>) => {
  const p = pending.get(e.data.id);
  if (!p) return;
  pending.delete(e.data.id);
  if (e.data.ok) p.resolve(e.data.reply!); else p.reject(new Error(e.data.error));
};
function call<T extends DetectReply['type']>(req: DetectRequest & { type: T }): Promise<Extract<DetectReply, { type: T }>> {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve: resolve as (r: DetectReply) => void, reject });
    worker.postMessage({ id, req });
  });
}

const status = (s: string) => { $('status').textContent = s; };
const canvas = $<HTMLCanvasElement>('view');
let scene: RgbImage | undefined;
let pngBytes: Uint8Array | undefined;
let dets: ShownDetection[] = [];
let size: [number, number] = [1, 1];
let selected = -1;
let heat: { map: Float32Array; width: number; height: number } | undefined;

function draw(): void {
  if (!scene) return;
  const W = Math.max(384, scene.width);
  const H = Math.round((W * scene.height) / scene.width);
  let pic = resizeRgb(scene, W, H);
  if (heat) pic = overlay(pic, resizeBilinear(heat.map, heat.height, heat.width, H, W), { colormap: 'jet', alpha: 0.5 });
  canvas.width = W;
  canvas.height = H;
  const ctx = canvas.getContext('2d')!;
  const rgba = new Uint8ClampedArray(W * H * 4);
  for (let i = 0; i < W * H; i++) { rgba[4 * i] = pic.data[3 * i]!; rgba[4 * i + 1] = pic.data[3 * i + 1]!; rgba[4 * i + 2] = pic.data[3 * i + 2]!; rgba[4 * i + 3] = 255; }
  ctx.putImageData(new ImageData(rgba, W, H), 0, 0);
  const [h, w] = size;
  dets.forEach((d, i) => {
    if (selected >= 0 && i !== selected) return;
    const [x1, y1, x2, y2] = [d.box[0] * W / w, d.box[1] * H / h, d.box[2] * W / w, d.box[3] * H / h];
    ctx.strokeStyle = i === selected ? '#fff' : '#0f0';
    ctx.lineWidth = 2;
    ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
    ctx.fillStyle = ctx.strokeStyle;
    ctx.font = '12px system-ui';
    ctx.fillText(`${d.label ?? d.class} ${d.score.toFixed(2)}`, x1 + 2, Math.max(12, y1 - 3));
  });
  $('dets').innerHTML = '';
  dets.forEach((d, i) => {
    const li = document.createElement('li');
    li.textContent = `${d.label ?? `class ${d.class}`} ${d.score.toFixed(2)} [${d.box.map((v) => v.toFixed(0)).join(', ')}]`;
    li.className = i === selected ? 'on' : '';
    li.onclick = () => void explain(i);
    $('dets').append(li);
  });
}

async function explain(i: number): Promise<void> {
  selected = i;
  status('explaining…');
  try {
    const r = await call({ type: 'explain', index: i, method: $<HTMLSelectElement>('method').value, renormalize: $<HTMLInputElement>('renorm').checked });
    heat = r;
    status(`${r.target}${r.warnings.length ? ` — ${r.warnings.join('; ')}` : ''}`);
  } catch (e) {
    status(`error: ${(e as Error).message}`);
  }
  draw();
}

async function detect(): Promise<void> {
  if (!pngBytes) return;
  heat = undefined;
  selected = -1;
  const r = await call({ type: 'detect', png: pngBytes, scoreThreshold: Number($<HTMLInputElement>('thr').value), iouThreshold: 0.45 });
  dets = r.detections;
  size = r.size;
  status(`${dets.length} detection(s); click one to explain it`);
  draw();
}

async function loadModel(name: string, bytes: Uint8Array): Promise<void> {
  status(`loading ${name}…`);
  const r = await call({ type: 'load', name, bytes, ortBase: new URL('ort/', document.baseURI).href });
  status(r.description);
  if (pngBytes) await detect();
}

async function loadImage(bytes: Uint8Array): Promise<void> {
  pngBytes = bytes;
  scene = toRgbImage(decodePng(bytes));
  await detect();
}

canvas.onclick = (ev) => {
  if (!scene || !dets.length) return;
  const rect = canvas.getBoundingClientRect();
  const [h, w] = size;
  const x = ((ev.clientX - rect.left) / rect.width) * w;
  const y = ((ev.clientY - rect.top) / rect.height) * h;
  // the smallest box under the click
  let best = -1;
  dets.forEach((d, i) => {
    if (x >= d.box[0] && x <= d.box[2] && y >= d.box[1] && y <= d.box[3]) {
      if (best < 0 || (d.box[2] - d.box[0]) * (d.box[3] - d.box[1]) < (dets[best]!.box[2] - dets[best]!.box[0]) * (dets[best]!.box[3] - dets[best]!.box[1])) best = i;
    }
  });
  if (best >= 0) void explain(best);
};
const fileBytes = async (f: File) => new Uint8Array(await f.arrayBuffer());
$<HTMLInputElement>('model').onchange = async (e) => {
  const f = (e.target as HTMLInputElement).files?.[0];
  if (f) await loadModel(f.name, await fileBytes(f)).catch((err) => status(`error: ${(err as Error).message}`));
};
$<HTMLInputElement>('image').onchange = async (e) => {
  const f = (e.target as HTMLInputElement).files?.[0];
  if (f) await loadImage(await fileBytes(f)).catch((err) => status(`error: ${(err as Error).message}`));
};
$<HTMLInputElement>('thr').onchange = () => void detect().catch((err) => status(`error: ${(err as Error).message}`));
$('demo').onclick = async () => {
  try {
    const get = async (u: string) => new Uint8Array(await (await fetch(u)).arrayBuffer());
    await loadModel('street_glare.onnx', await get('demo/street_glare.onnx'));
    await loadImage(await get('demo/detect/street_02.png'));
  } catch (err) {
    status(`error: ${(err as Error).message}`);
  }
};

/** For tests and the curious: the page's state. */
(window as unknown as { gradcamDetect: unknown }).gradcamDetect = {
  get status() { return $('status').textContent; },
  get detections() { return dets; },
  get heat() { return heat; },
  get selected() { return selected; },
};
