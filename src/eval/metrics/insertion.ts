// Insertion and deletion curves: does the classifier's evidence sit where the map says?
// - Insertion (paper §5.4): start from a blank image and insert the top 1%, 2%, …, 20% most relevant
//   pixels. A hard 0/1 mask would create sharp pixel-scattered edges the classifier never saw in
//   training (an adversarial-looking input that measures the edges, not the evidence), so the mask is
//   smoothed with a Gaussian (σ in pixels; mass-preserving, see gaussian.ts) before blending:
//   x' = m·x + (1 − m)·baseline. Only up to 20% because beyond that every method recovers the class.
// - Deletion (Petsiuk et al., RISE, BMVC 2018): start from the image and replace the most relevant
//   pixels by the baseline, 0…100%, hard mask by default (σ = 0) as in RISE; a fast drop (low AUC)
//   is good. RISE steps one row of pixels at a time; we default to 5% steps (21 forward passes) since
//   every step is a forward pass on the software GPU.
// The blank image is 0 in the model's input space (the dataset mean after normalisation) unless a
// baseline is given (a constant, one value per channel, or a full C×H×W image, e.g. a blurred copy).
// Ranking ties are broken by pixel index so curves are deterministic; NaN relevance ranks last.
// The AUC is the trapezoid rule over x = fraction of pixels divided by the x span, i.e. the curve's
// mean height, so it reads in the units of the score and is comparable between 1…20% insertion and
// RISE's 0…100% deletion (where the span is 1 and it equals RISE's AUC).
// The classifier is called in batches of N images laid out N×C×H×W and returns one number per image:
// the target's score (probability/logit), or 1/0 for "still correct" under the caller's own rule;
// with `threshold`, accuracy per step is additionally score ≥ threshold (multi-label sigmoid: 0.5).
import { gaussianBlur } from './gaussian.js';
import type { Map2D } from './types.js';

/** One image, C×H×W, in the model's input space. */
export interface Image {
  readonly data: Float32Array;
  readonly channels: number;
  readonly height: number;
  readonly width: number;
}

export type Classifier = (batch: Float32Array, n: number) => Promise<ArrayLike<number>>;

export interface PerturbationOptions {
  /** Fractions of pixels inserted/deleted per step. */
  readonly fractions?: readonly number[];
  /** Gaussian σ (pixels) for the mask; insertion default 5, deletion default 0 (hard mask). */
  readonly sigma?: number;
  /** Blank value: scalar, per channel (length C) or a full C×H×W image. Default 0. */
  readonly baseline?: number | Float32Array;
  /** Images per classifier call. Default 16. */
  readonly batchSize?: number;
  /** Score at or above which the target counts as recognised (accuracy curve). */
  readonly threshold?: number;
}

export interface Curve {
  readonly fractions: number[];
  readonly scores: number[];
  readonly auc: number;
  /** Present when a threshold was given: 1/0 per step (or mean over images after meanCurve). */
  readonly accuracy?: number[];
  readonly accuracyAuc?: number;
}

export const INSERTION_FRACTIONS: readonly number[] = Array.from({ length: 20 }, (_, i) => (i + 1) / 100);
export const DELETION_FRACTIONS: readonly number[] = Array.from({ length: 21 }, (_, i) => i / 20);

/** Pixel indices from most to least relevant (ties by index; NaN last). */
export function rankPixels(map: Map2D): Uint32Array {
  const d = map.data;
  const key = (i: number) => (Number.isNaN(d[i]) ? -Infinity : d[i]);
  return Uint32Array.from({ length: d.length }, (_, i) => i).sort((a, b) => key(b) - key(a) || a - b);
}

/** 0/1 mask of the first k pixels of a ranking. */
export function topMask(order: Uint32Array, k: number): Float32Array {
  const m = new Float32Array(order.length);
  for (let i = 0; i < Math.min(k, order.length); i++) m[order[i]] = 1;
  return m;
}

/** Trapezoid area under y(x), divided by the x span (the mean height); a single point is its own value. */
export function trapezoidAuc(xs: readonly number[], ys: readonly number[]): number {
  if (xs.length !== ys.length || xs.length === 0) throw new Error('trapezoidAuc: need matching, non-empty x and y');
  if (xs.length === 1) return ys[0];
  let a = 0;
  for (let i = 1; i < xs.length; i++) a += ((xs[i] - xs[i - 1]) * (ys[i] + ys[i - 1])) / 2;
  return a / (xs[xs.length - 1] - xs[0]);
}

export function insertionCurve(image: Image, map: Map2D, classify: Classifier, opts: PerturbationOptions = {}): Promise<Curve> {
  const { fractions = INSERTION_FRACTIONS, sigma = 5 } = opts;
  return perturbationCurve(image, map, classify, fractions, (hard) => gaussianBlur(hard, map.height, map.width, sigma), opts);
}

export function deletionCurve(image: Image, map: Map2D, classify: Classifier, opts: PerturbationOptions = {}): Promise<Curve> {
  const { fractions = DELETION_FRACTIONS, sigma = 0 } = opts;
  return perturbationCurve(image, map, classify, fractions, (hard) => {
    const m = gaussianBlur(hard, map.height, map.width, sigma);
    for (let i = 0; i < m.length; i++) m[i] = 1 - m[i];
    return m;
  }, opts);
}

/** `keep(top-k mask)` gives the per-pixel weight of the original image at each step. */
async function perturbationCurve(
  image: Image, map: Map2D, classify: Classifier, fractions: readonly number[],
  keep: (hard: Float32Array) => Float32Array, opts: PerturbationOptions,
): Promise<Curve> {
  const { channels: C, height: H, width: W } = image;
  if (map.height !== H || map.width !== W) throw new Error(`perturbation curve: map ${map.height}×${map.width} vs image ${H}×${W}`);
  if (image.data.length !== C * H * W) throw new Error(`perturbation curve: image data is not ${C}×${H}×${W}`);
  const base = baselineOf(opts.baseline ?? 0, C, H * W);
  const batchSize = Math.max(1, opts.batchSize ?? 16);
  const order = rankPixels(map);
  const n = H * W, chw = C * n;
  const scores: number[] = [];
  for (let s = 0; s < fractions.length; s += batchSize) {
    const chunk = fractions.slice(s, s + batchSize);
    const batch = new Float32Array(chunk.length * chw);
    chunk.forEach((f, b) => {
      const m = keep(topMask(order, Math.round(f * n)));
      for (let c = 0; c < C; c++) {
        const src = c * n, dst = b * chw + c * n;
        for (let i = 0; i < n; i++) batch[dst + i] = m[i] * image.data[src + i] + (1 - m[i]) * base(c, i);
      }
    });
    const out = await classify(batch, chunk.length);
    if (out.length < chunk.length) throw new Error(`classifier returned ${out.length} scores for ${chunk.length} images`);
    for (let b = 0; b < chunk.length; b++) scores.push(Number(out[b]));
  }
  return curveOf([...fractions], scores, opts.threshold === undefined ? undefined : scores.map((v) => (v >= opts.threshold! ? 1 : 0)));
}

function baselineOf(b: number | Float32Array, C: number, n: number): (c: number, i: number) => number {
  if (typeof b === 'number') return () => b;
  if (b.length === C) return (c) => b[c];
  if (b.length === C * n) return (c, i) => b[c * n + i];
  throw new Error(`baseline has ${b.length} values: want 1, ${C} (per channel) or ${C * n} (an image)`);
}

function curveOf(fractions: number[], scores: number[], accuracy?: number[]): Curve {
  return {
    fractions, scores, auc: trapezoidAuc(fractions, scores),
    ...(accuracy ? { accuracy, accuracyAuc: trapezoidAuc(fractions, accuracy) } : {}),
  };
}

/** Pointwise mean of curves over the same steps (its AUC is the mean of the AUCs). */
export function meanCurve(curves: readonly Curve[]): Curve {
  if (!curves.length) throw new Error('meanCurve: no curves');
  const xs = curves[0].fractions;
  for (const c of curves) {
    if (c.fractions.length !== xs.length || c.fractions.some((f, i) => f !== xs[i])) throw new Error('meanCurve: curves have different steps');
  }
  const mean = (pick: (c: Curve) => number[]) => xs.map((_, i) => curves.reduce((a, c) => a + pick(c)[i], 0) / curves.length);
  const withAcc = curves.every((c) => c.accuracy);
  return curveOf([...xs], mean((c) => c.scores), withAcc ? mean((c) => c.accuracy!) : undefined);
}
