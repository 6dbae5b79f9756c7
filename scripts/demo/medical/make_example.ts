/** Writes demo/medical/lesion-example.nii.gz: the scan viewer's example (web/volume.html), phantom 100000 (a lesion). */
import fs from 'node:fs';
import path from 'node:path';
import { writeNifti } from '../../../src/image/nifti.js';
import { phantomVolume } from './phantom.js';

const ROOT = path.join(path.dirname(new URL(import.meta.url).pathname), '..', '..', '..');
const p = phantomVolume(100000, 1);
// HU rounded to integers (smaller gzip), geometry as in the demo: 0.8 mm in-plane, 1.5 mm slices
const affine = new Float64Array([-0.8, 0, 0, 12.4, 0, -0.8, 0, 12.4, 0, 0, 1.5, -23.25, 0, 0, 0, 1]);
fs.writeFileSync(path.join(ROOT, 'demo', 'medical', 'lesion-example.nii.gz'), writeNifti(p.data.map(Math.round), { dims: [32, 32, 32], affine }, { gzip: true, description: 'gradcam phantom CT, seed 100000' }));
