// Modified-gradient rules for layers with weights (Conv, Gemm), as data: Zennit's BasicHook. A rule
// is a list of terms, each a pair (input modifier, parameter modifier) run through the layer
// forward, summed with signs into one denominator per group; the relevance divided by it (stabilised,
// optionally masked) goes back through the layer's transpose with each term's weights and is
// multiplied by the term's modified input. The layer supplies the forward and transposed launches
// (LinearLayer), so one engine serves every family and both backends.
import type { CpuTensor } from '../op.js';
import type { Gpu, GpuTensor } from '../../kernels/gpu/runtime.js';
import type { Shape } from '../../graph/tensor.js';
import type { Rule, RuleCtx } from '../rule.js';
import { cpuLrp, gpuLrp, type InputMod, type Mask, type ParamMod, type Stab } from './lrp-kernels.js';
import { fail } from './signal.js';

export interface Term {
  input: InputMod;
  weight: ParamMod;
  /** The bias's modifier; none: the term has no bias (Zennit's zero_params='bias'). */
  bias?: ParamMod;
  /** Which denominator the term's output joins, with which sign. */
  group: number;
  sign: number;
  /** Its factor in R_in (AlphaBeta's α and −β, ZBox's −1). */
  coef: number;
}

export interface ModifiedRule {
  name: string;
  terms: Term[];
  /** Per group: keep the quotient only where the layer's own output is positive / negative (Gamma). */
  masks: Mask[];
  stab: Stab;
}

// ---------------------------------------------------------------- the rules (Zennit 0.5 / TorchRay)

const ID: ParamMod = { cw: 1, cp: 0, cn: 0, c1: 0 };
const POS: ParamMod = { cw: 0, cp: 1, cn: 0, c1: 0 };
const NEG: ParamMod = { cw: 0, cp: 0, cn: 1, c1: 0 };
const ONES: ParamMod = { cw: 0, cp: 0, cn: 0, c1: 1 };
const gammaPos = (g: number): ParamMod => ({ cw: 1, cp: g, cn: 0, c1: 0 });
const gammaNeg = (g: number): ParamMod => ({ cw: 1, cp: 0, cn: g, c1: 0 });

const term = (input: InputMod, weight: ParamMod, bias: ParamMod | undefined, group = 0, sign = 1, coef = sign): Term =>
  ({ input, weight, bias, group, sign, coef });

/** ZPlus: z = x⁺∗W⁺ + b⁺ + x⁻∗W⁻, R_in = x⁺⊙W⁺ᵀs + x⁻⊙W⁻ᵀs. */
export const ZPLUS: ModifiedRule = {
  name: 'zplus', masks: ['none'], stab: 'sign',
  terms: [term('pos', POS, POS), term('neg', NEG, undefined)],
};

/** AlphaBeta(α, β): ZPlus's terms over p weighted by α, minus β times the opposite ones over n. */
export function alphaBeta(alpha: number, beta: number): ModifiedRule {
  return {
    name: `alpha${alpha}-beta${beta}`, masks: ['none', 'none'], stab: 'sign',
    terms: [
      term('pos', POS, POS, 0, 1, alpha), term('neg', NEG, undefined, 0, 1, alpha),
      term('pos', NEG, NEG, 1, 1, -beta), term('neg', POS, undefined, 1, 1, -beta),
    ],
  };
}

/** Zennit's generalised Gamma: A from x⁺·(W+γW⁺), x⁻·(W+γW⁻) where z > 0, B from the crossed pairs where z < 0. */
export function gamma(g: number): ModifiedRule {
  return {
    name: `gamma${g}`, masks: ['pos', 'neg'], stab: 'sign',
    terms: [
      term('pos', gammaPos(g), gammaPos(g), 0), term('neg', gammaNeg(g), undefined, 0),
      term('pos', gammaNeg(g), gammaNeg(g), 1), term('neg', gammaPos(g), undefined, 1),
    ],
  };
}

/** ZBox: z = (x∗W + b) − (l∗W⁺ + b⁺) − (h∗W⁻ + b⁻), R_in = x⊙Wᵀs − l⊙W⁺ᵀs − h⊙W⁻ᵀs. */
export const ZBOX: ModifiedRule = {
  name: 'zbox', masks: ['none'], stab: 'sign',
  terms: [term('x', ID, ID), term('low', POS, POS, 0, -1), term('high', NEG, NEG, 0, -1)],
};

/** Flat: all-ones inputs and weights, no bias: z counts the in-image taps, R_in = 𝟙ᵀs. */
export const FLAT: ModifiedRule = { name: 'flat', masks: ['none'], stab: 'sign', terms: [term('one', ONES, undefined)] };

/** Excitation backprop (TorchRay): p_in = x ⊙ W⁺ᵀ(p / (x∗W⁺ + 1e-20)), no bias. */
export const EXCITATION: ModifiedRule = { name: 'eb', masks: ['none'], stab: 'tiny', terms: [term('x', POS, undefined)] };

/** Contrastive EB's first pass at the classifier: the same rule with the weights negated, (−W)⁺ = −W⁻. */
export const EXCITATION_NEGATED: ModifiedRule = { ...EXCITATION, name: 'eb-negated', terms: [term('x', { cw: 0, cp: 0, cn: -1, c1: 0 }, undefined)] };

// ---------------------------------------------------------------- the engine

/** A layer with weights as the engine needs it: its forward (with any weights) and its transpose. */
export interface LinearLayer<P> {
  /** Geometry re-based on the backward batch, and the input signal's shape; may refuse the step. */
  plan(ctx: RuleCtx<unknown>, r: Shape): { p: P; xShape: Shape };
  forwardCpu(p: P, x: CpuTensor, w: CpuTensor, b: CpuTensor | undefined): Float32Array;
  transposeCpu(p: P, s: CpuTensor, w: CpuTensor): Float32Array;
  forwardGpu(g: Gpu, p: P, x: GpuTensor, w: GpuTensor, b: GpuTensor | undefined, out: GpuTensor): void;
  transposeGpu(g: Gpu, p: P, s: GpuTensor, w: GpuTensor, out: GpuTensor): void;
}

/** The ZBox bounds: (low, high) per backward sample as an (N·T)×2 tensor, on each backend. */
export interface Bounds {
  cpu(ctx: RuleCtx<CpuTensor>): CpuTensor;
  gpu(g: Gpu, ctx: RuleCtx<GpuTensor>): GpuTensor;
}

export interface ModifiedPlan<P> { p: P; rule: ModifiedRule; outShape: Shape }

function checkConstants(ctx: RuleCtx<unknown>, rule: ModifiedRule): void {
  const { step, plan } = ctx;
  for (const i of [1, 2]) {
    const name = step.node.inputs[i];
    if (name && !plan.consts.has(name)) throw fail(ctx, `the ${rule.name} rule needs constant ${i === 1 ? 'weights' : 'bias'}, but '${name}' is computed at run time`);
  }
}

/** The rule `rule` over `layer`; `bounds` is needed by rules with 'low'/'high' terms (ZBox). */
export function modifiedRule<P>(rule: ModifiedRule, layer: LinearLayer<P>, bounds?: Bounds): Rule<ModifiedPlan<P>> {
  const bounded = rule.terms.some((t) => t.input === 'low' || t.input === 'high');
  if (bounded && !bounds) throw new Error(`internal: the ${rule.name} rule needs bounds`);
  const groups = rule.masks.length;
  return {
    plan(ctx, r) {
      checkConstants(ctx, rule);
      const { p, xShape } = layer.plan(ctx, r);
      return { params: { p, rule, outShape: r }, signals: ctx.step.node.inputs.map((_, i) => (i === 0 ? { shape: xShape } : undefined)) };
    },
    cpu({ p }, ctx, r, [out]) {
      const x = ctx.input(0)!, w = ctx.input(1)!, b = ctx.input(2);
      const bd = bounded ? bounds!.cpu(ctx).data : undefined;
      const z = Array.from({ length: groups }, () => new Float32Array(r.data.length));
      const mods = rule.terms.map((t) => {
        const xm = cpuLrp.inputMod(x, t.input, bd);
        const wm = cpuLrp.paramMod(w, t.weight);
        const bm = t.bias && b ? cpuLrp.paramMod(b, t.bias) : undefined;
        cpuLrp.axpy(z[t.group], t.sign, layer.forwardCpu(p, xm, wm, bm));
        return { xm, wm };
      });
      const y = rule.masks.some((m) => m !== 'none') ? ctx.output().data : undefined;
      const s = z.map((zg, k) => cpuLrp.quotient(r, zg, rule.stab, rule.masks[k], y));
      const acc = out!.data;
      acc.fill(0);
      rule.terms.forEach((t, k) => cpuLrp.mac(acc, t.coef, mods[k].xm.data, layer.transposeCpu(p, s[t.group], mods[k].wm)));
    },
    gpu({ p }, g, ctx, r, [out]) {
      const x = ctx.input(0)!, w = ctx.input(1)!, b = ctx.input(2);
      const bd = bounded ? bounds!.gpu(g, ctx) : undefined;
      const z = Array.from({ length: groups }, () => {
        const t = g.alloc(r.shape, 'lrp.z');
        g.zero(t);
        return t;
      });
      const zk = g.alloc(r.shape, 'lrp.zk');
      const mods = rule.terms.map((t) => {
        const xm = gpuLrp.inputMod(g, x, t.input, bd);
        const wm = gpuLrp.paramMod(g, w, t.weight);
        const bm = t.bias && b ? gpuLrp.paramMod(g, b, t.bias) : undefined;
        layer.forwardGpu(g, p, xm, wm, bm, zk);
        gpuLrp.axpy(g, z[t.group], t.sign, zk);
        if (bm) g.release(bm);
        return { xm, wm };
      });
      g.release(zk);
      if (bd) g.release(bd);
      const s = z.map((zg, k) => gpuLrp.quotient(g, r, zg, rule.stab, rule.masks[k], rule.masks[k] !== 'none' ? ctx.output() : undefined));
      z.forEach((t) => g.release(t));
      g.zero(out!);
      const back = g.alloc(out!.shape, 'lrp.back');
      rule.terms.forEach((t, k) => {
        layer.transposeGpu(g, p, s[t.group], mods[k].wm, back);
        gpuLrp.mac(g, out!, t.coef, mods[k].xm, back);
        g.release(mods[k].xm);
        g.release(mods[k].wm);
      });
      g.release(back);
      s.forEach((t) => g.release(t));
    },
  };
}
