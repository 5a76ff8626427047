// One benchmark image: background clutter, 1–3 textured objects of distinct classes, sometimes a
// watermark, with exact per-object annotations. The mask and the drawing come from the same
// per-pixel coverage: a pixel belongs to an object when the object covers at least half of it
// (its centre is inside the silhouette) and no later object does, so the mask boundary is exactly
// where the anti-aliased edge is half drawn.
import { renderBackground, sampleBackground, type BackgroundSpec } from './background.js';
import { blend, type Canvas, coverage, newCanvas, quantize } from './canvas.js';
import { CLASSES, CLASS_NAMES } from './classes.js';
import { type Rgb, randomPalette } from './color.js';
import { mulberry32, type Rng, shuffled, uniform } from '../rng.js';
import { TEXTURES, type TextureParams } from './texture.js';
import { renderWatermark, sampleWatermark, type WatermarkSpec } from './watermark.js';
import { OptionError } from '../errors.js';

export interface ObjectSpec {
  class: number;
  /** Centre in pixels, scale in pixels per local unit (≈ the object's radius), rotation in radians. */
  cx: number;
  cy: number;
  scale: number;
  angle: number;
  palette: [Rgb, Rgb];
  texture: TextureParams;
}

export interface SceneSpec {
  width: number;
  height: number;
  background: BackgroundSpec;
  /** In drawing order: later objects occlude earlier ones. */
  objects: ObjectSpec[];
  watermark: WatermarkSpec | null;
}

/** What the on-disk format records per object. */
export interface AnnotatedObject {
  class: number;
  className: string;
  /** Tight box around the visible mask, pixels: [x0, y0, x1, y1) with x1, y1 exclusive. */
  box: [number, number, number, number];
  /** Visible mask pixels. */
  pixels: number;
  /** Visible mask pixels / image pixels. */
  area: number;
  /** The paper's "difficult" rule: the object covers under 1/4 of the image. */
  difficult: boolean;
  /** Value of this object's pixels in `mask` (1-based drawing order). */
  maskValue: number;
}

export interface SceneObject extends AnnotatedObject {
  spec: ObjectSpec;
}

/** An image with ground truth: what a dataset writer needs. */
export interface AnnotatedImage {
  width: number;
  height: number;
  /** 8-bit RGB, interleaved, row-major. */
  rgb: Uint8Array;
  /** Per pixel: 0 = background, v = the object whose maskValue is v. */
  mask: Uint8Array;
  objects: AnnotatedObject[];
  /** Sorted distinct class indices present. */
  labels: number[];
  watermark: boolean;
  /** Present on GridPG mosaics. */
  grid?: { rows: number; cols: number; cells: number[] };
}

export interface Scene extends AnnotatedImage {
  objects: SceneObject[];
  spec: SceneSpec;
}

export interface SceneOptions {
  /** Probability of a watermark overlay (default 0.2). */
  watermarkRate?: number;
  /** Force these classes, in drawing order (1–3 distinct, or any number for custom uses). */
  classes?: number[];
  /** Object area range as a fraction of the image; overrides the large/small draw. */
  area?: [number, number];
}

export type Size = number | [width: number, height: number];

export const DIFFICULT_AREA = 0.25;
export const MIN_SIDE = 16;
/** An object keeps at least this fraction of its own pixels when later objects overlap it. */
export const MIN_VISIBLE = 0.6;

// Objects are sized by their area as a fraction of the image: "large" (not difficult) or "small"
// (the paper's difficult subset), so both subsets are well populated for every class. Large
// targets above what fits the frame are clipped to the largest that fits.
const LARGE: [number, number] = [0.27, 0.5];
const SMALL: [number, number] = [0.008, 0.2];
const P_LARGE: Record<number, number> = { 1: 0.6, 2: 0.35, 3: 0.25 };

export function resolveSize(size: Size): [number, number] {
  const [w, h] = typeof size === 'number' ? [size, size] : size;
  if (![w, h].every((s) => Number.isInteger(s) && s >= MIN_SIDE && s <= 4096)) {
    throw new OptionError(`image size must be integers in [${MIN_SIDE}, 4096], got ${JSON.stringify(size)}`);
  }
  return [w, h];
}

/** The coverage and colour of one object over its bounding region, before compositing. */
export interface ObjectLayer {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
  /** Coverage per pixel of the region, row-major over (x1 − x0) × (y1 − y0). */
  alpha: Float32Array;
  /** Colour per pixel of the region (RGB in [0, 1]); meaningful where alpha > 0. */
  color: Float32Array;
}

/** `withColor: false` skips the texture (placement only needs coverage). */
export function objectLayer(o: ObjectSpec, width: number, height: number, withColor = true): ObjectLayer {
  const cls = CLASSES[o.class];
  const reach = cls.extent * o.scale + 1.5;
  const x0 = Math.max(0, Math.floor(o.cx - reach)), x1 = Math.min(width, Math.ceil(o.cx + reach));
  const y0 = Math.max(0, Math.floor(o.cy - reach)), y1 = Math.min(height, Math.ceil(o.cy + reach));
  const rw = Math.max(0, x1 - x0), rh = Math.max(0, y1 - y0);
  const alpha = new Float32Array(rw * rh), color = new Float32Array(withColor ? rw * rh * 3 : 0);
  const ca = Math.cos(o.angle), sa = Math.sin(o.angle), inv = 1 / o.scale;
  const tex = TEXTURES[cls.texture];
  const [a, b] = o.palette;
  const sdf = cls.sdf, s = o.scale;
  const shade = (i: number, lx: number, ly: number) => {
    const t = tex(lx, ly, inv, o.texture);
    for (let c = 0; c < 3; c++) color[i * 3 + c] = a[c] + (b[c] - a[c]) * t;
  };
  for (let y = y0; y < y1; y++) {
    let x = x0;
    while (x < x1) {
      const dx = x + 0.5 - o.cx, dy = y + 0.5 - o.cy;
      const lx = (ca * dx + sa * dy) * inv, ly = (-sa * dx + ca * dy) * inv;
      const d = sdf(lx, ly) * s;
      const i = (y - y0) * rw + (x - x0);
      const al = coverage(d);
      alpha[i] = al;
      if (al > 0 && withColor) shade(i, lx, ly);
      x++;
      // The silhouette distances are 1-Lipschitz, so |d| bounds how far along the row coverage
      // stays 0 (d ≥ ½) or 1 (d ≤ −½); skip the distance evaluations there (keeping a 0.01 px
      // margin against rounding). Placement and drawing then agree pixel for pixel.
      const run = Math.ceil(Math.abs(d) - 0.5 - 0.01) - 1;
      if (run <= 0) continue;
      const end = Math.min(x1, x + run);
      if (d > 0) {
        x = end;
        continue;
      }
      for (; x < end; x++) {
        const j = (y - y0) * rw + (x - x0);
        alpha[j] = 1;
        if (withColor) {
          const ex = x + 0.5 - o.cx;
          shade(j, (ca * ex + sa * dy) * inv, (-sa * ex + ca * dy) * inv);
        }
      }
    }
  }
  return { x0, y0, x1, y1, alpha, color };
}

function sampleObject(r: Rng, cls: number, W: number, H: number, area: [number, number]): ObjectSpec {
  const side = Math.min(W, H);
  const { extent: ext, area: unitArea } = CLASSES[cls];
  // Log-uniform in area, so small objects are as common per octave as large ones.
  const target = Math.exp(uniform(r, Math.log(area[0]), Math.log(area[1])));
  const wanted = Math.sqrt((target * W * H) / unitArea);
  const scale = Math.max(3 / ext, Math.min(wanted, (side / 2 - 1) / ext));
  const m = ext * scale + 1;
  const [f0, f1] = CLASSES[cls].freq;
  return {
    class: cls,
    cx: uniform(r, m, W - m),
    cy: uniform(r, m, H - m),
    scale,
    angle: uniform(r, 0, 2 * Math.PI),
    palette: randomPalette(r),
    texture: { freq: uniform(r, f0, f1), phaseX: r(), phaseY: r() },
  };
}

/** Pixels whose centre the object covers (coverage ≥ ½), as flat indices. */
function insidePixels(layer: ObjectLayer, W: number): number[] {
  const out: number[] = [];
  const rw = layer.x1 - layer.x0;
  for (let i = 0; i < layer.alpha.length; i++) {
    if (layer.alpha[i] >= 0.5) out.push((layer.y0 + Math.floor(i / rw)) * W + layer.x0 + (i % rw));
  }
  return out;
}

/**
 * Draw the random parts of a scene. Objects are placed one by one; a candidate that would hide
 * more than 1 − MIN_VISIBLE of an earlier object is redrawn (a large one as a small one after 20
 * tries; after 40 the object is left out), so every annotated object stays recognisable.
 */
export function sampleScene(seed: number, size: Size = 224, opts: SceneOptions = {}): SceneSpec {
  const [W, H] = resolveSize(size);
  const r = mulberry32(seed);
  const background = sampleBackground(r, W, H);
  const u = r();
  const count = opts.classes?.length ?? (u < 0.4 ? 1 : u < 0.75 ? 2 : 3);
  const classes = opts.classes ?? shuffled(r, CLASSES.map((_, i) => i)).slice(0, count);
  if (classes.length > 255) throw new OptionError(`at most 255 objects per image (8-bit masks), got ${classes.length}`);
  for (const c of classes) {
    if (!Number.isInteger(c) || c < 0 || c >= CLASSES.length) throw new OptionError(`class index ${c} out of range 0..${CLASSES.length - 1}`);
  }
  const pLarge = P_LARGE[Math.min(3, Math.max(1, classes.length))];
  const owner = new Int16Array(W * H).fill(-1);
  const own: number[] = [];
  const visible: number[] = [];
  const objects: ObjectSpec[] = [];
  for (const cls of classes) {
    const large = r() < pLarge;
    for (let attempt = 0; attempt < 40; attempt++) {
      // A large object that keeps hiding too much of the others falls back to a small one.
      const area = opts.area ?? (large && attempt < 20 ? LARGE : SMALL);
      const o = sampleObject(r, cls, W, H, area);
      const inside = insidePixels(objectLayer(o, W, H, false), W);
      if (inside.length < 4) continue;
      const lost = new Array<number>(objects.length).fill(0);
      for (const p of inside) if (owner[p] >= 0) lost[owner[p]]++;
      if (lost.some((l, k) => visible[k] - l < MIN_VISIBLE * own[k])) continue;
      lost.forEach((l, k) => (visible[k] -= l));
      for (const p of inside) owner[p] = objects.length;
      own.push(inside.length);
      visible.push(inside.length);
      objects.push(o);
      break;
    }
  }
  const wmRate = opts.watermarkRate ?? 0.2;
  const watermark = r() < wmRate ? sampleWatermark(r, W, H) : null;
  return { width: W, height: H, background, objects, watermark };
}

export interface RasterOptions {
  background?: boolean;
  objects?: boolean;
  watermark?: boolean;
}

/** Draw a scene and derive its annotations. Options switch layers off (tests and diagnostics). */
export function rasterizeScene(spec: SceneSpec, opts: RasterOptions = {}): Scene {
  const { width: W, height: H } = spec;
  const cv: Canvas = newCanvas(W, H);
  if (opts.background !== false) renderBackground(cv, spec.background);
  const mask = new Uint8Array(W * H);
  const drawObjects = opts.objects !== false;
  if (drawObjects) {
    spec.objects.forEach((o, k) => {
      const L = objectLayer(o, W, H);
      const rw = L.x1 - L.x0;
      for (let i = 0; i < L.alpha.length; i++) {
        const a = L.alpha[i];
        if (a <= 0) continue;
        const p = (L.y0 + Math.floor(i / rw)) * W + L.x0 + (i % rw);
        blend(cv, p, L.color, a, i * 3);
        if (a >= 0.5) mask[p] = k + 1;
      }
    });
  }
  if (spec.watermark && opts.watermark !== false) renderWatermark(cv, spec.watermark);
  const objects = drawObjects ? annotate(spec, mask) : [];
  return {
    width: W,
    height: H,
    rgb: quantize(cv),
    mask,
    objects,
    labels: [...new Set(objects.map((o) => o.class))].sort((a, b) => a - b),
    watermark: spec.watermark !== null && opts.watermark !== false,
    spec,
  };
}

function annotate(spec: SceneSpec, mask: Uint8Array): SceneObject[] {
  const { width: W, height: H } = spec;
  const n = spec.objects.length;
  const box = Array.from({ length: n }, () => [W, H, 0, 0] as [number, number, number, number]);
  const pixels = new Array<number>(n).fill(0);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const v = mask[y * W + x];
      if (v === 0) continue;
      const b = box[v - 1];
      pixels[v - 1]++;
      if (x < b[0]) b[0] = x;
      if (y < b[1]) b[1] = y;
      if (x + 1 > b[2]) b[2] = x + 1;
      if (y + 1 > b[3]) b[3] = y + 1;
    }
  }
  return spec.objects.map((o, k) => ({
    class: o.class,
    className: CLASS_NAMES[o.class],
    box: box[k],
    pixels: pixels[k],
    area: pixels[k] / (W * H),
    difficult: pixels[k] / (W * H) < DIFFICULT_AREA,
    maskValue: k + 1,
    spec: o,
  }));
}

/** A deterministic benchmark image: the same seed and size give byte-identical pixels and mask. */
export function renderScene(seed: number, size: Size = 224, opts: SceneOptions = {}): Scene {
  return rasterizeScene(sampleScene(seed, size, opts));
}
