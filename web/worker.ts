/**
 * The model worker: every model step (loading, compiling gradient graphs, running onnxruntime-web,
 * CAM arithmetic, sanity checks) happens here, so the page never freezes. Requests are handled one
 * at a time, in order; long steps report progress.
 */
import { Explainer, InputError, parseLabels, softmax, type ClassChoice, type ClassScore, type Explanation } from '../src/explainer.js';
import { camMethod } from '../src/cam/index.js';
import { METHODS, checkValue, getMethod, isPixelMethod } from '../src/methods/index.js';
import type { MethodOptionValue } from '../src/methods/types.js';
import { explainPixels } from '../src/methods/pixels.js';
import { explainMany } from '../src/cam/runner.js';
import { sanityCheck } from '../src/sanity/index.js';
import { decodeModel, metadata, type ModelProto } from '../src/onnx/model.js';
import { NORMALIZE_PRESETS, resolveNormalization, type NormalizeOptions } from '../src/image/normalize.js';
import { importModel, memoryModelFiles, type ImportedPreprocess } from '../src/onnx/import/index.js';
import { decodePng, toRgbImage } from '../src/image/png.js';
import { resizeRgb } from '../src/image/resize.js';
import { pictureTensor, pngSamples, type PictureSamples } from '../src/image/picture.js';
import { deprocessGradient } from '../src/image/gradient.js';
import { explanationJson, gradientJson, type SidecarContext } from '../src/render/index.js';
import type { RgbImage } from '../src/image/types.js';
import { configureWebRuntime, createWebSessionFactory, webGpuAvailable, type OrtWebModule, type WebRuntimeInfo } from '../src/runtime/web.js';
import type { Session, SessionFactory } from '../src/runtime/session.js';
import { Rng } from '../src/util/random.js';
import type {
  Analysis, BackendChoice, BenchOutput, ExplainOutput, ExplainParams, GridCell, GridOutput, ImageInfo, MethodInfo, ModelInfo, Progress, Reply, Request,
  RequestEnvelope, SanityOutput, WorkerMessage,
} from './protocol.js';

interface WorkerScope {
  postMessage(message: WorkerMessage, transfer?: Transferable[]): void;
  onmessage: ((e: MessageEvent<RequestEnvelope>) => void) | null;
}
const scope = self as unknown as WorkerScope;

/** A picture as decoded: 8-bit RGB (alpha over white), and its samples at their own depth for the scan path (src/image/picture.ts). */
interface DecodedPicture { rgb: RgbImage; samples: PictureSamples; colour: boolean; format: string }
interface LoadedImage extends DecodedPicture { info: ImageInfo; tensors: Map<string, { tensor: Float32Array; dims: number[] }> }

let ort: OrtWebModule | undefined;
let runtime: WebRuntimeInfo | undefined;
let createSession: SessionFactory | undefined;
let explainer: Explainer | undefined;
let model: { name: string; bytes: Uint8Array; size: [number, number]; labels?: string[]; extra: Map<string, Uint8Array> } | undefined;
const images = new Map<string, LoadedImage>();
/** The image id of the camera's / a dropped video's current frame. */
const FRAME_ID = '\u0000frame';

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
      if (req.entry === undefined) return { type: 'loadModel', model: await loadModel(req.name, req.bytes, req.extra ?? [], labels, req.size, progress) };
      // an imported source (TF.js model.json and shards, .keras/.h5, a hub or TF.js folder): read here, in the page's memory
      progress({ stage: `importing ${req.name}` });
      const all = new Map((req.extra ?? []).map((f) => [f.name, f.bytes]));
      if (req.entry) all.set(req.entry, req.bytes);
      const imported = await importModel(memoryModelFiles(all), req.entry);
      // external-data files are named relative to the ONNX file (a hub folder's onnx/model.onnx_data)
      const dir = imported.entry.includes('/') ? imported.entry.slice(0, imported.entry.lastIndexOf('/') + 1) : '';
      const beside = (req.extra ?? []).map((f) => ({ name: dir && f.name.startsWith(dir) ? f.name.slice(dir.length) : f.name, bytes: f.bytes }));
      const info = await loadModel(req.name, imported.onnx, beside, labels ?? imported.labels, req.size, progress);
      // the model's stated normalisation: a preset of the page's where one does the same, else 'model'
      // (inputFor applies the stated mean, std and divisor themselves, as the command line does)
      const p = imported.preprocess;
      const stated = p && (p.mean || p.std || p.divisor !== undefined);
      const preset = presetOf(p) ?? (stated ? 'model' : undefined);
      modelNorm = stated ? { mean: p!.mean ?? [0], std: p!.std ?? [1], divisor: p!.divisor ?? 255, channelOrder: p!.channelOrder ?? 'RGB' } : undefined;
      // what the page does differently from the model's files, said beside the model (not as errors)
      const notes = [...imported.notes];
      if (imported.preprocess?.resize !== undefined) notes.push(`the model's processor resizes the shorter side to ${imported.preprocess.resize} and crops the centre; the page resizes the whole image`);
      if (!imported.preprocess) notes.push("the model's files state no input normalisation: check the page's normalisation setting");
      return { type: 'loadModel', model: { ...info, ...(preset ? { normalization: preset } : {}), notes } };
    }
    case 'addImage': return { type: 'addImage', image: await addImage(req.id, req.name, req.bytes, req.mime) };
    case 'removeImage': images.delete(req.id); return { type: 'removeImage' };
    case 'analyze': return { type: 'analyze', analysis: await analyze(req.imageId, req.normalize, progress) };
    case 'explain': return { type: 'explain', result: await explain(req.params, req.normalize, progress) };
    case 'grid': return { type: 'grid', grid: await grid(req.imageId, req.classIndex, req.method, req.layers, req.normalize, progress) };
    case 'sanity': return { type: 'sanity', sanity: await sanity(req.params, req.steps, req.normalize, progress) };
    case 'bench': return { type: 'bench', bench: await bench(req.iterations, req.seed, progress) };
    case 'frame': {
      // the latest video frame replaces the previous one (the page keeps one frame in flight)
      const samples: PictureSamples = { width: req.rgb.width, height: req.rgb.height, channels: 3, bits: 8, data: req.rgb.data };
      images.set(FRAME_ID, { info: { id: FRAME_ID, name: 'frame', width: req.rgb.width, height: req.rgb.height, display: req.rgb }, rgb: req.rgb, samples, colour: true, format: 'video frame', tensors: new Map() });
      return { type: 'frame', result: await explain({ ...req.params, imageId: FRAME_ID }, req.normalize, progress) };
    }
  }
}

function transferables(r: Reply): Transferable[] {
  const t: Transferable[] = [];
  const add = (a: { buffer: ArrayBufferLike } | undefined) => { if (a && a.buffer instanceof ArrayBuffer && !t.includes(a.buffer)) t.push(a.buffer); };
  if (r.type === 'explain') { add(r.result.map); add(r.result.raw); add(r.result.gradient); add(r.result.gradientPicture?.data); }
  if (r.type === 'grid') r.grid.cells.forEach((c) => add(c.map));
  if (r.type === 'frame') add(r.result.map);
  if (r.type === 'sanity') { add(r.sanity.original); r.sanity.steps.forEach((s) => add(s.map)); }
  return t;
}

// ---------------------------------------------------------------- runtime and model

let lastOrtBase: string | undefined;
let lastThreads: number | undefined;

function ortVersion(): string {
  return (ort?.env as { versions?: { web?: string } } | undefined)?.versions?.web ?? '';
}

/**
 * Starts onnxruntime-web on the chosen backend and moves the loaded model to it. WebGPU where the
 * browser has none is not an error: the current runtime stays (or wasm starts), and `note` says so.
 */
async function init(backend: BackendChoice, ortBase: string, numThreads = lastThreads): Promise<Reply> {
  lastOrtBase = ortBase;
  lastThreads = numThreads;
  const gpu = backend !== 'wasm' && (await webGpuAvailable());
  let note: string | undefined;
  if (backend === 'webgpu' && !gpu) {
    note = `WebGPU is not available in this browser; ${runtime ? `still on the ${runtime.backend} backend` : 'using the wasm backend'}`;
  }
  const want = gpu ? 'webgpu' : 'wasm';
  if (runtime && (note || (runtime.backend === want && lastStarted?.ortBase === ortBase && lastStarted.numThreads === numThreads))) {
    return { type: 'init', info: runtime, ortVersion: ortVersion(), changed: false, note };
  }
  // the wasm-only build is smaller (14 MB of wasm instead of 27 MB) and needs no asyncify
  const file = gpu ? 'ort.webgpu.min.mjs' : 'ort.wasm.min.mjs';
  ort = (await import(/* @vite-ignore */ new URL(file, ortBase).href)) as OrtWebModule;
  runtime = await configureWebRuntime(ort, { backend: want, wasmPaths: ortBase, numThreads });
  createSession = countingSessions(createWebSessionFactory(ort, runtime.backend));
  lastStarted = { ortBase, numThreads };
  // the loaded model moves to the new runtime (loadModel swaps explainers only once the new one works)
  if (model) await loadModel(model.name, model.bytes, [...model.extra].map(([name, bytes]) => ({ name, bytes })), model.labels, model.size, () => {});
  return { type: 'init', info: runtime, ortVersion: ortVersion(), changed: true, note };
}

let lastStarted: { ortBase: string; numThreads: number | undefined } | undefined;

// ---------------------------------------------------------------- model runs, counted for progress

let onRun: (() => void) | undefined;

/** Sessions whose every run calls `onRun` (set by `counted` while a long request runs). */
function countingSessions(create: SessionFactory): SessionFactory {
  return async (bytes, options) => {
    const s = await create(bytes, options);
    const wrapped: Session = {
      inputNames: s.inputNames,
      outputNames: s.outputNames,
      run: async (feeds, fetch) => {
        const r = await s.run(feeds, fetch);
        onRun?.();
        return r;
      },
      release: () => s.release(),
    };
    return wrapped;
  };
}

/** Runs `fn` with `tick` called after every model run (requests run one at a time). */
async function counted<T>(fn: () => Promise<T>, tick: () => void): Promise<T> {
  onRun = tick;
  try {
    return await fn();
  } finally {
    onRun = undefined;
  }
}

function needRuntime(): SessionFactory {
  if (!createSession) throw new Error('the runtime is not initialised');
  return createSession;
}

function methods(): MethodInfo[] {
  return [
    // the registry's methods, in its order; every kind but cam is drawn as a pixel-level picture
    ...METHODS.map((m) => ({
      name: m.name, description: m.summary, kind: m.kind === 'cam' ? 'cam' as const : 'gradient' as const, family: m.kind,
      // the page's option fields: the descriptor's own declarations (the pixel-level kinds run through explainPixels, which takes them all)
      options: m.kind === 'cam' ? [] : [...m.options],
    })),
  ];
}

function newExplainer(proto: ModelProto, name: string, labels: string[] | undefined, extra: Map<string, Uint8Array>): Explainer {
  const createSession = needRuntime();
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

/** An imported model's stated normalisation (the page's 'as the model states'), set by loadModel. */
let modelNorm: NormalizeOptions | undefined;

/** The page's normalisation preset that does what an imported model's preprocessing states, if one does. */
function presetOf(p: ImportedPreprocess | undefined): string | undefined {
  if (!p || (!p.mean && !p.std && p.divisor === undefined)) return undefined;
  const affine = (divisor: number, mean: readonly number[], std: readonly number[]) => [0, 1, 2].map((c) => [1 / (divisor * std[c % std.length]!), -mean[c % mean.length]! / std[c % std.length]!]).flat();
  const want = affine(p.divisor ?? 255, p.mean ?? [0], p.std ?? [1]);
  return NORMALIZE_PRESETS.find((k) => {
    const s = resolveNormalization({ preset: k });
    if (s.channelOrder !== (p.channelOrder ?? 'RGB')) return false;
    const got = affine(s.divisor, s.mean, s.std);
    return got.every((v, i) => Math.abs(v - want[i]!) <= 1e-5 * Math.abs(v)); // relative: 1/127 is not 1/127.5
  });
}

async function loadModel(name: string, bytes: Uint8Array, extra: { name: string; bytes: Uint8Array }[], labels: string[] | undefined, size: [number, number] | undefined, progress: (p: Progress) => void): Promise<ModelInfo> {
  const t0 = performance.now();
  modelNorm = undefined;
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
  // a one-channel model takes pictures by Node's rule (src/image/picture.ts: colour as its luminance)
  if (next.channels !== 3 && next.channels !== 1) warnings.push(`the model expects ${next.channels} channels; only RGB (3) or grey (1) models take pictures`);
  const meta = metadata(next.model);
  const norm = meta['normalization'];
  return {
    description: meta['description'], normalization: norm && (NORMALIZE_PRESETS as readonly string[]).includes(norm) ? norm : undefined,
    name, inputName: next.inputName, inputDims: next.inputDims, layout: next.layout, channels: next.channels, size: useSize, dynamicSize,
    labels: next.labels, layers, methods: methods(), promoted: next.promoted, loadMs: performance.now() - t0, warnings,
  };
}

function needModel(): Explainer {
  if (!explainer || !model) throw new Error('no model is loaded');
  return explainer;
}

// ---------------------------------------------------------------- images

async function decodeImage(bytes: Uint8Array, mime: string, name: string): Promise<DecodedPicture> {
  const isPng = bytes.length > 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47;
  if (isPng) {
    // our decoder: the pixels sharp gives Node (no colour management, alpha on white), 16 bits kept
    try {
      const raw = decodePng(bytes);
      return { rgb: toRgbImage(raw), samples: pngSamples(raw), colour: raw.channels >= 3, format: 'png' };
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
  const samples: PictureSamples = { width, height, channels: 4, bits: 8, data: rgba };
  return { rgb: { width, height, data }, samples, colour: true, format: (mime.split('/')[1] ?? 'image').replace(/^x-/, '') };
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
  const pic = await decodeImage(bytes, mime, name);
  const { rgb } = pic;
  const info: ImageInfo = { id, name, width: rgb.width, height: rgb.height, display: displayImage(rgb) };
  images.set(id, { ...pic, info, tensors: new Map() });
  return { ...info, display: { ...info.display, data: info.display.data.slice() } };
}

/** The model input for an image: Node's rule (src/image/picture.ts pictureTensor): photos resized (Pillow-style bilinear) and normalised, grey models and 16-bit pictures as scans. */
function inputFor(imageId: string, normalize: string): { tensor: Float32Array; dims: number[] } {
  const ex = needModel();
  const img = images.get(imageId);
  if (!img) throw new Error(`unknown image ${imageId}`);
  const hit = img.tensors.get(normalize);
  if (hit) return hit;
  const dims = ex.imageDims(model!.size);
  const [h, w] = ex.layout === 'NCHW' ? [dims[2]!, dims[3]!] : [dims[1]!, dims[2]!];
  if (normalize === 'model' && !modelNorm) throw new InputError("normalisation 'as the model states': this model's files state none; choose a preset");
  const norm: NormalizeOptions = normalize === 'model' ? modelNorm! : { preset: normalize };
  if (ex.channels !== 3 && ex.channels !== 1) throw new Error(`the model expects ${ex.channels} input channels; only RGB (3) or grey (1) models take pictures`);
  const t = pictureTensor(img, { channels: ex.channels, layout: ex.layout, size: [h, w] }, norm);
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
  if (isPixelMethod(p.method)) {
    const { own, shared } = methodOptions(p.method, p.methodOptions);
    const rectifierOps = (shared['rectifierOps'] as 'all' | 'relu' | undefined) ?? p.rectifierOps ?? 'all';
    const onProgress = (done: number, total: number) => progress({ stage: `${p.method}: pass ${done}/${total}`, done, total });
    const g = await explainPixels(ex, tensor, dims, { ...shared, method: p.method, layer: p.layer, classes, rectifierOps, methodOptions: own, onProgress }, (x, d, o) => ex.explain(x, d, o));
    const e = g.explanations[0]!;
    const sidecar = gradientJson(e, { ...sidecarContext(p.imageId, g.timings), rectifierOps, options: { ...shared, ...own } });
    return {
      params: p, method: e.method, kind: 'gradient', layer: e.layer, target: e.target, predicted: e.predicted,
      map: e.cam, height: e.height, width: e.width, gradient: e.gradient, channels: e.channels,
      gradientPicture: deprocessGradient(e.gradient, e.width, e.height), warnings: e.warnings ?? [],
      timings: { run: g.timings.runMs, total: performance.now() - t0 }, sidecar,
    };
  }
  camMethod(p.method);
  const r = await ex.explain(tensor, dims, { method: p.method, layer: p.layer, classes });
  const e = r.explanations[0]!;
  return {
    params: p, method: e.method, kind: 'cam', layer: e.layers[0]!, target: e.target, predicted: e.predicted,
    map: e.map, height: e.height, width: e.width, raw: e.raw, rawHeight: e.rawHeight, rawWidth: e.rawWidth, warnings: e.warnings,
    timings: { compile: r.timings.compileMs, session: r.timings.sessionMs, run: r.timings.runMs, cam: r.timings.camMs, total: performance.now() - t0 },
    sidecar: explanationJson(e, sidecarContext(p.imageId, r.timings)),
  };
}

/**
 * The page's option values of a pixel-level method, split as the library takes them: the descriptor's own
 * options (ExplainOptions.methodOptions, checked by explainPixels) and its `shared` ones (ExplainOptions
 * fields by key, e.g. randomSeed, batchSize), checked here against their declarations.
 */
function methodOptions(name: string, given: Record<string, MethodOptionValue> | undefined): { own: Record<string, MethodOptionValue>; shared: Record<string, MethodOptionValue> } {
  const m = getMethod(name);
  const own: Record<string, MethodOptionValue> = {};
  const shared: Record<string, MethodOptionValue> = {};
  for (const [k, v] of Object.entries(given ?? {})) {
    const o = m.options.find((x) => x.key === k);
    if (o?.shared) shared[k] = checkValue(m.name, o, v);
    else own[k] = v; // unknown keys too: explainPixels refuses them, naming the method's options
  }
  return { own, shared };
}

/** What render's sidecar says about a run in the page (the page adds its own fields and the file names). */
function sidecarContext(imageId: string, timings: SidecarContext['timings']): SidecarContext {
  const info = images.get(imageId)!.info;
  return { input: info.name, model: model!.name, timings, imageSize: [info.height, info.width], files: [] };
}

/**
 * The layer comparison: the chosen CAM method at every chosen layer, through the shared pipeline
 * (`explainMany`: every registered method, the layers from one set of runs). Where the method cannot
 * explain some of the layers (CAM needs the layer right before global pooling), those layers are tried
 * one by one and get the reason instead of a map.
 */
async function grid(imageId: string, classIndex: number | 'top', methodName: string, layers: string[], normalize: string, progress: (p: Progress) => void): Promise<GridOutput> {
  const ex = needModel();
  const method = camMethod(isPixelMethod(methodName) ? 'gradcam' : methodName).name;
  const { tensor, dims } = inputFor(imageId, normalize);
  const infos = await ex.layers(model!.size);
  layers = [...new Set(layers)];
  const n = layers.length;
  const what = `${method} at ${n} layer${n > 1 ? 's' : ''}`;
  let runs = 0;
  let runMs = 0;
  const many = async (ls: string[], done: number) => {
    const r = await counted(() => explainMany(ex, tensor, dims, { methods: [method], layers: ls, classes: [classIndex] }),
      () => { runs++; progress({ stage: `${what}: model run ${runs}`, done, total: n }); });
    runMs += r.timings.runMs;
    return r.results.map((x) => x.explanations[0]!);
  };
  progress({ stage: `${what}: compiling and running`, done: 0, total: n });
  let found: (Explanation | Error)[];
  try {
    found = await many(layers, 0);
  } catch (e) {
    if ((e as Error)?.name !== 'InputError' || n === 1) throw e;
    // a layer the method cannot explain: each layer on its own, so that the others still get their maps
    found = [];
    for (const l of layers) {
      progress({ stage: `${what}: ${l}`, done: found.length, total: n });
      found.push(await many([l], found.length).then((x) => x[0]!, (err: unknown) => {
        if ((err as Error)?.name !== 'InputError') throw err;
        return err as Error;
      }));
    }
    if (found.every((x) => x instanceof Error)) throw found[0];
  }
  progress({ stage: `${what}: done`, done: n, total: n });
  const ok = found.find((x): x is Explanation => !(x instanceof Error))!;
  const [H, W] = [ok.height, ok.width];
  const cells: GridCell[] = layers.map((layer, j) => {
    const info = infos.find((l) => l.name === layer);
    const base = { layer, op: info?.op ?? '', shape: info?.shape ?? [] };
    const e = found[j]!;
    if (e instanceof Error) return { ...base, empty: true, error: e.message, warnings: [] };
    return { ...base, map: e.map, empty: e.map.every((v) => v === 0), warnings: e.warnings };
  });
  return { imageId, method, target: ok.target, predicted: ok.predicted, height: H, width: W, cells, runs, runMs };
}

// ---------------------------------------------------------------- sanity check (cascading randomisation)

/** `gradcam sanity`'s test (src/sanity) on one image and method, cascading, the top `steps` layers. */
async function sanity(p: ExplainParams, steps: number, normalize: string, progress: (p: Progress) => void): Promise<SanityOutput> {
  const ex = needModel();
  const { tensor, dims } = inputFor(p.imageId, normalize);
  const n = Math.max(1, Math.floor(steps));
  progress({ stage: `sanity check: ${p.method} with the trained weights`, done: 0, total: n });
  const r = await sanityCheck(ex, tensor, dims, {
    createSession: needRuntime(), methods: [p.method], modes: ['cascading'], maxLayers: n,
    classes: p.classIndex, layer: p.layer, rectifierOps: p.rectifierOps ?? 'all',
    onStage: (done, total, label) => progress({ stage: `sanity check: randomised ${label}`, done, total }),
  });
  const m = r.methods[0]!;
  const original = r.original[m]![0]!;
  const verdict = r.verdicts[0]!;
  return {
    imageId: p.imageId, method: m, kind: isPixelMethod(m) ? 'gradient' : 'cam', layer: r.camLayer, classIndex: r.classes[0]!,
    height: original.height, width: original.width, original: original.display,
    steps: r.stages.filter((s) => s.stage > 0).map((s) => ({
      stage: s.stage, layer: s.layer!, randomised: r.layers.slice(0, s.stage).map((l) => l.name),
      map: s.maps[m]![0]!.display, similarity: s.similarity[m]![0]!,
    })),
    verdict: verdict.text, sensitive: verdict.sensitive, value: verdict.value, init: r.init, seed: r.seed,
  };
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
