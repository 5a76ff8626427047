// Surface patterns, in the object's local frame (so they rotate and scale with the object). Each
// returns the weight of the object's second colour in [0, 1]. Patterns are written as signed
// distances to their feature edges and anti-aliased over one pixel (`px` = pixel size in local
// units), so fine patterns on small objects blur towards the average instead of aliasing.

import { hypot } from './sdf.js';

export interface TextureParams {
  /** Pattern repeats per local unit (the object's radius is about one unit). */
  freq: number;
  /** Pattern offset, in periods. */
  phaseX: number;
  phaseY: number;
}

export type Texture = (x: number, y: number, px: number, p: TextureParams) => number;

const fract = (v: number) => v - Math.floor(v);
const aa = (f: number, px: number) => {
  const t = 0.5 - f / px;
  return t < 0 ? 0 : t > 1 ? 1 : t;
};
/** Signed distance to the band |fract(u) − ½| < ¼ of a coordinate u with `gradLen` = |∇u|. */
const band = (u: number, gradLen: number, halfWidth = 0.25) => (Math.abs(fract(u) - 0.5) - halfWidth) / gradLen;

export const TEXTURES = {
  dots: (x, y, px, p) => {
    const u = fract(x * p.freq + p.phaseX) - 0.5;
    const v = fract(y * p.freq + p.phaseY) - 0.5;
    return aa((hypot(u, v) - 0.27) / p.freq, px);
  },
  stripes: (x, _y, px, p) => aa(band(x * p.freq + p.phaseX, p.freq), px),
  checker: (x, y, px, p) => {
    const a = fract(x * p.freq + p.phaseX) - 0.5;
    const b = fract(y * p.freq + p.phaseY) - 0.5;
    const da = Math.min(Math.abs(a), 0.5 - Math.abs(a));
    const db = Math.min(Math.abs(b), 0.5 - Math.abs(b));
    return aa((a * b < 0 ? -1 : 1) * Math.min(da, db) / p.freq, px);
  },
  /** Smooth radial ramp from the centre out: no edges at all, unlike every other pattern. */
  radialGradient: (x, y) => Math.min(1, hypot(x, y)) ** 1.5,
  spokes: (x, y, px, p) => {
    const r = hypot(x, y);
    const sectors = Math.round(3 * p.freq) + 2;
    const u = (Math.atan2(y, x) / (2 * Math.PI)) * sectors + p.phaseX;
    return aa(band(u, sectors / (2 * Math.PI * Math.max(r, 1e-6))), px);
  },
  crosshatch: (x, y, px, p) => {
    const f = p.freq * 1.3;
    const u = ((x + y) * Math.SQRT1_2) * f + p.phaseX;
    const v = ((x - y) * Math.SQRT1_2) * f + p.phaseY;
    return aa(Math.min(band(u, f, 0.1), band(v, f, 0.1)), px);
  },
  waves: (x, y, px, p) => {
    const k = 2 * Math.PI * 1.2, amp = 0.12;
    const u = (y + amp * Math.sin(x * k + p.phaseX * 2 * Math.PI)) * p.freq + p.phaseY;
    const g = p.freq * hypot(1, amp * k * Math.cos(x * k + p.phaseX * 2 * Math.PI));
    return aa(band(u, g), px);
  },
  rings: (x, y, px, p) => aa(band(hypot(x, y) * p.freq + p.phaseX, p.freq), px),
  chevrons: (x, y, px, p) => {
    const slope = 1.2;
    const u = (y + Math.abs(x) * slope) * p.freq + p.phaseY;
    return aa(band(u, p.freq * hypot(1, slope)), px);
  },
  bricks: (x, y, px, p) => {
    // Mortar lines: every row, plus vertical joints shifted by half a brick on odd rows.
    const f = p.freq * 1.2;
    const row = y * f + p.phaseY;
    const shift = Math.floor(row) % 2 === 0 ? 0 : 0.5;
    const col = x * f * 0.5 + p.phaseX + shift;
    const dRow = Math.abs(fract(row) - 0.5);
    const dCol = Math.abs(fract(col) - 0.5);
    const d = Math.max((dRow - 0.5) / f, (dCol - 0.5) / (f * 0.5));
    return aa(-(d + 0.12 / f), px);
  },
} satisfies Record<string, Texture>;

export type TextureName = keyof typeof TEXTURES;
