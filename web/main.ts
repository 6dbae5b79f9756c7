/**
 * The page: files in, controls, drawing. All model work goes to the worker (worker.ts); the page only
 * draws maps over pictures (cheap) and so never freezes.
 */
import { mapOverlay, overlayPicture } from '../src/render/index.js';
import { gradientPicture } from '../src/render/panels.js';
import { attributionFacts, attributionPicture, DEFAULT_TOP_PERCENT, type AttributionLook } from '../src/render/attribution.js';
import { resizeRgb } from '../src/image/resize.js';
import { encodePng } from '../src/image/png.js';
import { isModelFileName } from '../src/onnx/import/names.js';
import { writeNpy } from '../src/image/npy.js';
import { grayscaleImage, heatmapImage } from '../src/image/overlay.js';
import { shortLayerName } from '../src/util/text.js';
import type { RgbImage } from '../src/image/types.js';
import type { ClassScore } from '../src/explainer.js';
import { layoutLabel } from '../src/layout/describe.js';
import { progressText } from '../src/util/progress.js';
import { parseHxW } from '../src/util/size.js';
import type { WebRuntimeInfo } from '../src/runtime/web.js';
import { setupCamera, type CameraState } from './camera.js';
import type {
  Analysis, BackendChoice, BenchOutput, ExplainOutput, GridOutput, ImageInfo, ModelInfo, Progress, Reply, Request, SanityOutput, WorkerMessage,
} from './protocol.js';

// ---------------------------------------------------------------- worker client

type ReplyOf<T extends Reply['type']> = Extract<Reply, { type: T }>;

class ModelWorker {
  private worker: Worker;
  private next = 1;
  private pending = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void; progress?: (p: Progress) => void }>();

  constructor() {
    this.worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module', name: 'gradcam-model' });
    this.worker.onmessage = (e: MessageEvent<WorkerMessage>) => {
      const m = e.data;
      const p = this.pending.get(m.id);
      if (!p) return;
      if ('runtime' in m) { showRuntime(m.runtime, m.ortVersion); showError(new Error(m.note)); return; }
      if ('progress' in m) { p.progress?.(m.progress); return; }
      this.pending.delete(m.id);
      if (m.ok) p.resolve(m.reply);
      else p.reject(Object.assign(new Error(m.error), { name: m.name }));
    };
    this.worker.onerror = (e) => {
      const err = new Error(`the model worker failed: ${e.message || 'unknown error'}`);
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
      showError(err);
    };
  }

  call<T extends Request['type']>(req: Extract<Request, { type: T }>, progress?: (p: Progress) => void): Promise<ReplyOf<T>> {
    const id = this.next++;
    return new Promise<ReplyOf<T>>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (r: Reply) => void, reject, progress });
      this.worker.postMessage({ id, req });
    });
  }
}

// ---------------------------------------------------------------- state

interface Example { file: string; label?: string }
interface Manifest { model: string | null; name: string; examples: Example[] }

const state = {
  model: undefined as ModelInfo | undefined,
  modelFile: undefined as { name: string; bytes: Uint8Array; extra: { name: string; bytes: Uint8Array }[]; labelsText?: string; entry?: string } | undefined,
  images: [] as (ImageInfo & { label?: string })[],
  selected: undefined as string | undefined,
  analysis: undefined as Analysis | undefined,
  result: undefined as ExplainOutput | undefined,
  runtime: '' as string,
  explainSeq: 0,
  /** Bumped whenever the shown scores stop being valid (a model is replaced, a new analysis starts): late results are dropped. */
  view: 0,
  /** Successful model loads. */
  modelSeq: 0,
  /** What the shown scores belong to (model load, image, normalisation); maps drawn beside them carry the same tag. */
  scoresTag: '',
};

// exposed for tests and the benchmark (read-only use)
interface GradcamHook {
  ready: boolean;
  busy: number;
  errors: string[];
  /** Every progress stage shown, in order. */
  stages: string[];
  model?: ModelInfo;
  analysis?: Analysis;
  last?: { imageName: string; method: string; layer: string; classIndex: number; width: number; height: number; map: Float32Array; kind: string; gradient?: Float32Array };
  grid?: GridOutput;
  sanity?: SanityOutput;
  runtime?: unknown;
  /** The Camera / video mode (camera.ts). */
  camera?: CameraState;
  bench(iterations: number, seed?: number): Promise<BenchOutput>;
}
const hook: GradcamHook = {
  ready: false, busy: 0, errors: [], stages: [],
  async bench(iterations, seed = 1) {
    const p = showProgress('benchmark');
    try {
      return (await worker.call({ type: 'bench', iterations, seed }, p)).bench;
    } finally {
      p.end();
    }
  },
};
(window as unknown as { gradcam: GradcamHook }).gradcam = hook;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const el = {
  runtime: $<HTMLParagraphElement>('runtime'), gpuNote: $<HTMLSpanElement>('gpu-note'),
  modelLine: $<HTMLDivElement>('model-line'), drop: $<HTMLLabelElement>('drop'), files: $<HTMLInputElement>('files'), folder: $<HTMLInputElement>('folder'),
  tryIt: $<HTMLButtonElement>('try'), normalize: $<HTMLSelectElement>('normalize'), backend: $<HTMLSelectElement>('backend'),
  sizeLabel: $<HTMLLabelElement>('size-label'), size: $<HTMLInputElement>('size'), images: $<HTMLDivElement>('images'),
  progress: $<HTMLDivElement>('progress'), progressFill: $<HTMLDivElement>('progress-fill'), progressText: $<HTMLSpanElement>('progress-text'),
  error: $<HTMLDivElement>('error'),
  explain: $<HTMLElement>('explain'), cls: $<HTMLSelectElement>('class'), layer: $<HTMLSelectElement>('layer'), method: $<HTMLSelectElement>('method'), methodOptions: $<HTMLElement>('method-options'),
  colormap: $<HTMLSelectElement>('colormap'), alpha: $<HTMLInputElement>('alpha'), alphaValue: $<HTMLSpanElement>('alpha-value'),
  overlay: $<HTMLCanvasElement>('overlay'), caption: $<HTMLElement>('caption'),
  gradientFigure: $<HTMLElement>('gradient-figure'), gradient: $<HTMLCanvasElement>('gradient'), gradientCaption: $<HTMLElement>('gradient-caption'),
  attributionLook: $<HTMLElement>('attribution-look'), abs: $<HTMLInputElement>('abs'), topPercent: $<HTMLInputElement>('top-percent'),
  top5: $<HTMLOListElement>('top5'), timings: $<HTMLParagraphElement>('timings'), warnings: $<HTMLUListElement>('warnings'),
  webgpuOption: document.querySelector<HTMLOptionElement>('#backend option[value="webgpu"]')!,
  dlPng: $<HTMLButtonElement>('dl-png'), dlJson: $<HTMLButtonElement>('dl-json'), dlNpy: $<HTMLButtonElement>('dl-npy'),
  gridPanel: $<HTMLElement>('grid-panel'), gridCount: $<HTMLSelectElement>('grid-count'), gridRun: $<HTMLButtonElement>('grid-run'), grid: $<HTMLDivElement>('grid'),
  sanityPanel: $<HTMLElement>('sanity-panel'), sanitySteps: $<HTMLSelectElement>('sanity-steps'), sanityRun: $<HTMLButtonElement>('sanity-run'),
  sanity: $<HTMLDivElement>('sanity'), sanityVerdict: $<HTMLParagraphElement>('sanity-verdict'),
};

const worker = new ModelWorker();

// ---------------------------------------------------------------- progress and errors

const running = new Map<number, { stage: string; done?: number; total?: number; since: number }>();
let progressSeq = 0;
let ticker: ReturnType<typeof setInterval> | undefined;

function renderProgress(): void {
  const last = [...running.values()].pop();
  el.progress.hidden = !last;
  if (!last) {
    if (ticker) clearInterval(ticker);
    ticker = undefined;
    return;
  }
  const elapsedS = (performance.now() - last.since) / 1000;
  const counted = last.total !== undefined && last.done !== undefined;
  el.progressFill.classList.toggle('indeterminate', !counted);
  el.progressFill.style.width = counted ? `${(100 * last.done!) / Math.max(1, last.total!)}%` : '30%';
  // the CLI's progress text (src/util/progress.ts), without its rate: steps here are of unlike kinds
  el.progressText.textContent = progressText({ label: last.stage, elapsedS, unit: '', ...(counted ? { done: last.done, total: last.total } : {}) });
}

/** A progress callback for one request; call the returned function's `end` when it settles. */
function showProgress(first: string): ((p: Progress) => void) & { end: () => void } {
  const key = ++progressSeq;
  running.set(key, { stage: first, since: performance.now() });
  hook.stages.push(first);
  hook.busy++;
  ticker ??= setInterval(renderProgress, 200);
  renderProgress();
  const f = ((p: Progress) => {
    hook.stages.push(p.stage);
    running.set(key, { ...p, since: running.get(key)?.since ?? performance.now() });
    renderProgress();
  }) as ((p: Progress) => void) & { end: () => void };
  f.end = () => {
    if (running.delete(key)) hook.busy--;
    renderProgress();
  };
  return f;
}

async function task<T>(first: string, fn: (progress: (p: Progress) => void) => Promise<T>): Promise<T | undefined> {
  const p = showProgress(first);
  try {
    clearError();
    return await fn(p);
  } catch (e) {
    showError(e);
    return undefined;
  } finally {
    p.end();
  }
}

function showError(e: unknown): void {
  const msg = (e as Error)?.message ?? String(e);
  hook.errors.push(msg);
  el.error.textContent = msg;
  el.error.hidden = false;
}

function clearError(): void {
  el.error.hidden = true;
}

// ---------------------------------------------------------------- drawing helpers

function drawImage(canvas: HTMLCanvasElement, img: RgbImage): void {
  canvas.width = img.width;
  canvas.height = img.height;
  const ctx = canvas.getContext('2d')!;
  const id = ctx.createImageData(img.width, img.height);
  for (let i = 0, j = 0; i < img.width * img.height; i++, j += 3) {
    id.data[i * 4] = img.data[j]!;
    id.data[i * 4 + 1] = img.data[j + 1]!;
    id.data[i * 4 + 2] = img.data[j + 2]!;
    id.data[i * 4 + 3] = 255;
  }
  ctx.putImageData(id, 0, 0);
}

/** The map [h, w] blended over a picture at the picture's size, as the CLI does. */
function overlayOn(pic: RgbImage, map: Float32Array, h: number, w: number): RgbImage {
  return mapOverlay(pic, map, w, h, { colormap: el.colormap.value, alpha: Number(el.alpha.value) });
}

function label(c: ClassScore): string {
  return c.label ? `${c.index} '${c.label}'` : `${c.index}`;
}

function selectedImage(): (ImageInfo & { label?: string }) | undefined {
  return state.images.find((i) => i.id === state.selected);
}

function download(name: string, bytes: Uint8Array | string, type: string): void {
  const blob = new Blob([bytes as BlobPart], { type });
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

// ---------------------------------------------------------------- runtime, model, images

/** `?threads=N` sets the wasm threads (default: all logical cores); `?backend=wasm|webgpu|auto`. */
const query = new URLSearchParams(location.search);
const queryThreads = Number(query.get('threads')) || undefined;

/** Starts (or switches) the runtime; true when it changed (the model was moved to it). */
async function initRuntime(backend: BackendChoice): Promise<boolean> {
  const ortBase = new URL('ort/', document.baseURI).href;
  const r = await task('starting onnxruntime-web', () => worker.call({ type: 'init', backend, ortBase, numThreads: queryThreads }));
  if (!r) return false;
  showRuntime(r.info, r.ortVersion);
  // e.g. WebGPU chosen where the browser has none: the runtime stayed (or wasm started)
  if (r.note) showError(new Error(r.note));
  return r.changed;
}

function showRuntime(i: WebRuntimeInfo, ortVersion: string): void {
  hook.runtime = i;
  state.runtime = `${i.backend}${i.backend === 'wasm' ? `, ${i.threads} thread${i.threads > 1 ? 's' : ''}${i.simd ? ', SIMD' : ''}` : ''}`;
  el.gpuNote.textContent = i.backend === 'webgpu' ? ' and WebGPU' : '';
  el.webgpuOption.textContent = i.webgpu ? 'WebGPU' : 'WebGPU (not available)';
  // the menu shows the backend that runs (after a fallback to wasm, wasm)
  if (el.backend.value !== 'auto' && el.backend.value !== i.backend) el.backend.value = i.backend;
  el.runtime.textContent = `onnxruntime-web ${ortVersion} · backend: ${state.runtime} · WebGPU ${i.webgpu ? 'available' : 'not available'} · ` +
    (i.crossOriginIsolated ? 'cross-origin isolated (threads on)' : 'not cross-origin isolated: one thread (serve with `gradcam serve` for threads)');
}

async function loadModel(name: string, bytes: Uint8Array, extra: { name: string; bytes: Uint8Array }[] = [], labelsText?: string, description?: string, entry?: string): Promise<boolean> {
  const size = parseSizeInput();
  // the shown map and scores belong to the model being replaced
  clearExplanation();
  const r = await task(`loading ${name}`, (p) => worker.call({ type: 'loadModel', name, bytes, extra, labelsText, size, ...(entry !== undefined ? { entry } : {}) }, p));
  if (!r) return false;
  const m = r.model;
  state.model = m;
  state.modelSeq++;
  state.modelFile = { name, bytes, extra, labelsText, ...(entry !== undefined ? { entry } : {}) };
  hook.model = m;
  const dims = m.inputDims.map((d) => d ?? '?').join('×');
  const nClasses = m.labels ? `${m.labels.length} labelled classes` : 'no labels';
  el.modelLine.innerHTML = '';
  const strong = document.createElement('strong');
  strong.textContent = name;
  el.modelLine.append('Model: ', strong, ` — input ${m.inputName} [${dims}] ${m.layout}, ${nClasses}, ${m.layers.length} candidate layers${m.promoted.length ? `, ${m.promoted.join(' and ')} weights computed in float32` : ''} (loaded in ${(m.loadMs / 1000).toFixed(1)} s)`);
  const desc = [description ?? m.description, ...(m.notes ?? [])].filter(Boolean).join(' · ');
  if (desc) {
    const d = document.createElement('span');
    d.className = 'desc';
    d.textContent = desc;
    el.modelLine.append(d);
  }
  // 'as the model states': offered only for an imported model whose stated normalisation is no preset
  el.normalize.querySelector('option[value="model"]')?.remove();
  if (m.normalization === 'model') el.normalize.append(new Option("as the model's files state", 'model'));
  if (m.normalization) el.normalize.value = m.normalization;
  el.sizeLabel.hidden = !m.dynamicSize;
  if (m.dynamicSize) el.size.value = `${m.size[0]}x${m.size[1]}`;
  fillLayers(m);
  fillMethods(m);
  for (const w of m.warnings) showError(w);
  el.tryIt.disabled = state.images.length === 0;
  return true;
}

function parseSizeInput(): [number, number] | undefined {
  try {
    return parseHxW(el.size.value, 'the size');
  } catch {
    return undefined;
  }
}

function fillLayers(m: ModelInfo): void {
  el.layer.innerHTML = '';
  const auto = m.layers.find((l) => l.auto);
  el.layer.append(new Option(`auto${auto ? ` (${auto.name})` : ''}`, 'auto'));
  for (const l of [...m.layers].reverse()) el.layer.append(new Option(`${l.name} — ${l.op} [${l.shape.slice(1).join('×')}] ${layoutLabel(l.layout)}`, l.name));
}

function fillMethods(m: ModelInfo): void {
  const prev = el.method.value;
  el.method.innerHTML = '';
  const titles: Record<string, string> = { cam: 'CAM methods', gradient: 'Gradient methods', path: 'Path methods', noise: 'Noise methods', perturbation: 'Perturbation methods' };
  for (const family of [...new Set(m.methods.map((x) => x.family))]) {
    const g = document.createElement('optgroup');
    g.label = titles[family] ?? family;
    for (const x of m.methods.filter((y) => y.family === family)) {
      const o = new Option(x.name, x.name);
      o.title = x.description;
      g.append(o);
    }
    el.method.append(g);
  }
  el.method.value = m.methods.some((x) => x.name === prev) ? prev : 'gradcam';
  fillMethodOptions();
}

/**
 * The chosen method's options as fields beside the menu, one per declaration of its registry descriptor
 * (MethodInfo.options: key, flag, type, default, choices, bounds, help); `#opt-<flag>`. A field left empty
 * takes the descriptor's default (its placeholder). Values a method does not accept are refused by the worker.
 */
function fillMethodOptions(): void {
  el.methodOptions.innerHTML = '';
  const m = state.model?.methods.find((x) => x.name === el.method.value);
  el.attributionLook.hidden = !m || m.family === 'cam' || m.family === 'gradient';
  for (const o of m?.options ?? []) {
    const label = document.createElement('label');
    label.title = o.help;
    label.append(`${o.flag} `);
    let field: HTMLInputElement | HTMLSelectElement;
    if (o.choices) {
      field = document.createElement('select');
      for (const c of o.choices) field.append(new Option(c, c, false, c === o.default));
    } else {
      field = document.createElement('input');
      if (o.type === 'boolean') {
        field.type = 'checkbox';
        field.checked = o.default === true;
      } else {
        field.type = o.type === 'string' ? 'text' : 'number';
        if (o.type === 'integer') field.step = '1';
        if (o.type === 'number') field.step = 'any';
        if (o.min !== undefined) field.min = String(o.min);
        if (o.max !== undefined) field.max = String(o.max);
        field.placeholder = o.default !== undefined ? String(o.default) : (o.value ?? 'default');
        field.size = 6;
      }
    }
    field.id = `opt-${o.flag}`;
    field.dataset.key = o.key;
    field.dataset.type = o.type;
    field.onchange = () => void explain();
    label.append(field);
    el.methodOptions.append(label);
  }
}

/** The option fields' values by key (MethodInfo.options); empty fields are left out (the descriptor's default). */
function chosenMethodOptions(): Record<string, string | number | boolean> | undefined {
  const out: Record<string, string | number | boolean> = {};
  for (const f of el.methodOptions.querySelectorAll<HTMLInputElement | HTMLSelectElement>('[data-key]')) {
    const key = f.dataset.key!;
    if (f instanceof HTMLInputElement && f.type === 'checkbox') out[key] = f.checked;
    else if (f.value.trim() !== '') out[key] = f.dataset.type === 'integer' || f.dataset.type === 'number' ? Number(f.value) : f.value.trim();
  }
  return Object.keys(out).length ? out : undefined;
}

async function addImage(name: string, bytes: Uint8Array, mime: string, label?: string): Promise<string | undefined> {
  const id = `img${state.images.length + 1}-${Math.random().toString(36).slice(2, 8)}`;
  const r = await task(`reading ${name}`, () => worker.call({ type: 'addImage', id, name, bytes, mime }));
  if (!r) return undefined;
  state.images.push({ ...r.image, label });
  const b = document.createElement('button');
  b.className = 'thumb';
  b.dataset.id = id;
  b.title = `${name} (${r.image.width}×${r.image.height})${label ? ` — true class: ${label}` : ''}`;
  const c = document.createElement('canvas');
  drawImage(c, r.image.display);
  const cap = document.createElement('span');
  cap.textContent = name;
  b.append(c, cap);
  b.onclick = () => void selectImage(id);
  el.images.append(b);
  el.tryIt.disabled = !state.model;
  return id;
}

async function selectImage(id: string): Promise<void> {
  state.selected = id;
  for (const b of el.images.querySelectorAll<HTMLButtonElement>('.thumb')) b.classList.toggle('selected', b.dataset.id === id);
  await analyzeAndExplain();
}

async function analyzeAndExplain(): Promise<void> {
  if (!state.model || !state.selected) return;
  const imageId = state.selected;
  const normalize = el.normalize.value;
  // new scores are coming: nothing shown may stay beside them
  clearExplanation();
  const view = state.view;
  const r = await task('running the model', (p) => worker.call({ type: 'analyze', imageId, normalize }, p));
  if (!r || view !== state.view || state.selected !== imageId) return;
  state.analysis = r.analysis;
  hook.analysis = r.analysis;
  state.scoresTag = `${state.modelSeq}:${imageId}:${normalize}:${view}`;
  fillClasses(r.analysis);
  el.explain.hidden = false;
  el.gridPanel.hidden = false;
  el.sanityPanel.hidden = false;
  await explain();
}

/**
 * Forgets and blanks everything computed for the shown scores: the scores, the overlay and its
 * caption, the gradient picture, the layer grid and the sanity check. Results still on their way are
 * dropped (`state.view`).
 */
function clearExplanation(): void {
  state.view++;
  state.analysis = undefined;
  hook.analysis = undefined;
  state.scoresTag = '';
  el.cls.innerHTML = '';
  el.top5.innerHTML = '';
  delete el.top5.dataset.for;
  clearResult();
  hook.grid = undefined;
  hook.sanity = undefined;
  drawGrid();
  drawSanity();
}

/** Blanks the overlay, its caption and everything derived from the map (after a failed run, too). */
function clearResult(): void {
  state.result = undefined;
  hook.last = undefined;
  el.overlay.width = 0;
  el.overlay.height = 0;
  el.overlay.hidden = true;
  delete el.overlay.dataset.for;
  el.caption.textContent = '';
  el.gradientFigure.hidden = true;
  el.gradientCaption.textContent = '';
  el.timings.textContent = '';
  el.warnings.innerHTML = '';
  for (const li of el.top5.querySelectorAll('li')) li.classList.remove('chosen');
  el.dlPng.disabled = el.dlJson.disabled = el.dlNpy.disabled = true;
}

function fillClasses(a: Analysis): void {
  el.cls.innerHTML = '';
  el.cls.append(new Option(`top (predicted: ${label(a.predicted)})`, 'top'));
  for (const c of a.top) el.cls.append(new Option(`${label(c)} — p=${c.probability.toFixed(3)}`, String(c.index)));
  const labels = state.model?.labels;
  if (a.numClasses <= 1000) {
    const g = document.createElement('optgroup');
    g.label = 'all classes';
    for (let k = 0; k < a.numClasses; k++) g.append(new Option(labels?.[k] ? `${k} '${labels[k]}'` : String(k), `all:${k}`));
    el.cls.append(g);
  }
  el.top5.innerHTML = '';
  el.top5.dataset.for = state.scoresTag;
  for (const c of a.top) {
    const li = document.createElement('li');
    li.dataset.index = String(c.index);
    const name = document.createElement('span');
    name.textContent = label(c);
    const p = document.createElement('span');
    p.className = 'p';
    p.textContent = c.probability.toFixed(3);
    const bar = document.createElement('div');
    bar.className = 'barline';
    const fill = document.createElement('div');
    fill.style.width = `${(100 * c.probability).toFixed(1)}%`;
    bar.append(fill);
    li.append(name, p, bar);
    li.title = `logit ${c.logit.toFixed(4)}`;
    li.onclick = () => { el.cls.value = String(c.index); void explain(); };
    el.top5.append(li);
  }
}

function chosenClass(): number | 'top' {
  const v = el.cls.value.replace(/^all:/, '');
  return v === 'top' || v === '' ? 'top' : Number(v);
}

async function explain(): Promise<void> {
  if (!state.model || !state.selected || !state.analysis) return;
  const seq = ++state.explainSeq;
  const view = state.view;
  const params = { imageId: state.selected, classIndex: chosenClass(), layer: el.layer.value || 'auto', method: el.method.value || 'gradcam', methodOptions: chosenMethodOptions() };
  const r = await task(`${params.method}`, (p) => worker.call({ type: 'explain', params, normalize: el.normalize.value }, p));
  if (seq !== state.explainSeq || view !== state.view) return;
  if (!r) {
    // the shown map is not what the controls now ask for
    clearResult();
    return;
  }
  state.result = r.result;
  const img = selectedImage()!;
  hook.last = { imageName: img.name, method: r.result.method, layer: r.result.layer, classIndex: r.result.target.index, width: r.result.width, height: r.result.height, map: r.result.map, kind: r.result.kind, gradient: r.result.gradient };
  for (const li of el.top5.querySelectorAll('li')) li.classList.toggle('chosen', Number(li.dataset.index) === r.result.target.index);
  drawResult();
}

function drawResult(): void {
  const r = state.result;
  const img = selectedImage();
  el.alphaValue.textContent = Number(el.alpha.value).toFixed(2);
  if (!r || !img) return;
  drawImage(el.overlay, overlayOn(img.display, r.map, r.height, r.width));
  el.overlay.hidden = false;
  el.overlay.dataset.for = state.scoresTag;
  el.dlPng.disabled = el.dlJson.disabled = el.dlNpy.disabled = false;
  const camName = r.kind === 'gradient' ? 'gradcam' : r.method;
  const pred = r.target.index === r.predicted.index ? 'the predicted class' : `predicted: ${label(r.predicted)} p=${r.predicted.probability.toFixed(3)}`;
  el.caption.textContent = `${camName} at ${r.layer}: class ${label(r.target)} p=${r.target.probability.toFixed(3)} (${pred})`;
  el.gradientFigure.hidden = r.kind !== 'gradient';
  const look = attributionLook(r);
  const attribution = attributionOf(r);
  if (look && attribution) {
    // path, noise and perturbation methods: the renderer's attribution picture, as gradcam explain writes it
    drawImage(el.gradient, attributionPicture(attribution, img.display, look));
    el.gradientCaption.textContent = `${r.method}: ${state.model?.methods.find((m) => m.name === r.method)?.description ?? ''}`;
  } else if (r.kind === 'gradient' && r.gradientPicture) {
    const g = r.gradientPicture;
    drawImage(el.gradient, resizeRgb(g, img.display.width, img.display.height));
    el.gradientCaption.textContent = `${r.method}: ${state.model?.methods.find((m) => m.name === r.method)?.description ?? ''}`;
  }
  const t = r.timings;
  el.timings.textContent = `${state.runtime}: ${Object.entries(t).map(([k, v]) => `${k} ${v.toFixed(0)} ms`).join(', ')}`;
  el.warnings.innerHTML = '';
  for (const w of r.warnings) {
    const li = document.createElement('li');
    li.textContent = w;
    el.warnings.append(li);
  }
}

// ---------------------------------------------------------------- downloads

function stem(): string {
  return (selectedImage()?.name ?? 'image').replace(/\.[^.]+$/, '');
}

function pngBytes(): Uint8Array | undefined {
  const r = state.result;
  const img = selectedImage();
  if (!r || !img) return undefined;
  // the one renderer: the same picture as gradcam explain's PNG for the same inputs
  const look = { colormap: el.colormap.value, alpha: Number(el.alpha.value) };
  const attribution = attributionOf(r);
  const attributionSettings = attributionLook(r);
  if (attribution && attributionSettings) return encodePng(attributionPicture(attribution, img.display, attributionSettings));
  if (r.kind === 'gradient' && r.gradient) return encodePng(gradientPicture({ ...r, cam: r.map, gradient: r.gradient }, img.display, { ...look, abs: false }));
  return encodePng(overlayPicture(r, img.display, { ...look, caption: true }));
}

/**
 * The attribution picture's settings (|a|, top %) for a result of kind path, noise or perturbation;
 * undefined for other kinds. A top % outside [0, 100] is refused with a message and the default used.
 */
function attributionLook(r: ExplainOutput): AttributionLook | undefined {
  const family = state.model?.methods.find((m) => m.name === r.method)?.family;
  if (r.kind !== 'gradient' || family === 'gradient' || family === 'cam') return undefined;
  const v = el.topPercent.value.trim();
  let topPercent = v === '' ? DEFAULT_TOP_PERCENT : Number(v);
  if (!(topPercent >= 0 && topPercent <= 100)) {
    showError(`top %: a number of percent in [0, 100], got '${v}'; showing the default ${DEFAULT_TOP_PERCENT} %`);
    topPercent = DEFAULT_TOP_PERCENT;
  }
  return { colormap: el.colormap.value, alpha: Number(el.alpha.value), abs: el.abs.checked, topPercent };
}

/** A pixel-level result as the attribution renderer takes it (the map, the attribution [H, W, C]). */
function attributionOf(r: ExplainOutput): Parameters<typeof attributionPicture>[0] | undefined {
  return r.gradient && r.channels !== undefined ? { ...r, cam: r.map, gradient: r.gradient, channels: r.channels } : undefined;
}

/** The JSON sidecar: render's (the worker writes it as gradcam explain does), with the page's settings and the PNG's name. */
function resultJson(): string | undefined {
  const r = state.result;
  const a = state.analysis;
  if (!r || !a) return undefined;
  const cls = (c: ClassScore) => ({ index: c.index, label: c.label ?? null, logit: c.logit, probability: c.probability });
  const look = attributionLook(r);
  const attribution = attributionOf(r);
  return `${JSON.stringify({
    ...r.sidecar, ...(look && attribution ? attributionFacts(attribution, look) : {}),
    top5: a.top.map(cls), normalization: el.normalize.value, colormap: el.colormap.value, alpha: Number(el.alpha.value), runtime: hook.runtime,
    files: [`${stem()}.${r.method}.png`], made_by: 'gradcam web app (in the browser; nothing uploaded)',
  }, null, 2)}\n`;
}

el.dlPng.onclick = () => { const b = pngBytes(); if (b) download(`${stem()}.${state.result!.method}.png`, b, 'image/png'); };
el.dlJson.onclick = () => { const j = resultJson(); if (j) download(`${stem()}.${state.result!.method}.json`, j, 'application/json'); };
el.dlNpy.onclick = () => { const r = state.result; if (r) download(`${stem()}.${r.method}.npy`, writeNpy(r.map, [r.height, r.width]), 'application/octet-stream'); };

// ---------------------------------------------------------------- layer grid and sanity check

function gridLayers(): string[] {
  const m = state.model!;
  const all = m.layers.map((l) => l.name);
  const v = el.gridCount.value;
  const n = v === 'all' ? all.length : Math.min(Number(v), all.length);
  if (n >= all.length) return all;
  // evenly spaced, ending with the automatic layer (or the last candidate)
  const autoIdx = Math.max(0, m.layers.findIndex((l) => l.auto));
  const end = autoIdx > 0 ? autoIdx : all.length - 1;
  const picks = new Set<number>();
  for (let i = 0; i < n; i++) picks.add(Math.round((end * i) / Math.max(1, n - 1)));
  return [...picks].sort((a, b) => a - b).map((i) => all[i]!);
}

/** A map as a figure: over the picture (CAM maps), or grey (gradient maps, as `gradcam sanity` shows them); none: the reason. */
function mapFigure(map: Float32Array | undefined, h: number, w: number, text: string, kind: 'overlay' | 'grey' = 'overlay'): HTMLElement {
  const fig = document.createElement('figure');
  const cap = document.createElement('figcaption');
  cap.textContent = text;
  if (!map) {
    fig.className = 'no-map';
    fig.append(cap);
    return fig;
  }
  const c = document.createElement('canvas');
  const img = selectedImage();
  drawImage(c, kind === 'grey' ? grayscaleImage(map, w, h) : img ? overlayOn(img.display, map, h, w) : heatmapImage(map, w, h, el.colormap.value));
  fig.append(c, cap);
  return fig;
}

function drawGrid(): void {
  const g = hook.grid;
  el.grid.innerHTML = '';
  if (!g || g.imageId !== state.selected) return;
  for (const c of g.cells) {
    const head = `${g.method} at ${c.layer} (${c.op}, ${c.shape.slice(1).join('×')})`;
    el.grid.append(mapFigure(c.map, g.height, g.width, c.error ? `${head} — no ${g.method} map: ${c.error}` : `${head}${c.empty ? ' — all zero' : ''}`));
  }
}

function drawSanity(): void {
  const s = hook.sanity;
  el.sanity.innerHTML = '';
  el.sanityVerdict.textContent = '';
  if (!s || s.imageId !== state.selected) return;
  const kind = s.kind === 'gradient' ? 'grey' : 'overlay';
  el.sanity.append(mapFigure(s.original, s.height, s.width, `trained weights (${s.method}, class ${s.classIndex})`, kind));
  for (const st of s.steps) {
    const sim = st.similarity;
    el.sanity.append(mapFigure(st.map, s.height, s.width, `top ${st.stage} randomised, down to ${shortLayerName(st.layer)}: rank corr. of |map| ${sim.spearman_abs.toFixed(2)}, SSIM ${sim.ssim.toFixed(2)}`, kind));
  }
  el.sanityVerdict.textContent = s.verdict;
}

el.gridRun.onclick = async () => {
  if (!state.model || !state.selected) return;
  const layers = gridLayers();
  const view = state.view;
  hook.grid = undefined;
  drawGrid();
  const r = await task('layer comparison', (p) => worker.call({ type: 'grid', imageId: state.selected!, classIndex: chosenClass(), method: el.method.value, layers, normalize: el.normalize.value }, p));
  if (!r || view !== state.view) return;
  hook.grid = r.grid;
  drawGrid();
};

el.sanityRun.onclick = async () => {
  if (!state.model || !state.selected) return;
  const params = { imageId: state.selected, classIndex: chosenClass(), layer: el.layer.value || 'auto', method: el.method.value || 'gradcam' };
  const view = state.view;
  hook.sanity = undefined;
  drawSanity();
  const r = await task('sanity check', (p) => worker.call({ type: 'sanity', params, steps: Number(el.sanitySteps.value), normalize: el.normalize.value }, p));
  if (!r || view !== state.view) return;
  hook.sanity = r.sanity;
  drawSanity();
};

// ---------------------------------------------------------------- inputs

const IMAGE_EXT = /\.(png|jpe?g|webp|gif|bmp|avif)$/i;
/** Files beside a model that are read by the importer, never as a labels file. */
const MODEL_SIDE_FILES = /(^|\/)(model|metadata|config|preprocessor_config|tokenizer_config|special_tokens_map)\.json$/i;

/** A chosen or dropped file and its path relative to the chosen folder (its name when no folder). */
interface PickedFile { file: File; path: string }

async function takeFiles(picked: (File | PickedFile)[]): Promise<void> {
  const all = picked.map((f) => (f instanceof File ? { file: f, path: f.webkitRelativePath || f.name } : f));
  const isImage = (f: PickedFile) => f.file.type.startsWith('image/') || IMAGE_EXT.test(f.path);
  const read = async (f: PickedFile) => new Uint8Array(await f.file.arrayBuffer());
  // a folder (paths below one root): a model folder, read by the importer (hub: ONNX variants, labels, preprocessing)
  const inFolder = all.filter((f) => f.path.includes('/'));
  const folderRoot = inFolder.length ? inFolder[0]!.path.split('/')[0]! : undefined;
  const folderFiles = folderRoot ? all.filter((f) => f.path.startsWith(`${folderRoot}/`) && !isImage(f)) : [];
  const rest = all.filter((f) => !folderFiles.includes(f));
  const modelFile = folderFiles.length ? undefined : rest.find((f) => isModelFileName(f.path));
  const labelsFile = rest.find((f) => /\.(txt|json)$/i.test(f.path) && !MODEL_SIDE_FILES.test(f.path) && f !== modelFile);
  const imageFiles = rest.filter(isImage);
  const extraFiles = rest.filter((f) => f !== modelFile && f !== labelsFile && !imageFiles.includes(f));
  const labels = labelsFile ? await labelsFile.file.text() : undefined;
  if (folderFiles.length) {
    const extra = await Promise.all(folderFiles.map(async (f) => ({ name: f.path.slice(folderRoot!.length + 1), bytes: await read(f) })));
    const ok = await loadModel(`${folderRoot}/`, new Uint8Array(0), extra, labels, '', '');
    if (!ok) return;
  } else if (modelFile) {
    const extra = await Promise.all(extraFiles.map(async (f) => ({ name: f.file.name, bytes: await read(f) })));
    const imported = !/\.onnx$/i.test(modelFile.path);
    const ok = await loadModel(modelFile.file.name, await read(modelFile), extra, labels, '', imported ? modelFile.file.name : undefined);
    if (!ok) return;
  } else if (labelsFile && state.modelFile) {
    const f = state.modelFile;
    await loadModel(f.name, f.bytes, f.extra, labels, undefined, f.entry);
  }
  const modelGiven = !!(folderFiles.length || modelFile);
  const files = imageFiles.map((f) => f.file);
  let firstNew: string | undefined;
  for (const f of files) {
    const id = await addImage(f.name, new Uint8Array(await f.arrayBuffer()), f.type);
    firstNew ??= id;
  }
  if (firstNew) await selectImage(firstNew);
  else if (modelGiven && state.selected) await analyzeAndExplain();
}

el.files.onchange = () => {
  const files = [...(el.files.files ?? [])];
  el.files.value = '';
  void takeFiles(files);
};
el.drop.addEventListener('dragleave', () => el.drop.classList.remove('over'));
el.folder.onchange = () => {
  const files = [...(el.folder.files ?? [])];
  el.folder.value = '';
  void takeFiles(files);
};
el.drop.addEventListener('dragover', (e) => { e.preventDefault(); el.drop.classList.add('over'); });
el.drop.addEventListener('drop', (e) => {
  e.preventDefault();
  el.drop.classList.remove('over');
  const items = [...(e.dataTransfer?.items ?? [])].map((i) => i.webkitGetAsEntry?.()).filter((x): x is FileSystemEntry => !!x);
  if (items.some((i) => i.isDirectory)) void droppedEntries(items).then(takeFiles);
  else void takeFiles([...(e.dataTransfer?.files ?? [])]);
});

/** The files of dropped folders (walked in the page: nothing is uploaded), with their paths. */
async function droppedEntries(entries: FileSystemEntry[]): Promise<PickedFile[]> {
  const out: PickedFile[] = [];
  const walk = async (entry: FileSystemEntry, prefix: string): Promise<void> => {
    const p = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isFile) {
      out.push({ file: await new Promise<File>((res, rej) => (entry as FileSystemFileEntry).file(res, rej)), path: p });
    } else if (entry.isDirectory) {
      const reader = (entry as FileSystemDirectoryEntry).createReader();
      for (;;) {
        const batch = await new Promise<FileSystemEntry[]>((res, rej) => reader.readEntries(res, rej));
        if (!batch.length) break;
        for (const e of batch) await walk(e, p);
      }
    }
  };
  for (const e of entries) await walk(e, '');
  return out;
}
// dropping anywhere else must not navigate away from the page
window.addEventListener('dragover', (e) => e.preventDefault());
window.addEventListener('drop', (e) => e.preventDefault());

el.tryIt.onclick = () => {
  const first = state.images[0];
  if (first) void selectImage(first.id);
};
el.cls.onchange = () => void explain();
el.layer.onchange = () => void explain();
el.method.onchange = () => { fillMethodOptions(); void explain(); };
el.topPercent.placeholder = String(DEFAULT_TOP_PERCENT);
el.abs.onchange = el.topPercent.onchange = () => drawResult();
el.colormap.onchange = () => { drawResult(); drawGrid(); drawSanity(); };
el.alpha.oninput = () => drawResult();
el.alpha.onchange = () => { drawGrid(); drawSanity(); };
el.normalize.onchange = () => void analyzeAndExplain();
el.size.onchange = async () => {
  const f = state.modelFile;
  if (f && (await loadModel(f.name, f.bytes, f.extra, f.labelsText, undefined, f.entry))) await analyzeAndExplain();
};
el.backend.onchange = async () => {
  if ((await initRuntime(el.backend.value as BackendChoice)) && state.selected) await analyzeAndExplain();
};

// ---------------------------------------------------------------- start: runtime, demo model and examples

async function start(): Promise<void> {
  clearResult();
  const qb = query.get('backend');
  if (qb === 'wasm' || qb === 'webgpu' || qb === 'auto') el.backend.value = qb;
  await initRuntime(el.backend.value as BackendChoice);
  try {
    const manifest = (await (await fetch(new URL('demo/manifest.json', document.baseURI))).json()) as Manifest;
    if (manifest.model) {
      const bytes = new Uint8Array(await (await fetch(new URL(manifest.model, document.baseURI))).arrayBuffer());
      await loadModel(manifest.name, bytes, [], undefined, 'The bundled demo model: a small CNN that finds the clothing item (Fashion-MNIST classes) pasted on a photo. Try an example, or drop your own model and images.');
    } else {
      el.modelLine.textContent = 'No demo model is bundled: drop an ONNX model.';
    }
    for (const ex of manifest.examples) {
      const bytes = new Uint8Array(await (await fetch(new URL(ex.file, document.baseURI))).arrayBuffer());
      await addImage(ex.file.split('/').pop()!, bytes, 'image/png', ex.label);
    }
  } catch (e) {
    el.modelLine.textContent = 'No demo files found: drop an ONNX model and images.';
    void e;
  }
  el.tryIt.disabled = !(state.model && state.images.length);
  hook.ready = true;
}

hook.camera = setupCamera({
  explainFrame: async (rgb) => (await worker.call({ type: 'frame', rgb, params: { classIndex: 'top', layer: el.layer.value || 'auto', method: el.method.value || 'gradcam', methodOptions: chosenMethodOptions() }, normalize: el.normalize.value })).result,
  ready: () => !!state.model,
  look: () => ({ colormap: el.colormap.value, alpha: Number(el.alpha.value) }),
  showError,
});

void start();
