/**
 * The Keras topology importer wired into the command line (issue 22): a Teachable Machine export
 * (`model.json` + `weights.bin` + `metadata.json`) explains with no other option, and its `.keras` and
 * `.h5` forms are the same model; the labels come from metadata.json and the input is prepared as Teachable Machine prepares it
 * (pixels ÷ 127 − 1), checked against the library on an input prepared by hand that way.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadExplainer, prepareInputs } from '../src/node.js';
import { ROOT, runGradcam } from './helpers/cli.js';

const TM = path.join(ROOT, 'test', 'fixtures', 'keras', 'tm');
const PHOTO = path.join(ROOT, 'demo', 'photos', 'chelsea.jpg');
const LABELS = JSON.parse(fs.readFileSync(path.join(TM, 'metadata.json'), 'utf8')).labels as string[];

/** The explanation JSON of `gradcam explain PHOTO --model <model> [...extra]`. */
function explain(model: string, extra: string[] = []): { json: { predicted: { index: number; label?: string; logit: number } }; err: string } {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'gradcam-keras-cli-'));
  try {
    const r = runGradcam(['explain', PHOTO, '--model', model, '--out', out, ...extra]);
    assert.equal(r.code, 0, r.err);
    return { json: JSON.parse(fs.readFileSync(path.join(out, 'chelsea.gradcam.json'), 'utf8')), err: r.err };
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
}

describe('Keras / TF.js layers models on the command line', () => {
  it('a Teachable Machine export explains with no option (its labels, its preprocessing); its .keras and .h5 forms are the same model', async () => {
    const viaJson = explain(path.join(TM, 'model.json'));
    assert.match(viaJson.err, /Teachable Machine image model/);
    const { index, label, logit } = viaJson.json.predicted;
    assert.equal(label, LABELS[index]);
    // the library on an input prepared by hand as Teachable Machine does: the centre square, ÷ 127 − 1
    const byHandOf = async (file: string): Promise<Float32Array> => {
      const ex = await loadExplainer(path.join(TM, file), { cache: false });
      try {
        const [inp] = await prepareInputs(ex, PHOTO, { mean: [1, 1, 1], std: [1, 1, 1], divisor: 127, resize: 224, crop: [224, 224] });
        return (await ex.run(inp!.tensor, inp!.dims, { layers: [] })).logits.data;
      } finally {
        await ex.release();
      }
    };
    const byHand = await byHandOf('model.json');
    const matched = Math.abs(logit - byHand[index]!);
    assert.ok(matched <= 1e-5, `logit ${logit} vs ${byHand[index]}`);
    // the stated preprocessing made a difference (else this test could not fail): ImageNet's gives another logit
    const imagenet = explain(path.join(TM, 'model.json'), ['--normalize', 'imagenet']).json.predicted;
    assert.ok(imagenet.index !== index || Math.abs(imagenet.logit - logit) > 20 * Math.max(matched, 1e-5), `ImageNet normalisation: logit ${imagenet.logit} vs ${logit}`);
    // the .keras and .h5 forms state no preprocessing (Teachable Machine writes neither): the same model
    for (const file of ['model.keras', 'model.h5']) {
      const l = await byHandOf(file);
      for (let k = 0; k < l.length; k++) assert.ok(Math.abs(l[k]! - byHand[k]!) <= 1e-5, `${file}: logit ${k} ${l[k]} vs ${byHand[k]}`);
    }
  });

  it('--layer takes the topology\'s layer names; an unknown one is one line', () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'gradcam-keras-cli-'));
    try {
      const r = runGradcam(['layers', '--model', path.join(TM, 'model.json')]);
      assert.equal(r.code, 0, r.err);
      const names = r.out.split('\n').map((l) => l.trim().split(/\s+/)[0]).filter(Boolean);
      const conv = names.find((n) => /conv_pw_\d+_relu$/.test(n!));
      assert.ok(conv, r.out);
      const e = runGradcam(['explain', PHOTO, '--model', path.join(TM, 'model.json'), '--layer', conv!, '--out', out]);
      assert.equal(e.code, 0, e.err);
      const bad = runGradcam(['explain', PHOTO, '--model', path.join(TM, 'model.json'), '--layer', 'no_such_layer', '--out', path.join(out, 'x')]);
      assert.notEqual(bad.code, 0);
      // the import's notes, then one error line naming the layer and the candidates
      const errors = bad.err.trim().split('\n').filter((l) => l.startsWith('gradcam: error:'));
      assert.equal(errors.length, 1, bad.err);
      assert.match(errors[0]!, /layer 'no_such_layer' does not exist in the model\. Closest candidate layers: .*conv/);
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });
});
