/**
 * The one parser of sizes written `H` or `HxW` (--size, --crop, the web app's size field): whole numbers
 * ≥ 1, `x`, `×` or `,` between them; `H` alone means H×H.
 */
export function parseHxW(text: string, option = '--size'): [number, number] {
  const m = /^(\d+)(?:[x×,](\d+))?$/.exec(text.trim());
  const h = m ? Number(m[1]) : NaN;
  const w = m?.[2] !== undefined ? Number(m[2]) : h;
  if (!m || !(h >= 1) || !(w >= 1) || !Number.isSafeInteger(h) || !Number.isSafeInteger(w)) {
    throw new SizeError(`${option} must be H or HxW in whole pixels ≥ 1 (e.g. 224 or 224x192), got '${text}'`);
  }
  return [h, w];
}

/**
 * `N` (a longest side, the aspect ratio kept) or `HxW` (as parseHxW reads it), e.g. --overlay-size; the
 * error names both forms.
 */
export function parseSideOrHxW(text: string, option: string): { side: number } | { width: number; height: number } {
  let hw: [number, number];
  try {
    hw = parseHxW(text, option);
  } catch {
    throw new SizeError(`${option} must be N (the longest side) or HxW in whole pixels ≥ 1 (e.g. 512 or 375x500), got '${text}'`);
  }
  return /^\s*\d+\s*$/.test(text) ? { side: hw[0] } : { width: hw[1], height: hw[0] };
}

/** A size that does not parse: the user's input (named InputError, as the CLI reports it). */
export class SizeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InputError';
  }
}
