// Image input: decode PNG/JPEG, resize like PIL (the resampler behind torchvision's Resize on PIL
// images), crop, and normalise into an N×C×H×W float32 batch. Models are only as right as their
// preprocessing, so each shared model's convention is a named preset.
import { readFileSync, existsSync, statSync } from 'node:fs';
import { PNG } from 'pngjs';
import jpeg from 'jpeg-js';
import { BudgetError, InputError, OptionError } from '../errors.js';

/** A decoded image: 8-bit RGB, interleaved, row-major. */
export interface RgbImage {
  width: number;
  height: number;
  rgb: Uint8Array;
  source: string;
}

export type ResizeMode = 'crop' | 'direct';

export interface PreprocessOptions {
  preset?: PresetName;
  /** Output side (square) or [height, width]. */
  size?: number | [number, number];
  /** 'crop': resize the short side to size / cropRatio, then center-crop; 'direct': resize to size. */
  resize?: ResizeMode;
  /** Fraction of the resized short side kept by the center crop (torchvision's 224/256). */
  cropRatio?: number;
  /** Per-channel mean and std, in the output channel order, applied after `scale`. */
  mean?: number[];
  std?: number[];
  /** Output channels in B, G, R order. */
  bgr?: boolean;
  /** Multiplier applied to 0–255 pixel values before mean/std. */
  scale?: number;
}

export type PresetName = 'imagenet' | 'imagenet-direct' | 'caffe-bgr' | 'inception' | 'cifar';
type Resolved = Required<Omit<PreprocessOptions, 'preset' | 'size'>> & { size: [number, number] };

export const PRESETS: Record<PresetName, Resolved> = {
  // torchvision: Resize(256), CenterCrop(224), ToTensor, Normalize.
  imagenet: { size: [224, 224], resize: 'crop', cropRatio: 224 / 256, scale: 1 / 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], bgr: false },
  // The bundled models (models/): the whole image resized to 224×224 (a no-op on the benchmark's
  // 224-pixel images), ImageNet statistics.
  'imagenet-direct': { size: [224, 224], resize: 'direct', cropRatio: 1, scale: 1 / 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], bgr: false },
  // Caffe models (the shared SqueezeNet): BGR, 0–255 minus the per-channel mean, no std; short
  // side to 256, crop 227 (reproduces the fixtures README's probabilities: 0.70, 0.87, 0.99).
  'caffe-bgr': { size: [227, 227], resize: 'crop', cropRatio: 227 / 256, scale: 1, mean: [104, 117, 123], std: [1, 1, 1], bgr: true },
  // TF-slim Inception/MobileNet: central crop 87.5 %, then x / 127.5 − 1.
  inception: { size: [128, 128], resize: 'crop', cropRatio: 0.875, scale: 1 / 127.5, mean: [1, 1, 1], std: [1, 1, 1], bgr: false },
  // CIFAR models: the whole photo squeezed to 32×32, ImageNet statistics.
  cifar: { size: [32, 32], resize: 'direct', cropRatio: 1, scale: 1 / 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], bgr: false },
};

export function resolveOptions(o: PreprocessOptions = {}): Resolved {
  const name = o.preset ?? 'imagenet';
  const base = PRESETS[name];
  if (!base) throw new OptionError(`unknown preprocessing preset '${name}' (known: ${Object.keys(PRESETS).join(', ')})`);
  const size: [number, number] = o.size === undefined ? base.size : typeof o.size === 'number' ? [o.size, o.size] : o.size;
  const r: Resolved = {
    size,
    resize: o.resize ?? base.resize,
    cropRatio: o.cropRatio ?? base.cropRatio,
    scale: o.scale ?? base.scale,
    mean: o.mean ?? base.mean,
    std: o.std ?? base.std,
    bgr: o.bgr ?? base.bgr,
  };
  if (!size.every((s) => Number.isInteger(s) && s > 0)) throw new OptionError(`image size must be positive integers, got ${JSON.stringify(o.size)}`);
  if (r.resize !== 'crop' && r.resize !== 'direct') throw new OptionError(`resize must be 'crop' or 'direct', got '${r.resize}'`);
  if (!(r.cropRatio > 0 && r.cropRatio <= 1)) throw new OptionError(`cropRatio must be in (0, 1], got ${r.cropRatio}`);
  if (r.mean.length !== 3 || r.std.length !== 3) throw new OptionError('mean and std need exactly 3 values (one per channel)');
  if (r.std.some((s) => !(s !== 0 && Number.isFinite(s)))) throw new OptionError(`std values must be finite and non-zero, got [${r.std.join(', ')}]`);
  return r;
}

const PNG_MAGIC = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/**
 * Images larger than this many pixels are refused before decoding (PIL's decompression-bomb
 * limit, 89 478 485 pixels ≈ 9459×9459): decoding holds ~8 bytes per pixel (RGBA + RGB), and the
 * overlay is drawn at the image's own size.
 */
export const MAX_IMAGE_PIXELS = 89_478_485;

/** The width and height an image's header declares, read without decoding it (null: none found). */
export function declaredSize(bytes: Uint8Array): { width: number; height: number } | null {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (PNG_MAGIC.every((b, i) => bytes[i] === b)) {
    // The first chunk must be IHDR: length (4), 'IHDR', width (4), height (4).
    if (bytes.length < 24 || String.fromCharCode(...bytes.subarray(12, 16)) !== 'IHDR') return null;
    return { width: dv.getUint32(16), height: dv.getUint32(20) };
  }
  if (bytes[0] === 0xff && bytes[1] === 0xd8) {
    // Walk the markers to the first SOFn frame header: FF Cn, length, precision, height, width.
    let p = 2;
    while (p + 4 <= bytes.length) {
      if (bytes[p] !== 0xff) { p++; continue; }
      const m = bytes[p + 1];
      if (m === 0xff) { p++; continue; }
      if (m === 0xd8 || m === 0x01 || (m >= 0xd0 && m <= 0xd7)) { p += 2; continue; }
      if (m === 0xd9 || m === 0xda) return null;
      const len = dv.getUint16(p + 2);
      if (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) {
        if (p + 9 > bytes.length) return null;
        return { width: dv.getUint16(p + 7), height: dv.getUint16(p + 5) };
      }
      if (len < 2) return null;
      p += 2 + len;
    }
  }
  return null;
}

export function decodeImage(bytes: Uint8Array, source = '<buffer>', maxPixels = MAX_IMAGE_PIXELS): RgbImage {
  const isPng = PNG_MAGIC.every((b, i) => bytes[i] === b);
  const isJpeg = bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
  if (!isPng && !isJpeg) throw new InputError(`${source}: not a PNG or JPEG image`);
  const declared = declaredSize(bytes);
  if (declared && declared.width * declared.height > maxPixels) {
    throw new BudgetError(`${source}: the image declares ${declared.width}×${declared.height} = ${declared.width * declared.height} pixels, more than the ${maxPixels} allowed (refused before decoding)`);
  }
  if (declared && (declared.width === 0 || declared.height === 0)) throw new InputError(`${source}: image has no pixels (${declared.width}×${declared.height})`);
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let width: number, height: number, data: Uint8Array, channels: number;
  try {
    if (isPng) {
      // pngjs expands palette, grey and 16-bit images to 8-bit RGBA.
      const png = PNG.sync.read(buf);
      ({ width, height } = png);
      data = png.data;
      channels = 4;
    } else {
      const img = jpeg.decode(buf, { useTArray: true, formatAsRGBA: false, maxMemoryUsageInMB: 1024, maxResolutionInMP: maxPixels / 1e6 });
      ({ width, height, data } = img);
      channels = 3;
    }
  } catch (e) {
    throw new InputError(`${source}: cannot decode ${isPng ? 'PNG' : 'JPEG'} image (${(e as Error).message})`);
  }
  if (!(width > 0 && height > 0)) throw new InputError(`${source}: image has no pixels (${width}×${height})`);
  if (data.length < width * height * channels) throw new InputError(`${source}: decoded ${data.length} bytes for ${width}×${height} pixels; the image is truncated`);
  // Alpha is dropped, as PIL's convert('RGB') does.
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0, n = width * height; i < n; i++) {
    rgb[i * 3] = data[i * channels];
    rgb[i * 3 + 1] = data[i * channels + 1];
    rgb[i * 3 + 2] = data[i * channels + 2];
  }
  return { width, height, rgb, source };
}

export function readImage(path: string, maxPixels = MAX_IMAGE_PIXELS): RgbImage {
  if (!existsSync(path)) throw new InputError(`${path}: no such file`);
  if (statSync(path).isDirectory()) throw new InputError(`${path}: is a directory, not an image`);
  return decodeImage(new Uint8Array(readFileSync(path)), path, maxPixels);
}

/** PIL's resampling weights for one axis (bilinear, widened by the scale when shrinking = antialias). */
function coefficients(inSize: number, outSize: number): { start: Int32Array; count: Int32Array; weights: Float64Array; width: number } {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = filterScale;
  const width = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize), count = new Int32Array(outSize);
  const weights = new Float64Array(outSize * width);
  for (let o = 0; o < outSize; o++) {
    const center = (o + 0.5) * scale;
    const lo = Math.max(Math.trunc(center - support + 0.5), 0);
    const n = Math.min(Math.trunc(center + support + 0.5), inSize) - lo;
    let sum = 0;
    for (let j = 0; j < n; j++) {
      const w = Math.max(0, 1 - Math.abs((j + lo - center + 0.5) / filterScale));
      weights[o * width + j] = w;
      sum += w;
    }
    if (sum !== 0) for (let j = 0; j < n; j++) weights[o * width + j] /= sum;
    start[o] = lo;
    count[o] = n;
  }
  return { start, count, weights, width };
}

const clampByte = (v: number): number => (v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v));

/**
 * Resize 8-bit interleaved RGB with PIL's bilinear filter: horizontal pass, then vertical, each
 * rounded to 8 bits like PIL does (PIL's fixed-point weights can still differ by one level).
 */
export function resizeRgb(src: Uint8Array, w: number, h: number, outW: number, outH: number): Uint8Array {
  let cur = src;
  if (outW !== w) {
    const c = coefficients(w, outW);
    const out = new Uint8Array(outW * h * 3);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < outW; x++) {
        let r = 0, g = 0, b = 0;
        for (let j = 0, base = c.start[x]; j < c.count[x]; j++) {
          const wt = c.weights[x * c.width + j], p = (y * w + base + j) * 3;
          r += cur[p] * wt; g += cur[p + 1] * wt; b += cur[p + 2] * wt;
        }
        const q = (y * outW + x) * 3;
        out[q] = clampByte(r); out[q + 1] = clampByte(g); out[q + 2] = clampByte(b);
      }
    }
    cur = out;
  }
  if (outH !== h) {
    const c = coefficients(h, outH);
    const out = new Uint8Array(outW * outH * 3);
    for (let y = 0; y < outH; y++) {
      for (let x = 0; x < outW; x++) {
        let r = 0, g = 0, b = 0;
        for (let j = 0, base = c.start[y]; j < c.count[y]; j++) {
          const wt = c.weights[y * c.width + j], p = ((base + j) * outW + x) * 3;
          r += cur[p] * wt; g += cur[p + 1] * wt; b += cur[p + 2] * wt;
        }
        const q = (y * outW + x) * 3;
        out[q] = clampByte(r); out[q + 1] = clampByte(g); out[q + 2] = clampByte(b);
      }
    }
    cur = out;
  }
  return cur === src ? src.slice() : cur;
}

/** Where the model's input came from in the original image, for mapping heatmaps back. */
export interface CropInfo {
  /** Size of the image after resizing, before cropping. */
  resizedWidth: number;
  resizedHeight: number;
  left: number;
  top: number;
}

/** torchvision's Resize(int) + CenterCrop geometry, or a direct resize. */
export function cropGeometry(w: number, h: number, o: Resolved): CropInfo {
  const [outH, outW] = o.size;
  if (o.resize === 'direct') return { resizedWidth: outW, resizedHeight: outH, left: 0, top: 0 };
  const short = Math.round(Math.min(outH, outW) / o.cropRatio);
  // torchvision keeps the aspect ratio and truncates the long side.
  const [rw, rh] = w <= h ? [short, Math.trunc((short * h) / w)] : [Math.trunc((short * w) / h), short];
  if (rw < outW || rh < outH) {
    throw new OptionError(`crop ${outW}×${outH} does not fit the ${rw}×${rh} resized image; use resize 'direct' or a square size`);
  }
  return { resizedWidth: rw, resizedHeight: rh, left: Math.round((rw - outW) / 2), top: Math.round((rh - outH) / 2) };
}

export interface ImageBatch {
  shape: [number, number, number, number];
  data: Float32Array;
  images: RgbImage[];
  crops: CropInfo[];
}

/** Resize, crop and normalise images into one N×3×H×W float32 tensor. */
export function preprocess(images: RgbImage[], options: PreprocessOptions = {}): ImageBatch {
  if (images.length === 0) throw new InputError('no images to preprocess');
  const o = resolveOptions(options);
  const [outH, outW] = o.size;
  const plane = outH * outW;
  const data = new Float32Array(images.length * 3 * plane);
  const crops: CropInfo[] = [];
  const order = o.bgr ? [2, 1, 0] : [0, 1, 2];
  images.forEach((img, n) => {
    const crop = cropGeometry(img.width, img.height, o);
    crops.push(crop);
    const px = resizeRgb(img.rgb, img.width, img.height, crop.resizedWidth, crop.resizedHeight);
    for (let c = 0; c < 3; c++) {
      const src = order[c], m = o.mean[c], s = o.std[c];
      const dst = (n * 3 + c) * plane;
      for (let y = 0; y < outH; y++) {
        for (let x = 0; x < outW; x++) {
          const p = ((y + crop.top) * crop.resizedWidth + x + crop.left) * 3 + src;
          data[dst + y * outW + x] = (px[p] * o.scale - m) / s;
        }
      }
    }
  });
  return { shape: [images.length, 3, outH, outW], data, images, crops };
}

/** Read image files and preprocess them into one batch. */
export function loadImages(paths: string[], options: PreprocessOptions = {}): ImageBatch {
  return preprocess(paths.map((p) => readImage(p)), options);
}
