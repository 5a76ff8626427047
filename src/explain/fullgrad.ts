// FullGrad as pytorch-grad-cam's `FullGrad` computes it (baselines.md, "CAM family"): the input
// term |∂y_c/∂x ⊙ x| and, for every layer adding a per-channel bias (ONNX Conv's bias input and
// BatchNormalization, the trait `channelBias`; pytorch-grad-cam: Conv2d and BatchNorm2d), the term
// |∂y_c/∂z ⊙ b| at its output z; every channel plane of every term min-max normalised
// ((v − min)/(1e-7 + max − min), scale_cam_image), summed over channels and brought to the input's
// size (bilinear, half-pixel centres: cv2.resize's INTER_LINEAR, applied there per channel before
// the sum — the same numbers, bilinear resizing being linear), all terms summed, and the sum
// min-max normalised once more per map. All gradients come from one walk (its `collect` set).
import type { Plan } from '../planner/plan.js';
import { traitsOf } from '../ops/table.js';
import type { AttrBackend } from './backend.js';

export interface BiasTerm {
  /** The tensor z whose gradient the bias multiplies (the layer's output). */
  output: string;
  bias: Float32Array;
}

/** The plan's per-channel biases on 4-D outputs, in plan order. */
export function biasTerms(plan: Plan): BiasTerm[] {
  const out: BiasTerm[] = [];
  for (const s of plan.steps) {
    const bias = traitsOf(s.node.opType).channelBias?.(s.node, (t) => plan.consts.get(t));
    const z = s.node.outputs[0];
    if (bias && z && s.outShapes[0].length === 4 && !plan.consts.has(z)) out.push({ output: z, bias });
  }
  return out;
}

/**
 * The (N·T)×1×H×W FullGrad maps from the walk's gradients (at the model input and at each bias
 * term's output; all consumed) and the model input `x` expanded to the backward batch.
 */
export function fullGradMap<T>(be: AttrBackend<T>, grads: Map<string, T>, input: string, x: T, terms: BiasTerm[]): T {
  const gx = grads.get(input)!;
  const [, , h, w] = be.shape(gx);
  let total = be.normalisedSum('input', gx, x);
  be.release(gx);
  for (const t of terms) {
    const gz = grads.get(t.output);
    // A layer the logit does not depend on has no gradient (pytorch-grad-cam's hook never fires).
    if (gz === undefined) continue;
    const b = be.upload(t.bias, [t.bias.length]);
    const sum = be.normalisedSum('bias', gz, b);
    be.release(b);
    be.release(gz);
    const [, , zh, zw] = be.shape(sum);
    let up = sum;
    if (zh !== h || zw !== w) {
      up = be.resizeBilinear(sum, h, w);
      be.release(sum);
    }
    total = be.add(total, up);
  }
  const map = be.normalisedSum('plain', total);
  be.release(total);
  return map;
}
