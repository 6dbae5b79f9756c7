/**
 * The source's import graph: cycles between modules (runtime imports; `import type` is erased and does
 * not count) and Node-only imports outside the files allowed to have them (the browser-safe core).
 *
 *   npx tsx scripts/check-imports.ts        # prints problems, exit 1 if any
 *
 * test/architecture.test.ts runs the same checks.
 */
import fs from 'node:fs';
import path from 'node:path';

const ROOT = path.join(path.dirname(new URL(import.meta.url).pathname), '..');

/** Files that may import Node's modules (everything else under src/ must run in a browser). */
export const NODE_ONLY = [/^src\/node\.ts$/, /^src\/node-audit\.ts$/, /^src\/cli\//, /^src\/runtime\/node\.ts$/, /^src\/image\/node\.ts$/, /^src\/video\/node\.ts$/];

function files(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
    const rel = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...files(rel));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(rel);
  }
  return out;
}

/** Runtime imports of a file: relative module paths (resolved to .ts files) and bare specifiers. */
export function imports(file: string): { local: string[]; bare: string[] } {
  const src = fs.readFileSync(path.join(ROOT, file), 'utf8');
  const local: string[] = [];
  const bare: string[] = [];
  const re = /^\s*(?:import|export)\s+(type\s+)?(?:[\s\S]*?\s+from\s+)?['"]([^'"]+)['"]/gm;
  for (const m of src.matchAll(re)) {
    if (m[1]) continue; // import type / export type
    const spec = m[2]!;
    if (spec.startsWith('.')) local.push(path.normalize(path.join(path.dirname(file), spec.replace(/\.js$/, '.ts'))));
    else bare.push(spec);
  }
  // dynamic imports count too
  for (const m of src.matchAll(/import\(\s*['"](\.[^'"]+)['"]\s*\)/g)) local.push(path.normalize(path.join(path.dirname(file), m[1]!.replace(/\.js$/, '.ts'))));
  return { local, bare };
}

/** Strongly connected components with more than one module (Tarjan), each as a list of files. */
export function cycles(graph: Map<string, string[]>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!idx.has(w)) { visit(w); low.set(v, Math.min(low.get(v)!, low.get(w)!)); }
      else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const comp: string[] = [];
      let w: string;
      do { w = stack.pop()!; on.delete(w); comp.push(w); } while (w !== v);
      if (comp.length > 1 || (graph.get(v) ?? []).includes(v)) out.push(comp.sort());
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
  return out;
}

export function check(): { cycles: string[][]; nodeImports: string[] } {
  const src = files('src');
  const graph = new Map<string, string[]>();
  const nodeImports: string[] = [];
  for (const f of src) {
    const { local, bare } = imports(f);
    graph.set(f, local);
    if (!NODE_ONLY.some((r) => r.test(f))) {
      for (const b of bare) if (b.startsWith('node:') || ['fs', 'path', 'os', 'zlib', 'child_process', 'url', 'crypto', 'worker_threads', 'sharp', 'onnxruntime-node'].includes(b)) nodeImports.push(`${f} imports ${b}`);
    }
  }
  return { cycles: cycles(graph), nodeImports };
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  const r = check();
  for (const c of r.cycles) console.log(`import cycle: ${c.join(' ↔ ')}`);
  for (const n of r.nodeImports) console.log(`Node-only import in the browser-safe core: ${n}`);
  if (!r.cycles.length && !r.nodeImports.length) console.log('no import cycles; the core imports nothing Node-only');
  process.exitCode = r.cycles.length || r.nodeImports.length ? 1 : 0;
}
