/**
 * The Detector: an Explainer over a detection model. It recognises the head (`head.ts`), adds the
 * normalised detection output [N, A, D], decodes detections (score threshold, class-aware NMS, top K)
 * and explains each one with any method of the Explainer through the box target (`boxes.ts`): CAM
 * methods through `target`, gradient methods (guided Grad-CAM...) through seed rows, gradient-free ones
 * (Eigen-CAM) as they are. Browser-safe: the runtime is injected as the Explainer's SessionFactory.
 */
import { Explainer } from '../explainer.js';
import type { ExplainOptions, Explanation, ExplainerOptions } from '../types.js';
import { attrInt, encodeModel, decodeModel, type ModelProto } from '../onnx/model.js';
import type { Session } from '../runtime/session.js';
import { InputError } from '../util/scores.js';
import { isGradientMethod } from '../methods/gradient/explain.js';
import { anchorBox, anchorScore, boxTargetValue, decodeDetections, renormalizeInBox, DEFAULT_SCORE_THRESHOLD, type Box, type BoxTargetOptions, type DecodeOptions, type Detection } from '../util/boxes.js';
import { BOX_FORMAT_HELP, DETECTIONS_OUTPUT, detectionModel, nmsHead, recogniseHead, type DetectionHead } from './head.js';
import { allAnchors, capturedTensors, concatParts, hasOp, nmsContainer, preNmsHead, twoStageError } from './prenms.js';
import { forwardModel } from '../cam/graph.js';

export interface DetectorOptions extends ExplainerOptions {
  /** `--box-format` (head.ts): auto (default), yolo, yolo-obj, boxes-scores, optionally :xyxy / :cxcywh. */
  boxFormat?: string;
  /** The input size [H, W] for models with a dynamic one. */
  size?: [number, number];
}

export interface DetectionExplainOptions extends Omit<ExplainOptions, 'target' | 'classes' | 'topK' | 'contrast'>, BoxTargetOptions {
  /** Each map min-max scaled inside its box, zero outside (pytorch-grad-cam's renormalize_cam_in_bounding_boxes). */
  renormalize?: boolean;
}

export interface DetectionExplanation extends Explanation {
  detection: Detection;
}

export class Detector {
  private session?: Promise<Session>;

  /** `forward`: the model the detections are read from (the explainer's, plus the NMS output for 'nms' heads). */
  private constructor(readonly explainer: Explainer, readonly head: DetectionHead, private readonly options: DetectorOptions, private readonly forward?: ModelProto) {}

  static fromBytes(bytes: Uint8Array, options: DetectorOptions): Promise<Detector> {
    return Detector.create(decodeModel(bytes, options.source ?? 'model'), options);
  }

  /** Probes the model's outputs at one image, recognises the head, and builds the explainer. */
  static async create(original: ModelProto, options: DetectorOptions): Promise<Detector> {
    const plain = new Explainer(original, options);
    // the model as every Explainer runs it: a half-precision model promoted to float32, a torchvision
    // export's [C, H, W] input batched
    const model = plain.model;
    const dims = plain.imageDims(options.size);
    const format = options.boxFormat ?? 'auto';
    if (hasOp(model.graph, 'RoiAlign')) {
      await plain.release();
      throw twoStageError(plain.source);
    }
    const nms = model.graph.node.filter((n) => n.op_type === 'NonMaxSuppression');
    // NMS inside an If/Loop subgraph (torchvision): the candidates it reads, to find the pre-NMS head
    const container = !nms.length && format === 'auto' ? nmsContainer(model) : undefined;
    const extra = nms.length === 1 ? [nms[0]!.input[0]!, nms[0]!.input[1]!] : container ? capturedTensors(container) : [];
    const probe = await options.createSession(encodeModel(forwardModel(model, [...model.graph.output.map((o) => o.name), ...extra])), options.sessionOptions);
    let outputs: { name: string; dims: number[]; float: boolean }[];
    let pre: { name: string; dims: number[]; float: boolean }[];
    const zeros = new Float32Array(dims.reduce((a, v) => a * v, 1));
    try {
      const r = await probe.run({ [plain.inputName]: { data: zeros, dims } });
      const shape = (t: string) => ({ name: t, dims: r[t]?.dims ?? [], float: r[t]?.data instanceof Float32Array });
      outputs = model.graph.output.map((o) => shape(o.name));
      pre = extra.map(shape);
    } finally {
      await probe.release();
    }
    let head: DetectionHead;
    try {
      if (container) head = await readPreNms(model, plain, options, outputs, pre, zeros, dims);
      // NMS inside: the kept boxes are not differentiable outputs; the node's inputs are the head
      else if (nms.length && format === 'auto') {
        if (nms.length > 1) throw new InputError(`the model runs ${nms.length} NonMaxSuppression nodes; gradcam reads one. Export the raw head and give --box-format: ${BOX_FORMAT_HELP}`);
        head = nmsHead(pre[0]!, pre[1]!, attrInt(nms[0]!, 'center_point_box', 0), nms[0]!.output[0]!, plain.labels);
      } else head = recogniseHead(outputs, format, plain.labels);
    } catch (e) {
      await plain.release();
      throw e;
    }
    const explainer = new Explainer(detectionModel(model, head), { ...options, labels: plain.labels });
    await plain.release();
    const kept = head.selected ? [head.selected] : head.kept ? [head.kept.boxes, head.kept.scores, head.kept.labels] : [];
    return new Detector(explainer, head, options, kept.length ? forwardModel(detectionModel(model, head), [DETECTIONS_OUTPUT, ...kept]) : undefined);
  }

  get labels(): string[] | undefined {
    return this.explainer.labels;
  }

  /** The detection tensor [N, A, D] of a batch. */
  async rows(input: Float32Array, dims: number[]): Promise<Float32Array> {
    this.explainer.checkInput(input, dims);
    if (!this.session) {
      this.session = this.options.createSession(encodeModel(this.forward ?? this.explainer.model), this.options.sessionOptions);
      this.session.catch(() => (this.session = undefined));
    }
    const s = await this.session;
    const n = dims[0]!;
    const fixed = this.explainer.inputDims[0];
    const parts: Float32Array[] = [];
    const b = typeof fixed === 'number' ? fixed : n;
    for (let start = 0; start < n; start += b) {
      const per = dims.slice(1).reduce((a, v) => a * v, 1);
      const chunk = new Float32Array(b * per);
      chunk.set(input.subarray(start * per, Math.min(n, start + b) * per));
      const r = await s.run({ [this.explainer.inputName]: { data: chunk, dims: [b, ...dims.slice(1)] } }, [DETECTIONS_OUTPUT]);
      const t = r[DETECTIONS_OUTPUT]!;
      const want = [b, this.head.anchors, this.head.width];
      if (t.dims.join() !== want.join()) throw new InputError(`the detection tensor is [${t.dims.join(', ')}] at this input, expected [${want.join(', ')}] (${this.head.description})`);
      parts.push((t.data as Float32Array).subarray(0, (Math.min(n, start + b) - start) * this.head.anchors * this.head.width));
    }
    const out = new Float32Array(n * this.head.anchors * this.head.width);
    let o = 0;
    for (const p of parts) { out.set(p, o); o += p.length; }
    for (let i = 0; i < out.length; i++) if (!Number.isFinite(out[i]!)) throw new InputError(`the detector produced a non-finite value (${out[i]}); check the input's preprocessing`);
    return out;
  }

  /** Detections per image: best class per anchor ≥ scoreThreshold, class-aware NMS, top K. */
  async detect(input: Float32Array, dims: number[], opts: DecodeOptions = {}): Promise<Detection[][]> {
    if (this.head.selected || this.head.kept) return this.keptByModel(input, dims, opts);
    const rows = await this.rows(input, dims);
    const per = this.head.anchors * this.head.width;
    return Array.from({ length: dims[0]! }, (_, i) => decodeDetections(rows.subarray(i * per, (i + 1) * per), this.head, opts, i, this.labels));
  }

  /**
   * Models with NMS inside: the boxes the model keeps (its selected indices: image, class, anchor), each
   * with its anchor's pre-NMS box and class score; scoreThreshold and top apply, the model's own NMS
   * decides the rest. One image per run, so that the indices' image column is the image.
   */
  private async keptByModel(input: Float32Array, dims: number[], opts: DecodeOptions): Promise<Detection[][]> {
    this.explainer.checkInput(input, dims);
    if (!this.session) {
      this.session = this.options.createSession(encodeModel(this.forward!), this.options.sessionOptions);
      this.session.catch(() => (this.session = undefined));
    }
    const s = await this.session;
    const per = dims.slice(1).reduce((a, v) => a * v, 1);
    const out: Detection[][] = [];
    for (let i = 0; i < dims[0]!; i++) {
      const kept = this.head.kept;
      const r = await s.run({ [this.explainer.inputName]: { data: input.slice(i * per, (i + 1) * per), dims: [1, ...dims.slice(1)] } }, [DETECTIONS_OUTPUT, ...(kept ? [kept.boxes, kept.scores, kept.labels] : [this.head.selected!])]);
      const rows = r[DETECTIONS_OUTPUT]!.data as Float32Array;
      const dets: Detection[] = [];
      const threshold = opts.scoreThreshold ?? DEFAULT_SCORE_THRESHOLD;
      if (kept) {
        // the model's own kept boxes, each tied to the anchor whose pre-NMS box and class score it is
        const boxes = r[kept.boxes]!.data as Float32Array;
        const scores = r[kept.scores]!.data as Float32Array;
        const labels = Array.from(r[kept.labels]!.data as ArrayLike<number | bigint>, Number);
        for (let k = 0; k < labels.length; k++) {
          const [c, score] = [labels[k]!, scores[k]!];
          if (!(score >= threshold)) continue;
          if (!Number.isInteger(c) || c < 0 || c >= this.head.classes) throw new InputError(`the model kept a box of class ${c}; its pre-NMS head has ${this.head.classes} classes`);
          const box = Array.from(boxes.subarray(k * 4, k * 4 + 4)) as Box;
          dets.push({ image: i, anchor: keptAnchor(rows, this.head, box, c, score), box, class: c, label: this.labels?.[c], score });
        }
      } else {
        const sel = Array.from(r[this.head.selected!]!.data as ArrayLike<number | bigint>, Number);
        for (let k = 0; k + 2 < sel.length; k += 3) {
          const [c, a] = [sel[k + 1]!, sel[k + 2]!];
          const score = anchorScore(rows, this.head, a, c);
          if (score >= threshold) dets.push({ image: i, anchor: a, box: anchorBox(rows, this.head, a), class: c, label: this.labels?.[c], score });
        }
      }
      dets.sort((x, y) => y.score - x.score || x.anchor - y.anchor);
      out.push(opts.top !== undefined ? dets.slice(0, opts.top) : dets);
    }
    return out;
  }

  /** A detection for a box given by hand (`x1,y1,x2,y2` and a class), as `gradcam detect --box`. */
  detectionFor(image: number, box: Box, cls: number): Detection {
    return { image, anchor: -1, box, class: cls, label: this.labels?.[cls], score: NaN };
  }

  /** One explanation per detection (in the order given), with any method of the Explainer. */
  async explain(input: Float32Array, dims: number[], detections: Detection[], opts: DetectionExplainOptions = {}): Promise<{ explanations: DetectionExplanation[] }> {
    this.explainer.checkInput(input, dims);
    if (!detections.length) return { explanations: [] };
    const per = dims.slice(1).reduce((a, v) => a * v, 1);
    const rowInput = new Float32Array(detections.length * per);
    detections.forEach((d, i) => {
      if (!Number.isInteger(d.image) || d.image < 0 || d.image >= dims[0]!) throw new InputError(`detection of image ${d.image}: the batch has ${dims[0]} images`);
      rowInput.set(input.subarray(d.image * per, (d.image + 1) * per), i * per);
    });
    const rdims = [detections.length, ...dims.slice(1)];
    const { renormalize, iouThreshold, match, iouTerm, ...rest } = opts;
    const targetOpts: BoxTargetOptions = { iouThreshold, match, iouTerm };
    const method = (opts.method ?? 'gradcam').toLowerCase();
    let explanations: Explanation[];
    if (isGradientMethod(method)) {
      // the box target is not linear in the scores: its seed rows are evaluated at this forward pass
      const rows = await this.rows(rowInput, rdims);
      const S = this.head.anchors * this.head.width;
      const seeds = new Float32Array(detections.length * S);
      detections.forEach((d, i) => seeds.set(boxTargetValue(rows.subarray(i * S, (i + 1) * S), this.head, d.box, d.class, targetOpts).seed, i * S));
      explanations = (await this.explainer.explain(rowInput, rdims, { ...rest, seeds })).explanations;
      explanations.forEach((e, i) => {
        const v = boxTargetValue(rows.subarray(i * S, (i + 1) * S), this.head, detections[i]!.box, detections[i]!.class, targetOpts).value;
        e.targetValue = v;
        e.targetKind = 'box';
      });
    } else {
      const target = detections.map((d) => ({ kind: 'box' as const, head: this.head, box: d.box, class: d.class, ...targetOpts }));
      explanations = (await this.explainer.explain(rowInput, rdims, { ...rest, target })).explanations;
    }
    return {
      explanations: explanations.map((e, i) => {
        const d = detections[i]!;
        const value = e.targetValue ?? NaN;
        const score = { index: d.class, label: d.label, logit: value, probability: NaN };
        const map = renormalize ? renormalizeInBox(e.map, e.width, e.height, d.box) : e.map;
        const warnings = [...e.warnings.filter((w) => !/does not depend on the target/.test(w) || !/eigencam|random/.test(e.method))];
        if (e.method === 'eigencam' || e.method === 'random') warnings.push(`${e.method} does not depend on the target: every detection of the image gets the same map${renormalize ? ' (renormalised in its box)' : ''}`);
        if (value === 0 && e.method !== 'eigencam' && e.method !== 'random') warnings.push(`no anchor matches the box ${d.box.map((v) => v.toFixed(1)).join(',')} for class ${d.class} (IoU threshold ${iouThreshold ?? 0.5}): the target is 0 and the map says nothing`);
        return {
          ...e, map, image: d.image, target: score, predicted: score, detection: d, warnings,
          targetName: e.targetName ?? `box ${d.class} [${d.box.map((v) => Math.round(v)).join(',')}]`, targetKind: 'box',
        };
      }),
    };
  }

  async release(): Promise<void> {
    const s = this.session;
    this.session = undefined;
    if (s) await (await s.catch(() => undefined))?.release();
    await this.explainer.release();
  }
}

/** The anchor behind a box the model kept: its class-c score and its pre-NMS box are the kept ones (-1 if none is). */
function keptAnchor(rows: Float32Array, head: DetectionHead, box: Box, c: number, score: number): number {
  let best = -1;
  let bestErr = Infinity;
  for (let a = 0; a < head.anchors; a++) {
    const ds = Math.abs(anchorScore(rows, head, a, c) - score);
    if (ds > 1e-5 * Math.max(1, Math.abs(score))) continue;
    const b = anchorBox(rows, head, a);
    const err = Math.max(...b.map((v, k) => Math.abs(v - box[k]!)));
    if (err < bestErr) { best = a; bestErr = err; }
  }
  return bestErr <= 1e-3 * Math.max(1, ...box.map(Math.abs)) ? best : -1;
}

/**
 * A model with NMS inside an If/Loop subgraph (torchvision): the candidates the subgraph reads (boxes
 * [K, 4], scores [K], labels [K], by their probed shapes and types), their parts recomputed on every
 * anchor, probed once more, read as the pre-NMS head (prenms.ts). The kept boxes are the model's outputs
 * [K, 4], [K], [K].
 */
async function readPreNms(model: ModelProto, plain: Explainer, options: DetectorOptions, outputs: { name: string; dims: number[]; float: boolean }[], captured: { name: string; dims: number[]; float: boolean }[], zeros: Float32Array, dims: number[]): Promise<DetectionHead> {
  const fail = (why: string) => new InputError(`${plain.source} runs NMS inside a subgraph and ${why}; export the raw head (boxes [N, A, 4] and scores [N, A, nc]) and give --box-format: ${BOX_FORMAT_HELP}`);
  const role = (list: typeof captured, what: string, ok: (t: (typeof captured)[number]) => boolean) => {
    const found = list.filter(ok);
    if (found.length !== 1) throw fail(`${found.length ? 'several' : 'none'} of ${list.map((t) => `${t.name} [${t.dims.join(', ')}]`).join(', ')} look like the ${what}`);
    return found[0]!.name;
  };
  const isBoxes = (t: (typeof captured)[number]) => t.float && t.dims.length === 2 && t.dims[1] === 4;
  const isScores = (t: (typeof captured)[number]) => t.float && t.dims.length === 1;
  const isLabels = (t: (typeof captured)[number]) => !t.float && t.dims.length === 1;
  const cand = { boxes: role(captured, 'candidate boxes [K, 4]', isBoxes), scores: role(captured, 'candidate scores [K]', isScores), labels: role(captured, 'candidate labels [K]', isLabels) };
  const kept = { boxes: role(outputs, 'kept boxes [K, 4] output', isBoxes), scores: role(outputs, 'kept scores [K] output', isScores), labels: role(outputs, 'kept labels [K] output', isLabels) };
  const parts = { boxes: concatParts(model, cand.boxes), scores: concatParts(model, cand.scores), labels: concatParts(model, cand.labels) };
  const all = allAnchors(model, [...parts.boxes, ...parts.scores, ...parts.labels]);
  const nb = parts.boxes.length;
  const ns = parts.scores.length;
  const boxT = all.tensors.slice(0, nb);
  const scoreT = all.tensors.slice(nb, nb + ns);
  const labelT = all.tensors.slice(nb + ns);
  if (boxT.some((t) => !t) || scoreT.some((t) => !t)) throw fail('its candidate boxes or scores cannot be recomputed for every anchor');
  const withAll: ModelProto = { ...model, graph: { ...model.graph, node: [...model.graph.node, ...all.nodes] } };
  const probeNames = [...new Set([...boxT, ...scoreT, ...labelT].filter((t): t is string => !!t))];
  const probe = await options.createSession(encodeModel(forwardModel(withAll, probeNames)), options.sessionOptions);
  let r: Record<string, { data: unknown; dims: number[] }>;
  try {
    r = await probe.run({ [plain.inputName]: { data: zeros, dims } }) as typeof r;
  } finally {
    await probe.release();
  }
  const part = (t: string | undefined) => (t ? { name: t, dims: r[t]?.dims ?? [], values: r[t] && !(r[t]!.data instanceof Float32Array) ? Array.from(r[t]!.data as ArrayLike<number | bigint>, Number) : undefined } : undefined);
  const h = preNmsHead(model, boxT.map((t) => part(t)!), scoreT.map((t) => part(t)!), labelT.map(part), DETECTIONS_OUTPUT);
  if (plain.labels && plain.labels.length !== h.classes) throw fail(`its pre-NMS scores have ${h.classes} classes but there are ${plain.labels.length} labels`);
  return {
    format: 'prenms', outputs: [], kept, nodes: [...all.nodes, ...h.nodes], anchors: h.anchors, classes: h.classes, width: 4 + h.classes,
    coords: 'xyxy', objectness: false, anchorsLast: false, description: `prenms: ${h.description}`,
  };
}
