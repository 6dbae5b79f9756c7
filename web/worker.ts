/**
 * The model worker: every model step (loading, compiling gradient graphs, running onnxruntime-web,
 * CAM arithmetic, sanity checks) happens here, so the page never freezes. Requests are handled one
 * at a time, in order; long steps report progress.
 */
import { Explainer, InputError, parseLabels, softmax, type ClassChoice, type ClassScore } from '../src/explainer.js';
import { CAM_METHODS, camMethod } from '../src/cam/index.js';
import { postprocess } from '../src/cam/pipeline.js';
import { explainGradients, GRADIENT_METHODS, isGradientMethod } from '../src/cam/guided.js';
import { decodeModel, metadata, topoOrder, type ModelProto } from '../src/onnx/model.js';
import { NORMALIZE_PRESETS } from '../src/image/normalize.js';
import { decodeTensor, encodeTensor } from '../src/onnx/tensor.js';
import { decodePng, toRgbImage } from '../src/image/png.js';
import { resizeRgb } from '../src/image/resize.js';
import { imageToTensor } from '../src/image/normalize.js';
import { deprocessGradient } from '../src/image/gradient.js';
import type { RgbImage } from '../src/image/types.js';
import { configureWebRuntime, createWebSessionFactory, webGpuAvailable, type OrtWebModule, type WebRuntimeInfo } from '../src/runtime/web.js';
import type { SessionFactory } from '../src/runtime/session.js';
import { Rng } from '../src/metrics/random.js';
import type {
  Analysis, BenchOutput, ExplainOutput, ExplainParams, GridOutput, ImageInfo, MethodInfo, ModelInfo, Progress, Reply, Request,
  RequestEnvelope, SanityOutput, SanityStep, WorkerMessage,
} from './protocol.js';

interface WorkerScope {
  postMessage(message: WorkerMessage, transfer?: Transferable[]): void;
  onmessage: ((e: MessageEvent<RequestEnvelope>) => void) | null;
}
const scope = self as unknown as WorkerScope;

interface LoadedImage { info: ImageInfo; rgb: RgbImage; tensors: Map<string, { tensor: Float32Array; dims: number[] }> }

let ort: OrtWebModule | undefined;
let runtime: WebRuntimeInfo | undefined;
let createSession: SessionFactory | undefined;
let explainer: Explainer | undefined;
let model: { name: string; bytes: Uint8Array; size: [number, number]; labels?: string[]; extra: Map<string, Uint8Array> } | undefined;
const images = new Map<string, LoadedImage>();

// ---------------------------------------------------------------- requests, one at a time

let queue: Promise<void> = Promise.resolve();
scope.onmessage = (e) => {
  const { id, req } = e.data;
  queue = queue.then(async () => {
    const progress = (p: Progress) => scope.postMessage({ id, progress: p });
    try {
      let reply: Reply;
      try {
        reply = await handle(req, progress);
      } catch (err) {
        // WebGPU may lack an op or fail on a device: go back to wasm once and retry
        if (req.type === 'init' || runtime?.backend !== 'webgpu' || !lastOrtBase) throw err;
        const note = `WebGPU failed (${(err as Error)?.message ?? err}); switched to wasm`;
        progress({ stage: note });
        await init('wasm', lastOrtBase);
        scope.postMessage({ id, runtime: runtime!, ortVersion: ortVersion(), note });
        reply = await handle(req, progress);
      }
      scope.postMessage({ id, ok: true, reply }, transferables(reply));
    } catch (err) {
      const x = err as Error;
      scope.postMessage({ id, ok: false, error: x?.message ?? String(err), name: x?.name ?? 'Error' });
    }
  });
};

async function handle(req: Request, progress: (p: Progress) => void): Promise<Reply> {
  switch (req.type) {
    case 'init': return init(req.backend, req.ortBase, req.numThreads);
    case 'loadModel': {
      const labels = req.labelsText === undefined ? undefined : parseLabels(req.labelsText);
      if (req.labelsText !== undefined && !labels?.length) throw new InputError('the labels file holds no labels (one per line, or a JSON array)');
      return { type: 'loadModel', model: await loadModel(req.name, req.bytes, req.extra ?? [], labels, req.size, progress) };
    }
    case 'addImage': return { type: 'addImage', image: await addImage(req.id, req.name, req.bytes, req.mime) };
    case 'removeImage': images.delete(req.id); return { type: 'removeImage' };
    case 'analyze': return { type: 'analyze', analysis: await analyze(req.imageId, req.normalize, progress) };
    case 'explain': return { type: 'explain', result: await explain(req.params, req.normalize, progress) };
    case 'grid': return { type: 'grid', grid: await grid(req.imageId, req.classIndex, req.method, req.layers, req.normalize, progress) };
    case 'sanity': return { type: 'sanity', sanity: await sanity(req.params, req.steps, req.normalize, progress) };
    case 'bench': return { type: 'bench', bench: await bench(req.iterations, req.seed, progress) };
  }
}

function transferables(r: Reply): Transferable[] {
  const t: Transferable[] = [];
  const add = (a: { buffer: ArrayBufferLike } | undefined) => { if (a && a.buffer instanceof ArrayBuffer && !t.includes(a.buffer)) t.push(a.buffer); };
  if (r.type === 'explain') { add(r.result.map); add(r.result.raw); add(r.result.gradient); add(r.result.gradientPicture?.data); }
  if (r.type === 'grid') r.grid.cells.forEach((c) => add(c.map));
  if (r.type === 'sanity') { add(r.sanity.original); r.sanity.steps.forEach((s) => add(s.map)); }
  return t;
}

// ---------------------------------------------------------------- runtime and model

let lastOrtBase: string | undefined;
let lastThreads: number | undefined;

function ortVersion(): string {
  return (ort?.env as { versions?: { web?: string } } | undefined)?.versions?.web ?? '';
}

async function init(backend: 'auto' | 'wasm' | 'webgpu', ortBase: string, numThreads = lastThreads): Promise<Reply> {
  lastOrtBase = ortBase;
  lastThreads = numThreads;
  if (explainer) await explainer.release();
  explainer = undefined;
  const gpu = backend !== 'wasm' && (await webGpuAvailable());
  if (backend === 'webgpu' && !gpu) throw new Error('WebGPU is not available in this browser; use the wasm backend');
  // the wasm-only build is smaller (14 MB of wasm instead of 27 MB) and needs no asyncify
  const file = gpu ? 'ort.webgpu.min.mjs' : 'ort.wasm.min.mjs';
  ort = (await import(/* @vite-ignore */ new URL(file, ortBase).href)) as OrtWebModule;
  runtime = await configureWebRuntime(ort, { backend: gpu ? 'webgpu' : 'wasm', wasmPaths: ortBase, numThreads });
  createSession = createWebSessionFactory(ort, runtime.backend);
  if (model) await loadModel(model.name, model.bytes, [...model.extra].map(([name, bytes]) => ({ name, bytes })), model.labels, model.size, () => {});
  return { type: 'init', info: runtime, ortVersion: ortVersion() };
}

function methods(): MethodInfo[] {
  return [
    ...Object.values(CAM_METHODS).map((m) => ({ name: m.name, description: m.description, kind: 'cam' as const })),
    ...Object.entries(GRADIENT_METHODS).map(([name, description]) => ({ name, description, kind: 'gradient' as const })),
  ];
}

function newExplainer(proto: ModelProto, name: string, labels: string[] | undefined, extra: Map<string, Uint8Array>): Explainer {
  if (!createSession) throw new Error('the runtime is not initialised');
  const external = (location: string, offset: number, length: number | undefined): Uint8Array => {
    const base = location.split(/[\\/]/).pop()!;
    const data = extra.get(location) ?? extra.get(base);
    if (!data) throw new Error(`${name}: its weights are in the external file '${location}'; choose that file together with the model`);
    const end = length === undefined ? data.length : offset + length;
    if (end > data.length) throw new Error(`${name}: external data file '${location}' is truncated`);
    return data.subarray(offset, end);
  };
  return new Explainer(proto, { createSession, external, labels, source: name });
}

async function loadModel(name: string, bytes: Uint8Array, extra: { name: string; bytes: Uint8Array }[], labels: string[] | undefined, size: [number, number] | undefined, progress: (p: Progress) => void): Promise<ModelInfo> {
  const t0 = performance.now();
  progress({ stage: `reading ${name}` });
  const extraMap = new Map(extra.map((f) => [f.name, f.bytes]));
  const next = newExplainer(decodeModel(bytes, name), name, labels, extraMap);
  const [fh, fw] = next.inputSize;
  const dynamicSize = fh === null || fw === null;
  const useSize: [number, number] = [fh ?? size?.[0] ?? 224, fw ?? size?.[1] ?? size?.[0] ?? 224];
  progress({ stage: 'finding the candidate layers (one probe run)' });
  let layers;
  try {
    layers = await next.layers(useSize);
  } catch (e) {
    await next.release();
    throw e;
  }
  if (explainer) await explainer.release();
  explainer = next;
  model = { name, bytes, size: useSize, labels, extra: extraMap };
  for (const img of images.values()) img.tensors.clear();
  const warnings: string[] = [];
  if (!layers.some((l) => l.auto)) warnings.push('no layer with a known layout and a grid larger than 1×1 was found: CAM methods need one');
  if (next.channels !== 3) warnings.push(`the model expects ${next.channels} channel(s); pictures are converted from RGB`);
  const meta = metadata(next.model);
  const norm = meta['normalization'];
  return {
    description: meta['description'], normalization: norm && (NORMALIZE_PRESETS as readonly string[]).includes(norm) ? norm : undefined,
    name, inputName: next.inputName, inputDims: next.inputDims, layout: next.layout, channels: next.channels, size: useSize, dynamicSize,
    labels: next.labels, layers, methods: methods(), loadMs: performance.now() - t0, warnings,
  };
}

function needModel(): Explainer {
  if (!explainer || !model) throw new Error('no model is loaded');
  return explainer;
}

// ---------------------------------------------------------------- images

async function decodeImage(bytes: Uint8Array, mime: string, name: string): Promise<RgbImage> {
  const isPng = bytes.length > 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47;
  if (isPng) {
    // the same decoder as Node's path gives the same pixels (no colour management, alpha on white)
    try {
      return toRgbImage(decodePng(bytes));
    } catch {
      /* fall back to the browser's decoder */
    }
  }
  let bmp: ImageBitmap;
  try {
    bmp = await createImageBitmap(new Blob([bytes as Uint8Array<ArrayBuffer>], { type: mime || 'application/octet-stream' }), { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  } catch {
    throw new Error(`${name}: not an image this browser can decode`);
  }
  const { width, height } = bmp;
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext('2d')!;
  ctx.drawImage(bmp, 0, 0);
  bmp.close();
  const rgba = ctx.getImageData(0, 0, width, height).data;
  const data = new Uint8Array(width * height * 3);
  for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) {
    const a = rgba[i + 3]! / 255;
    for (let k = 0; k < 3; k++) data[j + k] = Math.round(rgba[i + k]! * a + 255 * (1 - a));
  }
  return { width, height, data };
}

/** The picture for the page: long side between 384 and 768 px (small ones enlarged, as the CLI does). */
function displayImage(img: RgbImage): RgbImage {
  const long = Math.max(img.width, img.height);
  if (long > 768) {
    const s = 768 / long;
    return resizeRgb(img, Math.max(1, Math.round(img.width * s)), Math.max(1, Math.round(img.height * s)));
  }
  const f = Math.max(1, Math.ceil(384 / long));
  return f > 1 ? resizeRgb(img, img.width * f, img.height * f) : img;
}

async function addImage(id: string, name: string, bytes: Uint8Array, mime: string): Promise<ImageInfo> {
  const rgb = await decodeImage(bytes, mime, name);
  const info: ImageInfo = { id, name, width: rgb.width, height: rgb.height, display: displayImage(rgb) };
  images.set(id, { info, rgb, tensors: new Map() });
  return { ...info, display: { ...info.display, data: info.display.data.slice() } };
}

/** The model input for an image: resized to the model's size (Pillow-style bilinear) and normalised. */
function inputFor(imageId: string, normalize: string): { tensor: Float32Array; dims: number[] } {
  const ex = needModel();
  const img = images.get(imageId);
  if (!img) throw new Error(`unknown image ${imageId}`);
  const hit = img.tensors.get(normalize);
  if (hit) return hit;
  const dims = ex.imageDims(model!.size);
  const [h, w] = ex.layout === 'NCHW' ? [dims[2]!, dims[3]!] : [dims[1]!, dims[2]!];
  let t = imageToTensor(resizeRgb(img.rgb, w, h), { preset: normalize, layout: ex.layout });
  if (ex.channels === 1) {
    // grey models: the mean of the three normalised channels
    const g = new Float32Array(h * w);
    for (let p = 0; p < h * w; p++) {
      let s = 0;
      for (let c = 0; c < 3; c++) s += ex.layout === 'NCHW' ? t[c * h * w + p]! : t[p * 3 + c]!;
      g[p] = s / 3;
    }
    t = g;
  } else if (ex.channels !== 3) {
    throw new Error(`the model expects ${ex.channels} input channels; only RGB (3) or grey (1) models take pictures`);
  }
  const v = { tensor: t, dims };
  img.tensors.set(normalize, v);
  return v;
}

// ---------------------------------------------------------------- explaining

async function analyze(imageId: string, normalize: string, progress: (p: Progress) => void): Promise<Analysis> {
  const ex = needModel();
  const { tensor, dims } = inputFor(imageId, normalize);
  progress({ stage: 'compiling the gradient graph and running the model' });
  const hasLayer = (await ex.layers(model!.size)).some((l) => l.auto);
  // the same spec as explain(layer 'auto') uses, so that its compiled graph is reused
  const r = await ex.run(tensor, dims, { layers: hasLayer ? ['auto'] : [], classes: 'top', inputGradient: hasLayer ? undefined : true });
  const K = r.numClasses;
  const row = r.logits.data.subarray(0, K);
  const probs = softmax(row);
  const order = Array.from({ length: K }, (_, k) => k).sort((a, b) => row[b]! - row[a]!);
  const score = (k: number): ClassScore => ({ index: k, label: ex.labels?.[k], logit: row[k]!, probability: probs[k]! });
  return {
    imageId, numClasses: K, top: order.slice(0, 5).map(score), predicted: score(order[0]!),
    runMs: r.timings.runMs, compileMs: r.timings.compileMs, sessionMs: r.timings.sessionMs,
  };
}

async function explain(p: ExplainParams, normalize: string, progress: (p: Progress) => void): Promise<ExplainOutput> {
  const ex = needModel();
  const { tensor, dims } = inputFor(p.imageId, normalize);
  const classes: ClassChoice[] = [p.classIndex];
  const t0 = performance.now();
  progress({ stage: `${p.method}: compiling (first use of this layer) and running` });
  if (isGradientMethod(p.method)) {
    const g = await explainGradients(ex, tensor, dims, { method: p.method, layer: p.layer, classes, rectifierOps: p.rectifierOps ?? 'all' });
    const e = g.explanations[0]!;
    return {
      params: p, method: e.method, kind: 'gradient', layer: e.layer, target: e.target, predicted: e.predicted,
      map: e.cam, height: e.height, width: e.width, gradient: e.gradient, channels: e.channels,
      gradientPicture: deprocessGradient(e.gradient, e.width, e.height), warnings: [],
      timings: { run: g.runMs, total: performance.now() - t0 },
    };
  }
  camMethod(p.method);
  const r = await ex.explain(tensor, dims, { method: p.method, layer: p.layer, classes });
  const e = r.explanations[0]!;
  return {
    params: p, method: e.method, kind: 'cam', layer: e.layers[0]!, target: e.target, predicted: e.predicted,
    map: e.map, height: e.height, width: e.width, raw: e.raw, rawHeight: e.rawHeight, rawWidth: e.rawWidth, warnings: e.warnings,
    timings: { compile: r.timings.compileMs, session: r.timings.sessionMs, run: r.timings.runMs, cam: r.timings.camMs, total: performance.now() - t0 },
  };
}

/** One run exposes every chosen layer; each gets its own map with the chosen CAM method. */
async function grid(imageId: string, classIndex: number | 'top', methodName: string, layers: string[], normalize: string, progress: (p: Progress) => void): Promise<GridOutput> {
  const ex = needModel();
  const method = camMethod(isGradientMethod(methodName) ? 'gradcam' : methodName);
  const { tensor, dims } = inputFor(imageId, normalize);
  const infos = await ex.layers(model!.size);
  layers = [...new Set(layers)];
  progress({ stage: `compiling one graph for ${layers.length} layers and running`, done: 0, total: layers.length });
  const r = await ex.run(tensor, dims, { layers, classes: [classIndex] });
  const [H, W] = r.size;
  const cells = [];
  for (let j = 0; j < r.layers.length; j++) {
    const a = r.activations[j]!;
    const d = a.dims as [number, number, number, number];
    const raw = method.compute({ activations: a.data, gradients: r.gradients[j]!.data, dims: d });
    const post = postprocess([{ raw, h: d[2], w: d[3] }], 1, H, W);
    const info = infos.find((l) => l.name === r.layers[j]);
    cells.push({ layer: r.layers[j]!, op: info?.op ?? '', shape: info?.shape ?? d, map: post.maps, empty: post.empty[0]! });
    progress({ stage: `${method.name} at ${r.layers[j]}`, done: j + 1, total: r.layers.length });
  }
  return { imageId, method: method.name, target: ex.scores(r, 0).target, height: H, width: W, cells, runMs: r.timings.runMs };
}

// ---------------------------------------------------------------- sanity check (cascading randomisation)

const PARAM_OPS = new Set(['Conv', 'ConvTranspose', 'Gemm', 'MatMul']);

/** Parameterised nodes (weights stored as float initializers), from the output back. */
function parameterised(proto: ModelProto): { node: string; op: string; tensors: string[] }[] {
  const inits = new Map(proto.graph.initializer.map((t) => [t.name ?? '', t]));
  const out = [];
  for (const n of topoOrder(proto.graph)) {
    if (!PARAM_OPS.has(n.op_type)) continue;
    const tensors = n.input.slice(1).filter((i) => inits.get(i)?.data_type === 1);
    if (tensors.length) out.push({ node: n.name || n.output[0]!, op: n.op_type, tensors });
  }
  return out.reverse();
}

/** Replaces the named initializers by Gaussian noise with each tensor's own mean and standard deviation. */
function randomise(proto: ModelProto, names: Set<string>, seed: number): void {
  const rng = new Rng(seed);
  const rand = () => rng.next();
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  proto.graph.initializer = proto.graph.initializer.map((t) => {
    if (!names.has(t.name ?? '')) return t;
    const v = decodeTensor(t);
    const x = v.data as Float32Array;
    let mean = 0;
    for (const e of x) mean += e;
    mean /= x.length || 1;
    let sd = 0;
    for (const e of x) sd += (e - mean) ** 2;
    sd = Math.sqrt(sd / (x.length || 1)) || 0.01;
    const y = new Float32Array(x.length);
    for (let i = 0; i < y.length; i++) y[i] = mean + sd * gauss();
    return encodeTensor(t.name ?? '', { ...v, data: y });
  });
}

function ranks(x: Float32Array): Float64Array {
  const idx = Array.from({ length: x.length }, (_, i) => i).sort((a, b) => x[a]! - x[b]!);
  const r = new Float64Array(x.length);
  for (let i = 0; i < idx.length;) {
    let j = i;
    while (j + 1 < idx.length && x[idx[j + 1]!] === x[idx[i]!]) j++;
    const avg = (i + j) / 2;
    for (let k = i; k <= j; k++) r[idx[k]!] = avg;
    i = j + 1;
  }
  return r;
}

function spearman(a: Float32Array, b: Float32Array): number {
  const ra = ranks(a);
  const rb = ranks(b);
  const n = ra.length;
  const ma = ra.reduce((s, v) => s + v, 0) / n;
  const mb = rb.reduce((s, v) => s + v, 0) / n;
  let sab = 0, saa = 0, sbb = 0;
  for (let i = 0; i < n; i++) {
    const da = ra[i]! - ma, db = rb[i]! - mb;
    sab += da * db; saa += da * da; sbb += db * db;
  }
  return saa === 0 || sbb === 0 ? (saa === sbb ? 1 : 0) : sab / Math.sqrt(saa * sbb);
}

/** The map a method gives: the CAM map, or per-pixel max |gradient| for gradient methods. */
async function methodMap(ex: Explainer, tensor: Float32Array, dims: number[], p: ExplainParams, classIndex: number, layer: string): Promise<{ map: Float32Array; H: number; W: number }> {
  if (isGradientMethod(p.method)) {
    const e = (await explainGradients(ex, tensor, dims, { method: p.method, layer, classes: [classIndex], rectifierOps: p.rectifierOps ?? 'all' })).explanations[0]!;
    const map = new Float32Array(e.height * e.width);
    let hi = 0;
    for (let q = 0; q < map.length; q++) {
      let m = 0;
      for (let c = 0; c < e.channels; c++) m = Math.max(m, Math.abs(e.gradient[q * e.channels + c]!));
      map[q] = m;
      hi = Math.max(hi, m);
    }
    if (hi > 0) for (let q = 0; q < map.length; q++) map[q]! /= hi;
    return { map, H: e.height, W: e.width };
  }
  const e = (await ex.explain(tensor, dims, { method: p.method, layer, classes: [classIndex] })).explanations[0]!;
  return { map: e.map, H: e.height, W: e.width };
}

async function sanity(p: ExplainParams, steps: number, normalize: string, progress: (p: Progress) => void): Promise<SanityOutput> {
  const ex = needModel();
  const { tensor, dims } = inputFor(p.imageId, normalize);
  const layer = p.layer === 'auto' ? await ex.autoLayer(model!.size) : p.layer;
  const base = decodeModel(model!.bytes, model!.name);
  const params = parameterised(base);
  if (params.length === 0) throw new Error('found no weights stored as initializers (Conv, Gemm, MatMul) to randomise');
  const n = Math.max(1, Math.min(steps, params.length));
  progress({ stage: 'the map with the trained weights', done: 0, total: n + 1 });
  let classIndex: number;
  if (p.classIndex === 'top') {
    const r = await ex.run(tensor, dims, { layers: [layer], classes: 'top' });
    classIndex = r.targets[0]!;
  } else classIndex = p.classIndex;
  const original = await methodMap(ex, tensor, dims, p, classIndex, layer);
  const out: SanityStep[] = [];
  for (let k = 1; k <= n; k++) {
    const chosen = params.slice(0, k);
    progress({ stage: `randomising the top ${k} weight layer${k > 1 ? 's' : ''} (${chosen[k - 1]!.node}), compiling and running`, done: k, total: n + 1 });
    const proto = decodeModel(model!.bytes, model!.name);
    randomise(proto, new Set(chosen.flatMap((c) => c.tensors)), 1000 + k);
    const rex = newExplainer(proto, `${model!.name} (randomised)`, model!.labels, model!.extra);
    try {
      const m = await methodMap(rex, tensor, dims, p, classIndex, layer);
      let diff = 0;
      for (let i = 0; i < m.map.length; i++) diff += Math.abs(m.map[i]! - original.map[i]!);
      out.push({
        label: `top ${k} randomised`, randomised: chosen.map((c) => `${c.node} (${c.op})`), map: m.map,
        spearman: spearman(original.map, m.map), meanAbsDiff: diff / m.map.length,
      });
    } finally {
      await rex.release();
    }
  }
  progress({ stage: 'done', done: n + 1, total: n + 1 });
  const last = out[out.length - 1]!;
  const verdict = last.spearman < 0.5
    ? `The map changes when the weights are randomised (rank correlation ${last.spearman.toFixed(2)} after ${out.length} layer(s)): it depends on what the model learned.`
    : `The map barely changes when the weights are randomised (rank correlation ${last.spearman.toFixed(2)}): it may show the input or the architecture more than what the model learned (Adebayo et al., 2018).`;
  return { imageId: p.imageId, method: p.method, layer, classIndex, height: original.H, width: original.W, original: original.map, steps: out, verdict };
}

// ---------------------------------------------------------------- benchmark hook

/** Seeded input, Grad-CAM at the automatic layer: the first call (compile + session + run), then `iterations` calls. */
async function bench(iterations: number, seed: number, progress: (p: Progress) => void): Promise<BenchOutput> {
  const ex = needModel();
  const dims = ex.imageDims(model!.size);
  const rng = new Rng(seed);
  const rand = () => rng.next();
  const input = new Float32Array(dims.reduce((a, v) => a * v, 1));
  for (let i = 0; i < input.length; i++) input[i] = rand() * 4 - 2;
  progress({ stage: 'first call: compile, session, run', done: 0, total: iterations + 1 });
  const t0 = performance.now();
  const first = await ex.explain(input, dims, { method: 'gradcam', layer: 'auto', classes: 'top' });
  const total = performance.now() - t0;
  const runsMs: number[] = [];
  const sessionRunsMs: number[] = [];
  for (let i = 0; i < iterations; i++) {
    progress({ stage: `run ${i + 1} of ${iterations}`, done: i + 1, total: iterations + 1 });
    const t = performance.now();
    const r = await ex.explain(input, dims, { method: 'gradcam', layer: 'auto', classes: 'top' });
    runsMs.push(performance.now() - t);
    sessionRunsMs.push(r.timings.runMs);
  }
  return {
    model: model!.name, backend: runtime!.backend, threads: runtime!.threads, dims, layer: first.explanations[0]!.layers[0]!,
    firstMs: { compile: first.timings.compileMs, session: first.timings.sessionMs, run: first.timings.runMs, total }, runsMs, sessionRunsMs,
  };
}
