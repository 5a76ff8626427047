// Rules of the reductions. Gradient: the transpose of each reduction (Sum: dy broadcast back;
// Mean: dy / |reduced|; Max/Min: dy to the arg-max/min, ties to the first reduced element in
// row-major order, as max-pooling; L2: dy·x/‖x‖, 0 where ‖x‖ = 0; L1: dy·sign(x); SumSquare:
// 2x·dy). AE (spec §2.11, generalised from the spatial axes of a 4-D tensor to any axes): the
// pooling z-rule (§2.3) of the equivalent global pooling, x̂ = x⁺ + 1e-9, Z = reduce(x̂),
// S = safe_div(R, Z), R_in = x̂ ⊙ (∂Z/∂x̂)ᵀ S — Mean as GlobalAveragePool, Sum as sum-pooling, Max as
// GlobalMaxPool (arg-max on x̂, first wins). The other reductions have no AE rule: the walker
// refuses a relevance reaching them, naming the node.
import type { CpuTensor } from '../op.js';
import type { Rule, RuleCtx, RuleTable } from '../rule.js';
import type { Gpu, GpuTensor } from '../../kernels/gpu/runtime.js';
import { backShape, keepsSamples, perSample } from '../shared/signal.js';
import { atBatch, keptBase, outputIndex, reducedOffsets, type ReduceGeom } from './geometry.js';
import { reducePass, spreadPass } from './kernels.js';
import type { ReduceParams } from './forward.js';

interface RulePlan {
  /** The op was a no-op (empty axes with noop_with_empty_axes): the signal passes through. */
  alias: boolean;
  /** The geometry at the backward batch. */
  geom: ReduceGeom;
}

type CpuTwin = (g: ReduceGeom, ctx: RuleCtx<CpuTensor>, r: Float32Array, out: Float32Array) => void;
type GpuTwin = (gpu: Gpu, g: ReduceGeom, ctx: RuleCtx<GpuTensor>, r: GpuTensor, out: GpuTensor) => void;

/** A rule over the plan every reduce rule shares: input 0 receives the signal, the axes input none. */
function reduceRule(cpu: CpuTwin, gpu: GpuTwin): Rule<RulePlan> {
  return {
    plan(ctx, r) {
      const { step } = ctx;
      const none = step.node.inputs.map(() => undefined);
      if (step.alias !== undefined) return { params: { alias: true, geom: undefined as never }, signals: [{ shape: r, alias: true }, ...none.slice(1)] };
      const p = step.params as ReduceParams;
      const t = perSample(ctx, { shape: r });
      keepsSamples(ctx, t, !p.axes.includes(0), `${step.node.opType} over the batch axis`);
      const inShape = backShape(ctx, step.inputs[0]!, t);
      return { params: { alias: false, geom: atBatch(p.geom, new Set(p.axes), p.keep, inShape[0]) }, signals: [{ shape: inShape }, ...none.slice(1)] };
    },
    cpu(p, ctx, r, out) {
      if (!p.alias && out[0]) cpu(p.geom, ctx, r.data, out[0].data);
    },
    gpu(p, g, ctx, r, out) {
      if (!p.alias && out[0]) gpu(g, p.geom, ctx, r, out[0]);
    },
  };
}

const safeDiv = (a: number, b: number) => (b === 0 ? 0 : a / b);

/** out[i] = f(i, o(i)) for every input element (the CPU form of the spread kernel). */
function spreadCpu(g: ReduceGeom, out: Float32Array, f: (i: number, o: number) => number): void {
  for (let i = 0; i < out.length; i++) out[i] = f(i, outputIndex(g, i));
}

/** Input index of each output's first largest (or smallest) value of `v` over its reduced elements. */
export function argIndex(g: ReduceGeom, v: ArrayLike<number>, min: boolean): Int32Array {
  const offs = reducedOffsets(g);
  const arg = new Int32Array(g.outs);
  for (let o = 0; o < g.outs; o++) {
    const base = keptBase(g, o);
    let best = base + offs[0];
    for (let j = 1; j < offs.length; j++) {
      const at = base + offs[j];
      if (min ? v[at] < v[best] : v[at] > v[best]) best = at;
    }
    arg[o] = best;
  }
  return arg;
}

// ---------------------------------------------------------------- gradient

/** Sum and Mean: the signal broadcast back (divided by the count for Mean). */
const broadcastGrad = (mean: boolean): Rule => reduceRule(
  (g, _ctx, dy, out) => spreadCpu(g, out, (_i, o) => (mean ? dy[o] / g.count : dy[o])),
  (gpu, g, _ctx, dy, out) => spreadPass(gpu, g, { name: mean ? 'grad.mean' : 'grad.sum', value: mean ? 'g / f32(u.count)' : 'g' }, dy, out, []),
);

/** Max and Min: the signal routed to the first arg-max (arg-min) of x. */
const routeGrad = (min: boolean): Rule => reduceRule(
  (g, ctx, dy, out) => {
    const arg = argIndex(g, ctx.input(0)!.data, min);
    spreadCpu(g, out, (i, o) => (arg[o] === i ? dy[o] : 0));
  },
  (gpu, g, ctx, dy, out) => {
    const x = ctx.input(0)!;
    const arg = gpu.alloc([g.outs], 'grad.reduce.arg');
    reducePass(gpu, g, { name: min ? 'arg.min' : 'arg.max', load: 'v', combine: min ? 'min' : 'max', store: { kind: 'arg' } }, x, [arg]);
    spreadPass(gpu, g, { name: 'route', value: 'select(0.0, g, arg[o] == i)', aux: 'u32' }, dy, out, [arg]);
    gpu.release(arg);
  },
);

/** An element-wise factor of x (and the forward output y) times the signal. */
const factorGrad = (name: string, cpu: (x: number, y: number, g: number) => number, wgsl: string, needsY: boolean): Rule => reduceRule(
  (g, ctx, dy, out) => {
    const x = ctx.input(0)!.data;
    const y = needsY ? ctx.output(0).data : undefined;
    spreadCpu(g, out, (i, o) => cpu(x[i], y ? y[o] : 0, dy[o]));
  },
  (gpu, g, ctx, dy, out) => spreadPass(gpu, g, { name, value: wgsl, x: true, aux: needsY ? 'f32' : undefined }, dy, out,
    needsY ? [ctx.input(0)!, ctx.output(0)] : [ctx.input(0)!]),
);

export const gradient: RuleTable = {
  ReduceSum: broadcastGrad(false),
  ReduceMean: broadcastGrad(true),
  ReduceMax: routeGrad(false),
  ReduceMin: routeGrad(true),
  ReduceL2: factorGrad('grad.l2', (x, y, g) => x * safeDiv(g, y), 'x[i] * safe_div(g, aux[o])', true),
  ReduceL1: factorGrad('grad.l1', (x, _y, g) => Math.sign(x) * g, 'sign(x[i]) * g', false),
  ReduceSumSquare: factorGrad('grad.sumsq', (x, _y, g) => 2 * x * g, '2.0 * x[i] * g', false),
};

// ---------------------------------------------------------------- AE z-rule

const XHAT_EPS = Math.fround(1e-9);

/** x̂ = x⁺ + 1e-9 in float32, as the pooling z-rule. */
const xhatOf = (x: Float32Array) => x.map((v) => Math.max(v, 0) + XHAT_EPS);

/** The z-rule of a sum or mean: S = safe_div(R, Z) per output, R_in = x̂ · S (/ count for mean). */
function zSumCpu(mean: boolean): CpuTwin {
  return (g, ctx, r, out) => {
    const xh = xhatOf(ctx.input(0)!.data);
    const offs = reducedOffsets(g);
    const s = new Float32Array(g.outs);
    for (let o = 0; o < g.outs; o++) {
      const base = keptBase(g, o);
      let z = 0;
      for (let j = 0; j < offs.length; j++) z += xh[base + offs[j]];
      s[o] = safeDiv(r[o], Math.fround(mean ? z / g.count : z));
    }
    spreadCpu(g, out, (i, o) => (mean ? (xh[i] * s[o]) / g.count : xh[i] * s[o]));
  };
}

function zSumGpu(mean: boolean): GpuTwin {
  return (gpu, g, ctx, r, out) => {
    const x = ctx.input(0)!;
    const s = gpu.alloc([g.outs], 'ae.reduce.s');
    const finish = mean ? 'acc / f32(u.count)' : 'acc';
    reducePass(gpu, g, { name: `ae.${mean ? 'mean' : 'sum'}`, load: 'xhat(v)', combine: 'sum', store: { kind: 's', finish, arg: false } }, x, [s, r]);
    spreadPass(gpu, g, { name: `ae.${mean ? 'mean' : 'sum'}`, value: mean ? 'xhat(x[i]) * g / f32(u.count)' : 'xhat(x[i]) * g', x: true }, s, out, [x]);
    gpu.release(s);
  };
}

/** The max z-rule: all of R_o to the first arg-max of x̂, R_in = x̂ · R / x̂_max there. */
const zMax = reduceRule(
  (g, ctx, r, out) => {
    const xh = xhatOf(ctx.input(0)!.data);
    const arg = argIndex(g, xh, false);
    const s = Float32Array.from(arg, (at, o) => safeDiv(r[o], xh[at]));
    spreadCpu(g, out, (i, o) => (arg[o] === i ? xh[i] * s[o] : 0));
  },
  (gpu, g, ctx, r, out) => {
    const x = ctx.input(0)!;
    const s = gpu.alloc([g.outs], 'ae.reduce.s');
    const arg = gpu.alloc([g.outs], 'ae.reduce.arg');
    reducePass(gpu, g, { name: 'ae.max', load: 'xhat(v)', combine: 'max', store: { kind: 's', finish: 'acc', arg: true } }, x, [s, r, arg]);
    spreadPass(gpu, g, { name: 'ae.max', value: 'select(0.0, xhat(x[i]) * g, arg[o] == i)', x: true, aux: 'u32' }, s, out, [x, arg]);
    gpu.release(s);
    gpu.release(arg);
  },
);

export const ae: RuleTable = {
  ReduceSum: reduceRule(zSumCpu(false), zSumGpu(false)),
  ReduceMean: reduceRule(zSumCpu(true), zSumGpu(true)),
  ReduceMax: zMax,
};

