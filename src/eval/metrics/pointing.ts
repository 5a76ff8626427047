// Pointing game (Zhang et al., "Top-down neural attention by excitation backprop", ECCV 2016), with
// TorchRay's protocol (torchray/benchmark/pointing_game.py):
// - the point is the heatmap's maximum; ties go to the FIRST maximum in row-major order, which is what
//   TorchRay's `torch.argmax` over the flattened map returns, so a flat map points at the top-left
//   pixel (and a method cannot score by being flat);
// - a hit when any ground-truth pixel lies strictly closer than `tolerance` pixels to the point
//   (TorchRay's `(du² + dv²) < tolerance²`, default tolerance 15); with tolerance 0 TorchRay would never
//   hit, so here 0 means "the point itself is inside the region";
// - accuracy = hits / (hits + misses) per class, then the mean over classes (see ClassMeans).
// The settings of the paper: `L` scores every ground-truth label of the image, `P` only the ground-truth
// labels the model also predicts (a predicted label absent from the image has no region to point at and
// is not scored, as in Zhang et al., where only present classes are tested). The `difficult` subset
// (object of the class under 1/4 of the image, with a distractor class) is a flag the caller sets per
// (image, class), like TorchRay's per-image/per-class difficult table.
// `PR` is the mean, over the scored maps, of the fraction of pixels with relevance > 0.
import { ClassMeans, type ClassStat } from './aggregate.js';
import { regionMask, type Map2D, type Region } from './types.js';

export interface Point {
  readonly x: number;
  readonly y: number;
}

/** The first maximum in row-major order; NaN values never win. */
export function argmaxPoint(map: Map2D): Point {
  let best = -Infinity, at = 0;
  const d = map.data;
  for (let i = 0; i < d.length; i++) {
    if (d[i] > best) {
      best = d[i];
      at = i;
    }
  }
  return { x: at % map.width, y: Math.floor(at / map.width) };
}

/** TorchRay's acceptance test: a region pixel strictly within `tolerance` of the point. */
export function pointHits(mask: Uint8Array, height: number, width: number, p: Point, tolerance = 0): boolean {
  if (tolerance <= 0) return mask[p.y * width + p.x] !== 0;
  const r = Math.ceil(tolerance), t2 = tolerance * tolerance;
  for (let y = Math.max(0, p.y - r); y <= Math.min(height - 1, p.y + r); y++) {
    const dy2 = (y - p.y) ** 2;
    for (let x = Math.max(0, p.x - r); x <= Math.min(width - 1, p.x + r); x++) {
      if (dy2 + (x - p.x) ** 2 < t2 && mask[y * width + x]) return true;
    }
  }
  return false;
}

/** One map's pointing result: does its maximum hit the region (within `tolerance` pixels)? */
export function pointingHit(map: Map2D, region: Region, tolerance = 0): boolean {
  return pointHits(regionMask(region, map.height, map.width), map.height, map.width, argmaxPoint(map), tolerance);
}

/** `PR`: fraction of pixels with strictly positive relevance. */
export function positiveFraction(map: Map2D): number {
  let n = 0;
  for (const v of map.data) if (v > 0) n++;
  return n / map.data.length;
}

export interface PointingTarget {
  /** A ground-truth label of the image. */
  readonly label: number;
  /** The attribution map for that label. */
  readonly map: Map2D;
  readonly region: Region;
  /** In the difficult subset (object under 1/4 of the image area, distractor present). */
  readonly difficult?: boolean;
}

export interface PointingImage {
  /** One entry per ground-truth label present in the image. */
  readonly targets: readonly PointingTarget[];
  /** Labels the model predicts for the image; needed for setting `P`. */
  readonly predicted?: Iterable<number>;
}

export type PointingSetting = 'L' | 'P';
export type PointingSubset = 'full' | 'difficult';

export interface PointingSummary {
  readonly setting: PointingSetting;
  readonly subset: PointingSubset;
  readonly tolerance: number;
  /** Mean over classes of the per-class hit rate. */
  readonly accuracy: number;
  readonly perClass: ClassStat[];
  /** Mean fraction of positively attributed pixels over the scored maps. */
  readonly pr: number;
  /** Number of scored (image, label) pairs. */
  readonly trials: number;
}

interface Trial {
  label: number;
  predicted: boolean | undefined;
  difficult: boolean;
  hits: boolean[];
  pr: number;
}

/**
 * Accumulates outcomes image by image (maps are not kept, so a whole data set fits in memory) for every
 * tolerance at once; `summary` then reads any setting × subset × tolerance.
 */
export class PointingGame {
  private readonly trials: Trial[] = [];

  constructor(readonly tolerances: readonly number[] = [0, 15]) {}

  add(image: PointingImage): void {
    const predicted = image.predicted ? new Set(image.predicted) : undefined;
    for (const t of image.targets) {
      const { height, width } = t.map;
      const mask = regionMask(t.region, height, width);
      const p = argmaxPoint(t.map);
      this.trials.push({
        label: t.label,
        predicted: predicted ? predicted.has(t.label) : undefined,
        difficult: t.difficult ?? false,
        hits: this.tolerances.map((tol) => pointHits(mask, height, width, p, tol)),
        pr: positiveFraction(t.map),
      });
    }
  }

  summary(setting: PointingSetting, subset: PointingSubset, tolerance: number): PointingSummary {
    const k = this.tolerances.indexOf(tolerance);
    if (k < 0) throw new Error(`pointing game: tolerance ${tolerance} not recorded (have ${this.tolerances.join(', ')})`);
    const acc = new ClassMeans();
    let pr = 0, n = 0;
    for (const t of this.trials) {
      if (subset === 'difficult' && !t.difficult) continue;
      if (setting === 'P') {
        if (t.predicted === undefined) throw new Error('pointing game: setting P needs the predicted labels of every image');
        if (!t.predicted) continue;
      }
      acc.add(t.label, t.hits[k] ? 1 : 0);
      pr += t.pr;
      n++;
    }
    return {
      setting, subset, tolerance,
      accuracy: acc.meanOverClasses(),
      perClass: acc.perClass(),
      pr: n ? pr / n : NaN,
      trials: n,
    };
  }
}
