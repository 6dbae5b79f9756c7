/** Classes: labels from metadata or a file, and the one error for a class asked of a dense output. */
import { InputError } from '../util/scores.js';

/** An output with more than one axis of size > 1 besides the batch: a map (segmentation), a detection head, tokens. */
export function isDenseOutput(dims: readonly number[]): boolean {
  return dims.slice(1).filter((d) => d > 1).length > 1;
}

/** The one error for a class (`--class`, or the top class) asked of a dense output: every path gives it. */
export function denseClassError(output: string, dims: readonly number[]): InputError {
  const values = dims.slice(1).reduce((a, v) => a * v, 1);
  return new InputError(`the output '${output}' is [${dims.join(', ')}], a map rather than [batch, classes]: a class alone would pick one of its ${values} values per image; explain a class over a region with --target segmentation --class C (library: target { kind: 'segmentation' }), one value with --target element --index I, a detector's boxes with gradcam detect`);
}

/** Labels from metadata or a file: a JSON array (or {index: label} object), or one label per line. */
export function parseLabels(text: string | undefined): string[] | undefined {
  if (text === undefined) return undefined;
  const t = text.trim();
  if (!t) return undefined;
  if (t.startsWith('[') || t.startsWith('{')) {
    try {
      const v = JSON.parse(t) as unknown;
      if (Array.isArray(v)) return v.map(String);
      if (v && typeof v === 'object') {
        const o = v as Record<string, unknown>;
        const keys = Object.keys(o).filter((k) => /^\d+$/.test(k)).map(Number).sort((a, b) => a - b);
        return keys.map((k) => String(o[k]));
      }
    } catch {
      /* fall through to lines */
    }
  }
  return t.split(/\r?\n/).map((l) => l.trim()).filter((l) => l.length > 0);
}

