/**
 * The detection page's worker (web/detect.html): loads a detector (src/detect), decodes the detections
 * of one image and explains the one the user clicks. Requests are handled one at a time, in order.
 */
import { Detector } from '../src/detect/detector.js';
import type { Detection } from '../src/util/boxes.js';
import { configureWebRuntime, createWebSessionFactory, type OrtWebModule } from '../src/runtime/web.js';
import { decodePng, toRgbImage } from '../src/image/png.js';
import { resizeRgb } from '../src/image/resize.js';
import { imageToTensor } from '../src/image/normalize.js';
import type { RgbImage } from '../src/image/types.js';
import type { DetectReply, DetectRequest } from './detect-protocol.js';

const scope = self as unknown as { postMessage(m: unknown, t?: Transferable[]): void; onmessage: ((e: MessageEvent<{ id: number; req: DetectRequest }>) => void) | null };

let ort: OrtWebModule | undefined;
let detector: Detector | undefined;
let input: { tensor: Float32Array; dims: number[] } | undefined;
let detections: Detection[] = [];

let queue: Promise<void> = Promise.resolve();
scope.onmessage = (e) => {
  const { id, req } = e.data;
  queue = queue.then(async () => {
    try {
      const reply = await handle(req);
      scope.postMessage({ id, ok: true, reply });
    } catch (err) {
      scope.postMessage({ id, ok: false, error: (err as Error)?.message ?? String(err) });
    }
  });
};

async function handle(req: DetectRequest): Promise<DetectReply> {
  switch (req.type) {
    case 'load': {
      if (!ort) {
        ort = (await import(/* @vite-ignore */ new URL('ort.wasm.min.mjs', req.ortBase).href)) as OrtWebModule;
        await configureWebRuntime(ort, { backend: 'wasm', wasmPaths: req.ortBase });
      }
      const next = await Detector.fromBytes(req.bytes, { createSession: createWebSessionFactory(ort, 'wasm'), source: req.name, boxFormat: req.boxFormat });
      await detector?.release();
      detector = next;
      input = undefined;
      detections = [];
      return { type: 'load', description: detector.head.description, labels: detector.labels ?? [], size: detector.explainer.imageDims().slice(-2) as [number, number] };
    }
    case 'detect': {
      if (!detector) throw new Error('load a detector first');
      const img: RgbImage = toRgbImage(decodePng(req.png));
      const dims = detector.explainer.imageDims();
      const [h, w] = detector.explainer.layout === 'NCHW' ? [dims[2]!, dims[3]!] : [dims[1]!, dims[2]!];
      const x = img.width === w && img.height === h ? img : resizeRgb(img, w, h);
      input = { tensor: imageToTensor(x, { preset: 'unit', layout: detector.explainer.layout }), dims };
      detections = (await detector.detect(input.tensor, dims, { scoreThreshold: req.scoreThreshold, iouThreshold: req.iouThreshold }))[0]!;
      return { type: 'detect', detections: detections.map((d) => ({ box: d.box, class: d.class, label: d.label, score: d.score })), size: [h, w] };
    }
    case 'explain': {
      if (!detector || !input) throw new Error('detect first');
      const d = detections[req.index];
      if (!d) throw new Error(`no detection ${req.index}`);
      const r = await detector.explain(input.tensor, input.dims, [d], { method: req.method, renormalize: req.renormalize });
      const e = r.explanations[0]!;
      return { type: 'explain', map: e.map, width: e.width, height: e.height, target: `${e.targetName} = ${(e.targetValue ?? 0).toFixed(3)}`, warnings: e.warnings };
    }
  }
}
