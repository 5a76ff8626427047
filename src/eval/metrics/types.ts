// Shared shapes of the evaluation metrics: a heatmap with its size, and a ground-truth region given as a
// pixel mask or as boxes. Metrics take maps at the resolution of the ground truth; resizing (TorchRay
// upsamples the saliency map to the image before pointing) is the caller's job, so every metric here
// is exact on the grid it is given.

/** A row-major H×W relevance map. */
export interface Map2D {
  readonly data: Float32Array;
  readonly height: number;
  readonly width: number;
}

/**
 * Half-open pixel ranges: pixel (x, y) is inside when x0 ≤ x < x1 and y0 ≤ y < y1. Fractional
 * coordinates are allowed (a pixel is inside when its index satisfies the inequalities).
 */
export interface Box {
  readonly x0: number;
  readonly y0: number;
  readonly x1: number;
  readonly y1: number;
}

/**
 * The ground truth of one class in one image. Several boxes are the union of all instances of the
 * class, as in TorchRay's VOC/COCO masks; a mask is H×W, nonzero = inside.
 */
export type Region = { readonly mask: Uint8Array } | { readonly boxes: readonly Box[] };

export function map2d(data: Float32Array, height: number, width: number): Map2D {
  if (!(height > 0 && width > 0) || data.length !== height * width) {
    throw new Error(`map2d: ${data.length} values do not make a ${height}×${width} map`);
  }
  return { data, height, width };
}

/** The region as an H×W 0/1 mask. */
export function regionMask(region: Region, height: number, width: number): Uint8Array {
  if ('mask' in region) {
    if (region.mask.length !== height * width) {
      throw new Error(`ground-truth mask has ${region.mask.length} pixels, the map is ${height}×${width}`);
    }
    return region.mask;
  }
  const mask = new Uint8Array(height * width);
  for (const b of region.boxes) {
    const xa = clampInt(Math.ceil(b.x0), width), xb = clampInt(Math.ceil(b.x1), width);
    const ya = clampInt(Math.ceil(b.y0), height), yb = clampInt(Math.ceil(b.y1), height);
    for (let y = ya; y < yb; y++) mask.fill(1, y * width + xa, y * width + Math.max(xa, xb));
  }
  return mask;
}

function clampInt(v: number, hi: number): number {
  return Math.min(hi, Math.max(0, v));
}
