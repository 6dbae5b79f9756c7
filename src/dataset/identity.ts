/** A run's inputs identified in its settings (a restart must find the same model and files). */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { nodeModelFiles } from './model-files.js';
import { fileSha256 } from '../runtime/node.js';

/** A file's identity in a run's settings: its name, SHA-256 and size (a restart must find the same file). */
export function fileIdentity(file: string, bytes: Uint8Array | string): { file: string; sha256: string; bytes: number } {
  const b = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes;
  return { file: path.basename(file), sha256: crypto.createHash('sha256').update(b).digest('hex'), bytes: b.length };
}

/**
 * fileIdentity of a model file, its hash remembered across runs (fileSha256: a large model is not hashed
 * again). A model folder, a TF.js model.json or a .keras/.h5 file (src/onnx/import) is identified by all
 * the files of its folder: their names and bytes in one SHA-256, their sizes summed.
 */
export async function modelIdentity(file: string): Promise<{ file: string; sha256: string; bytes: number }> {
  const st = await fs.promises.stat(file);
  if (st.isDirectory() || /\.(json|keras|h5|hdf5)$/i.test(file)) {
    const files = nodeModelFiles(st.isDirectory() ? file : path.dirname(file));
    const h = crypto.createHash('sha256');
    let total = 0;
    for (const name of [...files.names].sort()) {
      const b = (await files.read(name))!;
      h.update(`${name}\0${b.length}\0`).update(b);
      total += b.length;
    }
    return { file: path.basename(file), sha256: h.digest('hex'), bytes: total };
  }
  const sha256 = await fileSha256(file);
  return { file: path.basename(file), sha256, bytes: (await fs.promises.stat(file)).size };
}
