// Seeded randomness (a leaf module like errors.ts: the benchmark generator, SmoothGrad noise, the
// fuzzer and the tests draw from it). Everything the generator draws comes from here, never from
// Math.random, so a seed fully determines an image (same seed → byte-identical pixels and masks).

export type Rng = () => number;

/** mulberry32: a tiny 32-bit PRNG, uniform in [0, 1). Good enough for procedural art, not crypto. */
export function mulberry32(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Mix integers into one 32-bit seed (murmur3 finaliser per word), so sub-streams do not correlate. */
export function hashInts(...xs: number[]): number {
  let h = 0x9e3779b9;
  for (const x of xs) h = mixWord(h, x);
  return fmix(h);
}

/** FNV-1a of a string: stable across runs and platforms (used for dataset splits). */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export const uniform = (r: Rng, lo: number, hi: number): number => lo + (hi - lo) * r();
export const randInt = (r: Rng, lo: number, hiInclusive: number): number => lo + Math.floor(r() * (hiInclusive - lo + 1));

/** Fisher–Yates on a copy. */
export function shuffled<T>(r: Rng, xs: readonly T[]): T[] {
  const a = xs.slice();
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

/** Per-pixel noise in [0, 1) from integer coordinates: no state, so any pixel can be recomputed alone. */
export function pixelNoise(seed: number, x: number, y: number, c: number): number {
  return fmix(mixWord(mixWord(mixWord(mixWord(0x9e3779b9, seed), x), y), c)) / 4294967296;
}

/** hashInts(seed, x, y) unrolled (it runs once per pixel). */
export function pixelHash(seed: number, x: number, y: number): number {
  return fmix(mixWord(mixWord(mixWord(0x9e3779b9, seed), x), y));
}

function mixWord(h: number, x: number): number {
  let k = Math.imul(x | 0, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  h ^= Math.imul(k, 0x1b873593);
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
