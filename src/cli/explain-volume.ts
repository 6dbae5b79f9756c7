/**
 * `gradcam explain` on a 3-D model: volumes (NIfTI, multi-frame DICOM, a DICOM series, .npy
 * [C,D,H,W]) explained one by one; each gives the slice montage (.png), the map as NIfTI aligned with
 * the scan (.nii.gz), the JSON sidecar, and with --raw the map and raw map as .npy volumes. Called by
 * runExplain (explain.ts) when the model's input is 5-D.
 */
import path from 'node:path';
import type { Explainer } from '../explainer.js';
import type { ClassChoice } from '../types.js';
import { prepareAllInputs, type PrepareOptions } from '../node.js';
import { describeClass, explanationJson, volumeFiles, type FileBytes } from '../render/index.js';
import { displayVolume, voxelSpacing } from '../image/volume.js';
import type { VolumeResize } from '../image/resize3d.js';
import { CliError } from './common.js';

export interface VolumeRunOptions {
  model: string;
  out: string;
  method: string;
  layer?: string[];
  layout?: string;
  classes: ClassChoice;
  output?: string;
  volumeResize: VolumeResize;
  rectifierOps: 'relu' | 'all';
  look: { colormap: string; alpha: number; caption: boolean; heatmap: boolean; raw: boolean; maxSide: number };
  prepare: PrepareOptions;
  /** Flags that 3-D models do not take (named in the error). */
  refused: string[];
}

/** Explains every volume; files go through `add` (staged), one summary line per output into `lines`. */
export async function explainVolumes(explainer: Explainer, files: string[], o: VolumeRunOptions, add: (name: string, bytes: FileBytes) => Promise<void>, lines: string[], warn: (file: string, w: string[]) => void): Promise<void> {
  if (o.refused.length) throw new CliError(`3-D models take none of: ${o.refused.join(', ')} (they explain one class of one volume at a time, with one method)`);
  const inputs = await prepareAllInputs(explainer, files, o.prepare);
  const json = (x: unknown) => new TextEncoder().encode(`${JSON.stringify(x, null, 2)}\n`);
  const used = new Map<string, number>();
  for (const inp of inputs) {
    const r = await explainer.explain(inp.tensor, inp.dims, {
      method: o.method, layer: o.layer, layout: o.layout, classes: o.classes, output: o.output, volumeResize: o.volumeResize, rectifierOps: o.rectifierOps,
    });
    const e = r.explanations[0]!;
    let stem = path.basename(inp.file).replace(/\.nii\.gz$/i, '').replace(/\.[^.]+$/, '');
    const n = (used.get(stem) ?? 0) + 1;
    used.set(stem, n);
    if (n > 1) stem = `${stem}-${n}`;
    const name = `${stem}.${e.method}`;
    // the scan's own grid and geometry where there is one (NIfTI, DICOM), else the model's input
    const vol = inp.scan?.volume;
    const dims: [number, number, number] = vol ? vol.dims : [e.depth!, e.height, e.width];
    // the scan's values are used no more (its tensor is made): its gray picture is written over them
    const gray = vol ? displayVolume(vol, o.prepare.scan?.window, true) : modelGray(inp.tensor, dims, explainer.layout === 'NCHW');
    const spacing = vol ? voxelSpacing(vol.affine) : ([1, 1, 1] as [number, number, number]);
    const out = volumeFiles(e, { volume: vol, gray, dims, spacing }, o.look);
    for (const f of out) await add(name + f.suffix, f.bytes);
    await add(`${name}.json`, json({
      ...explanationJson(e, { input: inp.file, model: o.model, timings: r.timings, files: out.map((f) => name + f.suffix), options: { volume_resize: o.volumeResize } }),
      ...(vol ? { scan: { description: vol.description, size: [vol.dims[0], vol.dims[1], vol.dims[2]], spacing_mm: [spacing[2], spacing[1], spacing[0]] } } : {}),
    }));
    lines.push(`${inp.file}: ${e.method}: ${describeClass(e)} → ${path.join(o.out, `${name}.png`)}`);
    warn(inp.file, e.warnings);
  }
}

/** The first channel of a model input [1, C, D, H, W] (or channels last) min-max scaled, for .npy inputs' montages. */
function modelGray(t: Float32Array, dims: readonly [number, number, number], first: boolean): Float32Array {
  const n = dims[0] * dims[1] * dims[2];
  const c = t.length / n;
  const v = Float32Array.from({ length: n }, (_, p) => (first ? t[p]! : t[p * c]!));
  let lo = Infinity;
  let hi = -Infinity;
  for (const x of v) { if (x < lo) lo = x; if (x > hi) hi = x; }
  return v.map((x) => (hi > lo ? (x - lo) / (hi - lo) : 0));
}
