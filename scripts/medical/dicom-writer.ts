/**
 * A small DICOM Part 10 writer for the repo's own test and demo files (nothing is downloaded): grayscale
 * CT-like images, one or several frames, 8/16-bit signed or unsigned, explicit or implicit VR little
 * endian (or any transfer syntax UID written into the header, to test how readers refuse it), with
 * rescale slope/intercept, window presets, geometry (position, orientation, spacing) and series UIDs.
 */
export interface DicomSpec {
  rows: number;
  cols: number;
  frames?: number;
  /** Stored values, frames × rows × cols (row-major), already in the stored integer range. */
  pixels: ArrayLike<number>;
  bits?: 8 | 16;
  signed?: boolean;
  slope?: number;
  intercept?: number;
  windows?: { center: number; width: number }[];
  photometric?: 'MONOCHROME1' | 'MONOCHROME2';
  position?: [number, number, number];
  orientation?: [number, number, number, number, number, number];
  spacing?: [number, number];
  sliceThickness?: number;
  series?: string;
  instance?: number;
  /** Default explicit VR little endian; '1.2.840.10008.1.2' implicit; any other UID is written as given. */
  transferSyntax?: string;
}

const EXPLICIT = '1.2.840.10008.1.2.1';
const IMPLICIT = '1.2.840.10008.1.2';
const LONG_VR = new Set(['OB', 'OW', 'OF', 'SQ', 'UT', 'UN']);

class Writer {
  private parts: Uint8Array[] = [];
  constructor(private readonly explicit: boolean) {}

  element(group: number, elem: number, vr: string, value: Uint8Array): void {
    const padded = value.length % 2 ? concat([value, new Uint8Array([vr === 'UI' || vr === 'OB' ? 0 : 0x20])]) : value;
    const head = new DataView(new ArrayBuffer(this.explicit ? (LONG_VR.has(vr) ? 12 : 8) : 8));
    head.setUint16(0, group, true);
    head.setUint16(2, elem, true);
    if (!this.explicit) head.setUint32(4, padded.length, true);
    else {
      head.setUint8(4, vr.charCodeAt(0));
      head.setUint8(5, vr.charCodeAt(1));
      if (LONG_VR.has(vr)) head.setUint32(8, padded.length, true);
      else head.setUint16(6, padded.length, true);
    }
    this.parts.push(new Uint8Array(head.buffer), padded);
  }

  text(group: number, elem: number, vr: string, s: string): void {
    this.element(group, elem, vr, new TextEncoder().encode(s));
  }

  us(group: number, elem: number, v: number): void {
    const b = new Uint8Array(2);
    new DataView(b.buffer).setUint16(0, v, true);
    this.element(group, elem, 'US', b);
  }

  bytes(): Uint8Array {
    return concat(this.parts);
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

const ds = (v: number[]) => v.map((x) => String(Math.round(x * 1e6) / 1e6)).join('\\');

/** The bytes of a DICOM file. */
export function writeDicom(spec: DicomSpec): Uint8Array {
  const ts = spec.transferSyntax ?? EXPLICIT;
  const bits = spec.bits ?? 16;
  const frames = spec.frames ?? 1;
  const n = spec.rows * spec.cols * frames;
  if (spec.pixels.length !== n) throw new RangeError(`writeDicom: ${spec.pixels.length} pixels for ${frames}×${spec.rows}×${spec.cols}`);
  const sop = `1.2.826.0.1.3680043.10.1604.${spec.instance ?? 1}`;
  const meta = new Writer(true);
  meta.element(0x0002, 0x0001, 'OB', new Uint8Array([0, 1]));
  meta.text(0x0002, 0x0002, 'UI', '1.2.840.10008.5.1.4.1.1.2');
  meta.text(0x0002, 0x0003, 'UI', sop);
  meta.text(0x0002, 0x0010, 'UI', ts);
  meta.text(0x0002, 0x0012, 'UI', '1.2.826.0.1.3680043.10.1604');
  const metaBytes = meta.bytes();
  const groupLength = new Writer(true);
  const gl = new Uint8Array(4);
  new DataView(gl.buffer).setUint32(0, metaBytes.length, true);
  groupLength.element(0x0002, 0x0000, 'UL', gl);

  const w = new Writer(ts !== IMPLICIT);
  w.text(0x0008, 0x0016, 'UI', '1.2.840.10008.5.1.4.1.1.2');
  w.text(0x0008, 0x0018, 'UI', sop);
  w.text(0x0008, 0x0060, 'CS', 'CT');
  if (spec.sliceThickness !== undefined) w.text(0x0018, 0x0050, 'DS', ds([spec.sliceThickness]));
  w.text(0x0020, 0x000e, 'UI', spec.series ?? '1.2.826.0.1.3680043.10.1604.9');
  w.text(0x0020, 0x0013, 'IS', String(spec.instance ?? 1));
  if (spec.position) w.text(0x0020, 0x0032, 'DS', ds(spec.position));
  if (spec.orientation) w.text(0x0020, 0x0037, 'DS', ds(spec.orientation));
  w.us(0x0028, 0x0002, 1);
  w.text(0x0028, 0x0004, 'CS', spec.photometric ?? 'MONOCHROME2');
  if (frames > 1) w.text(0x0028, 0x0008, 'IS', String(frames));
  w.us(0x0028, 0x0010, spec.rows);
  w.us(0x0028, 0x0011, spec.cols);
  if (spec.spacing) w.text(0x0028, 0x0030, 'DS', ds(spec.spacing));
  w.us(0x0028, 0x0100, bits);
  w.us(0x0028, 0x0101, bits);
  w.us(0x0028, 0x0102, bits - 1);
  w.us(0x0028, 0x0103, spec.signed ? 1 : 0);
  if (spec.windows?.length) {
    w.text(0x0028, 0x1050, 'DS', ds(spec.windows.map((x) => x.center)));
    w.text(0x0028, 0x1051, 'DS', ds(spec.windows.map((x) => x.width)));
  }
  if (spec.intercept !== undefined || spec.slope !== undefined) {
    w.text(0x0028, 0x1052, 'DS', ds([spec.intercept ?? 0]));
    w.text(0x0028, 0x1053, 'DS', ds([spec.slope ?? 1]));
  }
  const px = new Uint8Array(n * (bits / 8));
  const dv = new DataView(px.buffer);
  for (let i = 0; i < n; i++) {
    const v = Math.round(spec.pixels[i]!);
    if (bits === 8) dv.setUint8(i, v & 0xff);
    else if (spec.signed) dv.setInt16(i * 2, v, true);
    else dv.setUint16(i * 2, v, true);
  }
  w.element(0x7fe0, 0x0010, bits === 8 ? 'OB' : 'OW', px);
  const preamble = new Uint8Array(132);
  preamble.set([0x44, 0x49, 0x43, 0x4d], 128);
  return concat([preamble, groupLength.bytes(), metaBytes, w.bytes()]);
}
