// Element-wise activations: one shared unary kernel whose op expression (from the ACTIVATIONS
// table) is the pipeline variant.
import src from './forward.wgsl';
import { attrFloat } from '../../graph/ir.js';
import { numel, scalarValue } from '../../graph/tensor.js';
import { nodeError } from '../../errors.js';
import { Gpu } from '../../kernels/gpu/runtime.js';
import type { OpSpec, OpTable, PrepareCtx } from '../op.js';
import { ACTIVATIONS, U, actAttrs } from './activations.js';
import { PRelu } from './prelu.js';
import { assemble, parseSections } from '../../kernels/gpu/wgsl.js';

export const sections = parseSections(src);
const F32_MAX = 3.4028234663852886e38;

export interface UnaryParams {
  total: number;
  alpha: number;
  beta: number;
  lo: number;
  hi: number;
  /** Clip (opset ≥ 11) with bounds only known at run time: input indices 1 and/or 2 are read on the device. */
  dynLo: boolean;
  dynHi: boolean;
}

function prepareUnary(ctx: PrepareCtx) {
  const x = ctx.shapes[0];
  if (!x) throw nodeError(ctx.node.opType, ctx.node.name, 'input X is required');
  const p: UnaryParams = {
    total: numel(x), ...actAttrs(ACTIVATIONS[ctx.node.opType], ctx.node), lo: -F32_MAX, hi: F32_MAX, dynLo: false, dynHi: false,
  };
  return { shapes: [x], params: p };
}

/** Bounds (Clip): attributes before opset 11, optional inputs (usually constants) from 11; missing means unbounded. */
function prepareBounds(ctx: PrepareCtx) {
  const { node } = ctx;
  const base = prepareUnary(ctx);
  const p = base.params;
  if (ctx.opset < 11) {
    p.lo = attrFloat(node, 'min', -F32_MAX);
    p.hi = attrFloat(node, 'max', F32_MAX);
    return base;
  }
  const staticInputs: number[] = [];
  for (const k of [1, 2]) {
    const s = ctx.shapes[k];
    if (!s || node.inputs[k] === '') continue;
    if (numel(s) !== 1) throw nodeError(node.opType, node.name, `${k === 1 ? 'min' : 'max'} must be a scalar, got shape [${s.join('×')}]`);
    const c = ctx.consts[k];
    if (c) {
      staticInputs.push(k);
      if (k === 1) p.lo = scalarValue(c);
      else p.hi = scalarValue(c);
    } else if (k === 1) p.dynLo = true;
    else p.dynHi = true;
  }
  return { ...base, staticInputs };
}

function spec(opType: string, prepare: (ctx: PrepareCtx) => { shapes: number[][]; params: UnaryParams }): OpSpec<UnaryParams> {
  const f = ACTIVATIONS[opType];
  return {
    prepare,
    cpu(p, inputs) {
      const x = inputs[0]!.data;
      const q = { ...p };
      if (p.dynLo) q.lo = inputs[1]!.data[0];
      if (p.dynHi) q.hi = inputs[2]!.data[0];
      const y = new Float32Array(x.length);
      for (let i = 0; i < x.length; i++) y[i] = f.cpu(x[i], q);
      return [y];
    },
    gpu(g, p, inputs, outputs) {
      const dyn = p.dynLo || p.dynHi;
      const key = `activation.forward.${opType.toLowerCase()}${dyn ? `.dyn${p.dynLo ? 'lo' : ''}${p.dynHi ? 'hi' : ''}` : ''}`;
      const pipe = g.kernel(key, () => {
        // Runtime bounds are read from one-element buffers, constant ones from uniforms.
        const bindings: string[] = [];
        let n = 3;
        if (p.dynLo) bindings.push(`@group(0) @binding(${n++}) var<storage, read> lo_buf: array<f32>;`);
        if (p.dynHi) bindings.push(`@group(0) @binding(${n++}) var<storage, read> hi_buf: array<f32>;`);
        return assemble(sections, ['math', 'unary', ...(f.bounds ? ['bounds'] : [])], {
          EXTRA_BINDINGS: bindings.join('\n'), EXPR: f.wgsl, LO: p.dynLo ? 'lo_buf[0]' : 'u.lo', HI: p.dynHi ? 'hi_buf[0]' : 'u.hi',
        }, U);
      });
      const u = U.pack({ total: p.total, alpha: p.alpha, beta: p.beta, lo: p.lo, hi: p.hi });
      const bufs = [inputs[0]!.buffer, outputs[0].buffer];
      if (p.dynLo) bufs.push(inputs[1]!.buffer);
      if (p.dynHi) bufs.push(inputs[2]!.buffer);
      g.dispatch(pipe, u, bufs, Gpu.groups1d(p.total, 64));
    },
  };
}

export const ops: OpTable = {
  ...Object.fromEntries(Object.entries(ACTIVATIONS).map(([op, a]) => [op, { ...spec(op, a.bounds ? prepareBounds : prepareUnary), traits: a.traits }])),
  PRelu,
};
