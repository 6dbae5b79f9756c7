/** The CLI end to end, and every kind of bad input: clear message, non-zero exit, nothing written. */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { decodeModel, encodeModel } from '../src/onnx/model.js';
import { decodeTensor, encodeTensor } from '../src/onnx/tensor.js';
import { parseNpy, toFloat32, writeNpy } from '../src/image/npy.js';
import { decodePng } from '../src/image/png.js';
import { FIXTURES } from './helpers/fixtures.js';
import { BIN, ROOT, gradcam } from './helpers/cli.js';

const MODEL = path.join(FIXTURES, 'resnet_like', 'model.onnx');
const INPUT = path.join(FIXTURES, 'resnet_like', 'input.npy');
const PHOTO = path.join(ROOT, 'demo', 'photos', 'chelsea.jpg');

let tmp: string;
before(() => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gradcam-cli-')); });
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('gradcam explain', () => {
  it('writes overlay, heat map, maps and a JSON sidecar naming the class', () => {
    const out = path.join(tmp, 'ok');
    const r = gradcam('explain', PHOTO, INPUT, '--model', MODEL, '--out', out, '--raw', '--heatmap', '--class', '3', '--quiet');
    assert.equal(r.code, 0, r.err);
    const files = fs.readdirSync(out).sort();
    for (const stem of ['chelsea', 'input_0', 'input_1']) {
      for (const suffix of ['.gradcam.png', '.gradcam.heatmap.png', '.gradcam.npy', '.gradcam.raw.npy', '.gradcam.json']) assert.ok(files.includes(stem + suffix), `${stem}${suffix} missing`);
    }
    const json = JSON.parse(fs.readFileSync(path.join(out, 'input_1.gradcam.json'), 'utf8'));
    assert.equal(json.class.index, 3);
    assert.equal(typeof json.predicted.index, 'number');
    assert.equal(json.method, 'gradcam');
    assert.equal(json.layer, '/layer3/layer3.0/relu2/Relu_output_0');
    const map = parseNpy(new Uint8Array(fs.readFileSync(path.join(out, 'input_1.gradcam.npy'))));
    assert.deepEqual(map.shape, [48, 48]);
    const v = toFloat32(map);
    assert.ok(Math.abs(Math.max(...v) - 1) < 1e-6 && Math.min(...v) >= 0);
    const png = decodePng(new Uint8Array(fs.readFileSync(path.join(out, 'chelsea.gradcam.png'))));
    assert.ok(png.width >= 320 && png.height > 200, 'overlay at the photo resolution, with caption');
    assert.match(r.out, /class 3 \(logit/);
  });

  it('one pipeline: the same files and JSON layout whatever the method or option', () => {
    const run = (name: string, ...extra: string[]) => {
      const out = path.join(tmp, `same-${name}`);
      const r = gradcam('explain', PHOTO, '--model', MODEL, '--out', out, '--class', '3', '--quiet', ...extra);
      assert.equal(r.code, 0, r.err);
      return out;
    };
    const plain = run('plain', '--method', 'gradcam');
    const family = run('family', '--methods', 'gradcam', '--seed', '1');
    const other = run('layercam', '--method', 'layercam');
    const png = (dir: string, m: string) => fs.readFileSync(path.join(dir, `chelsea.${m}.png`));
    assert.ok(png(plain, 'gradcam').equals(png(family, 'gradcam')), 'the same overlay through a family option');
    const a = decodePng(new Uint8Array(png(plain, 'gradcam')));
    const b = decodePng(new Uint8Array(png(other, 'layercam')));
    assert.deepEqual([a.width, a.height], [b.width, b.height]);
    const keys = (dir: string, m: string) => Object.keys(JSON.parse(fs.readFileSync(path.join(dir, `chelsea.${m}.json`), 'utf8'))).sort();
    assert.deepEqual(keys(plain, 'gradcam'), keys(other, 'layercam'));
    assert.deepEqual(keys(plain, 'gradcam'), keys(family, 'gradcam'));
  });

  it('lists layers with the auto choice marked', () => {
    const r = gradcam('layers', '--model', MODEL);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^\* \/layer3\/layer3\.0\/relu2\/Relu_output_0\s+Relu\s+\[1, 24, 6, 6\]\s+nchw 6×6$/m);
  });

  const bad: [string, () => string[], RegExp][] = [
    ['a missing model', () => ['explain', INPUT, '--model', path.join(tmp, 'nope.onnx')], /model file not found: .*nope\.onnx/],
    ['a truncated model', () => {
      const f = path.join(tmp, 'trunc.onnx');
      fs.writeFileSync(f, fs.readFileSync(MODEL).subarray(0, 2000));
      return ['explain', INPUT, '--model', f];
    }, /trunc\.onnx: not a valid ONNX model/],
    ['a file that is not ONNX', () => ['explain', INPUT, '--model', PHOTO], /chelsea\.jpg: not a valid ONNX model/],
    ['a corrupt image', () => {
      const f = path.join(tmp, 'broken.jpg');
      fs.writeFileSync(f, Buffer.from('this is not a jpeg at all'));
      return ['explain', PHOTO, f, '--model', MODEL];
    }, /cannot decode image .*broken\.jpg/],
    ['a missing image', () => ['explain', path.join(tmp, 'missing.png'), '--model', MODEL], /image not found: .*missing\.png/],
    ['a class out of range', () => ['explain', INPUT, '--model', MODEL, '--class', '10'], /class index 10 is out of range: the model has 10 classes \(0 to 9\)/],
    ['an unknown label', () => ['explain', INPUT, '--model', MODEL, '--class', 'zebra'], /'zebra' is not a number and the model has no labels/],
    ['an unknown layer', () => ['explain', INPUT, '--model', MODEL, '--layer', '/layer3/relu2'], /layer '\/layer3\/relu2' does not exist in the model\. Closest candidate layers: .*\/layer3\/layer3\.0\/relu2\/Relu_output_0/],
    ['an input of the wrong shape', () => {
      const f = path.join(tmp, 'wrong.npy');
      fs.writeFileSync(f, writeNpy(new Float32Array(3 * 32 * 32), [3, 32, 32]));
      return ['explain', f, '--model', MODEL];
    }, /input shape \[1, 3, 32, 32\] does not match the model's input 'input' \[batch, 3, 48, 48\]/],
    ['NaN scores', () => {
      const f = path.join(tmp, 'nan.npy');
      fs.writeFileSync(f, writeNpy(new Float32Array(3 * 48 * 48).fill(NaN), [3, 48, 48]));
      return ['explain', f, '--model', MODEL];
    }, /non-finite score \(NaN\)/],
    ['an op without a gradient rule', () => {
      const m = decodeModel(fs.readFileSync(MODEL));
      const relu = m.graph.node.find((n) => n.output[0] === '/layer3/layer3.0/relu1/Relu_output_0')!;
      relu.op_type = 'ThresholdedRelu';
      const f = path.join(tmp, 'thresholded-relu.onnx');
      fs.writeFileSync(f, encodeModel(m));
      return ['explain', INPUT, '--model', f, '--layer', '/layer2/layer2.0/relu2/Relu_output_0'];
    }, /cannot differentiate ThresholdedRelu node '\/layer3\/layer3\.0\/relu1\/Relu': no gradient rule for op 'ThresholdedRelu'.*Supported ops: Abs, Add, AveragePool/],
    ['an unknown method', () => ['explain', INPUT, '--model', MODEL, '--method', 'gradcamm'], /unknown method 'gradcamm'; choose one of: .*gradcam/],
    ['an unknown option', () => ['explain', INPUT, '--model', MODEL, '--colour', 'jet'], /unknown option '--colour'; see 'gradcam explain --help'/],
  ];
  for (const [what, args, message] of bad) {
    it(`rejects ${what} with a clear message, a non-zero exit and no output`, () => {
      const out = path.join(tmp, `bad-${what.replace(/\W+/g, '-')}`);
      const r = gradcam(...args(), '--out', out, '--quiet');
      assert.notEqual(r.code, 0);
      assert.match(r.err, message);
      assert.ok(!fs.existsSync(out) || fs.readdirSync(out).length === 0, 'no partial output');
    });
  }

  it('warns about an all-zero map and writes zeros, never NaN', () => {
    const m = decodeModel(fs.readFileSync(MODEL));
    const fcName = m.graph.node.find((n) => n.op_type === 'Gemm')!.input[1]!;
    const idx = m.graph.initializer.findIndex((t) => t.name === fcName);
    const w = decodeTensor(m.graph.initializer[idx]!);
    const data = w.data as Float32Array;
    const cols = w.dims[1]!;
    data.fill(0, 4 * cols, 5 * cols); // class 4 no longer depends on anything
    m.graph.initializer[idx] = encodeTensor(fcName, w);
    const f = path.join(tmp, 'zero.onnx');
    fs.writeFileSync(f, encodeModel(m));
    const out = path.join(tmp, 'zero');
    const r = gradcam('explain', INPUT, '--model', f, '--class', '4', '--out', out, '--raw', '--quiet');
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /warning: .*the map is all zero/);
    const v = toFloat32(parseNpy(new Uint8Array(fs.readFileSync(path.join(out, 'input_0.gradcam.npy')))));
    assert.ok(v.every((x) => x === 0));
  });
});

describe('one declarative command line (src/cli/spec.ts)', () => {
  it("every command's --help is generated from its declaration and lists every option it accepts", async () => {
    const { EXPLAIN } = await import('../src/cli/explain.js');
    const { AUDIT, MERGE } = await import('../src/cli/audit.js');
    const { SANITY } = await import('../src/cli/sanity.js');
    const { EVALUATE } = await import('../src/cli/evaluate.js');
    const { LAYERS } = await import('../src/cli/layers.js');
    const { SERVE } = await import('../src/cli/serve.js');
    const { DETECT } = await import('../src/cli/detect.js');
    const { VIDEO } = await import('../src/cli/video.js');
    for (const spec of [EXPLAIN, DETECT, VIDEO, AUDIT, MERGE, SANITY, EVALUATE, LAYERS, SERVE]) {
      const r = gradcam(spec.name, '--help');
      assert.equal(r.code, 0, `${spec.name}: ${r.err}`);
      assert.ok(r.out.startsWith(`Usage: gradcam ${spec.name} `), spec.name);
      for (const g of spec.groups) for (const name of Object.keys(g.options)) assert.match(r.out, new RegExp(`^  --${name}\\b`, 'm'), `${spec.name} --help lacks --${name}`);
      // 'gradcam help <cmd>' is the same text
      assert.equal(gradcam('help', spec.name).out, r.out);
    }
    // the shared groups: an option of the same name has the same declaration in every command that takes it
    const seen = new Map<string, unknown>();
    for (const spec of [EXPLAIN, AUDIT, SANITY, EVALUATE, LAYERS]) {
      for (const g of spec.groups) {
        for (const [name, d] of Object.entries(g.options)) {
          if (['out', 'methods', 'seed', 'class', 'batch-size', 'quiet', 'shard', 'method'].includes(name)) continue; // defaults or lists differ per command, by design
          if (seen.has(name)) assert.deepEqual(seen.get(name), d, `--${name} means different things in two commands`);
          else seen.set(name, d);
        }
      }
    }
  });

  it('bad arguments: one line naming the option and what it takes, a pointer to --help, exit 2, nothing written', () => {
    const out = path.join(tmp, 'spec-bad');
    const cases: [string[], RegExp][] = [
      [['explain', INPUT, '--model', MODEL, '--alpah', '0.3'], /^gradcam: error: unknown option '--alpah' \(did you mean --alpha\?\); see 'gradcam explain --help'$/],
      [['explain', INPUT, '--model', MODEL, '--alpha', '3'], /^gradcam: error: --alpha must be a number from 0 to 1, got '3'; see 'gradcam explain --help'$/],
      [['audit', INPUT, '--model', MODEL, '--thumb', '4'], /^gradcam: error: --thumb must be a whole number from 8 to 1024, got '4'; see 'gradcam audit --help'$/],
      [['audit', INPUT, '--model', MODEL, '--colormap', 'rainbow'], /^gradcam: error: unknown --colormap 'rainbow'; choose one of: jet, turbo, viridis, inferno; see 'gradcam audit --help'$/],
      [['evaluate', INPUT, '--model', MODEL, '--insertion-substrate', 'x'], /unknown --insertion-substrate 'x'; choose one of: zero, mean, blur; see 'gradcam evaluate --help'$/],
      [['explain', INPUT], /^gradcam: error: --model FILE is required; see 'gradcam explain --help'$/],
      [['audit', '--model', MODEL], /^gradcam: error: no inputs given; see 'gradcam audit --help'$/],
      [['explain', INPUT, '--model', MODEL, '--class', 'true'], /--class true explains each image's labelled class, which only a manifest gives/],
    ];
    for (const [args, re] of cases) {
      const r = gradcam(...args, '--out', out);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`);
      assert.match(r.err.trim(), re);
      assert.equal(r.err.trim().split('\n').length, 1);
      assert.equal(fs.existsSync(out), false);
    }
  });
});
