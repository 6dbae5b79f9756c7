/**
 * Vite config of the browser app (`npm run build:web` → web/dist, `npm run dev:web` for development).
 *
 * - onnxruntime-web's runtime files (.mjs + .wasm) are copied to `ort/` and loaded at run time by the
 *   worker from the app's own origin (no CDN); the worker picks the wasm-only or the WebGPU build.
 * - The demo model and the example scenes are copied to `demo/` with a small manifest.
 * - Every page is served with the cross-origin isolation headers so that wasm threads work.
 * - The browser bundle must not import Node modules: any `node:`/built-in import is a build error.
 */
import fs from 'node:fs';
import path from 'node:path';
import { builtinModules, createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';

const WEB = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.join(WEB, '..');
const require = createRequire(import.meta.url);

export const ISOLATION_HEADERS: Record<string, string> = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

const ORT_FILES = [
  'ort.wasm.min.mjs', 'ort.webgpu.min.mjs',
  'ort-wasm-simd-threaded.mjs', 'ort-wasm-simd-threaded.wasm',
  'ort-wasm-simd-threaded.asyncify.mjs', 'ort-wasm-simd-threaded.asyncify.wasm',
];

interface Asset { url: string; file?: string; text?: string }

/** The files the app serves besides its bundle: onnxruntime-web's runtime and the demo. */
export function appAssets(): Asset[] {
  const ortDir = path.dirname(require.resolve('onnxruntime-web'));
  const assets: Asset[] = ORT_FILES.map((f) => ({ url: `ort/${f}`, file: path.join(ortDir, f) }));
  const model = path.join(ROOT, 'demo', 'models', 'where.onnx');
  const scenes = path.join(ROOT, 'demo', 'scenes');
  const manifest: { model: string | null; name: string; examples: { file: string; label?: string }[] } = { model: null, name: 'where.onnx', examples: [] };
  if (fs.existsSync(model)) {
    assets.push({ url: 'demo/where.onnx', file: model });
    manifest.model = 'demo/where.onnx';
  }
  if (fs.existsSync(scenes)) {
    let labels = new Map<string, string>();
    try {
      const ann = JSON.parse(fs.readFileSync(path.join(scenes, 'annotations.json'), 'utf8')) as { images: { file: string; label: string }[] };
      labels = new Map(ann.images.map((i) => [i.file, i.label]));
    } catch {
      /* no annotations: examples without their true class */
    }
    for (const f of fs.readdirSync(scenes).sort()) {
      if (!/\.png$/i.test(f) || /_mask\.png$/i.test(f)) continue;
      assets.push({ url: `demo/scenes/${f}`, file: path.join(scenes, f) });
      manifest.examples.push({ file: `demo/scenes/${f}`, label: labels.get(f) });
    }
  }
  assets.push({ url: 'demo/manifest.json', text: `${JSON.stringify(manifest, null, 1)}\n` });
  // the detection page (detect.html): the shortcut street detector and its demo scenes
  const detector = path.join(ROOT, 'demo', 'models', 'street_glare.onnx');
  if (fs.existsSync(detector)) assets.push({ url: 'demo/street_glare.onnx', file: detector });
  const streets = path.join(ROOT, 'demo', 'detect');
  if (fs.existsSync(streets)) for (const f of fs.readdirSync(streets).sort()) if (/\.png$/i.test(f)) assets.push({ url: `demo/detect/${f}`, file: path.join(streets, f) });
  // the scan viewer's example (volume.html): the medical demo's 3-D model and one phantom CT
  const med = path.join(ROOT, 'demo', 'models', 'med3d.onnx');
  const scan = path.join(ROOT, 'demo', 'medical', 'lesion-example.nii.gz');
  if (fs.existsSync(med) && fs.existsSync(scan)) assets.push({ url: 'demo/med3d.onnx', file: med }, { url: 'demo/medical-example.nii.gz', file: scan });
  return assets;
}

const MIME: Record<string, string> = { '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.onnx': 'application/octet-stream', '.png': 'image/png', '.json': 'application/json', '.gz': 'application/gzip' };

function gradcamAssets(): Plugin {
  let outDir = '';
  return {
    name: 'gradcam:assets',
    configResolved(c) {
      outDir = path.resolve(c.root, c.build.outDir);
    },
    configureServer(server) {
      server.middlewares.use((req, res, next) => {
        const url = decodeURIComponent((req.url ?? '').split('?')[0]!.replace(/^\//, ''));
        const a = appAssets().find((x) => x.url === url);
        if (!a) return next();
        for (const [k, v] of Object.entries(ISOLATION_HEADERS)) res.setHeader(k, v);
        res.setHeader('Content-Type', MIME[path.extname(url)] ?? 'application/octet-stream');
        res.end(a.text ?? fs.readFileSync(a.file!));
      });
    },
    closeBundle() {
      for (const a of appAssets()) {
        const dest = path.join(outDir, a.url);
        fs.mkdirSync(path.dirname(dest), { recursive: true });
        if (a.text !== undefined) fs.writeFileSync(dest, a.text);
        else fs.copyFileSync(a.file!, dest);
      }
    },
  };
}

/** Our code in the browser bundle may not use Node's modules (the core is browser-safe by design). */
export function noNodeImports(): Plugin {
  const builtins = new Set(builtinModules);
  return {
    name: 'gradcam:no-node-imports',
    enforce: 'pre',
    resolveId(id, importer) {
      // dependencies map their optional Node imports away with the package.json `browser` field
      if (importer?.includes('/node_modules/')) return null;
      if (id.startsWith('node:') || builtins.has(id) || builtins.has(id.split('/')[0]!)) {
        this.error(`${importer ?? '?'} imports the Node module '${id}'; the browser app may use only browser-safe modules`);
      }
      return null;
    },
  };
}

export default defineConfig({
  root: WEB,
  base: './',
  publicDir: false,
  clearScreen: false,
  logLevel: 'warn',
  plugins: [noNodeImports(), gradcamAssets()],
  server: { headers: ISOLATION_HEADERS, host: '127.0.0.1' },
  preview: { headers: ISOLATION_HEADERS, host: '127.0.0.1' },
  worker: { format: 'es', plugins: () => [noNodeImports()] },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 2000,
    // three pages: the image app, the detection page (detect.html) and the scan viewer (volume.html)
    rollupOptions: { input: { main: path.join(WEB, 'index.html'), detect: path.join(WEB, 'detect.html'), volume: path.join(WEB, 'volume.html') } },
    reportCompressedSize: false,
  },
});
