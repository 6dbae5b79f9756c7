/**
 * A dataset's items: the image files of folders (walked recursively, sorted, hidden entries skipped),
 * quoted glob patterns and manifests (.csv, .jsonl, .ndjson, .json), each with its key (its path
 * relative to what was named), and the items of one shard.
 */
import fs from 'node:fs';
import path from 'node:path';
import { InputError } from '../explainer.js';
import { fileInside, readRegularFile, type FileReadError } from '../image/node.js';
import { hasGlobMagic, splitGlob, globToRegExp } from './glob.js';
import { isManifestName, parseManifest } from './manifest.js';
import { shardOf, type Shard } from './shard.js';
import type { AuditItem } from './types.js';
import { printable } from '../util/text.js';
import { realish } from '../util/write-node.js';

export { realish };

/** Extensions picked up when walking a directory. */
export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp', '.gif', '.tif', '.tiff', '.avif', '.npy'];

const posix = (p: string) => p.split(path.sep).join('/');

export interface ListOptions {
  /** Folders never to enter (the output folder). */
  exclude?: string[];
}

/**
 * The items named by `args`: image files, directories (walked recursively, sorted, hidden entries
 * skipped), quoted glob patterns, and manifests (.csv, .jsonl, .ndjson, .json). A missing file, a glob
 * matching nothing or a bad manifest stops the listing with an InputError; files that a manifest names
 * but that are missing become error rows when they run.
 */
export async function listInputs(args: string[], opts: ListOptions = {}): Promise<AuditItem[]> {
  // compared by real path: an --out inside the input folder named through a symbolic link (or the
  // input named through one) is still left out
  const exclude = new Set((opts.exclude ?? []).map((p) => realish(p)));
  const items: AuditItem[] = [];
  const seen = new Map<string, number>();
  const add = (it: Omit<AuditItem, 'key'> & { key: string }) => {
    const n = (seen.get(it.key) ?? 0) + 1;
    seen.set(it.key, n);
    items.push({ ...it, key: n === 1 ? it.key : `${it.key}#${n}` });
  };
  for (const arg of args) {
    let st: fs.Stats | undefined;
    try {
      st = await fs.promises.stat(arg);
    } catch {
      st = undefined;
    }
    if (st?.isDirectory()) {
      const files = await walk(arg, exclude, null);
      for (const f of files) add({ key: posix(path.relative(arg, f)), file: f });
      continue;
    }
    if (st?.isFile()) {
      if (isManifestName(arg)) {
        for (const it of await readManifest(arg)) add(it);
      } else {
        add({ key: path.basename(arg), file: arg });
      }
      continue;
    }
    if (!st && hasGlobMagic(arg)) {
      const { base, rest } = splitGlob(posix(arg));
      const re = globToRegExp(rest);
      const baseDir = base === '' ? '.' : base;
      const deep = rest.includes('**');
      const depth = rest.split('/').length;
      const dotted = /(^|\/)\./.test(rest);
      const files = await walk(baseDir, exclude, (rel) => re.test(rel), deep ? Infinity : depth, dotted);
      if (files.length === 0) throw new InputError(`no files match '${arg}'`);
      for (const f of files) add({ key: posix(path.relative(baseDir, f)), file: f });
      continue;
    }
    if (st) throw new InputError(`${arg} is neither a file nor a folder`);
    throw new InputError(`input not found: ${arg}`);
  }
  return items;
}

/** Files under `root`, sorted; `match` null: image files only (by extension); else the relative paths it accepts. */
async function walk(root: string, exclude: Set<string>, match: ((rel: string) => boolean) | null, maxDepth = Infinity, dotted = false): Promise<string[]> {
  const out: string[] = [];
  const visited = new Set<string>();
  const byCodePoint = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  const visit = async (dir: string, depth: number) => {
    const real = await fs.promises.realpath(dir).catch(() => undefined);
    if (!real || visited.has(real) || exclude.has(real)) return;
    visited.add(real);
    let entries: fs.Dirent[];
    try {
      entries = await fs.promises.readdir(dir, { withFileTypes: true });
    } catch (e) {
      throw new InputError(`cannot read folder ${dir}: ${(e as Error).message}`);
    }
    entries.sort((a, b) => byCodePoint(a.name, b.name));
    for (const e of entries) {
      if (e.name.startsWith('.') && !dotted) continue;
      const p = path.join(dir, e.name);
      let isDir = e.isDirectory();
      let isFile = e.isFile();
      if (e.isSymbolicLink()) {
        const st = await fs.promises.stat(p).catch(() => undefined);
        isDir = !!st?.isDirectory();
        isFile = !!st?.isFile();
      }
      if (isDir) {
        if (depth + 1 < maxDepth) await visit(p, depth + 1);
      } else if (isFile) {
        // in a walked folder, <name>_mask.<ext> files are masks beside their images, not images to explain
        const ok = match ? match(posix(path.relative(root, p))) : IMAGE_EXTENSIONS.includes(path.extname(e.name).toLowerCase()) && !/_mask\.[a-z]+$/i.test(e.name);
        if (ok) out.push(p);
      }
    }
  };
  await visit(root, 0);
  return out;
}

/** Reads a manifest; paths inside it are relative to its folder. */
export async function readManifest(file: string): Promise<AuditItem[]> {
  let text: string;
  try {
    text = (await readRegularFile(file)).toString('utf8');
  } catch (e) {
    throw new InputError(`cannot read manifest ${file}: ${(e as Error).message}`);
  }
  const dir = path.dirname(file);
  // a relative path is read from the manifest's folder through fileInside: a manifest made elsewhere
  // cannot reach out of its folder with '..' or a symbolic link; an absolute path is the writer's explicit choice
  const at = (p: string) => {
    if (path.isAbsolute(p)) return p;
    try {
      fileInside(dir, p);
    } catch (e) {
      if ((e as FileReadError).code === 'EOUTSIDE') throw new InputError(`manifest ${file}: ${printable((e as Error).message)}; a manifest's relative paths must stay inside its folder (absolute paths are taken as written)`);
    }
    return path.join(dir, p);
  };
  return parseManifest(text, file).map((e) => {
    const norm = path.posix.normalize(e.path.replace(/\\/g, '/'));
    const it: AuditItem = { key: norm.replace(/^(\.\/)+/, ''), file: at(e.path) };
    if (e.label !== undefined) it.label = e.label;
    if (e.boxes) it.boxes = e.boxes;
    if (e.mask) it.mask = at(e.mask);
    if (e.maskRle) it.maskRle = e.maskRle;
    return it;
  });
}

/** The items of shard i of N (see shardOf); `index` keeps each item's position in the full list. */
export function shardItems(items: AuditItem[], shard?: Shard): { item: AuditItem; index: number }[] {
  const all = items.map((item, index) => ({ item, index }));
  return shard ? all.filter((x) => shardOf(x.item.key, shard.count) === shard.index) : all;
}

/** Whether an input names a dataset: a folder, a manifest, or a glob pattern that is not a file. */
export function isDatasetInput(a: string): boolean {
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(a);
  } catch {
    st = undefined;
  }
  return !!st?.isDirectory() || (!!st?.isFile() && isManifestName(a)) || (!st && hasGlobMagic(a));
}
