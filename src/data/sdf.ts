// Signed distance functions of the object silhouettes, in the object's local frame (negative
// inside). Exact or nearly exact distances make anti-aliasing a clamp of the distance in pixels,
// and put the mask boundary (distance 0 at the pixel centre) exactly where the drawn edge is half
// covered. Most formulas follow Inigo Quilez's 2-D distance catalogue.

export type Sdf = (x: number, y: number) => number;

// Math.hypot is variadic and several times slower than this in V8; these run per pixel.
export const hypot = (x: number, y: number): number => Math.sqrt(x * x + y * y);
const len = hypot;
const clamp = (v: number, lo: number, hi: number) => (v < lo ? lo : v > hi ? hi : v);

export function sdCircle(x: number, y: number, r: number): number {
  return len(x, y) - r;
}

export function sdBox(x: number, y: number, bx: number, by: number): number {
  const dx = Math.abs(x) - bx;
  const dy = Math.abs(y) - by;
  return len(Math.max(dx, 0), Math.max(dy, 0)) + Math.min(Math.max(dx, dy), 0);
}

/** Equilateral triangle with half side `r`, centroid at the origin, apex towards −y. */
export function sdTriangle(x: number, y: number, r: number): number {
  const k = Math.sqrt(3);
  let px = Math.abs(x) - r;
  let py = -y + r / k;
  if (px + k * py > 0) {
    const nx = (px - k * py) / 2;
    const ny = (-k * px - py) / 2;
    px = nx;
    py = ny;
  }
  px -= clamp(px, -2 * r, 0);
  return -len(px, py) * Math.sign(py);
}

/** Five-pointed star: outer radius `r`, inner radius factor `rf`. */
export function sdStar5(x: number, y: number, r: number, rf: number): number {
  const k1x = 0.809016994375, k1y = -0.587785252292;
  const k2x = -k1x, k2y = k1y;
  let px = Math.abs(x), py = -y;
  let d = 2 * Math.max(k1x * px + k1y * py, 0);
  px -= d * k1x; py -= d * k1y;
  d = 2 * Math.max(k2x * px + k2y * py, 0);
  px -= d * k2x; py -= d * k2y;
  px = Math.abs(px);
  py -= r;
  const bax = rf * -k1y, bay = rf * k1x - 1;
  const h = clamp((px * bax + py * bay) / (bax * bax + bay * bay), 0, r);
  return len(px - bax * h, py - bay * h) * Math.sign(py * bax - px * bay);
}

/** Regular hexagon with inradius `r`. */
export function sdHexagon(x: number, y: number, r: number): number {
  const kx = -0.866025404, ky = 0.5, kz = 0.577350269;
  let px = Math.abs(x), py = Math.abs(y);
  const d = 2 * Math.min(kx * px + ky * py, 0);
  px -= d * kx; py -= d * ky;
  px -= clamp(px, -kz * r, kz * r);
  py -= r;
  return len(px, py) * Math.sign(py);
}

/** Rhombus with half diagonals (bx, by). */
export function sdRhombus(x: number, y: number, bx: number, by: number): number {
  const px = Math.abs(x), py = Math.abs(y);
  const h = clamp(((bx - 2 * px) * bx - (by - 2 * py) * by) / (bx * bx + by * by), -1, 1);
  const d = len(px - 0.5 * bx * (1 - h), py - 0.5 * by * (1 + h));
  return d * Math.sign(px * by + py * bx - bx * by);
}

/** Heart of height ≈ 1.1 with its notch at (0, 1) and tip at the origin (IQ's unit heart). */
export function sdHeartUnit(x: number, y: number): number {
  const px = Math.abs(x);
  if (y + px > 1) return len(px - 0.25, y - 0.75) - Math.SQRT2 / 4;
  const m = 0.5 * Math.max(px + y, 0);
  return Math.sqrt(Math.min((px) ** 2 + (y - 1) ** 2, (px - m) ** 2 + (y - m) ** 2)) * Math.sign(px - y);
}
