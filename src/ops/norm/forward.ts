// BatchNormalization (inference form, opsets 7–15) and LRN (across channels); the row normalisers
// (LayerNormalization, GroupNormalization, InstanceNormalization) live in normalise.ts.
import src from './forward.wgsl';
import { attrFloat, attrInt, type Node } from '../../graph/ir.js';
import { fmtShape, numel, type Const } from '../../graph/tensor.js';
import { nodeError } from '../../errors.js';
import { Gpu } from '../../kernels/gpu/runtime.js';
import type { OpTable, PrepareCtx } from '../op.js';
import { assemble, parseSections, uniforms } from '../../kernels/gpu/wgsl.js';
import { ops as rowOps } from './normalise.js';

export const sections = parseSections(src);

/** BatchNormalization's uniforms, shared by its forward kernel and its rules (backward.wgsl). */
export const BN_U = uniforms({ total: 'u32', C: 'u32', inner: 'u32', per_activation: 'u32', eps: 'f32' });
const LRN_U = uniforms({ total: 'u32', C: 'u32', inner: 'u32', size: 'u32', alpha: 'f32', beta: 'f32', bias: 'f32' });

/** BN uniforms for `total` elements (the forward batch, or a backward batch). */
export function bnUniforms(p: BatchNormParams, total: number) {
  return BN_U.pack({ total, C: p.C, inner: p.inner, per_activation: p.perActivation ? 1 : 0, eps: p.eps });
}

export interface BatchNormParams {
  total: number;
  C: number;
  inner: number;
  /** spatial = 0 (opsets < 9): parameters cover every non-batch element, C·inner of them. */
  perActivation: boolean;
  eps: number;
}

function prepareBatchNorm(ctx: PrepareCtx) {
  const { node, opset } = ctx;
  const fail = (msg: string) => nodeError(node.opType, node.name, msg);
  const x = ctx.shapes[0];
  if (!x || x.length < 2) throw fail(`input X must be N×C×…, got ${x ? fmtShape(x) : 'nothing'}`);
  if (attrInt(node, 'training_mode', 0) !== 0) {
    throw fail('training_mode=1 is not supported (inference only: running mean and variance are used)');
  }
  if (node.outputs.slice(1).some((o) => o !== '')) {
    throw fail('the training outputs (running/saved mean and variance) are not supported (inference only)');
  }
  const perActivation = opset < 9 && attrInt(node, 'spatial', 1) === 0;
  const C = x[1];
  const inner = numel(x.slice(2));
  const want = perActivation ? C * inner : C;
  const names = ['scale', 'B', 'mean', 'var'];
  for (let k = 1; k <= 4; k++) {
    const s = ctx.shapes[k];
    if (!s) throw fail(`input ${names[k - 1]} is required`);
    if (numel(s) !== want) {
      throw fail(`${names[k - 1]} ${fmtShape(s)} must have ${want} elements ` +
        `(${perActivation ? 'one per activation, spatial=0' : 'one per channel'}) for X ${fmtShape(x)}`);
    }
  }
  const p: BatchNormParams = { total: numel(x), C, inner, perActivation, eps: attrFloat(node, 'epsilon', 1e-5) };
  return { shapes: [x], params: p };
}

export interface LrnParams {
  total: number;
  C: number;
  inner: number;
  size: number;
  alpha: number;
  beta: number;
  bias: number;
}

function prepareLrn(ctx: PrepareCtx) {
  const { node } = ctx;
  const fail = (msg: string) => nodeError(node.opType, node.name, msg);
  const x = ctx.shapes[0];
  if (!x || x.length < 3) throw fail(`input X must be N×C×spatial…, got ${x ? fmtShape(x) : 'nothing'}`);
  const size = attrInt(node, 'size');
  if (!Number.isInteger(size) || size < 1) throw fail(`size must be a positive integer, got ${size}`);
  const p: LrnParams = {
    total: numel(x), C: x[1], inner: numel(x.slice(2)), size,
    alpha: attrFloat(node, 'alpha', 1e-4), beta: attrFloat(node, 'beta', 0.75), bias: attrFloat(node, 'bias', 1),
  };
  return { shapes: [x], params: p };
}

/**
 * BatchNormalization's per-channel bias, B − mean·scale/√(var + ε) (FullGrad, as pytorch-grad-cam
 * takes a BatchNorm2d's), when its parameters are constants; per-activation BN has none.
 */
function batchNormBias(node: Node, constOf: (name: string) => Const | undefined): Float32Array | undefined {
  const [scale, b, mean, v] = node.inputs.slice(1, 5).map((t) => (t ? constOf(t) : undefined));
  if (!scale || !b || !mean || !v || attrInt(node, 'spatial', 1) === 0) return undefined;
  const eps = Math.fround(attrFloat(node, 'epsilon', 1e-5));
  return Float32Array.from(b.data, (bc, c) => bc - (mean.data[c] * scale.data[c]) / Math.sqrt(v.data[c] + eps));
}

export const ops: OpTable = {
  ...rowOps,
  BatchNormalization: {
    traits: { normaliser: true, channelBias: batchNormBias },
    prepare: prepareBatchNorm,
    cpu(p: BatchNormParams, inputs) {
      const [x, scale, b, mean, v] = inputs.map((t) => t!.data);
      const y = new Float32Array(p.total);
      for (let i = 0; i < p.total; i++) {
        const c = p.perActivation ? i % (p.C * p.inner) : Math.floor(i / p.inner) % p.C;
        y[i] = ((x[i] - mean[c]) * scale[c]) / Math.sqrt(v[c] + Math.fround(p.eps)) + b[c];
      }
      return [y];
    },
    gpu(g, p: BatchNormParams, inputs, outputs) {
      const pipe = g.kernel('norm.forward.batchnorm', () => assemble(sections, ['param_index', 'batchnorm', 'per_element'], { WG: 64 }, BN_U));
      g.dispatch(pipe, bnUniforms(p, p.total), [...inputs.slice(0, 5).map((t) => t!.buffer), outputs[0].buffer], Gpu.groups1d(p.total, 64));
    },
  },
  LRN: {
    traits: { normaliser: true },
    prepare: prepareLrn,
    cpu(p: LrnParams, inputs) {
      const x = inputs[0]!.data;
      const y = new Float32Array(p.total);
      const before = Math.floor((p.size - 1) / 2), after = Math.ceil((p.size - 1) / 2);
      for (let i = 0; i < p.total; i++) {
        const c = Math.floor(i / p.inner) % p.C;
        const base = i - c * p.inner;
        let s = 0;
        for (let k = Math.max(0, c - before); k <= Math.min(p.C - 1, c + after); k++) s += x[base + k * p.inner] ** 2;
        y[i] = x[i] / (p.bias + (p.alpha / p.size) * s) ** p.beta;
      }
      return [y];
    },
    gpu(g, p: LrnParams, inputs, outputs) {
      const pipe = g.kernel('norm.forward.lrn', () => assemble(sections, ['lrn'], {}, LRN_U));
      const u = LRN_U.pack({ total: p.total, C: p.C, inner: p.inner, size: p.size, alpha: p.alpha, beta: p.beta, bias: p.bias });
      g.dispatch(pipe, u, [inputs[0]!.buffer, outputs[0].buffer], Gpu.groups1d(p.total, 64));
    },
  },
};

