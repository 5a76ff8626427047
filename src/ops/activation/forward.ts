// Element-wise activations: one shared unary kernel whose op body is the pipeline variant.
import src from './activation.wgsl';
import { attrFloat } from '../../graph/ir.js';
import { numel, scalarValue } from '../../graph/tensor.js';
import { nodeError } from '../../errors.js';
import { Gpu, Uniforms } from '../../kernels/gpu/runtime.js';
import type { OpSpec, OpTable, PrepareCtx, Traits } from '../op.js';
import { assemble, parseSections } from '../../kernels/gpu/wgsl.js';

const sections = parseSections(src);
const F32_MAX = 3.4028234663852886e38;

export interface UnaryParams {
  total: number;
  alpha: number;
  lo: number;
  hi: number;
  /** Clip (opset ≥ 11) with bounds only known at run time: input indices 1 and/or 2 are read on the device. */
  dynLo: boolean;
  dynHi: boolean;
}

interface Unary {
  /** WGSL body of `fn op(v: f32) -> f32`; `u.alpha`, `u.lo`, `u.hi` are the parameters. */
  wgsl: string;
  /** The CPU reference (float64, rounded to float32 on store). */
  cpu: (v: number, p: UnaryParams) => number;
  traits?: Traits;
}

const UNARY: Record<string, Unary> = {
  Relu: { wgsl: 'return max(v, 0.0);', cpu: (v) => Math.max(v, 0), traits: { activation: true, blockOutput: true } },
  LeakyRelu: { wgsl: 'return select(u.alpha * v, v, v >= 0.0);', cpu: (v, p) => (v >= 0 ? v : Math.fround(p.alpha) * v), traits: { activation: true } },
  // exp(-v) overflowing to +inf still gives the right limit 0.
  Sigmoid: { wgsl: 'return 1.0 / (1.0 + exp(-v));', cpu: (v) => 1 / (1 + Math.exp(-v)), traits: { activation: true, scoreHead: true } },
  // tanh(±10) is ±1 in float32; clamping keeps exp-based implementations away from inf/inf.
  Tanh: { wgsl: 'return tanh(clamp(v, -10.0, 10.0));', cpu: (v) => Math.tanh(v), traits: { activation: true } },
  Exp: { wgsl: 'return exp(v);', cpu: (v) => Math.exp(v) },
  Abs: { wgsl: 'return abs(v);', cpu: (v) => Math.abs(v) },
  Neg: { wgsl: 'return -v;', cpu: (v) => -v },
  Sqrt: { wgsl: 'return sqrt(v);', cpu: (v) => Math.sqrt(v) },
  Clip: {
    wgsl: 'return min(max(v, lo()), hi());',
    cpu: (v, p) => Math.min(Math.max(v, Math.fround(p.lo)), Math.fround(p.hi)),
    traits: { activation: true, blockOutput: true },
  },
};

function prepareUnary(ctx: PrepareCtx) {
  const x = ctx.shapes[0];
  if (!x) throw nodeError(ctx.node.opType, ctx.node.name, 'input X is required');
  const p: UnaryParams = {
    total: numel(x), alpha: attrFloat(ctx.node, 'alpha', 0.01), lo: -F32_MAX, hi: F32_MAX, dynLo: false, dynHi: false,
  };
  return { shapes: [x], params: p };
}

/** Clip bounds: attributes before opset 11, optional inputs (usually constants) from 11; missing means unbounded. */
function prepareClip(ctx: PrepareCtx) {
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
  const f = UNARY[opType];
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
      const key = `act.${opType.toLowerCase()}${dyn ? `.dyn${p.dynLo ? 'lo' : ''}${p.dynHi ? 'hi' : ''}` : ''}`;
      const pipe = g.kernel(key, () => {
        // Runtime Clip bounds are read from one-element buffers, constant ones from uniforms.
        const bindings: string[] = [];
        let n = 3;
        if (p.dynLo) bindings.push(`@group(0) @binding(${n++}) var<storage, read> lo_buf: array<f32>;`);
        if (p.dynHi) bindings.push(`@group(0) @binding(${n++}) var<storage, read> hi_buf: array<f32>;`);
        const helpers = opType === 'Clip'
          ? `fn lo() -> f32 { return ${p.dynLo ? 'lo_buf[0]' : 'u.lo'}; }\nfn hi() -> f32 { return ${p.dynHi ? 'hi_buf[0]' : 'u.hi'}; }`
          : '';
        return assemble(sections, ['unary'], { EXTRA_BINDINGS: [...bindings, helpers].join('\n'), BODY: f.wgsl });
      });
      const u = new Uniforms().u(p.total, 0, 0, 0).f(p.alpha, p.lo, p.hi);
      const bufs = [inputs[0]!.buffer, outputs[0].buffer];
      if (p.dynLo) bufs.push(inputs[1]!.buffer);
      if (p.dynHi) bufs.push(inputs[2]!.buffer);
      g.dispatch(pipe, u, bufs, Gpu.groups1d(p.total, 64));
    },
  };
}

export const ops: OpTable = Object.fromEntries(
  Object.keys(UNARY).map((op) => [op, { ...spec(op, op === 'Clip' ? prepareClip : prepareUnary), traits: UNARY[op].traits }]),
);
