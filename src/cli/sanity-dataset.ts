/**
 * `gradcam sanity` over a folder, glob or manifest: the randomisation test run on the dataset engine
 * (runDataset), a batch of images at a time, resumable. Each image's row holds its similarity to its
 * original map at every stage (sanity.jsonl, settings in sanity.run.json); its montages are written with
 * it. When every image has its row, sanity.json (means and standard deviations over the images, as for
 * files), sanity.meta.json and sanity.curves.svg are written from the rows.
 */
import path from 'node:path';
import type { ClassChoice, Explainer } from '../explainer.js';
import { createNodeSession } from '../runtime/node.js';
import { stackByShape } from '../node.js';
import { encodePng } from '../image/png.js';
import type { NormalizeOptions } from '../image/normalize.js';
import { sanityCheck, stageTable, verdict, type SanityMode, type SanityResult, type StageSimilarity } from '../sanity/check.js';
import { parameterizedLayers, type InitKind } from '../sanity/randomize.js';
import { sanityCurvesSvg, sanityMontage } from '../sanity/render.js';
import { spearman, type MapSimilarity } from '../metrics/similarity.js';
import { itemStem } from '../dataset/shard.js';
import type { AuditItem } from '../audit/types.js';
import { modelIdentity } from '../dataset/identity.js';
import { runDataset, type FileOut } from '../dataset/run.js';
import { readRows, type StoreKind } from '../dataset/store.js';
import { writeFiles } from '../util/write-node.js';
import { doneLine, interruptible, ProgressDisplay, EXIT_INTERRUPTED, EXIT_ITEMS_FAILED } from './common.js';
import { loadInputs, type LoadedInput, type ResizeCropOptions } from './inputs.js';

/** The resumable store of a sanity check over a dataset. */
export const SANITY_STORE: StoreKind = { config: 'sanity.run.json', results: 'sanity.jsonl', what: 'sanity check', folders: [] };

interface SanityRow {
  key: string;
  index: number;
  file: string;
  status: 'ok' | 'error';
  error?: string;
  class?: number;
  cam_layer?: string;
  /** Per stage (stage 0 first), per method: this image's similarity to its original map (and to its edge map). */
  stages?: { mode: SanityMode; stage: number; layer: string | null; similarity: Record<string, MapSimilarity>; edges?: Record<string, number> }[];
}

export interface SanityDatasetOptions {
  model: string;
  out: string;
  methods: string[];
  modes: SanityMode[];
  init: InitKind;
  seed: number;
  classChoice: ClassChoice;
  layer?: string;
  output?: string;
  rectifierOps: 'all' | 'relu';
  maxLayers?: number;
  threshold: number;
  montageStages?: number[];
  norm: NormalizeOptions;
  size?: [number, number];
  rc: ResizeCropOptions;
  maxPixels?: number;
  maxInputPixels?: number;
  batchSize: number;
  quiet: boolean;
  /** Formats the table for stdout (sanity.ts formatTable). */
  formatTable: (r: SanityResult) => string;
}

/** Runs (or resumes) the check over `items`; the exit status. */
export async function sanityDataset(explainer: Explainer, items: AuditItem[], o: SanityDatasetOptions): Promise<number> {
  const config = {
    format: 'gradcam-sanity/1', model: await modelIdentity(o.model), methods: o.methods, modes: o.modes, init: o.init, seed: o.seed, class: String(o.classChoice),
    layer: o.layer ?? 'auto', output: o.output ?? null, guided_ops: o.rectifierOps, randomize: o.maxLayers ?? null, montage_stages: o.montageStages ?? null,
    normalize: { preset: o.norm.preset ?? null, mean: o.norm.mean ? [...o.norm.mean] : null, std: o.norm.std ? [...o.norm.std] : null }, size: o.size ?? null,
    ...(o.rc.resize !== undefined ? { resize: o.rc.resize, crop: o.rc.crop ?? null } : {}), total: items.length,
  };
  const bar = new ProgressDisplay(0, o.quiet);
  type Prepared = { entry: { item: AuditItem; index: number }; input?: LoadedInput; error?: string };
  const r = await interruptible((signal) => runDataset<Prepared, SanityRow>(items, {
    out: o.out, config, kind: SANITY_STORE, batchSize: o.batchSize, signal,
    prepare: (entry) => loadInputs(explainer, [entry.item.file], o.norm, o.size, o.maxPixels, o.rc, o.maxInputPixels).then(
      (inputs) => (inputs.length === 1 ? { entry, input: inputs[0]! } : { entry, error: `${entry.item.file} holds ${inputs.length} images; a sanity check's dataset item must be one image` }),
      (e: Error) => ({ entry, error: e.message })),
    process: (prepared) => checkBatch(explainer, prepared, o, bar),
    onProgress: (p) => bar.update(p),
  }));
  bar.end();
  const tail = `${doneLine(r.info)}; rows in ${path.join(o.out, SANITY_STORE.results)}`;
  if (r.interrupted) {
    process.stderr.write(`gradcam: interrupted: ${tail}; run the same command to finish\n`);
    return EXIT_INTERRUPTED;
  }
  const { rows: all } = await readRows<SanityRow>(o.out, SANITY_STORE.results);
  const rows = items.map((it) => all.get(it.key)).filter((x): x is SanityRow => x?.status === 'ok').sort((a, b) => a.index - b.index);
  const failed = items.map((it) => all.get(it.key)).filter((x) => x?.status === 'error');
  for (const f of failed) process.stderr.write(`gradcam: ${f!.file}: ${f!.error}\n`);
  if (!rows.length) {
    process.stderr.write(`gradcam: no image could be checked; ${tail}\n`);
    return EXIT_ITEMS_FAILED;
  }
  const stages: StageSimilarity[] = rows[0]!.stages!.map((s, j) => ({
    mode: s.mode, stage: s.stage, layer: s.layer,
    similarity: Object.fromEntries(o.methods.map((m) => [m, rows.map((x) => x.stages![j]!.similarity[m]!)])),
    ...(rows.every((x) => x.stages![j]!.edges) ? { edges: Object.fromEntries(o.methods.map((m) => [m, rows.map((x) => x.stages![j]!.edges![m]!)])) } : {}),
  }));
  const table = stageTable(o.methods, stages);
  const layers = parameterizedLayers(explainer.model, o.output);
  const used = o.maxLayers === undefined ? layers : layers.slice(0, Math.max(1, o.maxLayers));
  const verdicts = o.methods.map((m) => verdict(m, table[m]!, o.threshold, layers.length));
  const result = {
    methods: o.methods, layers: used, classes: rows.map((x) => x.class!), camLayer: rows[0]!.cam_layer!, original: {}, table, verdicts, init: o.init, seed: o.seed,
    stages: stages.map((s) => ({ mode: s.mode, stage: s.stage, layer: s.layer, maps: {}, similarity: s.similarity })),
  } as SanityResult;
  const round = (v: number) => Math.round(v * 10000) / 10000;
  const meta = {
    model: o.model, inputs: rows.map((x) => x.file), failed: failed.map((f) => ({ file: f!.file, error: f!.error })),
    classes: rows.map((x) => ({ index: x.class, label: explainer.labels?.[x.class!] ?? null })), cam_layer: result.camLayer, methods: o.methods, modes: o.modes, init: o.init, seed: o.seed,
    threshold: o.threshold, layers: used.map((l) => ({ name: l.name, op: l.op, params: l.params.map((p) => ({ tensor: p.source.name, in: p.source.kind, role: p.role, dims: p.dims })) })),
    verdicts: verdicts.map((v) => ({ method: v.method, sensitive: v.sensitive, mean_spearman_abs: round(v.value), first_stage_below: v.firstBelow, text: v.text })),
  };
  const written = await writeFiles(o.out, [
    { name: 'sanity.json', bytes: `${JSON.stringify(table, (_k, v) => (typeof v === 'number' && !Number.isInteger(v) ? round(v) : v), 2)}\n` },
    { name: 'sanity.meta.json', bytes: `${JSON.stringify(meta, null, 2)}\n` },
    { name: 'sanity.curves.svg', bytes: sanityCurvesSvg(result, `Randomisation test: ${path.basename(o.model)}, ${rows.length} input(s), init '${o.init}', seed ${o.seed}`) },
  ]);
  console.log(o.formatTable(result));
  console.log('');
  for (const v of verdicts) console.log(v.text);
  console.log(`\n${used.length} parameterised layers; ${tail}; wrote ${written.map((p) => path.basename(p)).join(', ')} and the montages to ${o.out}`);
  return failed.length ? EXIT_ITEMS_FAILED : 0;
}

/** A batch: the check run on its images (grouped by shape), a row and montages per image. */
async function checkBatch(explainer: Explainer, prepared: { entry: { item: AuditItem; index: number }; input?: LoadedInput; error?: string }[], o: SanityDatasetOptions, bar: ProgressDisplay): Promise<{ rows: SanityRow[]; files: FileOut[] }> {
  const rows = new Map<number, SanityRow>();
  const files: FileOut[] = [];
  const base = (p: (typeof prepared)[number]) => ({ key: p.entry.item.key, index: p.entry.index, file: p.entry.item.file });
  for (const p of prepared) if (p.error) rows.set(p.entry.index, { ...base(p), status: 'error', error: p.error });
  const ok = prepared.filter((p) => !p.error);
  for (const g of stackByShape(ok.map((p) => p.input!))) {
    const group = g.index.map((i) => ok[i]!);
    const pictures = group.every((p) => p.input!.picture) ? group.map((p) => p.input!.picture!) : undefined;
    let r: SanityResult;
    try {
      r = await sanityCheck(explainer, g.data, g.dims, {
        createSession: createNodeSession, methods: o.methods, modes: o.modes, init: o.init, seed: o.seed, classes: o.classChoice, layer: o.layer, output: o.output,
        rectifierOps: o.rectifierOps, maxLayers: o.maxLayers, pictures, threshold: o.threshold, onProgress: bar.passes,
      });
    } catch (e) {
      for (const p of group) rows.set(p.entry.index, { ...base(p), status: 'error', error: (e as Error).message });
      continue;
    }
    group.forEach((p, i) => {
      rows.set(p.entry.index, {
        ...base(p), status: 'ok', class: r.classes[i]!, cam_layer: r.camLayer,
        stages: r.stages.map((s) => ({
          mode: s.mode, stage: s.stage, layer: s.layer,
          similarity: Object.fromEntries(o.methods.map((m) => [m, s.similarity[m]![i]!])),
          ...(r.edges ? { edges: Object.fromEntries(o.methods.map((m) => [m, edgeCorrelation(s, m, i, r)])) } : {}),
        })),
      });
      for (const mode of o.modes) files.push({ path: `sanity.${itemStem(p.entry.item.key)}.${mode}.png`, bytes: encodePng(sanityMontage(r, i, mode, { picture: p.input!.picture, stages: o.montageStages })) });
    });
  }
  return { rows: prepared.map((p) => rows.get(p.entry.index)!), files };
}

/** Image i's map at stage `s` for method m, rank-correlated with its edge map (the `edges` of the table). */
function edgeCorrelation(s: SanityResult['stages'][number], m: string, i: number, r: SanityResult): number {
  return spearman(s.maps[m]![i]!.magnitude, r.edges![i]!);
}
