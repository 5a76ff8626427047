// Convolutions under LRP (Zennit's composites) and excitation backprop (TorchRay): the
// modified-gradient rules of shared/modified.ts over the conv family's forward and transposed
// launches. Each composite maps (Conv, first convolution or not) to a rule.
import type { CpuTensor } from '../op.js';
import { Gpu, type GpuTensor } from '../../kernels/gpu/runtime.js';
import { convForwardCpu, convForwardGpu, type ConvParams } from './forward.js';
import { convInputGradCpu, convInputGradGpu } from './input-grad.js';
import { boundsCpu } from './rules.js';
import { SMALL, smallPipe } from './backward.js';
import { numel } from '../../graph/tensor.js';
import type { RuleCtx, RuleTable } from '../rule.js';
import {
  EXCITATION, EXCITATION_NEGATED, FLAT, ZBOX, ZPLUS, alphaBeta, gamma, modifiedRule,
  type Bounds, type LinearLayer, type ModifiedRule,
} from '../shared/modified.js';
import { choose, firstOr } from '../shared/choose.js';
import { COMPOSITES, composites, type Composite } from '../shared/composites.js';

const convLayer: LinearLayer<ConvParams> = {
  plan(ctx, r) {
    const p: ConvParams = { ...(ctx.step.params as ConvParams), n: r[0] };
    return { p, xShape: ctx.plan.shapes.get(ctx.step.inputs[0]!)!.map((d, i) => (i === 0 ? r[0] : d)) };
  },
  forwardCpu: (p, x, w, b) => convForwardCpu(p, x, w, b),
  transposeCpu: (p, s, w) => convInputGradCpu(p, s, w),
  forwardGpu: (g, p, x, w, b, out) => convForwardGpu(g, p, x, w, out, b),
  transposeGpu: (g, p, s, w, out) => convInputGradGpu(g, p, s, w, out),
};

/**
 * ZBox's bounds per backward sample: the options' low and high, else the model input's own minimum
 * and maximum over C, H, W (as AE's zB rule).
 */
const BOUNDS: Bounds = {
  cpu(ctx: RuleCtx<CpuTensor>) {
    const { low, high } = ctx.lrp ?? {};
    const m = ctx.modelInput();
    const own = low === undefined || high === undefined ? boundsCpu(m) : undefined;
    const data = new Float32Array(2 * m.shape[0]);
    for (let n = 0; n < m.shape[0]; n++) {
      data[2 * n] = low ?? own!.lo[n];
      data[2 * n + 1] = high ?? own!.hi[n];
    }
    return { shape: [m.shape[0], 2], data };
  },
  gpu(g: Gpu, ctx: RuleCtx<GpuTensor>) {
    const { low, high } = ctx.lrp ?? {};
    const m = ctx.modelInput();
    const n = m.shape[0];
    if (low !== undefined && high !== undefined) {
      return g.upload(Float32Array.from({ length: 2 * n }, (_, i) => (i % 2 ? high : low)), [n, 2], 'lrp.bounds');
    }
    const bounds = g.alloc([n, 2], 'lrp.bounds');
    g.dispatch(smallPipe(g, 'minmax'), SMALL.pack({ total: n, per: numel(m.shape) / n }), [m.buffer, bounds.buffer], [n]);
    return bounds;
  },
};

const rule = (r: ModifiedRule) => modifiedRule(r, convLayer, BOUNDS);

/** Each composite's rule for the first convolution (reading the model input) and for the others. */
export const CONV_LRP: Record<Composite, { first: ModifiedRule; rest: ModifiedRule }> = {
  'epsilon-plus': { first: ZPLUS, rest: ZPLUS },
  'epsilon-plus-flat': { first: FLAT, rest: ZPLUS },
  'epsilon-gamma-box': { first: ZBOX, rest: gamma(0.25) },
  'epsilon-alpha2-beta1': { first: alphaBeta(2, 1), rest: alphaBeta(2, 1) },
};

export const lrp = composites<RuleTable>({}, Object.fromEntries(COMPOSITES.map((c) => {
  const { first, rest } = CONV_LRP[c];
  return [c, { Conv: first === rest ? rule(rest) : firstOr(rule(first), rule(rest)) }];
})));

const excitation = rule(EXCITATION), negated = rule(EXCITATION_NEGATED);
export const eb: RuleTable = { Conv: choose((ctx) => (ctx.negated ? negated : excitation)) };
