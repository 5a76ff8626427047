// Watermark-like overlays: semi-transparent block text with a ring logo, as stock photos carry.
// Drawn after the objects and ignored by the masks: a watermark is not an object, and an
// attribution method that lights it up is explaining an artefact.
import { blend, type Canvas, coverage } from './canvas.js';
import { hypot } from './sdf.js';
import type { Rgb } from './color.js';
import { type Rng, uniform } from '../rng.js';

/** 5×7 bitmap glyphs, 35 bits each, row-major from the top-left (bit 34). */
const FONT: Record<string, number> = {
  S: 0x3e107043e, A: 0x3a31fc631, M: 0x4775ac631, P: 0x7a31f4210, L: 0x42108421f, E: 0x7e10f421f,
  R: 0x7a31f5251, V: 0x46318c544, I: 0x38842108e, W: 0x4631ad6aa, T: 0x7c8421084, O: 0x3a318c62e,
  C: 0x3a308422e, K: 0x4654c5251, D: 0x72518c65c, Q: 0x3a318d64d, H: 0x4631fc631, Y: 0x462a21084,
};

export const WATERMARK_WORDS = ['SAMPLE', 'PREVIEW', 'STOCK', 'PHOTO', 'DEMO', 'AEQ', 'COPY', 'WATERMARK'];

export interface WatermarkSpec {
  text: string;
  /** Centre of the text line, pixels. */
  x: number;
  y: number;
  /** Cap height in pixels (7 font units). */
  height: number;
  angle: number;
  color: Rgb;
  opacity: number;
  logo: boolean;
}

export function sampleWatermark(r: Rng, width: number, height: number): WatermarkSpec {
  const text = WATERMARK_WORDS[Math.floor(r() * WATERMARK_WORDS.length)];
  const side = Math.min(width, height);
  const v = r() < 0.5 ? 1 : 0.05;
  return {
    text,
    x: uniform(r, 0.3, 0.7) * width,
    y: uniform(r, 0.25, 0.75) * height,
    height: uniform(r, 0.06, 0.12) * side,
    angle: uniform(r, -0.6, 0.6),
    color: [v, v, v],
    opacity: uniform(r, 0.25, 0.5),
    logo: r() < 0.6,
  };
}

function glyphBit(ch: string, col: number, row: number): boolean {
  const bits = FONT[ch];
  if (bits === undefined || col < 0 || col > 4 || row < 0 || row > 6) return false;
  return Math.floor(bits / 2 ** (34 - (row * 5 + col))) % 2 === 1;
}

export function renderWatermark(cv: Canvas, wm: WatermarkSpec): void {
  const { width: W, height: H } = cv;
  const unit = wm.height / 7;
  // Text spans 6 units per character (5 + 1 gap); the logo ring sits left of it.
  const logoW = wm.logo ? 10 : 0;
  const textW = wm.text.length * 6 - 1 + logoW;
  const left = -textW / 2;
  const ca = Math.cos(wm.angle), sa = Math.sin(wm.angle);
  const reach = (hypot(textW / 2, 3.5) + 1) * unit;
  const x0 = Math.max(0, Math.floor(wm.x - reach)), x1 = Math.min(W, Math.ceil(wm.x + reach));
  const y0 = Math.max(0, Math.floor(wm.y - reach)), y1 = Math.min(H, Math.ceil(wm.y + reach));
  const SS = 3;
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      const cx = x + 0.5 - wm.x, cy = y + 0.5 - wm.y;
      const cu = (ca * cx + sa * cy) / unit - left, cvv = (-sa * cx + ca * cy) / unit + 3.5;
      // A pixel spans under one font unit when unit ≥ 1 px; beyond that margin nothing is drawn.
      const margin = 1 + 1 / unit;
      if (cu < -margin || cu > textW + margin || cvv < -margin - 0.5 || cvv > 7 + margin + 0.5) continue;
      let cov = 0;
      for (let sy = 0; sy < SS; sy++) {
        for (let sx = 0; sx < SS; sx++) {
          const dx = x + (sx + 0.5) / SS - wm.x, dy = y + (sy + 0.5) / SS - wm.y;
          const u = (ca * dx + sa * dy) / unit - left, v = (-sa * dx + ca * dy) / unit + 3.5;
          if (wm.logo && u < logoW) continue;
          const tu = u - logoW;
          const ci = Math.floor(tu / 6);
          if (ci >= 0 && ci < wm.text.length && glyphBit(wm.text[ci], Math.floor(tu - ci * 6), Math.floor(v))) cov++;
        }
      }
      cov /= SS * SS;
      if (wm.logo) {
        const ring = (Math.abs(hypot(cu - 4, cvv - 3.5) - 3.6) - 0.7) * unit;
        cov = Math.max(cov, coverage(ring));
      }
      blend(cv, y * W + x, wm.color, wm.opacity * cov);
    }
  }
}
