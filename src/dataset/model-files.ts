/**
 * Reading a model from disk (Node): an .onnx file with its external data, or an imported source (a
 * TF.js model.json, .keras/.h5, a hub or TF.js folder: src/onnx/import), and a labels file.
 */
import fs from 'node:fs';
import path from 'node:path';
import { InputError, parseLabels, type ImportedFacts } from '../explainer.js';
import { ModelError } from '../onnx/model.js';
import { importModel, type ModelFiles, type ModelSource } from '../onnx/import/index.js';
import { fileInside, readRegularFile, type FileReadError } from '../image/node.js';

/**
 * The model's ONNX bytes, its external-data reader, the labels (--labels, else the import's, else
 * undefined: the model's metadata) and, for imported sources (a TF.js model.json, .keras/.h5, a hub or
 * TF.js folder: src/onnx/import), what their files state. An .onnx file is read as it always was.
 */
export async function readModelSource(modelPath: string, opts: { labels?: string[]; labelsFile?: string; variant?: string }): Promise<{ bytes: Uint8Array; external: ReturnType<typeof externalDataReader>; labels?: string[]; imported?: ImportedFacts }> {
  const st = await fs.promises.stat(modelPath).catch(() => undefined);
  let imported: ModelSource | undefined;
  let onnxPath = modelPath;
  if (st?.isDirectory() || (st?.isFile() && /\.(json|keras|h5|hdf5)$/i.test(modelPath))) {
    const dir = st.isDirectory() ? modelPath : path.dirname(modelPath);
    const entry = st.isDirectory() ? '' : path.basename(modelPath);
    try {
      imported = await importModel(nodeModelFiles(dir), entry, opts.variant === undefined ? {} : { variant: opts.variant });
    } catch (e) {
      // the importer names files relative to the folder: name the folder (or the file) the user gave
      if (!(e instanceof Error) || e.name !== 'ModelError') throw e;
      const m = e.message;
      throw new ModelError(entry && m.startsWith(`${entry}: `) ? `${modelPath}: ${m.slice(entry.length + 2)}` : `${st.isDirectory() ? 'model folder ' : ''}${modelPath}: ${m}`);
    }
    onnxPath = path.join(dir, imported.entry);
  } else if (opts.variant !== undefined) {
    throw new InputError(`--variant chooses among the ONNX files of a hub folder; give the folder, not ${modelPath}`);
  }
  let bytes: Uint8Array;
  if (imported) bytes = imported.onnx;
  else {
    try {
      const b = await readRegularFile(modelPath);
      bytes = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    } catch (e) {
      const { code, kind } = e as FileReadError;
      if (code === 'ENOENT') throw new ModelError(`model file not found: ${modelPath}`);
      if (code === 'ENOTREG') throw new ModelError(`model ${modelPath} is ${kind}, not a regular file; give an .onnx file, a TF.js model.json, a .keras/.h5 file or a model folder`);
      throw new ModelError(`cannot read model ${modelPath}: ${(e as Error).message}`);
    }
  }
  const external = externalDataReader(onnxPath);
  let labels = opts.labels ?? imported?.labels;
  if (opts.labelsFile) {
    let text: string;
    try {
      text = (await readRegularFile(opts.labelsFile)).toString('utf8');
    } catch (e) {
      throw new InputError((e as FileReadError).code === 'ENOENT' ? `labels file not found: ${opts.labelsFile}` : `cannot read labels file ${opts.labelsFile}: ${(e as Error).message}`);
    }
    labels = parseLabels(text);
    if (!labels?.length) throw new InputError(`labels file ${opts.labelsFile} holds no labels`);
  }
  const facts = imported ? { format: imported.format, ...(imported.preprocess ? { preprocess: imported.preprocess } : {}), notes: importNotes(imported) } : undefined;
  return { bytes, external, labels, ...(facts ? { imported: facts } : {}) };
}

/** The import's notes, plus what gradcam does differently from the stated preprocessing. */
function importNotes(m: ModelSource): string[] {
  const notes = [...m.notes];
  const r = m.preprocess?.resample;
  if (r && r !== 'bilinear') notes.push(`the model's processor resizes ${r}; gradcam resizes bilinear (Pillow's), so the inputs differ slightly from the processor's`);
  return notes;
}

/**
 * The files of a model folder as ModelFiles: every regular file below `dir` (two levels deep at most:
 * a hub folder's onnx/), by POSIX relative path. Symbolic links are followed only where they resolve
 * inside the folder; files are read only when asked for.
 */
export function nodeModelFiles(dir: string): ModelFiles {
  const root = fs.realpathSync(dir);
  const names: string[] = [];
  const walk = (rel: string, depth: number) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(path.join(root, rel), { withFileTypes: true });
    } catch (e) {
      throw new ModelError(`cannot read the model folder ${dir}: ${(e as Error).message}`);
    }
    for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (e.name.startsWith('.')) continue;
      const r = rel ? `${rel}/${e.name}` : e.name;
      const inside = (() => {
        try {
          const real = fs.realpathSync(path.join(root, r));
          return real.startsWith(root + path.sep) ? fs.statSync(real) : undefined;
        } catch {
          return undefined;
        }
      })();
      if (!inside) continue;
      if (inside.isDirectory()) { if (depth < 1) walk(r, depth + 1); } else if (inside.isFile()) names.push(r);
    }
  };
  walk('', 0);
  return {
    names,
    read: async (name) => {
      if (!names.includes(name)) return undefined;
      const real = fs.realpathSync(path.join(root, name));
      if (!real.startsWith(root + path.sep)) return undefined;
      const b = await readRegularFile(real);
      return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    },
  };
}

/**
 * Reads the external-data ranges of the model at `modelPath`: `location` must be a relative path that
 * stays inside the model's folder (symbolic links resolved), and offset + length must lie inside the
 * file. Only the range is read (not the whole file for each tensor).
 */
export function externalDataReader(modelPath: string): (location: string, offset: number, length: number | undefined) => Uint8Array {
  const dir = path.dirname(path.resolve(modelPath));
  return (location, offset, length) => {
    const fail = (why: string) => new ModelError(`${modelPath}: external data file '${location}' ${why}`);
    if (!location || path.isAbsolute(location) || /^[a-zA-Z]:[\\/]/.test(location)) throw fail('must be a file name relative to the model\'s folder');
    let real: string;
    try {
      real = fileInside(dir, location);
    } catch (e) {
      throw fail((e as FileReadError).code === 'EOUTSIDE' ? 'points outside the model\'s folder' : 'not found beside the model');
    }
    let fd: number | undefined;
    try {
      fd = fs.openSync(real, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK); // a FIFO must not block
      const st = fs.fstatSync(fd);
      if (!st.isFile()) throw fail('is not a file');
      if (!Number.isSafeInteger(offset) || offset < 0 || offset > st.size) throw fail(`has no offset ${offset}: the file has ${st.size} bytes`);
      const n = length ?? st.size - offset;
      if (!Number.isSafeInteger(n) || n < 0 || offset + n > st.size) throw fail(`is truncated: the tensor needs bytes ${offset} to ${offset + n}, the file has ${st.size}`);
      const out = new Uint8Array(n);
      let done = 0;
      while (done < n) {
        const k = fs.readSync(fd, out, done, n - done, offset + done);
        if (k <= 0) throw fail('could not be read to the end');
        done += k;
      }
      return out;
    } catch (e) {
      if (e instanceof ModelError) throw e;
      throw fail(`cannot be read: ${(e as Error).message}`);
    } finally {
      if (fd !== undefined) fs.closeSync(fd);
    }
  };
}
