/**
 * Layout inference on small graphs built here (shapes from a real probe run in onnxruntime): channels-
 * last tensors, token tensors with prefix tokens and a non-square grid, sequence-first tokens,
 * torch.roll and window partitions, 3-D volumes; the automatic layer; the conversion to [N, C, h, w];
 * the --layout override; and the degenerate-map warnings.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Builder } from '../src/autodiff/builder.js';
import { probe } from '../src/runtime/engine.js';
import { encodeModel, GraphIndex, makeValueInfo, topoOrder, type ModelProto } from '../src/onnx/model.js';
import { createNodeSession } from '../src/runtime/node.js';
import { analyzeLayouts } from '../src/layout/graph.js';
import { describeLayout, layoutFromOverride, layoutLabel, toNCHW, type LayerLayout } from '../src/layout/describe.js';
import { AtomFactory, reshapeAxes } from '../src/layout/infer.js';
import { degenerateWarnings } from '../src/cam/degenerate.js';
import { Explainer } from '../src/explainer.js';

let seed = 3;
const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
const randn = (n: number) => Float32Array.from({ length: n }, rand);

/** A model from `body` (input 'x' of the given dims, batch dynamic), analysed at batch 1. */
async function analyse(inputDims: number[], body: (b: Builder, x: string) => string, layout: 'NCHW' | 'NHWC' = 'NCHW') {
  const m: ModelProto = {
    ir_version: 8, opset_import: [{ domain: '', version: 17 }],
    graph: { node: [], initializer: [], input: [makeValueInfo('x', 1, ['batch', ...inputDims.slice(1)])], output: [makeValueInfo('score', 1)] },
  };
  const b = new Builder(m, 't/');
  const y = body(b, 'x');
  m.graph.node.push(...b.nodes);
  m.graph.node.push({ name: 'score', op_type: 'Identity', domain: '', input: [y], output: ['score'], attribute: [] });
  const order = topoOrder(m.graph);
  const index = new GraphIndex(m);
  const names = order.flatMap((n) => n.output);
  const ints = order.flatMap((n) => n.input.slice(1)).filter((t) => t && !index.constant(t) && names.includes(t));
  const { shapes, values } = await probe(m, 'x', names, ints, [1, ...inputDims.slice(1)], createNodeSession);
  const a = analyzeLayouts({ order, input: 'x', inputLayout: layout, score: 'score', batch: 1, shape: (t) => shapes.get(t), constant: (t) => index.constant(t), value: (t) => values.get(t) });
  return { ...a, model: m, nodes: b.nodes, label: (t: string) => layoutLabel(a.layouts.get(t)!) };
}

const conv = (b: Builder, x: string, cin: number, cout: number, stride = 1) =>
  b.op('Conv', [x, b.floats(randn(cout * cin * 9), [cout, cin, 3, 3])], { pads: [1, 1, 1, 1], strides: [stride, stride] });

describe('layout inference', () => {
  it('channels-last after a Transpose, channels-first again after the inverse; LayerNorm and Linear keep the grid', async () => {
    let nhwc = '';
    let lin = '';
    let back = '';
    const a = await analyse([1, 3, 8, 12], (b, x) => {
      const c = conv(b, x, 3, 8);
      nhwc = b.op('LayerNormalization', [b.op('Transpose', [c], { perm: [0, 2, 3, 1] }), b.floats(randn(8), [8]), b.floats(randn(8), [8])], { axis: -1 });
      lin = b.op('MatMul', [nhwc, b.floats(randn(8 * 16), [8, 16])]);
      back = b.op('Transpose', [lin], { perm: [0, 3, 1, 2] });
      return b.op('ReduceMean', [back], { axes: [2, 3], keepdims: 0 });
    });
    assert.equal(a.label(nhwc), 'nhwc 8×12');
    assert.equal(a.label(lin), 'nhwc 8×12');
    assert.equal(a.layouts.get(lin)!.channels, 16);
    assert.equal(a.label(back), 'nchw 8×12');
    assert.equal(a.auto, lin, 'the input of the global pooling, past the Transpose');
  });

  it('tokens with a class token and two register tokens on a non-square grid; the head on the class token is not mixing', async () => {
    let tokens = '';
    let norm1 = '';
    let blockOut = '';
    const C = 16;
    const a = await analyse([1, 3, 16, 24], (b, x) => {
      const patches = b.op('Conv', [x, b.floats(randn(C * 3 * 16), [C, 3, 4, 4])], { strides: [4, 4] }); // [1,16,4,6]
      const flat = b.op('Transpose', [b.op('Reshape', [patches, b.ints([1, C, 24])])], { perm: [0, 2, 1] }); // [1,24,16]
      tokens = b.op('Add', [b.op('Concat', [b.floats(randn(3 * C), [1, 3, C]), flat], { axis: 1 }), b.floats(randn(27 * C), [1, 27, C])]);
      norm1 = b.op('LayerNormalization', [tokens, b.floats(randn(C), [C]), b.floats(randn(C), [C])], { axis: -1 });
      // single-head attention: q, k, v projections of norm1
      const proj = (hint: string) => b.op('Add', [b.op('MatMul', [norm1, b.floats(randn(C * C), [C, C])]), b.floats(randn(C), [C])], {}, hint);
      const [q, k, v] = [proj('q'), proj('k'), proj('v')];
      const att = b.op('Softmax', [b.op('MatMul', [q, b.op('Transpose', [k], { perm: [0, 2, 1] })])], { axis: -1 });
      blockOut = b.op('Add', [tokens, b.op('MatMul', [att, v])]);
      const cls = b.op('Gather', [blockOut, b.constant({ dtype: 'int64', dims: [], data: BigInt64Array.of(0n) })], { axis: 1 });
      return b.op('MatMul', [cls, b.floats(randn(C * 5), [C, 5])]);
    });
    assert.equal(a.label(tokens), 'tokens 4×6 +3');
    assert.equal(a.label(blockOut), 'tokens 4×6 +3');
    assert.equal(a.auto, norm1, 'the attention input (norm1), not the block output after the last attention');
  });

  it('sequence-first tokens after a Transpose', async () => {
    let seq = '';
    const a = await analyse([1, 3, 8, 8], (b, x) => {
      const p = b.op('Conv', [x, b.floats(randn(8 * 3 * 4), [8, 3, 2, 2])], { strides: [2, 2] }); // [1,8,4,4]
      seq = b.op('Transpose', [b.op('Reshape', [p, b.ints([1, 8, 16])])], { perm: [2, 0, 1] }); // [16, 1, 8]
      return b.op('ReduceMean', [seq], { axes: [0], keepdims: 0 });
    });
    assert.equal(a.label(seq), 'tokens-first 4×4');
  });

  it('torch.roll shifts the grid (no layout) and the inverse roll restores it; windows partition and reverse', async () => {
    let rolled = '';
    let windows = '';
    let restored = '';
    let unrolled = '';
    const a = await analyse([1, 3, 8, 8], (b, x) => {
      const c = conv(b, x, 3, 4); // [1,4,8,8]
      const hwc = b.op('Transpose', [c], { perm: [0, 2, 3, 1] }); // [1,8,8,4]
      const roll = (t: string, s: number, axis: number) => b.op('Concat', [
        b.op('Slice', [t, b.ints([s]), b.ints([8]), b.ints([axis])]), b.op('Slice', [t, b.ints([0]), b.ints([s]), b.ints([axis])])], { axis });
      rolled = roll(roll(hwc, 2, 1), 2, 2);
      const parts = b.op('Transpose', [b.op('Reshape', [rolled, b.ints([1, 2, 4, 2, 4, 4])])], { perm: [0, 1, 3, 2, 4, 5] });
      windows = b.op('Reshape', [parts, b.ints([4, 16, 4])]);
      const mixed = b.op('MatMul', [b.op('Softmax', [b.op('MatMul', [windows, b.op('Transpose', [windows], { perm: [0, 2, 1] })])], { axis: -1 }), windows]);
      const back = b.op('Transpose', [b.op('Reshape', [mixed, b.ints([1, 2, 2, 4, 4, 4])])], { perm: [0, 1, 3, 2, 4, 5] });
      restored = b.op('Reshape', [back, b.ints([1, 8, 8, 4])]);
      unrolled = roll(roll(restored, 6, 1), 6, 2);
      return b.op('ReduceMean', [unrolled], { axes: [1, 2], keepdims: 0 });
    });
    assert.equal(a.layouts.get(rolled)!.kind, 'unknown');
    assert.equal(a.layouts.get(windows)!.kind, 'unknown');
    assert.equal(a.layouts.get(restored)!.kind, 'unknown', 'still shifted');
    assert.equal(a.label(unrolled), 'nhwc 8×8');
    assert.equal(a.auto, unrolled);
  });

  it('a channels-last [1,1,1,C] tensor after global pooling is not a layer; the last 7×7-like stage is', async () => {
    let stage = '';
    let pooledNhwc = '';
    const a = await analyse([1, 3, 8, 8], (b, x) => {
      stage = conv(b, x, 3, 6, 2); // [1,6,4,4]
      const pooled = b.op('GlobalAveragePool', [stage]);
      pooledNhwc = b.op('LayerNormalization', [b.op('Transpose', [pooled], { perm: [0, 2, 3, 1] }), b.floats(randn(6), [6])], { axis: -1 });
      return b.op('Flatten', [pooledNhwc], { axis: 1 });
    });
    assert.equal(a.label(pooledNhwc), 'nhwc 1×1', 'a layout, but a grid of one cell: never chosen');
    assert.equal(a.auto, stage);
  });

  it('a flattened classifier (VGG): the tensor before the Flatten', async () => {
    let last = '';
    const a = await analyse([1, 3, 8, 8], (b, x) => {
      last = b.op('MaxPool', [b.op('Relu', [conv(b, x, 3, 4)])], { kernel_shape: [2, 2], strides: [2, 2] });
      return b.op('Gemm', [b.op('Flatten', [last], { axis: 1 }), b.floats(randn(64 * 3), [3, 64])], { transB: 1 });
    });
    assert.equal(a.auto, last);
  });

  it('dense outputs (DBNet-like head): the feature map before the head, past ConvTranspose upsampling, BN and ReLU', async () => {
    let fused = '';
    const a = await analyse([1, 3, 16, 16], (b, x) => {
      const f1 = b.op('Relu', [conv(b, x, 3, 4, 2)]); // 8×8
      const f2 = b.op('Relu', [conv(b, f1, 4, 4, 2)]); // 4×4
      const up = b.op('Resize', [f2, '', b.floats([1, 1, 2, 2], [4])], { mode: 'nearest' });
      fused = b.op('Concat', [f1, up], { axis: 1 }); // 8×8, 8 channels
      const h = b.op('Relu', [conv(b, fused, 8, 4)]);
      const bn = b.op('BatchNormalization', [h, b.floats(randn(4), [4]), b.floats(randn(4), [4]), b.floats(randn(4), [4]), b.floats([1, 1, 1, 1], [4])]);
      const t = b.op('ConvTranspose', [b.op('Relu', [bn]), b.floats(randn(4 * 1 * 4), [4, 1, 2, 2])], { strides: [2, 2] });
      return b.op('Sigmoid', [t]);
    });
    assert.equal(a.auto, fused, 'the fused feature map, not the probability map');
  });

  it('3-D volumes: [N, C, D, H, W] is recognised as ncdhw', async () => {
    let c3 = '';
    const a = await analyse([1, 2, 4, 6, 6], (b, x) => {
      c3 = b.op('Conv', [x, b.floats(randn(3 * 2 * 27), [3, 2, 3, 3, 3])], { pads: [1, 1, 1, 1, 1, 1] });
      return b.op('ReduceMean', [c3], { axes: [2, 3, 4], keepdims: 0 });
    });
    assert.equal(a.label(c3), 'ncdhw 4×6×6');
  });

  it('reshape algebra: merging and splitting axes keeps what they mean', () => {
    const f = new AtomFactory();
    const nchw = [f.axis('N', 1), f.axis('C', 8), f.axis('H', 4), f.axis('W', 6)];
    const tok = reshapeAxes(f, nchw, [1, 8, 24]);
    assert.equal(describeLayout(tok, [1, 8, 24]).kind, 'channels-tokens');
    const back = reshapeAxes(f, tok, [1, 8, 4, 6]);
    assert.deepEqual(describeLayout(back, [1, 8, 4, 6]).grid, [4, 6]);
    // 24 tokens read as 6×4 is a different grid: no layout
    const wrong = reshapeAxes(f, tok, [1, 8, 6, 4]);
    assert.equal(describeLayout(wrong, [1, 8, 6, 4]).kind, 'unknown');
  });
});

describe('tensors in [N, C, h, w]', () => {
  it('toNCHW drops prefix tokens, unflattens the grid and moves channels first', () => {
    // [N=2, L=1+2*3, C=2]: value = 100n + 10·token + c
    const N = 2; const L = 7; const C = 2;
    const data = new Float32Array(N * L * C);
    for (let n = 0; n < N; n++) for (let t = 0; t < L; t++) for (let c = 0; c < C; c++) data[(n * L + t) * C + c] = 100 * n + 10 * t + c;
    const l: LayerLayout = layoutFromOverride('tokens:2x3+1', [N, L, C]);
    const r = toNCHW(data, [N, L, C], l);
    assert.deepEqual(r.dims, [2, 2, 2, 3]);
    // n=1, c=1, y=1, x=2 → token 1 + 1·3 + 2 = 6
    assert.equal(r.data[((1 * 2 + 1) * 2 + 1) * 3 + 2], 100 + 60 + 1);
    const nhwc = new Float32Array([1, 2, 3, 4, 5, 6, 7, 8]); // [1, 2, 2, 2]
    const t = toNCHW(nhwc, [1, 2, 2, 2], layoutFromOverride('nhwc', [1, 2, 2, 2]));
    assert.deepEqual(Array.from(t.data), [1, 3, 5, 7, 2, 4, 6, 8]);
  });

  it('--layout: clear errors naming the valid forms', () => {
    assert.throws(() => layoutFromOverride('tokens:14x14+1', [1, 196, 768]), /1 prefix tokens \+ a 14×14 grid = 197 tokens, but the layer has 196/);
    assert.throws(() => layoutFromOverride('nchw', [1, 197, 768]), /not 4-D/);
    assert.throws(() => layoutFromOverride('hwc', [1, 7, 7, 8]), /valid layouts are nchw, nhwc, ncdhw, ndhwc and tokens:HxW\[\+P\]/);
    assert.equal(layoutFromOverride('tokens:14x14', [1, 197, 768]).suffix, 1);
  });

  it('degenerate maps warn: constant, and stripes from a misread layout', () => {
    assert.match(degenerateWarnings(new Float32Array(6).fill(2), 2, 3, 'L')[0]!, /constant/);
    assert.match(degenerateWarnings(Float32Array.from([1, 2, 3, 1, 2, 3]), 2, 3, 'L')[0]!, /vertical stripes/);
    assert.match(degenerateWarnings(Float32Array.from([1, 1, 1, 5, 5, 5]), 2, 3, 'L')[0]!, /horizontal stripes/);
    assert.deepEqual(degenerateWarnings(Float32Array.from([1, 2, 3, 1, 5, 3]), 2, 3, 'L'), []);
  });
});

describe('Explainer on layouts', () => {
  it('explicit layers with an unknown layout or a 1×1 grid are clear errors naming --layout; an override makes them usable', async () => {
    const m: ModelProto = {
      ir_version: 8, opset_import: [{ domain: '', version: 17 }],
      graph: { node: [], initializer: [], input: [makeValueInfo('x', 1, ['batch', 3, 8, 8])], output: [makeValueInfo('logits', 1)] },
    };
    const b = new Builder(m, 't/');
    const c = conv(b, 'x', 3, 4); // [N,4,8,8]
    // an opaque reshape: [N, 4, 8, 8] → [N, 64, 4] (the exporter merged and re-split axes its own way)
    const odd = b.op('Reshape', [b.op('Transpose', [c], { perm: [0, 3, 2, 1] }), b.ints([0, 64, 4])]);
    const pooled = b.op('GlobalAveragePool', [c]);
    const feat = b.op('Add', [b.op('ReduceMean', [odd], { axes: [1], keepdims: 0 }), b.op('Flatten', [pooled], { axis: 1 })]);
    b.nodes.push({ name: 'fc', op_type: 'Gemm', domain: '', input: [feat, b.floats(randn(5 * 4), [5, 4])], output: ['logits'], attribute: [{ name: 'transB', type: 2, i: 1 }] });
    m.graph.node.push(...b.nodes);
    const ex = Explainer.fromBytes(encodeModel(m), { createSession: createNodeSession });
    try {
      const x = randn(2 * 3 * 64);
      assert.equal(await ex.autoLayer(), c);
      await assert.rejects(ex.explain(x, [2, 3, 8, 8], { layer: odd, classes: 1 }), /has no layout gradcam can be sure of .*--layout nchw\|nhwc\|tokens:HxW\[\+P\]/);
      await assert.rejects(ex.explain(x, [2, 3, 8, 8], { layer: pooled, classes: 1 }), /1×1 grid/);
      // W-major tokens read as an 8×8 grid after transposing: the override is the user's word
      const r = await ex.explain(x, [2, 3, 8, 8], { layer: odd, layout: 'tokens:8x8', classes: 1 });
      assert.equal(r.explanations[0]!.rawHeight, 8);
      assert.equal(r.explanations[0]!.layouts![0]!.override, true);
    } finally {
      await ex.release();
    }
  });
});
