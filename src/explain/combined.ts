// How the gradient family's combined methods (input × gradient, IG, SmoothGrad) split their N·K
// samples (K per input, consecutive) × T targets into calls of one pass each, so that the mean over
// the K samples runs on the backend (batch.ts, Combine) and only attribution rows are read back.
// A call holds whole groups of `kk` consecutive samples (kk divides K): when all K samples of an
// input fit one pass, kk = K and a row is the final attribution; when they do not, each input gets
// K/kk partial rows, averaged on the host (mergeRows): the one case where the host touches more
// than the result.

export interface CombinedLayout {
  /** Samples averaged per row on the backend (a divisor of K). */
  kk: number;
  /** Samples per call (a multiple of kk; the model's batch when it is fixed). */
  size: number;
  /** Targets per call (all T unless one sample's T targets exceed a pass). */
  tg: number;
  /** The model has a fixed batch: every call is padded to `size`. */
  fixed: boolean;
}

/** The largest divisor of k that is at most `cap` and divides `also` (when given). */
function divisorUpTo(k: number, cap: number, also?: number): number {
  for (let d = Math.min(k, cap); d > 1; d--) if (k % d === 0 && (also === undefined || also % d === 0)) return d;
  return 1;
}

/**
 * The layout for m = N·K samples × t targets: `fit` backward samples (input × target) per pass
 * (Infinity on the CPU), `memory(tg)` samples per call that the memory budget allows with tg
 * targets, `fixedBatch` the model's batch if fixed, `whole` for the diagnostics (forward values
 * given, trace), which run in one call unless the batch is fixed.
 */
export function combinedLayout(
  m: number, k: number, t: number, fit: number, memory: (tg: number) => number, fixedBatch: number | undefined, whole: boolean,
): CombinedLayout {
  // A fixed batch binds even the diagnostics (their trace is then the first call's).
  if (fixedBatch !== undefined) return { kk: divisorUpTo(k, fixedBatch, fixedBatch), size: fixedBatch, tg: whole ? t : Math.min(t, Math.max(1, fit)), fixed: true };
  if (whole) return { kk: k, size: m, tg: t, fixed: false };
  const tg = t <= fit ? t : Math.max(1, fit);
  const cap = Math.max(1, Math.min(tg < t ? 1 : Math.floor(fit / t), memory(tg), m));
  const kk = divisorUpTo(k, cap);
  return { kk, size: Math.floor(cap / kk) * kk, tg, fixed: false };
}

/**
 * The final N·T attribution rows from `rows` partial rows per input, ordered ((n·rows + r)·T + j):
 * their mean (each partial row is a mean over the same number of samples).
 */
export function mergeRows(partial: Float32Array, n: number, rows: number, t: number, per: number): Float32Array {
  if (rows === 1) return partial;
  const out = new Float32Array(n * t * per);
  const acc = new Float64Array(per);
  for (let s = 0; s < n; s++) {
    for (let j = 0; j < t; j++) {
      acc.fill(0);
      for (let r = 0; r < rows; r++) {
        const o = ((s * rows + r) * t + j) * per;
        for (let i = 0; i < per; i++) acc[i] += partial[o + i];
      }
      for (let i = 0; i < per; i++) out[(s * t + j) * per + i] = acc[i] / rows;
    }
  }
  return out;
}

