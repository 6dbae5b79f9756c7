/**
 * Detectors with their post-processing inside (torchvision's SSD/SSDlite, RetinaNet, FCOS exports): NMS sits
 * in an If (or Loop) subgraph, after a score threshold (NonZero), a top-k per class or per level (TopK) and
 * the gathers that pick the surviving anchors. The pre-NMS head is read back from the graph:
 *
 * 1. the NMS container's captured tensors: boxes [K, 4], scores [K], labels [K] of the K candidates;
 * 2. each is a Concat of parts (per class for SSD, per feature level for RetinaNet/FCOS); every part is
 *    recomputed for all anchors (`allAnchors`): the gathers whose indices come from NonZero/TopK are
 *    dropped (their data taken whole), a TopK's values are its input, and the nodes in between are cloned
 *    on the whole tensors — the model's own box decoding and clipping, run on every anchor;
 * 3. `preNmsHead` reads the probed parts: one box tensor [A, 4] shared by per-class score columns [A]
 *    (labels constant per part: SSD), or per-level boxes [A_l, 4] with flat scores [A_l × nc]
 *    (RetinaNet, FCOS), and builds the detection tensor [1, A, 4 + nc].
 *
 * Two-stage detectors (Faster/Mask/Keypoint R-CNN) crop region proposals with RoiAlign: `twoStageError`.
 * Browser-safe; the probing runs are the Detector's.
 */
import { makeAttr, opsetVersion, type AttributeProto, type GraphProto, type ModelProto, type Node } from '../onnx/model.js';
import { InputError } from '../util/scores.js';

/** The ops whose outputs are data-dependent anchor selections. */
const SELECTORS = new Set(['NonZero', 'TopK']);
const SUFFIX = '/gradcam_all';

function subgraphs(n: Node): GraphProto[] {
  const out: GraphProto[] = [];
  for (const a of n.attribute as AttributeProto[]) {
    if (a.g) out.push(a.g as GraphProto);
    if (Array.isArray(a['graphs'])) out.push(...(a['graphs'] as GraphProto[]));
  }
  return out;
}

/** Whether `op` runs anywhere in the graph, subgraphs included. */
export function hasOp(g: GraphProto, op: string): boolean {
  return g.node.some((n) => n.op_type === op || subgraphs(n).some((s) => hasOp(s, op)));
}

/** The top-level If/Loop node whose subgraph runs NonMaxSuppression (torchvision's batched_nms). */
export function nmsContainer(m: ModelProto): Node | undefined {
  return m.graph.node.find((n) => subgraphs(n).some((s) => hasOp(s, 'NonMaxSuppression')));
}

/** The outer-scope tensors a node's subgraphs read (in order of first use). */
export function capturedTensors(n: Node): string[] {
  const out: string[] = [];
  const walk = (g: GraphProto, outer: Set<string>) => {
    const defined = new Set<string>([...(g.input ?? []).map((i) => i.name), ...(g.initializer ?? []).map((t) => t.name ?? '')]);
    for (const x of g.node) {
      for (const i of x.input) if (i && !defined.has(i) && !outer.has(i) && !out.includes(i)) out.push(i);
      for (const s of subgraphs(x)) walk(s, new Set([...outer, ...defined]));
      for (const o of x.output) defined.add(o);
    }
  };
  for (const s of subgraphs(n)) walk(s, new Set());
  return out;
}

/** The one line for a two-stage detector. */
export function twoStageError(source: string): InputError {
  return new InputError(`${source} is a two-stage detector (Faster/Mask/Keypoint R-CNN: its boxes come from region proposals cropped by RoiAlign, whose gradient gradcam does not compute), so its boxes cannot be explained; single-stage detectors work: torchvision's SSD/SSDlite, RetinaNet and FCOS exports, YOLO exports, and any raw head of boxes and scores (--box-format)`);
}

export interface AllAnchors {
  /** The cloned nodes (to append to the graph). */
  nodes: Node[];
  /** For each tensor asked: its all-anchor version (the tensor itself where no selection precedes it). */
  tensors: (string | undefined)[];
}

/**
 * Each tensor recomputed on every anchor: gathers indexed by a NonZero/TopK-derived tensor take their
 * data whole, a TopK's values are its input, and every node in between is cloned. A tensor that cannot be
 * recomputed so (it is a selection's indices themselves) gives undefined.
 */
export function allAnchors(m: ModelProto, want: string[]): AllAnchors {
  const producer = new Map<string, Node>();
  for (const n of m.graph.node) for (const o of n.output) producer.set(o, n);
  // the tensors that depend on a selection (forward closure, in graph order)
  const selected = new Set<string>();
  for (const n of m.graph.node) {
    if (SELECTORS.has(n.op_type) || n.input.some((i) => selected.has(i))) for (const o of n.output) selected.add(o);
  }
  const nodes: Node[] = [];
  const memo = new Map<string, string | null>();
  const visit = (t: string): string | null => {
    if (!t || !selected.has(t)) return t;
    const hit = memo.get(t);
    if (hit !== undefined) return hit;
    memo.set(t, null); // cycles cannot happen in a DAG; this also marks work in progress
    const p = producer.get(t);
    let r: string | null = null;
    if (p) {
      if ((p.op_type === 'Gather' || p.op_type === 'GatherND') && selected.has(p.input[1]!)) {
        r = visit(p.input[0]!);
      } else if (p.op_type === 'TopK') {
        r = t === p.output[0] ? visit(p.input[0]!) : null;
      } else if (SELECTORS.has(p.op_type)) {
        r = null;
      } else {
        const inputs = p.input.map((i) => visit(i));
        if (inputs.every((i) => i !== null)) {
          const outputs = p.output.map((o) => (o ? o + SUFFIX : o));
          nodes.push({ ...p, name: `${p.name}${SUFFIX}`, input: inputs as string[], output: outputs });
          for (const [k, o] of p.output.entries()) if (o) memo.set(o, outputs[k]!);
          r = t + SUFFIX;
        }
      }
    }
    memo.set(t, r);
    return r;
  };
  const tensors = want.map((t) => visit(t) ?? undefined);
  // a clone is pushed after its inputs' clones: graph order holds
  return { nodes, tensors };
}

/** A Concat's inputs (its parts), or the tensor itself. */
export function concatParts(m: ModelProto, t: string): string[] {
  const p = m.graph.node.find((n) => n.output.includes(t));
  return p && p.op_type === 'Concat' ? [...p.input] : [t];
}

export interface ProbedPart {
  name: string;
  dims: number[];
  /** The label parts' values (SSD: one class per part). */
  values?: number[];
}

export interface PreNmsHead {
  /** 'per-class': one [A, 4] box tensor and a [A] score column per class; 'per-level': [A_l, 4] boxes + [A_l × nc] scores per level. */
  mode: 'per-class' | 'per-level';
  anchors: number;
  classes: number;
  /** Nodes building the detection tensor [1, A, 4 + nc] (`output`) from the all-anchor parts. */
  nodes: Node[];
  description: string;
}

/**
 * The detection tensor from the all-anchor parts: `boxes` (each [A_k, 4]), `scores` and, for SSD-style
 * per-class parts, `labels` (constant per part).
 */
export function preNmsHead(m: ModelProto, boxes: ProbedPart[], scores: ProbedPart[], labels: (ProbedPart | undefined)[], output: string): PreNmsHead {
  const why = (s: string) => new InputError(`cannot read the pre-NMS head of this detector (NMS inside a subgraph): ${s}; export the raw head (boxes [N, A, 4] and scores [N, A, nc]) and give --box-format`);
  if (!boxes.length || boxes.length !== scores.length) throw why(`${boxes.length} box parts and ${scores.length} score parts`);
  for (const b of boxes) if (b.dims.length !== 2 || b.dims[1] !== 4) throw why(`a box part is [${b.dims.join(', ')}], not [A, 4]`);
  const v13 = opsetVersion(m) >= 13;
  const nodes: Node[] = [];
  let k = 0;
  const name = (s: string) => `gradcam/prenms/${s}_${k++}`;
  const constInts = (vals: number[]) => {
    const out = name('const');
    nodes.push({ name: out, op_type: 'Constant', domain: '', input: [], output: [out], attribute: [makeAttr('value', { dtype: 'int64', dims: [vals.length], data: BigInt64Array.from(vals.map(BigInt)) })] });
    return out;
  };
  const op = (type: string, inputs: string[], attrs: AttributeProto[] = [], out = name(type)) => {
    nodes.push({ name: out, op_type: type, domain: '', input: inputs, output: [out], attribute: attrs });
    return out;
  };
  const unsqueeze = (x: string, axis: number, out?: string) => (v13 ? op('Unsqueeze', [x, constInts([axis])], [], out) : op('Unsqueeze', [x], [makeAttr('axes', [axis])], out));
  const shared = boxes.every((b) => b.name === boxes[0]!.name);
  let boxT: string;
  let scoreT: string;
  let mode: PreNmsHead['mode'];
  let A: number;
  let nc: number;
  if (shared && boxes.length > 1 || (boxes.length === 1 && scores[0]!.dims.length === 1 && scores[0]!.dims[0] === boxes[0]!.dims[0] && labels[0]?.values)) {
    // SSD: one box tensor, a score column per class, labels constant per part
    mode = 'per-class';
    A = boxes[0]!.dims[0]!;
    const cls = labels.map((l, i) => {
      const v = l?.values;
      if (!v || !v.length || v.some((x) => x !== v[0]) || !Number.isInteger(v[0]) || v[0]! < 0) throw why(`score part ${i} has no single class`);
      return v[0]!;
    });
    for (const s of scores) if (s.dims.join() !== String(A)) throw why(`a score part is [${s.dims.join(', ')}], not [${A}]`);
    if (new Set(cls).size !== cls.length) throw why('two score parts have the same class');
    nc = Math.max(...cls) + 1;
    const zero = op('Mul', [scores[0]!.name, op('Constant', [], [makeAttr('value', { dtype: 'float32', dims: [], data: new Float32Array([0]) })])]);
    const columns = Array.from({ length: nc }, (_, c) => unsqueeze(cls.includes(c) ? scores[cls.indexOf(c)]!.name : zero, 1));
    scoreT = op('Concat', columns, [makeAttr('axis', 1)]);
    boxT = boxes[0]!.name;
  } else {
    // RetinaNet, FCOS: per level, boxes [A_l, 4] and flat scores [A_l × nc]
    mode = 'per-level';
    const per = boxes.map((b, i) => {
      const s = scores[i]!;
      const n = s.dims.reduce((a, v) => a * v, 1);
      const al = b.dims[0]!;
      if (al === 0 || n % al !== 0) throw why(`level ${i} has ${al} boxes and ${n} scores`);
      return n / al;
    });
    nc = per[0]!;
    if (per.some((v) => v !== nc)) throw why(`the levels have ${per.join(', ')} classes`);
    A = boxes.reduce((a, b) => a + b.dims[0]!, 0);
    const shape = constInts([-1, nc]);
    const levels = scores.map((s) => op('Reshape', [s.name, shape]));
    scoreT = levels.length > 1 ? op('Concat', levels, [makeAttr('axis', 0)]) : levels[0]!;
    boxT = boxes.length > 1 ? op('Concat', boxes.map((b) => b.name), [makeAttr('axis', 0)]) : boxes[0]!.name;
  }
  unsqueeze(op('Concat', [boxT, scoreT], [makeAttr('axis', 1)]), 0, output);
  return {
    mode, anchors: A, classes: nc, nodes,
    description: mode === 'per-class'
      ? `NMS inside the model's subgraph; its pre-NMS head, read back: boxes [${A}, 4] (x1,y1,x2,y2, decoded for every anchor) + ${scores.length} per-class score columns (classes ${nc}, the model's own softmax scores) = ${A} anchors × ${nc} classes; the kept boxes are the model's`
      : `NMS inside the model's subgraph; its pre-NMS head, read back: ${boxes.length} feature levels, boxes [${boxes.map((b) => b.dims[0]).join(' + ')}, 4] (x1,y1,x2,y2, the model's decoding run on every anchor) + scores [${A}, ${nc}] (the model's own per-class scores) = ${A} anchors × ${nc} classes; the kept boxes are the model's`,
  };
}
