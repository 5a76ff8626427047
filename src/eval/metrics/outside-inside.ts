// Outside–inside relevance ratio (Lapuschkin, Binder, Montavon, Müller, Samek, "Analyzing classifiers:
// Fisher vectors and deep neural networks", CVPR 2016): μ = mean relevance outside the object / mean
// relevance inside; lower is better (relevance concentrated on the object).
// The ratio of means only makes sense for non-negative scores (a negative inside mean flips its
// meaning), hence the paper's normalisation to positive values. We use, per map, the min-shift
// R' = (R − min R) / (max R − min R) ∈ [0, 1]; the ratio is invariant to the scale, so only the shift
// matters: the least relevant pixel of the map is the zero of the scale. Alternatives, for comparison:
// 'abs' (|R|, treats negative evidence as relevance) and 'positive' (max(R, 0), drops it).
// Edge cases: a constant map has equal means everywhere (before any shift), so its ratio is 1; an empty
// inside or outside leaves the ratio undefined → NaN (ClassMeans skips it); an inside mean of 0 with
// some relevance outside is +Infinity, reported as such.
import { regionMask, type Map2D, type Region } from './types.js';

export type PositiveNormalisation = 'minmax' | 'abs' | 'positive';

export function outsideInsideRatio(map: Map2D, region: Region, normalisation: PositiveNormalisation = 'minmax'): number {
  const mask = regionMask(region, map.height, map.width);
  const d = map.data;
  let lo = Infinity, hi = -Infinity;
  for (const v of d) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  const flat = hi === lo;
  const f = normalisation === 'abs' ? Math.abs
    : normalisation === 'positive' ? (v: number) => Math.max(v, 0)
    : flat ? () => 1
    : (v: number) => (v - lo) / (hi - lo);
  let sIn = 0, nIn = 0, sOut = 0, nOut = 0;
  for (let i = 0; i < d.length; i++) {
    if (mask[i]) {
      nIn++;
      sIn += f(d[i]);
    } else {
      nOut++;
      sOut += f(d[i]);
    }
  }
  if (nIn === 0 || nOut === 0) return NaN;
  const mIn = sIn / nIn, mOut = sOut / nOut;
  if (mIn === 0) return mOut === 0 ? 1 : Infinity;
  return mOut / mIn;
}
