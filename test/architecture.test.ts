/**
 * The source's shape (scripts/check-imports.ts): the layer order, no import cycles (runtime, type-only,
 * between folders), every file placed in a layer, no Node-only import in the browser-safe core, and every
 * file under src/ within 450 lines. The checker is also fed a small synthetic graph with each kind of
 * violation, so that it cannot pass silently.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { analyze, check, cycles, problems, type ImportGraph } from '../scripts/check-imports.js';

const ROOT = path.join(path.dirname(new URL(import.meta.url).pathname), '..');

it('the source keeps the layer order, has no import cycles of any kind and the core imports nothing Node-only', () => {
  assert.deepEqual(problems(check()), []);
});

it('every file under src/ is at most 450 lines', () => {
  const long: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
      const rel = path.join(dir, e.name);
      if (e.isDirectory()) walk(rel);
      else if (e.name.endsWith('.ts') && fs.readFileSync(path.join(ROOT, rel), 'utf8').split('\n').length > 451) long.push(rel);
    }
  };
  walk('src');
  assert.deepEqual(long, [], 'files under src/ above 450 lines');
});

it('the cycle finder finds cycles (so the check above can fail)', () => {
  const g = new Map([['a', ['b']], ['b', ['c']], ['c', ['a']], ['d', ['a']]]);
  assert.deepEqual(cycles(g), [['a', 'b', 'c']]);
  assert.deepEqual(cycles(new Map([['a', ['b']], ['b', []]])), []);
});

it('the checker catches each kind of violation in a synthetic graph', () => {
  const rt = (file: string) => ({ file, typeOnly: false });
  const ty = (file: string) => ({ file, typeOnly: true });
  const g: ImportGraph = new Map([
    // a runtime cycle inside one folder
    ['src/onnx/a.ts', { local: [rt('src/onnx/b.ts')], bare: [] }],
    ['src/onnx/b.ts', { local: [rt('src/onnx/a.ts')], bare: [] }],
    // a cycle closed only by `import type`
    ['src/layout/x.ts', { local: [rt('src/layout/y.ts')], bare: [] }],
    ['src/layout/y.ts', { local: [ty('src/layout/x.ts')], bare: [] }],
    // two folders of the same layer that import each other, file-level acyclic
    ['src/audit/p.ts', { local: [rt('src/detect/q.ts')], bare: [] }],
    ['src/detect/r.ts', { local: [rt('src/audit/s.ts')], bare: [] }],
    ['src/detect/q.ts', { local: [], bare: [] }],
    ['src/audit/s.ts', { local: [], bare: [] }],
    // up the layers, even for a type: the core importing a method, autodiff a type of the Explainer
    ['src/explainer/core.ts', { local: [rt('src/methods/index.ts')], bare: [] }],
    ['src/methods/index.ts', { local: [], bare: [] }],
    ['src/autodiff/c.ts', { local: [ty('src/types.ts')], bare: [] }],
    ['src/types.ts', { local: [], bare: [] }],
    // a file in no layer, and a Node-only import in the browser-safe core
    ['src/newfolder/z.ts', { local: [], bare: [] }],
    ['src/render/w.ts', { local: [], bare: ['node:fs'] }],
  ]);
  const r = analyze(g);
  assert.deepEqual(r.cycles, [['src/onnx/a.ts', 'src/onnx/b.ts']]);
  assert.deepEqual(r.typeCycles, [['src/layout/x.ts', 'src/layout/y.ts']]);
  assert.deepEqual(r.folderCycles, [['src/audit', 'src/detect']]);
  assert.deepEqual(r.layerViolations, [
    'src/explainer/core.ts (explainer) imports src/methods/index.ts (methods)',
    'src/autodiff/c.ts (autodiff) imports type from src/types.ts (explainer)',
  ]);
  assert.deepEqual(r.unplaced, ['src/newfolder/z.ts']);
  assert.deepEqual(r.nodeImports, ['src/render/w.ts imports node:fs']);
  assert.equal(problems(r).length, 7);
  // and a clean graph is clean
  const clean = analyze(new Map([['src/cli/m.ts', { local: [rt('src/util/u.ts')], bare: ['node:fs'] }], ['src/util/u.ts', { local: [], bare: [] }]]));
  assert.deepEqual(problems(clean), []);
});
