/**
 * Detector outputs as the common exporters write them, recognised from their shapes (`--box-format`):
 *
 * - `yolo`: one output [N, 4+nc, A] or [N, A, 4+nc] (YOLOv8/v11 exports): cx, cy, w, h in input pixels,
 *   then the nc class scores; no objectness.
 * - `yolo-obj`: one output [N, A, 5+nc] or [N, 5+nc, A] (YOLOv5/v7 exports): cx, cy, w, h, objectness,
 *   class scores; an anchor's score of class c is objectness × class score.
 * - `boxes-scores`: two outputs, boxes [N, A, 4] (x1, y1, x2, y2) and scores [N, A, nc] (SSD/RetinaNet style).
 *
 * - `nms` (found by `auto` in a model with one NonMaxSuppression node): the node's inputs, boxes [N, A, 4]
 *   and scores [N, nc, A], are the head; the node's selected indices name the kept boxes' anchors.
 *
 * A `:xyxy` or `:cxcywh` suffix changes how the four box numbers are read. `auto` recognises the layout:
 * two outputs [N, A, 4] + [N, A, nc] are boxes-scores; one [N, X, Y] output is read with its shorter axis
 * as the per-anchor values; with labels, 4+nc or 5+nc values tell whether there is an objectness; without,
 * the exporters' conventions decide ([N, D, A] → yolo, [N, A, D] → yolo-obj) and the reading is reported.
 *
 * Whatever the format, `detectionModel` adds one output, `gradcam/detections` [N, A, D] (a Transpose, an
 * Identity or a Concat of the model's own outputs), that the Explainer differentiates; NMS outside the
 * model is done by `decodeDetections`.
 */
import { makeAttr, makeValueInfo, type ModelProto, type Node } from '../onnx/model.js';
import { InputError } from '../util/scores.js';
import type { BoxCoords, BoxHead } from '../util/boxes.js';

export const DETECTIONS_OUTPUT = 'gradcam/detections';
export const BOX_FORMATS = ['auto', 'yolo', 'yolo-obj', 'boxes-scores'] as const;
export type BoxFormat = (typeof BOX_FORMATS)[number];

export const BOX_FORMAT_HELP = 'yolo ([N, 4+nc, A] or [N, A, 4+nc]: cx,cy,w,h + class scores), yolo-obj ([N, A, 5+nc] or [N, 5+nc, A]: with objectness), boxes-scores (boxes [N, A, 4] x1,y1,x2,y2 + scores [N, A, nc]); add :xyxy or :cxcywh to read the boxes otherwise';

export interface DetectionHead extends BoxHead {
  /**
   * 'nms': a model with NonMaxSuppression inside, read through that node's inputs (boxes, scores [N, nc, A]);
   * 'prenms': NMS inside an If/Loop subgraph (torchvision's exports), the pre-NMS head read back (prenms.ts).
   */
  format: Exclude<BoxFormat, 'auto'> | 'nms' | 'prenms';
  /** 'nms': the NonMaxSuppression output (selected indices [K, 3]: image, class, anchor). */
  selected?: string;
  /** 'prenms': the model's outputs of the kept boxes: boxes [K, 4] (x1,y1,x2,y2), scores [K], labels [K]. */
  kept?: { boxes: string; scores: string; labels: string };
  /** 'prenms': the nodes that build the detection output from the model's tensors. */
  nodes?: Node[];
  /** The model outputs read: one (yolo) or boxes and scores. */
  outputs: string[];
  /** The YOLO output has the anchors on its last axis ([N, D, A]). */
  anchorsLast: boolean;
  /** How the output was read, for reports: e.g. "yolo: output [1, 7, 64] = 64 anchors × (cx,cy,w,h + 3 class scores)". */
  description: string;
}

export interface OutputShape {
  name: string;
  dims: number[];
}

/** Parses `--box-format`: one of BOX_FORMATS, optionally with :xyxy / :cxcywh. */
export function parseBoxFormat(s: string): { format: BoxFormat; coords?: BoxCoords } {
  const [f, c, extra] = s.trim().toLowerCase().split(':');
  if (!(BOX_FORMATS as readonly string[]).includes(f!) || extra !== undefined || (c !== undefined && c !== 'xyxy' && c !== 'cxcywh')) {
    throw new InputError(`unknown --box-format '${s}'; choose auto or one of: ${BOX_FORMAT_HELP}`);
  }
  return { format: f as BoxFormat, coords: c as BoxCoords | undefined };
}

/** Recognises the detector head from the model's output shapes (probed at batch 1). */
export function recogniseHead(outputs: OutputShape[], boxFormat = 'auto', labels?: string[]): DetectionHead {
  const { format, coords } = parseBoxFormat(boxFormat);
  const shapes = outputs.map((o) => `${o.name} [${o.dims.join(', ')}]`).join(', ');
  const fail = (why: string) => new InputError(`cannot read the detector outputs (${shapes}) as ${format === 'auto' ? 'a known layout' : format}: ${why}; give --box-format: ${BOX_FORMAT_HELP}`);
  const three = outputs.filter((o) => o.dims.length === 3);
  if (format === 'boxes-scores' || format === 'auto') {
    const boxes = three.find((o) => o.dims[2] === 4);
    const scores = boxes && three.find((o) => o !== boxes && o.dims[1] === boxes.dims[1] && o.dims[2]! >= 1);
    if (boxes && scores) {
      const A = boxes.dims[1]!;
      const nc = scores.dims[2]!;
      if (labels && labels.length !== nc) throw fail(`the scores have ${nc} classes but there are ${labels.length} labels`);
      const cs = coords ?? 'xyxy';
      return {
        format: 'boxes-scores', outputs: [boxes.name, scores.name], anchors: A, classes: nc, width: 4 + nc, coords: cs, objectness: false, anchorsLast: false,
        description: `boxes-scores: ${boxes.name} [${boxes.dims.join(', ')}] = ${A} boxes (${cs === 'xyxy' ? 'x1,y1,x2,y2' : 'cx,cy,w,h'}) + ${scores.name} [${scores.dims.join(', ')}] = ${nc} class scores`,
      };
    }
    if (format === 'boxes-scores') throw fail('found no pair of outputs [N, A, 4] and [N, A, nc]');
  }
  const out = three[0];
  if (!out) throw fail('no output has 3 axes');
  const [, X, Y] = out.dims as [number, number, number];
  if (X === Y) throw fail(`the anchors and the per-anchor values cannot be told apart (${X} × ${Y})`);
  const anchorsLast = X < Y;
  const D = Math.min(X, Y);
  const A = Math.max(X, Y);
  let objectness: boolean;
  if (format === 'yolo') objectness = false;
  else if (format === 'yolo-obj') objectness = true;
  else if (labels) {
    if (D - 4 === labels.length) objectness = false;
    else if (D - 5 === labels.length) objectness = true;
    else throw fail(`${D} values per anchor fit neither 4+nc nor 5+nc with the ${labels.length} labels`);
  } else objectness = !anchorsLast;
  const nc = D - 4 - (objectness ? 1 : 0);
  if (nc < 1) throw fail(`${D} values per anchor leave no class scores`);
  if (labels && labels.length !== nc) throw fail(`${nc} class scores per anchor but ${labels.length} labels`);
  const cs = coords ?? 'cxcywh';
  const f = objectness ? 'yolo-obj' : 'yolo';
  const guessed = format === 'auto' && !labels ? ` (guessed from the [N, ${anchorsLast ? 'D, A' : 'A, D'}] exporter convention; give --box-format or labels if wrong)` : '';
  return {
    format: f, outputs: [out.name], anchors: A, classes: nc, width: D, coords: cs, objectness, anchorsLast,
    description: `${f}: ${out.name} [${out.dims.join(', ')}] = ${A} anchors × (${cs === 'xyxy' ? 'x1,y1,x2,y2' : 'cx,cy,w,h'}${objectness ? ', objectness' : ''} + ${nc} class scores)${guessed}`,
  };
}

/**
 * A model with NonMaxSuppression inside: the node's inputs, boxes [N, A, 4] and scores [N, nc, A], are the
 * head (pre-NMS, differentiable); its output, the selected indices, names the anchors behind the kept
 * boxes. `centerPointBox` is the node's attribute: 1 → cx, cy, w, h; 0 → corners, read as x1, y1, x2, y2
 * (torchvision's order; ONNX also allows y1, x1, y2, x2, which NMS cannot tell apart).
 */
export function nmsHead(boxes: OutputShape, scores: OutputShape, centerPointBox: number, selected: string, labels?: string[]): DetectionHead {
  const A = boxes.dims[1]!;
  const nc = scores.dims[1]!;
  if (boxes.dims.length !== 3 || boxes.dims[2] !== 4 || scores.dims.length !== 3 || scores.dims[2] !== A) {
    throw new InputError(`the NonMaxSuppression inputs are boxes [${boxes.dims.join(', ')}] and scores [${scores.dims.join(', ')}], not [N, A, 4] and [N, nc, A]; export the raw head and give --box-format: ${BOX_FORMAT_HELP}`);
  }
  if (labels && labels.length !== nc) throw new InputError(`the NonMaxSuppression scores have ${nc} classes but there are ${labels.length} labels`);
  const coords: BoxCoords = centerPointBox === 1 ? 'cxcywh' : 'xyxy';
  return {
    format: 'nms', outputs: [boxes.name, scores.name], selected, anchors: A, classes: nc, width: 4 + nc, coords, objectness: false, anchorsLast: false,
    description: `nms: the model's NonMaxSuppression reads ${boxes.name} [${boxes.dims.join(', ')}] (${coords === 'xyxy' ? 'read as x1,y1,x2,y2' : 'cx,cy,w,h'}) and ${scores.name} [${scores.dims.join(', ')}] = ${A} anchors × ${nc} class scores; each kept box is explained through the pre-NMS scores of its anchor`,
  };
}

/** The model with one output, `gradcam/detections` [N, A, D], built from the head's outputs. */
export function detectionModel(model: ModelProto, head: DetectionHead): ModelProto {
  let node: Node;
  if (head.format === 'prenms') {
    return { ...model, graph: { ...model.graph, node: [...model.graph.node, ...head.nodes!], output: [makeValueInfo(DETECTIONS_OUTPUT, 1)] } };
  }
  if (head.format === 'nms') {
    const t = 'gradcam/nms_scores';
    const nodes: Node[] = [
      { name: t, op_type: 'Transpose', domain: '', input: [head.outputs[1]!], output: [t], attribute: [makeAttr('perm', [0, 2, 1])] },
      { name: 'gradcam/detections', op_type: 'Concat', domain: '', input: [head.outputs[0]!, t], output: [DETECTIONS_OUTPUT], attribute: [makeAttr('axis', 2)] },
    ];
    return { ...model, graph: { ...model.graph, node: [...model.graph.node, ...nodes], output: [makeValueInfo(DETECTIONS_OUTPUT, 1)] } };
  }
  if (head.format === 'boxes-scores') {
    node = { name: 'gradcam/detections', op_type: 'Concat', domain: '', input: head.outputs, output: [DETECTIONS_OUTPUT], attribute: [makeAttr('axis', 2)] };
  } else if (head.anchorsLast) {
    node = { name: 'gradcam/detections', op_type: 'Transpose', domain: '', input: head.outputs, output: [DETECTIONS_OUTPUT], attribute: [makeAttr('perm', [0, 2, 1])] };
  } else {
    node = { name: 'gradcam/detections', op_type: 'Identity', domain: '', input: head.outputs, output: [DETECTIONS_OUTPUT], attribute: [] };
  }
  return { ...model, graph: { ...model.graph, node: [...model.graph.node, node], output: [makeValueInfo(DETECTIONS_OUTPUT, 1)] } };
}
