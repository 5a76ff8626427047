// Image decoding and preprocessing. Reference numbers for the shared photos come from PIL 9.4 +
// torchvision (Resize(256), CenterCrop(224); Image.resize((32, 32), BILINEAR)); PIL's fixed-point
// weights differ from our float weights by at most one level on a few pixels, and libjpeg's
// decoder from jpeg-js by a few levels, hence the tolerances below.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import jpeg from 'jpeg-js';
import { InputError, OptionError } from '../src/errors.js';
import { decodeImage, loadImages, preprocess, readImage, resizeRgb, type RgbImage } from '../src/io/image.js';

const SHARED = join(__dirname, '..', '..', 'shared', 'fixtures');
function shared(rel: string): string {
  if (!existsSync(SHARED)) {
    throw new Error(`shared fixtures folder ${SHARED} is missing: these tests need the real photos from ../shared/fixtures (see its README)`);
  }
  return join(SHARED, rel);
}

function synthetic(width: number, height: number, f: (x: number, y: number, c: number) => number): RgbImage {
  const rgb = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) for (let c = 0; c < 3; c++) rgb[(y * width + x) * 3 + c] = f(x, y, c);
  return { width, height, rgb, source: 'synthetic' };
}

/** Interleaved 8-bit RGB back from a normalised batch entry. */
function pixel(b: { shape: number[]; data: Float32Array }, n: number, c: number, y: number, x: number): number {
  const [, C, H, W] = b.shape;
  return b.data[((n * C + c) * H + y) * W + x];
}

describe('decodeImage', () => {
  it('decodes the shared PNG and JPEG photos', () => {
    const png = readImage(shared('images/chelsea.png'));
    expect([png.width, png.height, png.rgb.length]).toEqual([451, 300, 451 * 300 * 3]);
    const jpg = readImage(shared('images/parrot.jpg'));
    expect([jpg.width, jpg.height]).toEqual([512, 929]);
    // libjpeg (PIL) gives channel means 147.63, 130.88, 117.22 and pixel (0,0) = 179,156,125;
    // jpeg-js runs about half a level off on average (different IDCT and chroma upsampling).
    const means = [0, 0, 0];
    for (let i = 0; i < jpg.rgb.length; i++) means[i % 3] += jpg.rgb[i] / (512 * 929);
    [147.63, 130.88, 117.22].forEach((m, c) => expect(Math.abs(means[c] - m)).toBeLessThan(1));
    [179, 156, 125].forEach((v, c) => expect(Math.abs(jpg.rgb[c] - v)).toBeLessThanOrEqual(4));
    // A grayscale PNG comes back as RGB with equal channels.
    const mask = readImage(shared('images/bird_segmentation_mask.png'));
    expect(mask.rgb.length).toBe(513 * 513 * 3);
    expect(mask.rgb.every((v, i) => v === mask.rgb[i - (i % 3)])).toBe(true);
  });

  it('round-trips synthetic PNG (with alpha) and JPEG bytes', () => {
    const png = new PNG({ width: 3, height: 2 });
    for (let i = 0; i < 6; i++) png.data.set([i * 40, 255 - i * 40, 7, i === 0 ? 0 : 255], i * 4);
    const img = decodeImage(new Uint8Array(PNG.sync.write(png)), 'a.png');
    expect([img.width, img.height]).toEqual([3, 2]);
    // Alpha is dropped, not premultiplied.
    expect(Array.from(img.rgb.slice(0, 6))).toEqual([0, 255, 7, 40, 215, 7]);
    const flat = new Uint8Array(16 * 16 * 4).fill(200);
    const jpg = decodeImage(new Uint8Array(jpeg.encode({ width: 16, height: 16, data: flat }, 95).data), 'a.jpg');
    expect(jpg.rgb.every((v) => Math.abs(v - 200) <= 2)).toBe(true);
  });

  it('names the file when it is not an image or is corrupt', () => {
    const dir = mkdtempSync(join(tmpdir(), 'aeq-image-'));
    try {
      const txt = join(dir, 'notes.txt');
      writeFileSync(txt, 'hello, not an image');
      expect(() => readImage(txt)).toThrow(InputError);
      expect(() => readImage(txt)).toThrow(`${txt}: not a PNG or JPEG image`);
      expect(() => decodeImage(new Uint8Array(0), 'empty.png')).toThrow('empty.png: not a PNG or JPEG image');
      const truncated = PNG.sync.write(Object.assign(new PNG({ width: 8, height: 8 }), {})).subarray(0, 40);
      expect(() => decodeImage(truncated, 'cut.png')).toThrow(/^cut\.png: cannot decode PNG image/);
      expect(() => readImage(join(dir, 'missing.png'))).toThrow(`${join(dir, 'missing.png')}: no such file`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('resize', () => {
  it('antialiases when shrinking, with PIL bilinear weights (hand-computed)', () => {
    // Columns 255, 0, 0, 255, 0, 0, ... shrunk 9 → 3: PIL gives 96, 85, 64 (support widened to 3 px).
    const img = synthetic(9, 2, (x) => (x % 3 === 0 ? 255 : 0));
    const out = resizeRgb(img.rgb, 9, 2, 3, 2);
    expect([out[0], out[3], out[6]]).toEqual([96, 85, 64]);
    expect([out[9], out[12], out[15]]).toEqual([96, 85, 64]);
  });

  it('interpolates when enlarging and keeps constants constant', () => {
    // 0 → 255 over 2 px, to 4 px: centres at 0.25, 0.75, 1.25, 1.75 of the input → 0, 64, 191, 255.
    const ramp = synthetic(2, 1, (x) => x * 255);
    expect(Array.from(resizeRgb(ramp.rgb, 2, 1, 4, 1)).filter((_, i) => i % 3 === 0)).toEqual([0, 64, 191, 255]);
    const flat = synthetic(37, 23, () => 77);
    expect(resizeRgb(flat.rgb, 37, 23, 11, 50).every((v) => v === 77)).toBe(true);
  });

  it('matches torchvision Resize(256) + CenterCrop(224) on chelsea.png', () => {
    const b = loadImages([shared('images/chelsea.png')], { preset: 'imagenet', mean: [0, 0, 0], std: [1, 1, 1], scale: 1 });
    expect(b.shape).toEqual([1, 3, 224, 224]);
    expect(b.crops[0]).toEqual({ resizedWidth: 384, resizedHeight: 256, left: 80, top: 16 });
    const plane = 224 * 224;
    [146.4331, 105.7472, 73.7044].forEach((m, c) => {
      let s = 0;
      for (let i = 0; i < plane; i++) s += b.data[c * plane + i];
      expect(Math.abs(s / plane - m)).toBeLessThan(0.01);
    });
    const at = (y: number, x: number) => [0, 1, 2].map((c) => pixel(b, 0, c, y, x));
    for (const [y, x, ref] of [[0, 0, [170, 132, 109]], [100, 17, [133, 83, 45]], [223, 223, [193, 168, 148]]] as const) {
      at(y, x).forEach((v, c) => expect(Math.abs(v - ref[c])).toBeLessThanOrEqual(1));
    }
  });

  it('matches PIL resize((32, 32), BILINEAR) on cat.png exactly (cifar preset geometry)', () => {
    const b = loadImages([shared('images/cat.png')], { preset: 'cifar', mean: [0, 0, 0], std: [1, 1, 1], scale: 1 });
    expect(b.shape).toEqual([1, 3, 32, 32]);
    expect([0, 1, 2].map((c) => pixel(b, 0, c, 0, 0))).toEqual([204, 82, 57]);
    expect([0, 1, 2].map((c) => pixel(b, 0, c, 31, 31))).toEqual([164, 137, 105]);
  });
});

describe('preprocess presets', () => {
  // 4×2 image; pixel (x, y) = (10x + 50y, 200 − 30x, 5 + y).
  const img = synthetic(4, 2, (x, y, c) => [10 * x + 50 * y, 200 - 30 * x, 5 + y][c]);
  const direct = { size: [2, 4] as [number, number], resize: 'direct' as const };

  it('imagenet: RGB / 255, mean (.485 .456 .406), std (.229 .224 .225)', () => {
    const b = preprocess([img], { preset: 'imagenet', ...direct });
    expect(b.shape).toEqual([1, 3, 2, 4]);
    expect(pixel(b, 0, 0, 1, 3)).toBeCloseTo((80 / 255 - 0.485) / 0.229, 6);
    expect(pixel(b, 0, 1, 0, 2)).toBeCloseTo((140 / 255 - 0.456) / 0.224, 6);
    expect(pixel(b, 0, 2, 1, 0)).toBeCloseTo((6 / 255 - 0.406) / 0.225, 6);
  });

  it('caffe-bgr: BGR order, 0–255 minus (104, 117, 123)', () => {
    const b = preprocess([img], { preset: 'caffe-bgr', ...direct });
    expect(pixel(b, 0, 0, 1, 3)).toBeCloseTo(6 - 104, 6); // blue first
    expect(pixel(b, 0, 1, 0, 2)).toBeCloseTo(140 - 117, 6);
    expect(pixel(b, 0, 2, 1, 3)).toBeCloseTo(80 - 123, 6); // red last
  });

  it('inception: x / 127.5 − 1, RGB', () => {
    const b = preprocess([img], { preset: 'inception', ...direct });
    expect(pixel(b, 0, 0, 1, 3)).toBeCloseTo(80 / 127.5 - 1, 6);
    expect(pixel(b, 0, 1, 0, 0)).toBeCloseTo(200 / 127.5 - 1, 6);
  });

  it('cifar: direct 32×32 resize and ImageNet statistics by default', () => {
    const b = preprocess([synthetic(64, 40, () => 128)], { preset: 'cifar' });
    expect(b.shape).toEqual([1, 3, 32, 32]);
    expect(pixel(b, 0, 1, 31, 31)).toBeCloseTo((128 / 255 - 0.456) / 0.224, 6);
    expect(b.crops[0]).toEqual({ resizedWidth: 32, resizedHeight: 32, left: 0, top: 0 });
  });

  it('overrides mean/std/bgr/scale and batches several images, keeping the originals', () => {
    const other = synthetic(4, 2, () => 255);
    const b = preprocess([img, other], { preset: 'imagenet', ...direct, mean: [1, 2, 3], std: [2, 4, 8], bgr: true, scale: 1 });
    expect(b.shape).toEqual([2, 3, 2, 4]);
    expect(pixel(b, 0, 0, 1, 3)).toBeCloseTo((6 - 1) / 2, 6);
    expect(pixel(b, 0, 2, 1, 3)).toBeCloseTo((80 - 3) / 8, 6);
    expect(pixel(b, 1, 1, 0, 0)).toBeCloseTo((255 - 2) / 4, 6);
    expect(b.images[0]).toBe(img);
    expect(b.images[1]).toBe(other);
  });

  it('center-crops the short-side resize (crop geometry like torchvision)', () => {
    // 40×20 with a left/right split: short side 20 → 16/0.8 = 20 (no resize), crop 16×16 from x = 12.
    const b = preprocess([synthetic(40, 20, (x) => (x < 20 ? 0 : 255))], { size: 16, cropRatio: 0.8, mean: [0, 0, 0], std: [1, 1, 1], scale: 1 });
    expect(b.crops[0]).toEqual({ resizedWidth: 40, resizedHeight: 20, left: 12, top: 2 });
    expect(pixel(b, 0, 0, 0, 7)).toBe(0);
    expect(pixel(b, 0, 0, 0, 8)).toBe(255);
  });

  it('rejects bad options clearly', () => {
    expect(() => preprocess([img], { preset: 'nope' as never })).toThrow(OptionError);
    expect(() => preprocess([img], { std: [1, 0, 1] })).toThrow(/std values must be finite and non-zero/);
    expect(() => preprocess([img], { mean: [1, 2] })).toThrow(/exactly 3 values/);
    expect(() => preprocess([], {})).toThrow(InputError);
  });
});
