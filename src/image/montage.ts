/**
 * Labelled image grids with a built-in 5x7 bitmap font (no canvas needed), browser-safe.
 */
import type { RgbImage } from './types.js';
import { assertRgbImage } from './types.js';

export type Rgb = readonly [number, number, number];

/**
 * Classic public-domain 5x7 LCD font (as in many HD44780/Adafruit-GFX style tables), ASCII 32..126.
 * 5 bytes per glyph, one per column left to right; bit 0 is the top row, bit 6 the bottom row.
 */
// prettier-ignore
const FONT5X7 = new Uint8Array([
  0x00, 0x00, 0x00, 0x00, 0x00, // ' '
  0x00, 0x00, 0x5f, 0x00, 0x00, // !
  0x00, 0x07, 0x00, 0x07, 0x00, // "
  0x14, 0x7f, 0x14, 0x7f, 0x14, // #
  0x24, 0x2a, 0x7f, 0x2a, 0x12, // $
  0x23, 0x13, 0x08, 0x64, 0x62, // %
  0x36, 0x49, 0x55, 0x22, 0x50, // &
  0x00, 0x05, 0x03, 0x00, 0x00, // '
  0x00, 0x1c, 0x22, 0x41, 0x00, // (
  0x00, 0x41, 0x22, 0x1c, 0x00, // )
  0x14, 0x08, 0x3e, 0x08, 0x14, // *
  0x08, 0x08, 0x3e, 0x08, 0x08, // +
  0x00, 0x50, 0x30, 0x00, 0x00, // ,
  0x08, 0x08, 0x08, 0x08, 0x08, // -
  0x00, 0x60, 0x60, 0x00, 0x00, // .
  0x20, 0x10, 0x08, 0x04, 0x02, // /
  0x3e, 0x51, 0x49, 0x45, 0x3e, // 0
  0x00, 0x42, 0x7f, 0x40, 0x00, // 1
  0x42, 0x61, 0x51, 0x49, 0x46, // 2
  0x21, 0x41, 0x45, 0x4b, 0x31, // 3
  0x18, 0x14, 0x12, 0x7f, 0x10, // 4
  0x27, 0x45, 0x45, 0x45, 0x39, // 5
  0x3c, 0x4a, 0x49, 0x49, 0x30, // 6
  0x01, 0x71, 0x09, 0x05, 0x03, // 7
  0x36, 0x49, 0x49, 0x49, 0x36, // 8
  0x06, 0x49, 0x49, 0x29, 0x1e, // 9
  0x00, 0x36, 0x36, 0x00, 0x00, // :
  0x00, 0x56, 0x36, 0x00, 0x00, // ;
  0x08, 0x14, 0x22, 0x41, 0x00, // <
  0x14, 0x14, 0x14, 0x14, 0x14, // =
  0x00, 0x41, 0x22, 0x14, 0x08, // >
  0x02, 0x01, 0x51, 0x09, 0x06, // ?
  0x32, 0x49, 0x79, 0x41, 0x3e, // @
  0x7e, 0x11, 0x11, 0x11, 0x7e, // A
  0x7f, 0x49, 0x49, 0x49, 0x36, // B
  0x3e, 0x41, 0x41, 0x41, 0x22, // C
  0x7f, 0x41, 0x41, 0x22, 0x1c, // D
  0x7f, 0x49, 0x49, 0x49, 0x41, // E
  0x7f, 0x09, 0x09, 0x09, 0x01, // F
  0x3e, 0x41, 0x49, 0x49, 0x7a, // G
  0x7f, 0x08, 0x08, 0x08, 0x7f, // H
  0x00, 0x41, 0x7f, 0x41, 0x00, // I
  0x20, 0x40, 0x41, 0x3f, 0x01, // J
  0x7f, 0x08, 0x14, 0x22, 0x41, // K
  0x7f, 0x40, 0x40, 0x40, 0x40, // L
  0x7f, 0x02, 0x0c, 0x02, 0x7f, // M
  0x7f, 0x04, 0x08, 0x10, 0x7f, // N
  0x3e, 0x41, 0x41, 0x41, 0x3e, // O
  0x7f, 0x09, 0x09, 0x09, 0x06, // P
  0x3e, 0x41, 0x51, 0x21, 0x5e, // Q
  0x7f, 0x09, 0x19, 0x29, 0x46, // R
  0x46, 0x49, 0x49, 0x49, 0x31, // S
  0x01, 0x01, 0x7f, 0x01, 0x01, // T
  0x3f, 0x40, 0x40, 0x40, 0x3f, // U
  0x1f, 0x20, 0x40, 0x20, 0x1f, // V
  0x3f, 0x40, 0x38, 0x40, 0x3f, // W
  0x63, 0x14, 0x08, 0x14, 0x63, // X
  0x07, 0x08, 0x70, 0x08, 0x07, // Y
  0x61, 0x51, 0x49, 0x45, 0x43, // Z
  0x00, 0x7f, 0x41, 0x41, 0x00, // [
  0x02, 0x04, 0x08, 0x10, 0x20, // backslash
  0x00, 0x41, 0x41, 0x7f, 0x00, // ]
  0x04, 0x02, 0x01, 0x02, 0x04, // ^
  0x40, 0x40, 0x40, 0x40, 0x40, // _
  0x00, 0x01, 0x02, 0x04, 0x00, // `
  0x20, 0x54, 0x54, 0x54, 0x78, // a
  0x7f, 0x48, 0x44, 0x44, 0x38, // b
  0x38, 0x44, 0x44, 0x44, 0x20, // c
  0x38, 0x44, 0x44, 0x48, 0x7f, // d
  0x38, 0x54, 0x54, 0x54, 0x18, // e
  0x08, 0x7e, 0x09, 0x01, 0x02, // f
  0x0c, 0x52, 0x52, 0x52, 0x3e, // g
  0x7f, 0x08, 0x04, 0x04, 0x78, // h
  0x00, 0x44, 0x7d, 0x40, 0x00, // i
  0x20, 0x40, 0x44, 0x3d, 0x00, // j
  0x7f, 0x10, 0x28, 0x44, 0x00, // k
  0x00, 0x41, 0x7f, 0x40, 0x00, // l
  0x7c, 0x04, 0x18, 0x04, 0x78, // m
  0x7c, 0x08, 0x04, 0x04, 0x78, // n
  0x38, 0x44, 0x44, 0x44, 0x38, // o
  0x7c, 0x14, 0x14, 0x14, 0x08, // p
  0x08, 0x14, 0x14, 0x18, 0x7c, // q
  0x7c, 0x08, 0x04, 0x04, 0x08, // r
  0x48, 0x54, 0x54, 0x54, 0x20, // s
  0x04, 0x3f, 0x44, 0x40, 0x20, // t
  0x3c, 0x40, 0x40, 0x20, 0x7c, // u
  0x1c, 0x20, 0x40, 0x20, 0x1c, // v
  0x3c, 0x40, 0x30, 0x40, 0x3c, // w
  0x44, 0x28, 0x10, 0x28, 0x44, // x
  0x0c, 0x50, 0x50, 0x50, 0x3c, // y
  0x44, 0x64, 0x54, 0x4c, 0x44, // z
  0x00, 0x08, 0x36, 0x41, 0x00, // {
  0x00, 0x00, 0x7f, 0x00, 0x00, // |
  0x00, 0x41, 0x36, 0x08, 0x00, // }
  0x08, 0x04, 0x08, 0x10, 0x08, // ~
]);

/** Glyph cell: 5x7 pixels plus 1 column / 1 row of spacing, times `scale`. */
export const GLYPH_WIDTH = 5;
export const GLYPH_HEIGHT = 7;
const ADVANCE = GLYPH_WIDTH + 1;
const LINE = GLYPH_HEIGHT + 2;

function glyphIndex(ch: number): number {
  return ch >= 32 && ch <= 126 ? ch - 32 : 31; // unknown characters draw as '?'
}

/** Whether pixel (col, row) of the glyph for `char` is set (row 0 is the top). */
export function glyphPixel(char: string, col: number, row: number): boolean {
  if (col < 0 || col >= GLYPH_WIDTH || row < 0 || row >= GLYPH_HEIGHT) return false;
  const g = glyphIndex(char.charCodeAt(0));
  return ((FONT5X7[g * 5 + col]! >> row) & 1) === 1;
}

function checkScale(scale: number): void {
  if (!Number.isInteger(scale) || scale < 1) throw new RangeError(`text scale must be a positive integer, got ${scale}`);
}

/** Size in pixels that drawText gives `text` (lines split on '\n'; no trailing spacing). */
export function measureText(text: string, scale = 1): { width: number; height: number } {
  checkScale(scale);
  const lines = text.split('\n');
  const cols = Math.max(...lines.map((l) => l.length));
  return {
    width: cols > 0 ? (cols * ADVANCE - 1) * scale : 0,
    height: (lines.length * LINE - 2) * scale,
  };
}

/**
 * Draws `text` into `img` in place with its top-left corner at (x, y); characters outside ASCII 32-126
 * draw as '?', '\n' starts a new line, anything outside the image is clipped. Returns `img`.
 */
export function drawText(img: RgbImage, x: number, y: number, text: string, color: Rgb = [0, 0, 0], scale = 1): RgbImage {
  assertRgbImage(img, 'drawText');
  checkScale(scale);
  const { width, height, data } = img;
  x = Math.round(x);
  y = Math.round(y);
  const lines = text.split('\n');
  for (let li = 0; li < lines.length; li++) {
    const line = lines[li]!;
    const top = y + li * LINE * scale;
    for (let ci = 0; ci < line.length; ci++) {
      const g = glyphIndex(line.charCodeAt(ci));
      const left = x + ci * ADVANCE * scale;
      if (left >= width || top >= height) continue;
      for (let col = 0; col < GLYPH_WIDTH; col++) {
        const bits = FONT5X7[g * 5 + col]!;
        if (!bits) continue;
        for (let row = 0; row < GLYPH_HEIGHT; row++) {
          if (!((bits >> row) & 1)) continue;
          for (let dy = 0; dy < scale; dy++) {
            const py = top + row * scale + dy;
            if (py < 0 || py >= height) continue;
            for (let dx = 0; dx < scale; dx++) {
              const px = left + col * scale + dx;
              if (px < 0 || px >= width) continue;
              const o = (py * width + px) * 3;
              data[o] = color[0];
              data[o + 1] = color[1];
              data[o + 2] = color[2];
            }
          }
        }
      }
    }
  }
  return img;
}

export interface MontageOptions {
  /** caption per tile, same shape as `tiles` (missing or empty entries draw no text); '\n' splits lines */
  labels?: (string | undefined)[][];
  /** gap between tiles and around the grid, pixels (default 4) */
  pad?: number;
  /** default white */
  background?: Rgb;
  /** caption colour, default black */
  textColor?: Rgb;
  /** integer font scale (default 1: 5x7 glyphs) */
  textScale?: number;
}

/** A tile's size (montageFrame: the frame is laid out and drawn for tiles that come later). */
export interface TileSize {
  width: number;
  height: number;
}

/**
 * montage's picture without the tiles' pixels: the background, the labels, and where each tile goes
 * (`at[r][c]`: its top left corner). Drawing tiles of those sizes there gives montage's bytes; a renderer
 * draws an overlay straight into it (no copy of the overlay).
 */
export function montageFrame(tiles: TileSize[][], opts: MontageOptions = {}): { image: RgbImage; at: [number, number][][] } {
  if (!Array.isArray(tiles) || tiles.length === 0 || tiles.every((r) => !Array.isArray(r) || r.length === 0)) {
    throw new RangeError('montage: needs at least one tile');
  }
  const pad = opts.pad ?? 4;
  if (!Number.isInteger(pad) || pad < 0) throw new RangeError(`montage: pad must be a non-negative integer, got ${pad}`);
  const scale = opts.textScale ?? 1;
  checkScale(scale);
  const bg = opts.background ?? [255, 255, 255];
  const fg = opts.textColor ?? [0, 0, 0];
  const labels = opts.labels;
  if (labels !== undefined && !Array.isArray(labels)) throw new TypeError('montage: labels must be an array of arrays of strings');

  const nCols = Math.max(...tiles.map((r) => r.length));
  const colW = new Array<number>(nCols).fill(0);
  const rowH = tiles.map((row) => Math.max(0, ...row.map((t) => t.height)));
  const labelH = tiles.map(() => 0);
  tiles.forEach((row, r) => {
    row.forEach((t, c) => {
      colW[c] = Math.max(colW[c]!, t.width);
      const text = labels?.[r]?.[c];
      if (text) labelH[r] = Math.max(labelH[r]!, measureText(text, scale).height + 2 * scale);
    });
  });
  const width = pad + colW.reduce((s, w) => s + w + pad, 0);
  const height = pad + rowH.reduce((s, h, r) => s + labelH[r]! + h + pad, 0);
  const data = new Uint8Array(width * height * 3);
  // the background: one pixel, then doubled by copies (a byte loop over the picture cost ~1 ms at 500×400)
  if (data.length) {
    data[0] = bg[0];
    data[1] = bg[1];
    data[2] = bg[2];
    for (let filled = 3; filled < data.length; filled *= 2) data.copyWithin(filled, 0, Math.min(filled, data.length - filled));
  }
  const image: RgbImage = { width, height, data };
  const at: [number, number][][] = [];
  let y0 = pad;
  tiles.forEach((row, r) => {
    let x0 = pad;
    at.push([]);
    for (let c = 0; c < nCols; c++) {
      const t = row[c];
      if (t) {
        const text = labels?.[r]?.[c];
        if (text) drawText(image, x0, y0, fitText(text, colW[c]!, scale), fg, scale);
        at[r]![c] = [x0, y0 + labelH[r]!];
      }
      x0 += colW[c]! + pad;
    }
    y0 += labelH[r]! + rowH[r]! + pad;
  });
  return { image, at };
}

/**
 * Lays `tiles[row][col]` out in a grid: every cell is as wide as the widest tile in its column and as
 * tall as the tallest in its row; tiles sit top-left in their cell, under their caption. Captions wider
 * than their column are cut and end in '..'. Rows may have different lengths.
 */
export function montage(tiles: RgbImage[][], opts: MontageOptions = {}): RgbImage {
  if (Array.isArray(tiles)) tiles.forEach((row, r) => Array.isArray(row) && row.forEach((t, c) => assertRgbImage(t, `montage tile [${r}][${c}]`)));
  const { image, at } = montageFrame(tiles, opts);
  const { width, data } = image;
  tiles.forEach((row, r) => row.forEach((t, c) => {
    const [x0, ty] = at[r]![c]!;
    for (let y = 0; y < t.height; y++) data.set(t.data.subarray(y * t.width * 3, (y + 1) * t.width * 3), ((ty + y) * width + x0) * 3);
  }));
  return image;
}

/** Cuts each line of `text` to fit `maxWidth` pixels, marking cuts with '..'. */
function fitText(text: string, maxWidth: number, scale: number): string {
  const maxChars = Math.max(0, Math.floor((maxWidth / scale + 1) / ADVANCE));
  return text
    .split('\n')
    .map((l) => (l.length <= maxChars ? l : maxChars > 2 ? l.slice(0, maxChars - 2) + '..' : l.slice(0, maxChars)))
    .join('\n');
}
