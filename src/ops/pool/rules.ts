// Pooling (MaxPool, AveragePool, GlobalMaxPool, GlobalAveragePool). Gradient: the pooling
// transposes, maxPoolBackward (routes each window's gradient to its arg-max of x, ties to the
// first tap in row-major window order, padding never wins) and avgPoolBackward (the exact
// transpose of average pooling, count_include_pad included). AE: the z-rule on positive inputs
// (spec §2.3), the forward window walk over x̂ and the same gather.
import src from './backward.wgsl';
import {
  LOWEST, avgCount, bindings, cpuForward, dispatchWalk, forEachWindow, poolUniforms, POOL_U, sections as forwardSections,
  type PoolParams, type WalkHooks,
} from './forward.js';
import type { CpuTensor } from '../op.js';
import { Gpu, type GpuTensor } from '../../kernels/gpu/runtime.js';
import { assemble, parseSections } from '../../kernels/gpu/wgsl.js';
import zruleSrc from '../shared/zrule.wgsl';
import { numel, type Shape } from '../../graph/tensor.js';
import type { Rule, RuleCtx, RuleTable } from '../rule.js';

const sections = new Map([...forwardSections, ...parseSections(src), ...parseSections(zruleSrc)]);
const WG = 64;

// ---------------------------------------------------------------- the transposes

/** Plane-relative arg-max of each window (first of equal maxima), -1 for a window without input taps. */
function cpuArgmax(p: PoolParams, x: Float32Array): Int32Array {
  const arg = new Int32Array(p.planes * p.OH * p.OW).fill(-1);
  forEachWindow(p, (o, base, _h0, _w0, taps) => {
    let best = LOWEST;
    for (const t of taps) {
      const v = x[base + t];
      if (arg[o] < 0 || v > best) {
        best = Math.max(v, LOWEST);
        arg[o] = t;
      }
    }
  });
  return arg;
}

/** Hooks of the gather (backward.wgsl): what window o hands to tap `at`, and what the element stores. */
interface GatherHooks {
  BINDINGS: string;
  CONTRIBUTION: string;
  STORE: string;
}

/** Record the gather of `sig` (one value per window) into `dst` (one per input element); `names`: sections the hooks need. */
function dispatchGather(g: Gpu, key: string, p: PoolParams, hooks: GatherHooks, sig: GPUBuffer, dst: GPUBuffer, extra: GPUBuffer[], names: string[] = []): void {
  const pipe = g.kernel(key, () => assemble(sections, ['common', ...names, 'gather'], { ...hooks }, POOL_U));
  g.dispatch(pipe, poolUniforms(p, p.planes), [sig, dst, ...extra], Gpu.groups1d(p.planes * p.H * p.W, WG));
}

/** Arg-max routing: window o hands sig[o] to its arg-max tap only. */
const ROUTE_ARGMAX = 'return select(0.0, sig[o], arg[o] == at);';

/**
 * Gradient of max pooling (MaxPool or GlobalMaxPool params): gx[argmax of window] += gy[window].
 * `x` is the pooled input (it decides the arg-max), `gy` has the pooled output's shape. The CPU
 * scatter clears `gx` first; the GPU gather writes every element.
 */
export const maxPoolBackward = {
  cpu(p: PoolParams, x: CpuTensor, gy: CpuTensor, gx: Float32Array = new Float32Array(p.planes * p.H * p.W)): Float32Array {
    gx.fill(0);
    const arg = cpuArgmax(p, x.data);
    const per = p.OH * p.OW;
    for (let o = 0; o < arg.length; o++) {
      if (arg[o] >= 0) gx[Math.floor(o / per) * p.H * p.W + arg[o]] += gy.data[o];
    }
    return gx;
  },
  gpu(g: Gpu, p: PoolParams, x: GpuTensor, gy: GpuTensor, gx: GpuTensor): void {
    const nOut = p.planes * p.OH * p.OW;
    const arg = g.alloc([nOut], 'pool.argmax');
    // Each window's plane-relative arg-max: the window walk, global pools included.
    dispatchWalk(g, 'pool.grad.argmax', p, false, {
      BINDINGS: bindings(1, ['x', 'f32', false], ['arg', 'u32', true]),
      INIT: 'LOWEST', LOAD: 'x[base + at]', ACCUMULATE: 'if (idx == NONE || v > acc) { acc = max(v, LOWEST); idx = at; }', FINISH: 'arg[i] = idx;',
    }, [x.buffer, arg.buffer]);
    dispatchGather(g, 'pool.grad.gather.max', p, {
      BINDINGS: bindings(3, ['arg', 'u32', false]), CONTRIBUTION: ROUTE_ARGMAX, STORE: 'dst[i] = acc;',
    }, gy.buffer, gx.buffer, [arg.buffer]);
    g.release(arg);
  },
};

/** Transpose of average pooling (AveragePool or GlobalAveragePool params), count_include_pad included. */
export const avgPoolBackward = {
  cpu(p: PoolParams, gy: CpuTensor, gx: Float32Array = new Float32Array(p.planes * p.H * p.W)): Float32Array {
    gx.fill(0);
    forEachWindow(p, (o, base, h0, w0, taps) => {
      const g = gy.data[o] / (p.global ? p.H * p.W : avgCount(p, h0, w0));
      for (const t of taps) gx[base + t] += g;
    });
    return gx;
  },
  gpu(g: Gpu, p: PoolParams, gy: GpuTensor, gx: GpuTensor): void {
    dispatchGather(g, 'pool.grad.gather.avg', p, {
      BINDINGS: '',
      CONTRIBUTION: 'if (u.is_global != 0u) { return sig[o] / f32(u.H * u.W); }\n  return sig[o] / avg_count(window(oh, ow));',
      STORE: 'dst[i] = acc;',
    }, gy.buffer, gx.buffer, []);
  },
};

// ---------------------------------------------------------------- rules

interface PoolRuleParams {
  /** The prepared params re-based on the backward batch (N·T samples instead of the forward N). */
  p: PoolParams;
}

function planPool(ctx: RuleCtx<unknown>, r: Shape) {
  const fwd = ctx.step.params as PoolParams;
  const p: PoolParams = { ...fwd, planes: numel(r) / (fwd.OH * fwd.OW) };
  // The step's input shape at the backward batch.
  const shape = ctx.plan.shapes.get(ctx.step.inputs[0]!)!.map((d, i) => (i === 0 ? r[0] : d));
  return { params: { p }, signals: [{ shape }] };
}

const maxGrad: Rule<PoolRuleParams> = {
  plan: planPool,
  cpu: ({ p }, ctx, dy, [out]) => void maxPoolBackward.cpu(p, ctx.input(0)!, dy, out!.data),
  gpu: ({ p }, g, ctx, dy, [out]) => maxPoolBackward.gpu(g, p, ctx.input(0)!, dy, out!),
};

const avgGrad: Rule<PoolRuleParams> = {
  plan: planPool,
  cpu: ({ p }, _ctx, dy, [out]) => void avgPoolBackward.cpu(p, dy, out!.data),
  gpu: ({ p }, g, _ctx, dy, [out]) => avgPoolBackward.gpu(g, p, dy, out!),
};

// ---------------------------------------------------------------- AE z-rule

const XHAT_EPS = Math.fround(1e-9);

function safeDiv(a: number, b: number): number {
  return b === 0 ? 0 : a / b;
}

/** CPU reference, the spec's formula step by step with the forward pooling and its transposes. */
function zRuleCpu(p: PoolParams, x: CpuTensor, r: CpuTensor, out: Float32Array): void {
  const xh: CpuTensor = { shape: x.shape, data: x.data.map((v) => Math.max(v, 0) + XHAT_EPS) };
  const z = cpuForward(p, xh.data);
  const s: CpuTensor = { shape: r.shape, data: r.data.map((v, i) => safeDiv(v, z[i])) };
  const back = p.kind === 'max' ? maxPoolBackward.cpu(p, xh, s) : avgPoolBackward.cpu(p, s);
  for (let i = 0; i < out.length; i++) out[i] = xh.data[i] * back[i];
}

/** The S pass: one walk over x̂ (S and, for max, the arg-max), bindings x, r, s[, arg]. */
const S_WALK: Record<PoolParams['kind'], Omit<WalkHooks, 'BINDINGS'> & { arg: boolean }> = {
  max: {
    arg: true,
    INIT: '0.0', LOAD: 'xhat(x[base + at])',
    ACCUMULATE: 'if (idx == NONE || v > acc) { acc = v; idx = at; }',
    COMBINE: 'if (v > part[lid.x] || (v == part[lid.x] && j < part_idx[lid.x])) { part[lid.x] = v; part_idx[lid.x] = j; }',
    FINISH: 'arg[i] = idx;\n  s[i] = safe_div(r[i], acc);',
  },
  avg: {
    arg: false,
    INIT: '0.0', LOAD: 'xhat(x[base + at])',
    ACCUMULATE: 'acc += v;',
    COMBINE: 'part[lid.x] += v;',
    FINISH: 's[i] = safe_div(r[i], acc);',
  },
};

/** The global walk finishes per plane, from the reduced part[0] (and part_idx[0]). */
const S_GLOBAL_FINISH: Record<PoolParams['kind'], string> = {
  max: 'arg[plane] = part_idx[0];\n    s[plane] = safe_div(r[plane], part[0]);',
  avg: 's[plane] = safe_div(r[plane], part[0]);',
};

const S_BINDINGS = bindings(1, ['x', 'f32', false], ['r', 'f32', false], ['s', 'f32', true]);

// AE pooling z-rule (spec §2.3): x̂ = x⁺ + 1e-9, Z = pool(x̂), S = safe_div(R, Z), R_in = x̂ ⊙
// (∂pool/∂x̂)ᵀ S: the window walks of forward.wgsl over x̂ give S (and the arg-max), the gather
// of backward.wgsl gives R_in. Taps outside the input are padding, which is no input: it never wins a max
// and adds nothing. The S buffer holds what each window hands to one tap: S itself for max, and
// for average S / count = R / Σ x̂ (the divisor, count_include_pad or not, cancels between Z and
// ∂pool/∂x̂).
function zRuleGpu(g: Gpu, p: PoolParams, x: GpuTensor, r: GpuTensor, out: GpuTensor): void {
  const nOut = p.planes * p.OH * p.OW;
  const s = g.alloc([nOut], 'ae.pool.s');
  const { arg: hasArg, ...hooks } = S_WALK[p.kind];
  const arg = hasArg ? g.alloc([nOut], 'ae.pool.arg') : undefined;
  const extra = arg ? [arg.buffer] : [];
  dispatchWalk(g, `pool.ae.s.${p.kind}`, p, p.global, {
    ...hooks,
    BINDINGS: S_BINDINGS + (hasArg ? '\n' + bindings(4, ['arg', 'u32', true]) : ''),
    FINISH: p.global ? S_GLOBAL_FINISH[p.kind] : hooks.FINISH,
  }, [x.buffer, r.buffer, s.buffer, ...extra], ['zrule'], sections);
  dispatchGather(g, `pool.ae.gather.${p.kind}`, p, {
    BINDINGS: bindings(3, ['x', 'f32', false], ...(hasArg ? [['arg', 'u32', false] as [string, 'u32', boolean]] : [])),
    CONTRIBUTION: hasArg ? ROUTE_ARGMAX : 'return sig[o];',
    STORE: 'dst[i] = xhat(x[i]) * acc;',
  }, s.buffer, out.buffer, [x.buffer, ...extra], ['zrule']);
  g.release(s);
  if (arg) g.release(arg);
}

const zRule: Rule<PoolRuleParams> = {
  plan: planPool,
  cpu: ({ p }, ctx, r, [out]) => zRuleCpu(p, ctx.input(0)!, r, out!.data),
  gpu: ({ p }, g, ctx, r, [out]) => zRuleGpu(g, p, ctx.input(0)!, r, out!),
};

export const gradient: RuleTable = {
  MaxPool: maxGrad,
  GlobalMaxPool: maxGrad,
  AveragePool: avgGrad,
  GlobalAveragePool: avgGrad,
};

export const ae: RuleTable = {
  MaxPool: zRule,
  GlobalMaxPool: zRule,
  AveragePool: zRule,
  GlobalAveragePool: zRule,
};
