// Heatmap rendering: symmetric scaling by max |value|, the diverging "seismic" colormap
// (red = positive evidence, blue = negative), PNG output and overlays on the original photo.
import { PNG } from 'pngjs';
import type { RgbImage, CropInfo } from './image.js';

// matplotlib's 'seismic': five colours evenly spaced over [0, 1].
const SEISMIC: [number, number, number][] = [[0, 0, 0.3], [0, 0, 1], [1, 1, 1], [1, 0, 0], [0.5, 0, 0]];

/** Colour of v ∈ [-1, 1] as 8-bit RGB. */
export function seismic(v: number): [number, number, number] {
  const t = Math.min(1, Math.max(0, (v + 1) / 2)) * (SEISMIC.length - 1);
  const i = Math.min(SEISMIC.length - 2, Math.floor(t));
  const f = t - i;
  const a = SEISMIC[i], b = SEISMIC[i + 1];
  return [0, 1, 2].map((k) => Math.round(255 * (a[k] + (b[k] - a[k]) * f))) as [number, number, number];
}

/** The q-quantile of |value| (overlays clip there so a few extreme pixels do not wash out the rest). */
export function absQuantile(map: Float32Array, q: number): number {
  const a = Float32Array.from(map, Math.abs).sort();
  return a.length ? a[Math.min(a.length - 1, Math.floor(q * a.length))] : 0;
}

/** Divide by max |value| (zero map stays zero; never NaN). */
export function symmetricNormalise(map: Float32Array): Float32Array {
  let m = 0;
  for (const v of map) m = Math.max(m, Math.abs(v));
  return m > 0 ? map.map((v) => v / m) : new Float32Array(map.length);
}

export function encodePng(width: number, height: number, rgb: Uint8Array): Buffer {
  const png = new PNG({ width, height });
  for (let i = 0; i < width * height; i++) {
    png.data[i * 4] = rgb[i * 3];
    png.data[i * 4 + 1] = rgb[i * 3 + 1];
    png.data[i * 4 + 2] = rgb[i * 3 + 2];
    png.data[i * 4 + 3] = 255;
  }
  return PNG.sync.write(png);
}

/** H×W map → seismic PNG at the map's own resolution. */
export function heatmapPng(map: Float32Array, h: number, w: number): Buffer {
  const n = symmetricNormalise(map);
  const rgb = new Uint8Array(h * w * 3);
  for (let i = 0; i < h * w; i++) rgb.set(seismic(n[i]), i * 3);
  return encodePng(w, h, rgb);
}

function bilinear(map: Float32Array, h: number, w: number, y: number, x: number): number {
  const y0 = Math.max(0, Math.min(h - 1, Math.floor(y))), x0 = Math.max(0, Math.min(w - 1, Math.floor(x)));
  const y1 = Math.min(h - 1, y0 + 1), x1 = Math.min(w - 1, x0 + 1);
  const fy = Math.min(1, Math.max(0, y - y0)), fx = Math.min(1, Math.max(0, x - x0));
  const top = map[y0 * w + x0] * (1 - fx) + map[y0 * w + x1] * fx;
  const bot = map[y1 * w + x0] * (1 - fx) + map[y1 * w + x1] * fx;
  return top * (1 - fy) + bot * fy;
}

/**
 * The map laid over the original photo at its original size, scaled by the 99.5th percentile of
 * |value| (clipped beyond) rather than the maximum, which a handful of pixels can dominate. The map covers the crop the model
 * saw (`crop`, in resized-image pixels); outside it the photo shows unchanged. Colour opacity grows
 * with √|value| so that weak relevance does not hide the photo.
 */
export function overlayPng(img: RgbImage, map: Float32Array, h: number, w: number, crop: CropInfo, opacity = 0.7): Buffer {
  const clip = absQuantile(map, 0.995) || absQuantile(map, 1);
  const n = clip > 0 ? map.map((v) => Math.max(-1, Math.min(1, v / clip))) : new Float32Array(map.length);
  const sx = crop.resizedWidth / img.width, sy = crop.resizedHeight / img.height;
  const out = new Uint8Array(img.width * img.height * 3);
  for (let Y = 0; Y < img.height; Y++) {
    for (let X = 0; X < img.width; X++) {
      const i = Y * img.width + X;
      const u = (X + 0.5) * sx - 0.5 - crop.left, v = (Y + 0.5) * sy - 0.5 - crop.top;
      const inside = u >= -0.5 && v >= -0.5 && u <= w - 0.5 && v <= h - 0.5;
      const val = inside ? bilinear(n, h, w, v, u) : 0;
      // sqrt: pixel attributions are peaky; a linear ramp would hide all but the strongest spots.
      const a = inside ? opacity * Math.min(1, Math.sqrt(Math.abs(val))) : 0;
      const c = seismic(val);
      for (let k = 0; k < 3; k++) out[i * 3 + k] = Math.round((1 - a) * img.rgb[i * 3 + k] + a * c[k]);
    }
  }
  return encodePng(img.width, img.height, out);
}
