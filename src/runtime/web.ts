/**
 * onnxruntime-web backend (browser): WebAssembly with SIMD and threads, or WebGPU where the browser has
 * it. Browser-safe: no Node import. The onnxruntime-web module is passed in (a static
 * `import * as ort from 'onnxruntime-web'`, or a build loaded at run time from the app's own files),
 * so that the caller decides which build (wasm only, or WebGPU + wasm) is fetched.
 *
 * Threads need SharedArrayBuffer, which browsers give only to cross-origin isolated pages (served with
 * `Cross-Origin-Opener-Policy: same-origin` and `Cross-Origin-Embedder-Policy: require-corp`, as
 * `gradcam serve` does); elsewhere onnxruntime-web runs on one thread.
 */
import type * as OrtWeb from 'onnxruntime-web';
import { decodeOutput, encodeFeed, inputTypes, type Session, type SessionFactory, type SessionOptions, type TensorValue } from './session.js';

/** The parts of the onnxruntime-web module this backend uses. */
export type OrtWebModule = Pick<typeof OrtWeb, 'InferenceSession' | 'Tensor' | 'env'>;

export type WebBackend = 'wasm' | 'webgpu';

export interface WebRuntimeOptions {
  /** 'wasm', 'webgpu', or 'auto' (default): WebGPU when an adapter is available, else wasm. */
  backend?: WebBackend | 'auto';
  /** wasm threads; default: the logical cores when cross-origin isolated, else 1. */
  numThreads?: number;
  /** URL prefix of onnxruntime-web's .wasm/.mjs files (default: beside the onnxruntime-web module). */
  wasmPaths?: string;
}

export interface WebRuntimeInfo {
  backend: WebBackend;
  /** wasm threads in use (1 without cross-origin isolation). */
  threads: number;
  crossOriginIsolated: boolean;
  simd: boolean;
  webgpu: boolean;
}

interface GpuNavigator {
  gpu?: { requestAdapter(): Promise<unknown | null> };
  hardwareConcurrency?: number;
}

const nav = (): GpuNavigator | undefined => (globalThis as { navigator?: GpuNavigator }).navigator;

/** True when the browser gives a WebGPU adapter (headless or GPU-less browsers usually do not). */
export async function webGpuAvailable(): Promise<boolean> {
  const gpu = nav()?.gpu;
  if (!gpu) return false;
  try {
    return (await gpu.requestAdapter()) != null;
  } catch {
    return false;
  }
}

/** True when this context may use SharedArrayBuffer (wasm threads). */
export function isCrossOriginIsolated(): boolean {
  return (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true && typeof SharedArrayBuffer !== 'undefined';
}

/** Fixed-width wasm SIMD support (a minimal module using v128). */
export function wasmSimdSupported(): boolean {
  try {
    return WebAssembly.validate(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11]));
  } catch {
    return false;
  }
}

/** Picks the backend and sets onnxruntime-web's wasm flags (they are global: call before the first session). */
export async function configureWebRuntime(ort: OrtWebModule, opts: WebRuntimeOptions = {}): Promise<WebRuntimeInfo> {
  const webgpu = await webGpuAvailable();
  const requested = opts.backend ?? 'auto';
  if (requested === 'webgpu' && !webgpu) throw new Error('WebGPU is not available in this browser (no adapter); use the wasm backend');
  const backend: WebBackend = requested === 'auto' ? (webgpu ? 'webgpu' : 'wasm') : requested;
  const isolated = isCrossOriginIsolated();
  const cores = Math.max(1, nav()?.hardwareConcurrency ?? 1);
  const threads = isolated ? Math.max(1, Math.floor(opts.numThreads ?? cores)) : 1;
  ort.env.wasm.numThreads = threads;
  ort.env.wasm.simd = true;
  ort.env.wasm.proxy = false;
  if (opts.wasmPaths) ort.env.wasm.wasmPaths = opts.wasmPaths;
  return { backend, threads, crossOriginIsolated: isolated, simd: wasmSimdSupported(), webgpu };
}

/**
 * A SessionFactory over onnxruntime-web. With 'webgpu', nodes that the WebGPU execution provider lacks
 * run on the wasm CPU provider in the same session.
 */
export function createWebSessionFactory(ort: OrtWebModule, backend: WebBackend = 'wasm'): SessionFactory {
  return async (model: Uint8Array, options: SessionOptions = {}): Promise<Session> => {
    const so: OrtWeb.InferenceSession.SessionOptions = {
      // 'all' is capped at 'extended': with 'all', onnxruntime-web 1.30's wasm build leaves some fetched
      // outputs unset (a Conv output that also feeds a residual Add whose other input is a Conv:
      // "Reading data from non-tensor typed value is not supported"); onnxruntime-node does not.
      graphOptimizationLevel: !options.optimization || options.optimization === 'all' ? 'extended' : options.optimization,
      executionProviders: [backend === 'webgpu' ? 'webgpu' : 'wasm'],
    };
    const s = await ort.InferenceSession.create(model, so);
    const types = inputTypes((s as { inputMetadata?: readonly unknown[] }).inputMetadata);
    return {
      inputNames: s.inputNames,
      outputNames: s.outputNames,
      async run(feeds, fetch) {
        const f: Record<string, OrtWeb.Tensor> = {};
        for (const [k, v] of Object.entries(feeds)) {
          const e = encodeFeed(k, types.get(k), v.data);
          f[k] = new ort.Tensor(e.type as 'float32', e.data as Float32Array, v.dims);
        }
        const r = fetch ? await s.run(f, fetch) : await s.run(f);
        const out: Record<string, TensorValue> = {};
        for (const [k, v] of Object.entries(r)) {
          const data = v.location === 'cpu' || v.location === undefined ? v.data : await v.getData(true);
          out[k] = decodeOutput(k, v.type, data, v.dims);
          if (v.location !== 'cpu' && v.location !== undefined) v.dispose();
        }
        return out;
      },
      release: () => s.release(),
    };
  };
}
