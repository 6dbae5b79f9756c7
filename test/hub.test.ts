/**
 * Hub folders (issue 22): test/fixtures/hub_vit holds the vit_tiny export (onnx/model.onnx; the opset-13
 * export as onnx/model_opset13.onnx) with a config.json (id2label) and a preprocessor_config.json.
 * `gradcam explain photo --model <folder>` needs no other option: the labels and the preprocessing come
 * from the folder, checked against the same model run on an input prepared by hand with that preprocessing.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadExplainer, prepareInputs } from '../src/node.js';
import { readPreprocessorConfig } from '../src/onnx/import/index.js';
import { ROOT, oneError, runGradcam } from './helpers/cli.js';

const HUB = path.join(ROOT, 'test', 'fixtures', 'hub_vit');
const PHOTO = path.join(ROOT, 'demo', 'photos', 'chelsea.jpg');
const LABELS = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];

/** The model's logits on the photo, prepared as `norm` says. */
async function logitsOf(norm: { mean?: number[]; std?: number[]; divisor?: number; preset?: string }): Promise<Float32Array> {
  const ex = await loadExplainer(path.join(HUB, 'onnx', 'model.onnx'), { cache: false });
  try {
    const [inp] = await prepareInputs(ex, PHOTO, norm);
    const r = await ex.run(inp!.tensor, inp!.dims, { layers: [] });
    return r.logits.data;
  } finally {
    await ex.release();
  }
}

describe('hub folders', () => {
  it('explain with no option: labels from config.json, preprocessing from preprocessor_config.json', async () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'gradcam-hub-'));
    try {
      const r = runGradcam(['explain', PHOTO, '--model', HUB, '--out', out]);
      assert.equal(r.code, 0, r.err);
      assert.match(r.err, /ONNX variant 'default': onnx\/model\.onnx \(variants: default, opset13\)/);
      assert.match(r.err, /labels: 10 from config\.json/);
      const json = JSON.parse(fs.readFileSync(path.join(out, 'chelsea.gradcam.json'), 'utf8'));
      const hub = await logitsOf({ mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], divisor: 255 });
      const top = hub.indexOf(Math.max(...hub));
      assert.equal(json.predicted.index, top);
      assert.equal(json.predicted.label, LABELS[top]);
      assert.ok(Math.abs(json.predicted.logit - hub[top]!) <= 1e-4 * Math.max(1, Math.abs(hub[top]!)), `logit ${json.predicted.logit} vs ${hub[top]}`);
      // the folder's preprocessing is not the default one: ImageNet's mean/std gives other logits
      const imagenet = await logitsOf({ preset: 'imagenet' });
      assert.ok(Math.abs(imagenet[top]! - hub[top]!) > 1e-3, 'the preprocessing made no difference: the test could not fail');
      assert.match(r.out, new RegExp(`class ${top} '${LABELS[top]}'`));
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });

  it('--variant chooses the ONNX file and says so; an unknown one lists the valid ones', () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'gradcam-hub-'));
    try {
      const r = runGradcam(['explain', PHOTO, '--model', HUB, '--variant', 'opset13', '--out', out]);
      assert.equal(r.code, 0, r.err);
      assert.match(r.err, /ONNX variant 'opset13': onnx\/model_opset13\.onnx/);
      const bad = runGradcam(['explain', PHOTO, '--model', HUB, '--variant', 'fp16', '--out', out]);
      assert.notEqual(bad.code, 0);
      oneError(bad.err, /--variant fp16: no such ONNX file in the folder \(valid: default, opset13\)/);
      const file = runGradcam(['explain', PHOTO, '--model', path.join(HUB, 'onnx', 'model.onnx'), '--variant', 'opset13', '--out', out]);
      assert.notEqual(file.code, 0);
      oneError(file.err, /--variant chooses among the ONNX files of a hub folder; give the folder, not .*model\.onnx/);
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });

  it('a folder of images through a hub folder (the dataset path: the run is identified by every file of the model folder)', () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'gradcam-hub-'));
    try {
      const r = runGradcam(['explain', path.join(ROOT, 'demo', 'photos'), '--model', HUB, '--out', out, '--quiet']);
      assert.equal(r.code, 0, r.err);
      const cfg = JSON.parse(fs.readFileSync(path.join(out, 'explain.json'), 'utf8'));
      const size = ['onnx/model.onnx', 'onnx/model_opset13.onnx', 'config.json', 'preprocessor_config.json'].reduce((a, f) => a + fs.statSync(path.join(HUB, f)).size, 0);
      assert.equal(cfg.model.file, 'hub_vit');
      assert.equal(cfg.model.bytes, size);
      assert.match(cfg.model.sha256, /^[0-9a-f]{64}$/);
      assert.deepEqual(cfg.labels?.slice(0, 2), ['airplane', 'automobile']);
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });

  it('explicit options win over the folder', () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'gradcam-hub-'));
    try {
      const r = runGradcam(['explain', PHOTO, '--model', HUB, '--labels', path.join(ROOT, 'demo', 'labels.txt'), '--normalize', 'imagenet', '--out', out]);
      assert.equal(r.code, 0, r.err);
      const json = JSON.parse(fs.readFileSync(path.join(out, 'chelsea.gradcam.json'), 'utf8'));
      assert.ok(!LABELS.includes(json.predicted.label), `--labels ignored: ${json.predicted.label}`);
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });

  it('reads the image processors of ConvNeXt (shortest edge, crop_pct) and CLIP (crop_size), and refuses bad ones', () => {
    const notes: string[] = [];
    const convnext = readPreprocessorConfig({ crop_pct: 0.875, do_normalize: true, do_rescale: true, do_resize: true, image_mean: [0.485, 0.456, 0.406], image_std: [0.229, 0.224, 0.225], resample: 3, rescale_factor: 1 / 255, size: { shortest_edge: 224 } }, 'p.json', notes);
    assert.deepEqual([convnext.resize, convnext.crop, convnext.size, convnext.resample], [256, [224, 224], [224, 224], 'bicubic']);
    assert.ok(Math.abs(convnext.divisor! - 255) < 1e-9);
    const clip = readPreprocessorConfig({ crop_size: { height: 224, width: 224 }, do_center_crop: true, size: { shortest_edge: 224 }, image_mean: [0.48145466, 0.4578275, 0.40821073], image_std: [0.26862954, 0.26130258, 0.27577711] }, 'p.json', notes);
    assert.deepEqual([clip.resize, clip.crop], [224, [224, 224]]);
    assert.throws(() => readPreprocessorConfig({ resample: 1 }, 'p.json', notes), /resample 1 is not one gradcam resizes with/);
    assert.throws(() => readPreprocessorConfig({ image_std: [0, 1, 1] }, 'p.json', notes), /must not hold 0/);
  });
});
