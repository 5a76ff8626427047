// Model-parameter randomisation test (Adebayo et al., "Sanity checks for saliency maps", NeurIPS 2018):
// maps computed after randomising the weights from the top layer down, cumulatively, are compared with
// the original map; a method that explains the model must change (similarity falling towards 0).
// As in the paper we report each similarity with and without absolute values: the signed form sees a
// sign flip as a change, the absolute form asks whether the same pixels still matter at all.
// - Spearman rank correlation: Pearson correlation of the ranks, ties given their average rank (the
//   standard tie correction, scipy.stats.spearmanr's); undefined (NaN) when a map is constant.
// - SSIM (Wang, Bovik, Sheikh, Simoncelli 2004): 11×11 Gaussian window, σ = 1.5, K1 = 0.01, K2 = 0.03,
//   dynamic range L = 1, averaged over the windows that fit inside the map (Wang's 'valid' filtering,
//   which is what skimage's gaussian_weights mode crops to as well), population (weighted) variances.
//   Each map is first min–max normalised to [0, 1] on its own ((R − min)/(max − min), a constant map
//   becomes all 0), so SSIM compares structure, not the arbitrary scale of the relevance; the absolute
//   variant normalises |R| the same way.
import { gaussianKernel } from './gaussian.js';
import type { Map2D } from './types.js';

/** 1-based ranks, ties sharing their average rank (values must be finite: NaN has no order). */
export function averageRanks(values: ArrayLike<number>): Float64Array {
  const n = values.length;
  const order = Uint32Array.from({ length: n }, (_, i) => i).sort((a, b) => values[a] - values[b]);
  const ranks = new Float64Array(n);
  for (let i = 0; i < n;) {
    let j = i;
    while (j + 1 < n && values[order[j + 1]] === values[order[i]]) j++;
    const r = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) ranks[order[k]] = r;
    i = j + 1;
  }
  return ranks;
}

export function pearson(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`correlation of ${a.length} vs ${b.length} values`);
  const n = a.length;
  let ma = 0, mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a[i];
    mb += b[i];
  }
  ma /= n;
  mb /= n;
  let sab = 0, saa = 0, sbb = 0;
  for (let i = 0; i < n; i++) {
    const da = a[i] - ma, db = b[i] - mb;
    sab += da * db;
    saa += da * da;
    sbb += db * db;
  }
  return saa > 0 && sbb > 0 ? sab / Math.sqrt(saa * sbb) : NaN;
}

export function spearman(a: ArrayLike<number>, b: ArrayLike<number>): number {
  return pearson(averageRanks(a), averageRanks(b));
}

/** (R − min)/(max − min), or |R| normalised the same way; a constant map becomes all 0. */
export function normaliseMinMax(map: Map2D, abs = false): Map2D {
  const d = abs ? map.data.map(Math.abs) : map.data;
  let lo = Infinity, hi = -Infinity;
  for (const v of d) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  const data = hi > lo ? d.map((v) => (v - lo) / (hi - lo)) : new Float32Array(d.length);
  return { data, height: map.height, width: map.width };
}

export interface SsimOptions {
  readonly window?: number;
  readonly sigma?: number;
  readonly k1?: number;
  readonly k2?: number;
  readonly dataRange?: number;
}

/** Mean SSIM of two maps already on a common scale (see normaliseMinMax). */
export function ssim(a: Map2D, b: Map2D, opts: SsimOptions = {}): number {
  const { window = 11, sigma = 1.5, k1 = 0.01, k2 = 0.03, dataRange = 1 } = opts;
  const { height: H, width: W } = a;
  if (b.height !== H || b.width !== W) throw new Error(`SSIM of ${H}×${W} vs ${b.height}×${b.width} maps`);
  if (H < window || W < window) throw new Error(`SSIM needs maps of at least ${window}×${window}, got ${H}×${W}`);
  const k = gaussianKernel(sigma, (window - 1) >> 1);
  const c1 = (k1 * dataRange) ** 2, c2 = (k2 * dataRange) ** 2;
  const x = a.data, y = b.data;
  const planes = [x, y, x.map((v) => v * v), y.map((v) => v * v), x.map((v, i) => v * y[i])];
  const [mx, my, exx, eyy, exy] = planes.map((p) => validFilter(p, H, W, k));
  let sum = 0;
  for (let i = 0; i < mx.length; i++) {
    const vx = exx[i] - mx[i] * mx[i], vy = eyy[i] - my[i] * my[i], cxy = exy[i] - mx[i] * my[i];
    sum += ((2 * mx[i] * my[i] + c1) * (2 * cxy + c2)) / ((mx[i] ** 2 + my[i] ** 2 + c1) * (vx + vy + c2));
  }
  return sum / mx.length;
}

/** Separable correlation with k over the positions where the whole window fits. */
function validFilter(p: ArrayLike<number>, H: number, W: number, k: Float64Array): Float64Array {
  const n = k.length, oh = H - n + 1, ow = W - n + 1;
  const tmp = new Float64Array(H * ow), out = new Float64Array(oh * ow);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < ow; x++) {
      let s = 0;
      for (let t = 0; t < n; t++) s += k[t] * p[y * W + x + t];
      tmp[y * ow + x] = s;
    }
  }
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      let s = 0;
      for (let t = 0; t < n; t++) s += k[t] * tmp[(y + t) * ow + x];
      out[y * ow + x] = s;
    }
  }
  return out;
}

export interface SanityStep {
  /** Number of randomised layers (1 = top layer only). */
  readonly step: number;
  readonly spearman: number;
  readonly spearmanAbs: number;
  readonly ssim: number;
  readonly ssimAbs: number;
}

/** maps[0] is the original; maps[i] after randomising the top i layers. One row per i ≥ 1. */
export function sanityCheck(maps: readonly Map2D[], opts: SsimOptions = {}): SanityStep[] {
  if (maps.length < 2) throw new Error('sanity check: need the original map and at least one randomised map');
  const [orig] = maps;
  const absOrig = orig.data.map(Math.abs);
  const n0 = normaliseMinMax(orig), n0abs = normaliseMinMax(orig, true);
  return maps.slice(1).map((m, i) => ({
    step: i + 1,
    spearman: spearman(orig.data, m.data),
    spearmanAbs: spearman(absOrig, m.data.map(Math.abs)),
    ssim: ssim(n0, normaliseMinMax(m), opts),
    ssimAbs: ssim(n0abs, normaliseMinMax(m, true), opts),
  }));
}
