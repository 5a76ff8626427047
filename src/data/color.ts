// Colours as linear-ish RGB triples in [0, 1] (the benchmark does not need colour management).
import { type Rng, uniform } from '../rng.js';

export type Rgb = [number, number, number];

export function hsv(h: number, s: number, v: number): Rgb {
  const i = Math.floor(h * 6);
  const f = h * 6 - i;
  const p = v * (1 - s), q = v * (1 - f * s), t = v * (1 - (1 - f) * s);
  switch (((i % 6) + 6) % 6) {
    case 0: return [v, t, p];
    case 1: return [q, v, p];
    case 2: return [p, v, t];
    case 3: return [p, q, v];
    case 4: return [t, p, v];
    default: return [v, p, q];
  }
}

export const luma = (c: Rgb): number => 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2];

export function randomColor(r: Rng, sat: [number, number] = [0.2, 1], val: [number, number] = [0.15, 1]): Rgb {
  return hsv(r(), uniform(r, sat[0], sat[1]), uniform(r, val[0], val[1]));
}

/** Two colours far enough apart in brightness that a pattern between them stays visible. */
export function randomPalette(r: Rng): [Rgb, Rgb] {
  const a = randomColor(r, [0.35, 1], [0.25, 1]);
  for (;;) {
    const b = randomColor(r, [0.2, 1], [0.1, 1]);
    if (Math.abs(luma(a) - luma(b)) >= 0.25) return [a, b];
  }
}
