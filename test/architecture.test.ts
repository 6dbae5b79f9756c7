/** The source's shape: no import cycles, and no Node-only import in the browser-safe core (scripts/check-imports.ts). */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { check, cycles } from '../scripts/check-imports.js';

it('the source has no import cycles and the core imports nothing Node-only', () => {
  const r = check();
  assert.deepEqual(r.cycles, [], `import cycles: ${r.cycles.map((c) => c.join(' ↔ ')).join('; ')}`);
  assert.deepEqual(r.nodeImports, []);
});

it('the cycle finder finds cycles (so the check above can fail)', () => {
  const g = new Map([['a', ['b']], ['b', ['c']], ['c', ['a']], ['d', ['a']]]);
  assert.deepEqual(cycles(g), [['a', 'b', 'c']]);
  assert.deepEqual(cycles(new Map([['a', ['b']], ['b', []]])), []);
});
