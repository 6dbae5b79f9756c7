/**
 * The source's import graph, checked:
 * - the layer order: a file imports only from its own layer or the layers below it, not even a type
 *   (LAYERS, lowest first); a file under src/ in no layer is reported too, so a new folder gets a place;
 * - import cycles between files (runtime imports), and cycles that only `import type` closes (type-only
 *   cycles: erased at run time, but the same tangle for a reader);
 * - cycles between folders (src/cam ↔ src/detect...), which single-file cycles miss;
 * - Node-only imports outside the files allowed to have them (the browser-safe core).
 *
 *   npx tsx scripts/check-imports.ts        # prints problems, exit 1 if any
 *
 * test/architecture.test.ts runs the same checks, and feeds `analyze` a synthetic graph with each kind of
 * violation so that the checks themselves cannot pass silently.
 */
import fs from 'node:fs';
import path from 'node:path';

const ROOT = path.join(path.dirname(new URL(import.meta.url).pathname), '..');

/** Files that may import Node's modules (everything else under src/ must run in a browser). */
export const NODE_ONLY = [/^src\/node\.ts$/, /^src\/dataset\//, /^src\/util\/[a-z-]*-node\.ts$/, /^src\/audit\/(run|reports|merge)\.ts$/, /^src\/cli\//, /^src\/runtime\/node\.ts$/, /^src\/image\/(scan-)?node\.ts$/, /^src\/video\/node\.ts$/];

/**
 * The layers, lowest first: data flows up, imports point down. util/ and image/ (pixel routines, codecs)
 * are the foundation every layer may use; types.ts (the shared vocabulary) sits with the Explainer's core
 * (src/explainer/); src/explainer.ts (the public Explainer: the core + explain(), the registry's dispatch)
 * and cam/ (the CAM methods and their runner) are in the methods layer; metrics/ and sanity/ sit above render (they read
 * maps of any method); index.ts / node.ts are the library's entry points, under cli/.
 */
export const LAYERS: readonly { name: string; files: RegExp }[] = [
  { name: 'util', files: /^src\/util\// },
  { name: 'image', files: /^src\/image\// },
  { name: 'onnx', files: /^src\/onnx\// },
  { name: 'autodiff', files: /^src\/autodiff\// },
  { name: 'runtime', files: /^src\/runtime\// },
  { name: 'layout', files: /^src\/layout\// },
  { name: 'explainer', files: /^src\/(explainer\/|types\.ts$)/ },
  { name: 'methods', files: /^src\/((methods|cam)\/|explainer\.ts$)/ },
  { name: 'render', files: /^src\/render\// },
  { name: 'metrics', files: /^src\/metrics\// },
  { name: 'sanity', files: /^src\/sanity\// },
  { name: 'dataset/audit/detect/video', files: /^src\/(dataset|audit|detect|video)\// },
  { name: 'entry points', files: /^src\/(index|node)\.ts$/ },
  { name: 'cli', files: /^src\/cli\// },
];

const NODE_MODULES = ['fs', 'path', 'os', 'zlib', 'child_process', 'url', 'crypto', 'worker_threads', 'sharp', 'onnxruntime-node'];

/** One import of a file: the imported file (relative to the root, .ts) and whether it is `import type` / `export type`. */
export interface Import { file: string; typeOnly: boolean }
export type ImportGraph = Map<string, { local: Import[]; bare: string[] }>;

function files(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
    const rel = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...files(rel));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(rel);
  }
  return out;
}

/** A file's imports: relative module paths (resolved to .ts files; type-only marked) and bare specifiers. */
export function imports(file: string): { local: Import[]; bare: string[] } {
  const src = fs.readFileSync(path.join(ROOT, file), 'utf8');
  const local: Import[] = [];
  const bare: string[] = [];
  const resolve = (spec: string) => path.normalize(path.join(path.dirname(file), spec.replace(/\.js$/, '.ts')));
  const re = /^\s*(?:import|export)\s+(type\s+)?(?:[\s\S]*?\s+from\s+)?['"]([^'"]+)['"]/gm;
  for (const m of src.matchAll(re)) {
    const spec = m[2]!;
    if (spec.startsWith('.')) local.push({ file: resolve(spec), typeOnly: !!m[1] });
    else if (!m[1]) bare.push(spec);
  }
  // dynamic imports count too, and `import('./x.js').T` in type positions as type imports
  for (const m of src.matchAll(/(typeof\s+)?import\(\s*['"](\.[^'"]+)['"]\s*\)/g)) local.push({ file: resolve(m[2]!), typeOnly: false });
  return { local, bare };
}

/** Strongly connected components with more than one node (or a self-loop) (Tarjan), each sorted. */
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

/** A file's folder for the folder graph: src/<folder>/... → src/<folder>; a file directly in src/ is its own unit. */
export function folderOf(file: string): string {
  const parts = file.split('/');
  return parts.length > 2 ? parts.slice(0, 2).join('/') : file;
}

export function layerOf(file: string): number {
  return LAYERS.findIndex((l) => l.files.test(file));
}

export interface CheckResult {
  /** Import cycles between files through runtime imports. */
  cycles: string[][];
  /** Cycles between files that exist only with `import type` edges counted. */
  typeCycles: string[][];
  /** Cycles between folders (any import). */
  folderCycles: string[][];
  /** `a imports b`, b in a higher layer. */
  layerViolations: string[];
  /** Files under src/ in no layer. */
  unplaced: string[];
  nodeImports: string[];
}

/** The checks on an import graph (the source's, or a synthetic one in the test). */
export function analyze(graph: ImportGraph): CheckResult {
  const runtime = new Map<string, string[]>();
  const all = new Map<string, string[]>();
  const folders = new Map<string, Set<string>>();
  const layerViolations: string[] = [];
  const unplaced: string[] = [];
  const nodeImports: string[] = [];
  for (const [f, { local, bare }] of graph) {
    runtime.set(f, local.filter((i) => !i.typeOnly).map((i) => i.file));
    all.set(f, local.map((i) => i.file));
    const from = layerOf(f);
    if (from < 0) unplaced.push(f);
    const fa = folderOf(f);
    if (!folders.has(fa)) folders.set(fa, new Set());
    for (const i of local) {
      const fb = folderOf(i.file);
      if (fb !== fa) folders.get(fa)!.add(fb);
      const to = layerOf(i.file);
      if (from >= 0 && to > from) layerViolations.push(`${f} (${LAYERS[from]!.name}) imports${i.typeOnly ? ' type from' : ''} ${i.file} (${LAYERS[to]!.name})`);
    }
    if (!NODE_ONLY.some((r) => r.test(f))) {
      for (const b of bare) if (b.startsWith('node:') || NODE_MODULES.includes(b)) nodeImports.push(`${f} imports ${b}`);
    }
  }
  const runtimeCycles = cycles(runtime);
  const key = (c: string[]) => c.join('\n');
  const seen = new Set(runtimeCycles.map(key));
  // a component of the full graph that is not a runtime component: closed by `import type`
  const typeCycles = cycles(all).filter((c) => !seen.has(key(c)));
  const folderGraph = new Map([...folders].map(([k, v]) => [k, [...v]]));
  return { cycles: runtimeCycles, typeCycles, folderCycles: cycles(folderGraph), layerViolations, unplaced, nodeImports };
}

export function check(): CheckResult {
  const graph: ImportGraph = new Map();
  for (const f of files('src')) graph.set(f, imports(f));
  return analyze(graph);
}

/** Every problem, one line each (empty: none). */
export function problems(r: CheckResult): string[] {
  return [
    ...r.cycles.map((c) => `import cycle: ${c.join(' ↔ ')}`),
    ...r.typeCycles.map((c) => `import cycle through import type: ${c.join(' ↔ ')}`),
    ...r.folderCycles.map((c) => `cycle between folders: ${c.join(' ↔ ')}`),
    ...r.layerViolations.map((v) => `layer order broken: ${v}`),
    ...r.unplaced.map((f) => `in no layer (add it to LAYERS in scripts/check-imports.ts): ${f}`),
    ...r.nodeImports.map((n) => `Node-only import in the browser-safe core: ${n}`),
  ];
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  const p = problems(check());
  for (const line of p) console.log(line);
  if (!p.length) console.log(`the layer order holds (${LAYERS.map((l) => l.name).join(' → ')}); no import cycles (runtime, type-only, between folders); the core imports nothing Node-only`);
  process.exitCode = p.length ? 1 : 0;
}
