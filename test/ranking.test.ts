/**
 * "Which map to trust" (issue 25 item 4): the ranking of methods by deletion / insertion AUC, ROAD and the
 * randomisation distance (src/metrics/ranking.ts), and `gradcam evaluate` writing it (ranking.csv,
 * ranking.html, the printed table) from the same numbers as its summary; the randomisation distance of the
 * CLI is the library's (sanity/distance.ts) on the same maps.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { rankMethods, rankingCsv, rankingHtml, rankingMarkdown } from '../src/metrics/ranking.js';
import { Explainer } from '../src/explainer.js';
import { createNodeSession } from '../src/runtime/node.js';
import { methodMaps } from '../src/metrics/maps.js';
import { randomisedExplainer, randomisationDistances } from '../src/sanity/distance.js';
import { FIXTURES, loadArray, modelBytes } from './helpers/fixtures.js';
import { gradcam } from './helpers/cli.js';

const s = (mean: number) => ({ mean, std: 0.01 });

describe('rankMethods', () => {
  it('ranks each column in its direction, ties share the better rank, the mean rank orders the table', () => {
    const summary = {
      a: { deletion: s(0.1), insertion: s(0.8), road_morf: s(0.2), road_lerf: s(0.7), randomisation: s(0.9) },
      b: { deletion: s(0.3), insertion: s(0.9), road_morf: s(0.2), road_lerf: s(0.6), randomisation: s(0.1) },
      c: { deletion: s(0.2), insertion: s(0.5), road_morf: s(0.4), road_lerf: s(0.8) },
    };
    const r = rankMethods(summary, ['c', 'b', 'a']);
    assert.deepEqual(r.columns.map((c) => c.key), ['deletion', 'insertion', 'road_morf', 'road_lerf', 'randomisation']);
    const a = r.methods.find((m) => m.method === 'a')!;
    const b = r.methods.find((m) => m.method === 'b')!;
    const c = r.methods.find((m) => m.method === 'c')!;
    assert.deepEqual(['deletion', 'insertion', 'road_morf', 'road_lerf', 'randomisation'].map((k) => a.cells[k]!.rank), [1, 2, 1, 2, 1]);
    assert.deepEqual(['deletion', 'insertion', 'road_morf', 'road_lerf', 'randomisation'].map((k) => b.cells[k]!.rank), [3, 1, 1, 3, 2]);
    assert.equal(c.cells['randomisation'], undefined);
    assert.equal(a.meanRank, 7 / 5);
    assert.equal(b.meanRank, 2);
    assert.equal(c.meanRank, (2 + 3 + 3 + 1) / 4);
    assert.deepEqual(r.methods.map((m) => [m.method, m.position]), [['a', 1], ['b', 2], ['c', 3]]);
    const csv = rankingCsv(r).trim().split('\n');
    assert.equal(csv[0], 'position,method,mean_rank,deletion,deletion_std,deletion_rank,insertion,insertion_std,insertion_rank,road_morf,road_morf_std,road_morf_rank,road_lerf,road_lerf_std,road_lerf_rank,randomisation,randomisation_std,randomisation_rank');
    assert.match(csv[1]!, /^1,a,1\.40,0\.1000,0\.0100,1,/);
    assert.match(rankingMarkdown(r), /\| 1 \| a \| 1\.40 \| 0\.100 \(1\)/);
    const html = rankingHtml(r, { model: 'm<1>.onnx', images: 2 });
    assert.match(html, /m&#60;1&#62;\.onnx/);
    assert.equal((html.match(/<tr><td class="num">/g) ?? []).length, 3);
  });
});

describe('gradcam evaluate: which map to trust', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gradcam-rank-'));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const model = path.join(FIXTURES, 'resnet_like', 'model.onnx');
  const npy = path.join(FIXTURES, 'resnet_like', 'input.npy');

  it('writes ranking.csv and ranking.html from the summary, and the randomisation distance of the library', async () => {
    const out = path.join(tmp, 'eval');
    const r = gradcam('evaluate', npy, '--model', model, '--methods', 'gradcam,saliency,occlusion', '--class', '3', '--steps', '5', '--road-fractions', '0.5', '--out', out, '--quiet');
    assert.equal(r.code, 0, r.err);
    const summary = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8')).summary;
    const want = rankMethods(summary, ['gradcam', 'saliency', 'occlusion']);
    assert.equal(fs.readFileSync(path.join(out, 'ranking.csv'), 'utf8'), rankingCsv(want));
    assert.match(fs.readFileSync(path.join(out, 'ranking.html'), 'utf8'), /<h1>Which map to trust<\/h1>/);
    assert.match(r.out, /Which map to trust/);
    assert.equal(want.columns.length, 5);
    // the rows' randomisation distance: the library's, on the same maps
    const rows = fs.readFileSync(path.join(out, 'evaluate.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const input = loadArray('resnet_like', 'input.npy');
    const ex = Explainer.fromBytes(modelBytes('resnet_like'), { createSession: createNodeSession });
    const rnd = randomisedExplainer(ex, { createSession: createNodeSession, seed: 0 });
    try {
      for (const method of ['gradcam', 'saliency']) {
        const maps = await methodMaps(ex, input.data, input.shape, method, { classes: [3, 3] });
        const d = await randomisationDistances(rnd, input.data, input.shape, maps);
        const got = rows.filter((x) => x.method === method).map((x) => x.randomisation as number);
        assert.equal(got.length, 2);
        got.forEach((v, i) => assert.ok(Math.abs(v - d[i]!) < 1e-9, `${method}: ${v} vs ${d[i]}`));
        assert.ok(d.every((v) => v > 0.05 && v <= 1), `${method}: ${d}`);
      }
    } finally {
      await rnd.release();
      await ex.release();
    }
  });
});
