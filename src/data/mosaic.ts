// GridPG mosaics: single-object images of distinct classes tiled into a grid. Each cell holds
// exactly one class, so an attribution map for class c should put its mass in c's cell. Cells are
// rendered directly as one-object scenes at cell size (no crop-and-resize, so their masks stay
// exact) with large objects.
import { CLASSES, CLASS_NAMES } from './classes.js';
import { hashInts, mulberry32, shuffled } from '../rng.js';
import { type AnnotatedImage, type AnnotatedObject, DIFFICULT_AREA, renderScene, type Scene, type Size, resolveSize } from './scene.js';
import { OptionError } from '../errors.js';

export interface GridInfo {
  rows: number;
  cols: number;
  /** Class index per cell, row-major. */
  cells: number[];
}

export interface Mosaic extends AnnotatedImage {
  grid: GridInfo;
  /** The cell images, row-major. */
  parts: Scene[];
}

/** One object of class `cls`, large in the frame: a "single-object crop" for mosaics. */
export function renderSingle(seed: number, size: Size, cls: number, watermarkRate = 0): Scene {
  return renderScene(seed, size, { classes: [cls], area: [0.15, 0.35], watermarkRate });
}

/** Tile single-class images (all the same size, classes pairwise distinct) row-major into a grid. */
export function buildMosaic(parts: Scene[], rows = 2, cols = 2): Mosaic {
  if (parts.length !== rows * cols) throw new OptionError(`a ${rows}×${cols} mosaic needs ${rows * cols} images, got ${parts.length}`);
  const cw = parts[0].width, ch = parts[0].height;
  parts.forEach((p, k) => {
    if (p.width !== cw || p.height !== ch) throw new OptionError(`mosaic cell ${k} is ${p.width}×${p.height}, cell 0 is ${cw}×${ch}`);
    if (p.labels.length !== 1) throw new OptionError(`mosaic cell ${k} must show exactly one class, it has ${p.labels.length} (${p.labels.map((c) => CLASS_NAMES[c]).join(', ')})`);
  });
  const cells = parts.map((p) => p.labels[0]);
  if (new Set(cells).size !== cells.length) throw new OptionError(`mosaic cells need distinct classes, got ${cells.map((c) => CLASS_NAMES[c]).join(', ')}`);
  const W = cw * cols, H = ch * rows;
  const rgb = new Uint8Array(W * H * 3), mask = new Uint8Array(W * H);
  const objects: AnnotatedObject[] = [];
  parts.forEach((p, k) => {
    const ox = (k % cols) * cw, oy = Math.floor(k / cols) * ch;
    const base = objects.length;
    if (base + p.objects.length > 255) throw new OptionError('mosaic has more than 255 objects (8-bit masks)');
    for (let y = 0; y < ch; y++) {
      rgb.set(p.rgb.subarray(y * cw * 3, (y + 1) * cw * 3), ((oy + y) * W + ox) * 3);
      for (let x = 0; x < cw; x++) {
        const v = p.mask[y * cw + x];
        if (v) mask[(oy + y) * W + ox + x] = base + v;
      }
    }
    for (const o of p.objects) {
      const area = o.pixels / (W * H);
      objects.push({
        class: o.class,
        className: o.className,
        box: [o.box[0] + ox, o.box[1] + oy, o.box[2] + ox, o.box[3] + oy],
        pixels: o.pixels,
        area,
        difficult: area < DIFFICULT_AREA,
        maskValue: base + o.maskValue,
      });
    }
  });
  return {
    width: W,
    height: H,
    rgb,
    mask,
    objects,
    labels: [...cells].sort((a, b) => a - b),
    watermark: parts.some((p) => p.watermark),
    grid: { rows, cols, cells },
    parts,
  };
}

/** A 2×2 mosaic of four distinct random classes; `cellSize` 112 makes a 224×224 image. */
export function renderMosaic(seed: number, cellSize: Size = 112, classes?: number[]): Mosaic {
  resolveSize(cellSize);
  const chosen = classes ?? shuffled(mulberry32(seed), CLASSES.map((_, i) => i)).slice(0, 4);
  return buildMosaic(chosen.map((c, k) => renderSingle(hashInts(seed, k), cellSize, c)));
}
