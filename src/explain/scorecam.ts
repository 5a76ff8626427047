// Score-CAM (baselines.md, "CAM family"; reference pytorch-grad-cam's `ScoreCAM`), one pass of N
// inputs × T targets on either backend. The layer's K channel maps of each input become K masks
// (upsampled to the input's size with align_corners = true, min-max normalised) and K masked
// inputs x ⊙ mask_k, built on the backend and run forward in batches of `chunk`. Masks depend on
// the input only, so one set of forwards serves all T targets: each reads its own class's column
// of the same logits. The channel weights (a softmax over K numbers per target) are formed on the
// host in float64, the same on both backends; the map ReLU(Σ_k w_k A_k) on the backend.
//
// score 'logit' (pytorch-grad-cam): s_k = y_c(x ⊙ mask_k), w = softmax_k(s).
// score 'softmax-gain' (the paper's Increase of Confidence, Wang et al. 2020, eqs. 6–7):
//   w_k = p_c(x ⊙ mask_k) − p_c(0), p = softmax over the classes of the logits, 0 the all-zero
//   input. No softmax over k here: it is shift-invariant and would cancel the baseline term.
import type { Plan } from '../planner/plan.js';
import type { CpuTensor } from '../ops/op.js';
import type { PassBackend } from './passes.js';
import type { ScoreMode } from './cam.js';
import { resolveTargets, type Target } from './targets.js';
import { toExplanation, type Explanation } from './explanation.js';

export interface ScoreCamRequest {
  plan: Plan;
  inputName: string;
  input: CpuTensor;
  layer: string;
  logit: string;
  target: Target;
  score: ScoreMode;
  /** Masked inputs per forward pass. */
  chunk: number;
  /** Every pass holds exactly `chunk` inputs (a model with a fixed batch): the last is padded. */
  fixed: boolean;
  /** The plan for a forward pass of m inputs. */
  planFor(m: number): Plan;
}

/** softmax(row)[c] in float64. */
function probability(row: Float32Array, c: number): number {
  let mx = -Infinity;
  for (const v of row) mx = Math.max(mx, v);
  let z = 0;
  for (const v of row) z += Math.exp(v - mx);
  return Math.exp(row[c] - mx) / z;
}

/** The K channel weights of class c from the K masked inputs' logits (K × classes). */
export function channelWeights(logits: Float32Array, classes: number, c: number, score: ScoreMode, baseline?: number): Float32Array {
  const k = logits.length / classes;
  const row = (j: number) => logits.subarray(j * classes, (j + 1) * classes);
  const out = new Float32Array(k);
  if (score === 'softmax-gain') {
    for (let j = 0; j < k; j++) out[j] = probability(row(j), c) - baseline!;
    return out;
  }
  let mx = -Infinity;
  for (let j = 0; j < k; j++) mx = Math.max(mx, logits[j * classes + c]);
  let z = 0;
  for (let j = 0; j < k; j++) z += Math.exp(logits[j * classes + c] - mx);
  for (let j = 0; j < k; j++) out[j] = Math.exp(logits[j * classes + c] - mx) / z;
  return out;
}

export async function scoreCamBatch<T>(passes: PassBackend<T>, req: ScoreCamRequest): Promise<Explanation> {
  const { plan, inputName, input, layer, logit, chunk } = req;
  const be = passes.attr;
  const fwd = passes.forward({ plan, inputName, input, keep: new Set([layer, logit]) });
  const held: T[] = [];
  const hold = (v: T): T => (held.push(v), v);
  try {
    const logits = await be.read(fwd.value(logit));
    const targets = resolveTargets(req.target, logits);
    const a = fwd.value(layer);
    const [n, k] = be.shape(a);
    const [, ch, hh, ww] = input.shape;
    const t = targets[0].length;
    const classes = logits.data.length / n;
    const x = hold(be.upload(input.data, input.shape));
    const minmax = hold(be.upsampledMinMax(a, hh, ww));
    const logitsOfBatch = async (batch: T, m: number) => passes.logitsOf(req.planFor(m), inputName, batch, logit);
    let p0: Float32Array | undefined;
    if (req.score === 'softmax-gain') {
      const m = req.fixed ? chunk : 1;
      const zero = hold(be.upload(new Float32Array(m * ch * hh * ww), [m, ch, hh, ww]));
      p0 = (await logitsOfBatch(zero, m)).data.subarray(0, classes);
    }
    const weights = new Float32Array(n * t * k);
    const rows = new Float32Array(k * classes);
    for (let img = 0; img < n; img++) {
      for (let k0 = 0; k0 < k; k0 += chunk) {
        const real = Math.min(chunk, k - k0);
        const m = req.fixed ? chunk : real;
        const masked = be.maskedInputs(a, x, minmax, { img, k0, m, klast: k - 1 });
        try {
          rows.set((await logitsOfBatch(masked, m)).data.subarray(0, real * classes), k0 * classes);
        } finally {
          be.release(masked);
        }
      }
      targets[img].forEach((c, j) => {
        weights.set(channelWeights(rows, classes, c, req.score, p0 && probability(p0, c)), (img * t + j) * k);
      });
    }
    const w = hold(be.upload(weights, [n * t, k]));
    const at = t === 1 ? a : hold(be.expand(a, t));
    const cam = hold(be.cam(at, w));
    const heat = hold(be.resizeBilinear(cam, hh, ww));
    return toExplanation('scorecam', logits, targets, layer, await be.read(heat), undefined, await be.read(cam), { shape: [n * t, k], data: weights });
  } finally {
    for (const v of held) be.release(v);
    fwd.release();
  }
}
