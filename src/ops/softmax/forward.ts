// Softmax and LogSoftmax. Before opset 13 the input is coerced to 2-D at `axis` (default 1) and
// normalized over everything after it; from 13 along the single axis `axis` (default -1).
import src from './forward.wgsl';
import { attrInt } from '../../graph/ir.js';
import { fmtShape, numel } from '../../graph/tensor.js';
import { nodeError } from '../../errors.js';
import type { OpSpec, OpTable, PrepareCtx } from '../op.js';
import { assemble, parseSections, uniforms } from '../../kernels/gpu/wgsl.js';

const sections = parseSections(src);
const U = uniforms({ rows: 'u32', D: 'u32', inner: 'u32' });

export interface SoftmaxParams {
  log: boolean;
  /** Rows (outer·inner) of D elements spaced `inner` apart. */
  outer: number;
  D: number;
  inner: number;
}

function prepare(ctx: PrepareCtx, log: boolean) {
  const { node, opset } = ctx;
  const x = ctx.shapes[0];
  if (!x || x.length === 0) throw nodeError(node.opType, node.name, `input must have rank ≥ 1, got ${x ? fmtShape(x) : 'nothing'}`);
  const r = x.length;
  const axis = attrInt(node, 'axis', opset < 13 ? 1 : -1);
  if (axis < -r || axis >= r) throw nodeError(node.opType, node.name, `axis ${axis} is out of range for input ${fmtShape(x)}`);
  const a = axis < 0 ? axis + r : axis;
  const p: SoftmaxParams = opset < 13
    ? { log, outer: numel(x.slice(0, a)), D: numel(x.slice(a)), inner: 1 }
    : { log, outer: numel(x.slice(0, a)), D: x[a], inner: numel(x.slice(a + 1)) };
  return { shapes: [x], params: p };
}

function cpu(p: SoftmaxParams, x: Float32Array): Float32Array {
  const y = new Float32Array(x.length);
  for (let o = 0; o < p.outer; o++) {
    for (let i = 0; i < p.inner; i++) {
      const base = o * p.D * p.inner + i;
      let m = -Infinity;
      for (let j = 0; j < p.D; j++) m = Math.max(m, x[base + j * p.inner]);
      let s = 0;
      for (let j = 0; j < p.D; j++) s += Math.exp(x[base + j * p.inner] - m);
      for (let j = 0; j < p.D; j++) {
        const v = x[base + j * p.inner] - m;
        y[base + j * p.inner] = p.log ? v - Math.log(s) : Math.exp(v) / s;
      }
    }
  }
  return y;
}

function spec(log: boolean): OpSpec<SoftmaxParams> {
  return {
    prepare: (ctx) => prepare(ctx, log),
    cpu: (p, inputs) => [cpu(p, inputs[0]!.data)],
    gpu(g, p, inputs, outputs) {
      const rows = p.outer * p.inner;
      if (rows === 0 || p.D === 0) return;
      const pipe = g.kernel(`softmax.forward.${log ? 'log' : 'softmax'}`, () =>
        assemble(sections, ['softmax'], { OUT: log ? 'v - log(s)' : 'exp(v) / s' }, U));
      g.dispatch(pipe, U.pack({ rows, D: p.D, inner: p.inner }), [inputs[0]!.buffer, outputs[0].buffer], [rows]);
    },
  };
}

export const ops: OpTable = {
  Softmax: { ...spec(false), traits: { scoreHead: true } },
  LogSoftmax: { ...spec(true), traits: { scoreHead: true } },
};
