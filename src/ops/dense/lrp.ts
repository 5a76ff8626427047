// Dense layers under LRP and excitation backprop. LRP (every composite): Epsilon on Gemm and on a
// MatMul with a constant operand, x ⊙ ∇(R / stab(Wx + b)) over the family's gradient rules. EB
// (TorchRay patches torch's linear): the modified-gradient engine over Gemm's product and its
// transpose; a MatMul is refused, as TorchRay only patches linear layers.
import { matmulCpu, matmulGpu, type MatmulParams } from './forward.js';
import { gemmGradA, gradient, type Product } from './rules.js';
import { attrInt } from '../../graph/ir.js';
import type { Rule, RuleTable } from '../rule.js';
import { EXCITATION, EXCITATION_NEGATED, modifiedRule, type LinearLayer } from '../shared/modified.js';
import { choose } from '../shared/choose.js';
import { composites } from '../shared/composites.js';
import { stabilised } from '../shared/stabilised.js';
import { fail, isRuntime } from '../shared/signal.js';

/** LRP's Epsilon needs a constant weight: a product of two runtime tensors has no LRP rule. */
const epsilon = (grad: Rule): Rule => {
  const rule = stabilised(grad, 'sign');
  return choose((ctx) => {
    if (isRuntime(ctx, 0) && isRuntime(ctx, 1)) throw fail(ctx, 'LRP has no rule for a product of two runtime tensors (Epsilon needs constant weights)');
    return rule;
  });
};

export const lrp = composites<RuleTable>({ Gemm: epsilon(gradient.Gemm), MatMul: epsilon(gradient.MatMul) });

interface GemmGeometry { fwd: MatmulParams; back: Product }

/** Gemm as a layer of the engine: A is the (N·T)×K input, B the weight, C the bias. */
const gemmLayer: LinearLayer<GemmGeometry> = {
  plan(ctx, r) {
    const p = ctx.step.params as MatmulParams;
    if (attrInt(ctx.step.node, 'transA', 0) !== 0) throw fail(ctx, 'excitation backprop needs the input as A without transA (samples along its rows)');
    if (!(p.alpha > 0)) throw fail(ctx, `excitation backprop needs alpha > 0 (W⁺ of alpha·W), got ${p.alpha}`);
    return { p: { fwd: { ...p, M: r[0] }, back: gemmGradA(ctx, { shape: r }) }, xShape: [r[0], p.K] };
  },
  forwardCpu(p, x, w, b) {
    const out = new Float32Array(p.fwd.M * p.fwd.N);
    matmulCpu({ ...p.fwd, hasC: p.fwd.hasC && !!b }, [x, w, b], out);
    return out;
  },
  transposeCpu(p, s, w) {
    const out = new Float32Array(p.back.shape[0] * p.back.shape[1]);
    matmulCpu(p.back.p, [s, w], out);
    return out;
  },
  forwardGpu: (g, p, x, w, b, out) => matmulGpu(g, { ...p.fwd, hasC: p.fwd.hasC && !!b }, [x, w, b], [out]),
  transposeGpu: (g, p, s, w, out) => matmulGpu(g, p.back.p, [s, w], [out]),
};

const excitation = modifiedRule(EXCITATION, gemmLayer), negated = modifiedRule(EXCITATION_NEGATED, gemmLayer);

const refuseMatMul: Rule = choose((ctx) => {
  throw fail(ctx, 'excitation backprop has no rule for MatMul (TorchRay patches linear and convolution layers only); export the layer as Gemm');
});

export const eb: RuleTable = { Gemm: choose((ctx) => (ctx.negated ? negated : excitation)), MatMul: refuseMatMul };
