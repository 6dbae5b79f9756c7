/**
 * Synthetic scans with known lesions for the medical demo (issue 16), seeded and deterministic, so that
 * the training set (scripts/demo/medical/make_training.ts → train_medical.py) and the demo's test set
 * (scripts/demo-medical.ts) come from one generator and nothing has to be shipped but the models.
 *
 * - phantomVolume: a CT-like 32³ volume in Hounsfield-like units: air around an elliptic body of soft
 *   tissue (40 HU, smooth low-frequency variation, noise), an organ (70 HU), a spine (bone, 500 HU) and
 *   2–3 thin vessels (125 HU) in every volume; a lesion (class 1) is a sphere of radius 3–5 voxels of
 *   granular tissue (170 HU ± 30) inside the body. The mask is the lesion's voxels, exactly.
 * - phantomSlice: a chest-X-ray-like 64×64 16-bit image: body, two dark lungs, bright ribs, and in class
 *   1 a round nodule of radius 3–6 px inside a lung (mask exact).
 */

/** mulberry32: a small seeded PRNG with uniform floats in [0, 1). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function gauss(r: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
}

export interface Phantom {
  data: Float32Array;
  mask: Uint8Array;
  dims: number[];
  label: 0 | 1;
}

export const LABELS = ['normal', 'lesion'];

export function phantomVolume(seed: number, label: 0 | 1, n = 32): Phantom {
  const r = rng(seed * 7919 + 17);
  const g = gauss(r);
  const data = new Float32Array(n * n * n);
  const mask = new Uint8Array(n * n * n);
  const c = (n - 1) / 2;
  const [ax, ay, az] = [n * (0.40 + 0.05 * r()), n * (0.32 + 0.05 * r()), n * (0.46 + 0.03 * r())];
  const waves = Array.from({ length: 4 }, () => [r() * 0.5, r() * 0.5, r() * 0.5, r() * 6.28]);
  const organ = [c + (r() - 0.5) * 6, c + (r() - 0.5) * 4, c + (r() - 0.5) * 6, 5 + r() * 3];
  const spine = [c + (r() - 0.5) * 2, c + ay * 0.7];
  const vessels = Array.from({ length: 2 + Math.floor(r() * 2) }, () => ({ x: c + (r() - 0.5) * ax, y: c + (r() - 0.5) * ay, dx: (r() - 0.5) * 0.6, dy: (r() - 0.5) * 0.6, rad: 0.9 + r() * 0.6 }));
  let lesion: number[] | undefined;
  if (label === 1) {
    for (;;) {
      const rad = 3 + r() * 2;
      const p = [c + (r() - 0.5) * 2 * (ax - rad - 2), c + (r() - 0.5) * 2 * (ay - rad - 2), c + (r() - 0.5) * 2 * (az - rad - 2)];
      const inside = ((p[0]! - c) / (ax - rad - 1)) ** 2 + ((p[1]! - c) / (ay - rad - 1)) ** 2 + ((p[2]! - c) / (az - rad - 1)) ** 2 < 1;
      if (inside) { lesion = [...p, rad]; break; }
    }
  }
  for (let z = 0; z < n; z++) {
    for (let y = 0; y < n; y++) {
      for (let x = 0; x < n; x++) {
        const i = (z * n + y) * n + x;
        const body = ((x - c) / ax) ** 2 + ((y - c) / ay) ** 2 + ((z - c) / az) ** 2 < 1;
        let v = -1000 + g() * 10;
        if (body) {
          v = 40 + g() * 12;
          for (const [fx, fy, fz, ph] of waves) v += 6 * Math.cos(fx! * x + fy! * y + fz! * z + ph!);
          if ((x - organ[0]!) ** 2 + (y - organ[1]!) ** 2 + ((z - organ[2]!) / 1.5) ** 2 < organ[3]! ** 2) v += 30;
          if ((x - spine[0]!) ** 2 + (y - spine[1]!) ** 2 < 4) v = 500 + g() * 40;
          for (const s of vessels) {
            const dz = z - c;
            if ((x - s.x - s.dx * dz) ** 2 + (y - s.y - s.dy * dz) ** 2 < s.rad ** 2) v = 125 + g() * 12;
          }
          if (lesion && (x - lesion[0]!) ** 2 + (y - lesion[1]!) ** 2 + (z - lesion[2]!) ** 2 <= lesion[3]! ** 2) {
            v = 170 + g() * 30;
            mask[i] = 1;
          }
        }
        data[i] = v;
      }
    }
  }
  return { data, mask, dims: [n, n, n], label };
}

export function phantomSlice(seed: number, label: 0 | 1, n = 64): Phantom {
  const r = rng(seed * 104729 + 3);
  const g = gauss(r);
  const data = new Float32Array(n * n);
  const mask = new Uint8Array(n * n);
  const c = (n - 1) / 2;
  const lungs = [-1, 1].map((s) => ({ x: c + s * n * (0.2 + 0.03 * r()), y: c - n * 0.02 + (r() - 0.5) * 3, a: n * (0.13 + 0.03 * r()), b: n * (0.28 + 0.04 * r()) }));
  const ribPhase = r() * 6.28;
  let nodule: number[] | undefined;
  if (label === 1) {
    const l = lungs[Math.floor(r() * 2)]!;
    const rad = 3 + r() * 3;
    const t = r() * 6.28;
    const q = Math.sqrt(r()) * 0.55;
    nodule = [l.x + Math.cos(t) * q * l.a, l.y + Math.sin(t) * q * l.b, rad];
  }
  for (let y = 0; y < n; y++) {
    for (let x = 0; x < n; x++) {
      const i = y * n + x;
      let v = 4000;
      if (((x - c) / (n * 0.47)) ** 2 + ((y - c) / (n * 0.46)) ** 2 < 1) {
        v = 30000;
        for (const l of lungs) if (((x - l.x) / l.a) ** 2 + ((y - l.y) / l.b) ** 2 < 1) v = 12000;
        if (Math.abs(Math.sin(y * 0.55 + ribPhase + 0.08 * Math.abs(x - c))) > 0.93) v += 9000;
        if (Math.abs(x - c) < n * 0.05) v = 38000;
      }
      if (nodule && (x - nodule[0]!) ** 2 + (y - nodule[1]!) ** 2 <= nodule[2]! ** 2) {
        v += 11000;
        mask[i] = 1;
      }
      data[i] = Math.min(65535, Math.max(0, Math.round(v + g() * 1800)));
    }
  }
  return { data, mask, dims: [n, n], label };
}

/** The demo models' input: CT window 40/400 to [0, 1] for volumes, v / 65535 for the 16-bit slices. */
export function volumeInput(p: Phantom): Float32Array {
  return p.data.map((v) => Math.min(Math.max((v - (40 - 200)) / 400, 0), 1));
}
export function sliceInput(p: Phantom): Float32Array {
  return p.data.map((v) => v / 65535);
}
