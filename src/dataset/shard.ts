/**
 * Item identity helpers, browser-safe: stable hashes, shard membership, output file stems.
 */

/** 64-bit FNV-1a of the UTF-8 bytes of `s`, as 16 hex digits. */
export function hash64(s: string): string {
  const bytes = new TextEncoder().encode(s);
  let h = 0xcbf29ce484222325n;
  const prime = 0x100000001b3n;
  const mask = 0xffffffffffffffffn;
  for (const b of bytes) {
    h ^= BigInt(b);
    h = (h * prime) & mask;
  }
  return h.toString(16).padStart(16, '0');
}

export interface Shard {
  index: number;
  count: number;
}

/** Parses 'i/N' (0 <= i < N). */
export function parseShard(s: string): Shard {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(s);
  if (!m) throw new Error(`--shard must be i/N with 0 <= i < N (e.g. 0/4), got '${s}'`);
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (count < 1 || index >= count) throw new Error(`--shard ${s}: the index must be between 0 and ${count - 1} (shards are numbered from 0)`);
  return { index, count };
}

/**
 * Which shard an item belongs to: its key's hash modulo N. The assignment depends on the key alone,
 * so every machine computes the same partition without coordination, even from separately listed inputs.
 */
export function shardOf(key: string, count: number): number {
  if (count === 1) return 0;
  const h = BigInt(`0x${hash64(key)}`);
  return Number(h % BigInt(count));
}

/** A file-name stem for an item: its base name (sanitised, shortened) and 8 hex digits of its key's hash. */
export function itemStem(key: string): string {
  const base = key.replace(/#\d+$/, '').split('/').pop()!.replace(/\.[^.]*$/, '');
  const clean = base.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[._]+/, '').slice(0, 48) || 'item';
  return `${clean}-${hash64(key).slice(0, 8)}`;
}
