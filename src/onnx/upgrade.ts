/**
 * Raises a model's default-domain opset (to 17 by default) so that the gradient graph can use
 * ScatterElements with reduction (opset 16+) and the opset-13 forms of Squeeze, Unsqueeze, Split and
 * ReduceSum. Only the ops of the CNN op set whose signature changed between opsets 7 and 17 are
 * rewritten; the others keep their meaning across these versions.
 */
import { attrFloat, attrFloats, attrInt, attrInts, attrString, ModelError, opsetVersion, setOpsetVersion, type GraphProto, type ModelProto, type Node } from './model.js';
import { encodeTensor, floatTensor, int64Tensor, toNumber, type Tensor } from './tensor.js';

export const TARGET_OPSET = 17;

export function upgradeOpset(m: ModelProto, target = TARGET_OPSET): void {
  const from = opsetVersion(m, '');
  if (from >= target) return;
  if (from < 7) throw new ModelError(`models below opset 7 are not supported (this one uses opset ${from})`);
  let counter = 0;
  const constant = (t: Tensor, hint: string): string => {
    const name = `gradcam/upgrade/${hint}_${counter++}`;
    m.graph.initializer.push(encodeTensor(name, t));
    return name;
  };
  const dropAttrs = (n: Node, ...names: string[]) => {
    n.attribute = n.attribute.filter((a) => !names.includes(a.name));
  };
  m.graph.node = upgradeNodes(m.graph.node);
  setOpsetVersion(m, target, '');
  if (toNumber(m.ir_version) < 8) m.ir_version = 8;

  /** The nodes of one graph upgraded; If/Loop/Scan subgraphs (copied, never changed in place) too. */
  function upgradeNodes(nodes: Node[]): Node[] {
    const out: Node[] = [];
    for (const n of nodes) {
      if (n.attribute.some((a) => a.g || (Array.isArray(a['graphs']) && (a['graphs'] as unknown[]).length))) {
        const sub = (g: GraphProto): GraphProto => ({ ...g, node: upgradeNodes(g.node.map((x) => ({ ...x, input: x.input.slice(), output: x.output.slice(), attribute: x.attribute.slice() }))) });
        n.attribute = n.attribute.map((a) => (a.g ? { ...a, g: sub(a.g as GraphProto) } : Array.isArray(a['graphs']) ? { ...a, graphs: (a['graphs'] as GraphProto[]).map(sub) } : a));
      }
      if (n.domain && n.domain !== 'ai.onnx') { out.push(n); continue; }
      switch (n.op_type) {
        case 'Clip':
          if (from < 11) {
            const lo = attrFloat(n, 'min', -3.4028234663852886e38);
            const hi = attrFloat(n, 'max', 3.4028234663852886e38);
            dropAttrs(n, 'min', 'max');
            n.input = [n.input[0]!, constant(floatTensor([lo], []), 'clip_min'), constant(floatTensor([hi], []), 'clip_max')];
          }
          break;
        case 'Pad':
          if (from < 11) {
            const pads = attrInts(n, 'pads') ?? [];
            const value = attrFloat(n, 'value', 0);
            dropAttrs(n, 'pads', 'value');
            n.input = [n.input[0]!, constant(int64Tensor(pads), 'pads'), constant(floatTensor([value], []), 'pad_value')];
          }
          break;
        case 'Squeeze':
        case 'Unsqueeze':
        case 'ReduceSum':
          if (from < 13) {
            const axes = attrInts(n, 'axes');
            dropAttrs(n, 'axes');
            if (axes) n.input = [n.input[0]!, constant(int64Tensor(axes), 'axes')];
          }
          break;
        case 'Split':
          if (from < 13) {
            const split = attrInts(n, 'split');
            dropAttrs(n, 'split');
            if (split) n.input = [n.input[0]!, constant(int64Tensor(split), 'split')];
          }
          break;
        case 'Slice':
          if (from < 10) {
            const starts = attrInts(n, 'starts') ?? [];
            const ends = attrInts(n, 'ends') ?? [];
            const axes = attrInts(n, 'axes');
            dropAttrs(n, 'starts', 'ends', 'axes');
            n.input = [n.input[0]!, constant(int64Tensor(starts), 'starts'), constant(int64Tensor(ends), 'ends')];
            if (axes) n.input.push(constant(int64Tensor(axes), 'axes'));
          }
          break;
        case 'Dropout':
          // a training_mode input (opset 12+) stays for the gradient rule to judge (constant false or not)
          if (from >= 12 && n.input[2]) break;
          n.op_type = 'Identity';
          n.input = [n.input[0]!];
          n.output = [n.output[0]!];
          n.attribute = [];
          break;
        case 'BatchNormalization':
          if (from < 9) dropAttrs(n, 'spatial', 'is_test', 'consumed_inputs');
          break;
        case 'Softmax':
        case 'LogSoftmax':
          if (from < 13) {
            // opset < 13 flattens to 2-D at `axis` (default 1) and normalises each row
            const axis = attrInt(n, 'axis', 1);
            const x = n.input[0]!;
            const y = n.output[0]!;
            const flat = `gradcam/upgrade/flat_${counter++}`;
            const soft = `gradcam/upgrade/soft_${counter++}`;
            const shape = `gradcam/upgrade/shape_${counter++}`;
            out.push({ name: `${n.name}_flatten`, op_type: 'Flatten', input: [x], output: [flat], attribute: [{ name: 'axis', type: 2, i: axis }] });
            out.push({ ...n, input: [flat], output: [soft], attribute: [{ name: 'axis', type: 2, i: 1 }] });
            out.push({ name: `${n.name}_shape`, op_type: 'Shape', input: [x], output: [shape], attribute: [] });
            out.push({ name: `${n.name}_reshape`, op_type: 'Reshape', input: [soft, shape], output: [y], attribute: [] });
            continue;
          }
          break;
        case 'Upsample':
        case 'Resize':
          if (n.op_type === 'Upsample' || from < 11) {
            const mode = attrString(n, 'mode', 'nearest');
            let scales = n.input[1] ?? '';
            if (!scales) {
              const s = attrFloats(n, 'scales') ?? [];
              scales = constant(floatTensor(s, [s.length]), 'scales');
            }
            n.op_type = 'Resize';
            n.input = [n.input[0]!, '', scales];
            n.attribute = [
              { name: 'mode', type: 3, s: new TextEncoder().encode(mode === 'bilinear' ? 'linear' : mode) },
              { name: 'coordinate_transformation_mode', type: 3, s: new TextEncoder().encode('asymmetric') },
              { name: 'nearest_mode', type: 3, s: new TextEncoder().encode('floor') },
            ];
          }
          break;
      }
      out.push(n);
    }
    return out;
  }
}
