/**
 * Writes the medical demo's training data (phantom.ts) as .npy for train_medical.py:
 *   npx tsx scripts/demo/medical/make_training.ts /tmp/medtrain
 * volumes.npy [N,1,32,32,32] (CT window 40/400 → [0,1]), volume_labels.npy; slices.npy [M,1,64,64]
 * (16-bit / 65535), slice_labels.npy. Seeds 0.. for training; the demo's test set uses seeds from 100000.
 */
import fs from 'node:fs';
import path from 'node:path';
import { writeNpy } from '../../../src/image/npy.js';
import { phantomSlice, phantomVolume, sliceInput, volumeInput } from './phantom.js';

const dir = process.argv[2] ?? '/tmp/medtrain';
const nv = Number(process.argv[3] ?? 600);
const ns = Number(process.argv[4] ?? 2000);
fs.mkdirSync(dir, { recursive: true });
const vols = new Float32Array(nv * 32 ** 3);
const vl = new Int32Array(nv);
for (let k = 0; k < nv; k++) {
  const label = (k % 2) as 0 | 1;
  vols.set(volumeInput(phantomVolume(k, label)), k * 32 ** 3);
  vl[k] = label;
}
fs.writeFileSync(path.join(dir, 'volumes.npy'), writeNpy(vols, [nv, 1, 32, 32, 32]));
fs.writeFileSync(path.join(dir, 'volume_labels.npy'), writeNpy(vl, [nv]));
const sl = new Float32Array(ns * 64 * 64);
const sll = new Int32Array(ns);
for (let k = 0; k < ns; k++) {
  const label = (k % 2) as 0 | 1;
  sl.set(sliceInput(phantomSlice(k, label)), k * 64 * 64);
  sll[k] = label;
}
fs.writeFileSync(path.join(dir, 'slices.npy'), writeNpy(sl, [ns, 1, 64, 64]));
fs.writeFileSync(path.join(dir, 'slice_labels.npy'), writeNpy(sll, [ns]));
console.log(`wrote ${nv} volumes and ${ns} slices to ${dir}`);
