// A float RGB canvas in [0, 1] (interleaved, row-major) with alpha blending, quantised once at the
// end so every layer composes at full precision.
import type { Rgb } from './color.js';

export interface Canvas {
  width: number;
  height: number;
  rgb: Float32Array;
}

export function newCanvas(width: number, height: number): Canvas {
  return { width, height, rgb: new Float32Array(width * height * 3) };
}

/** Blend colour `c` over pixel `p` with opacity `a` (a = 1 replaces the pixel exactly). */
export function blend(cv: Canvas, p: number, c: Rgb | Float32Array | number[], a: number, off = 0): void {
  if (a <= 0) return;
  const o = p * 3, d = cv.rgb;
  if (a >= 1) {
    d[o] = c[off]; d[o + 1] = c[off + 1]; d[o + 2] = c[off + 2];
    return;
  }
  d[o] += (c[off] - d[o]) * a;
  d[o + 1] += (c[off + 1] - d[o + 1]) * a;
  d[o + 2] += (c[off + 2] - d[o + 2]) * a;
}

/** Round to 8 bits, clamping out-of-range values (noise can push a channel past 0 or 1). */
export function quantize(cv: Canvas): Uint8Array {
  const out = new Uint8Array(cv.rgb.length);
  for (let i = 0; i < out.length; i++) {
    const v = Math.round(cv.rgb[i] * 255);
    out[i] = v < 0 ? 0 : v > 255 ? 255 : v;
  }
  return out;
}

/** Anti-aliased coverage of a pixel by a region at signed distance `d` pixels (negative inside). */
export function coverage(d: number): number {
  const a = 0.5 - d;
  return a <= 0 ? 0 : a >= 1 ? 1 : a;
}
