// Pooling (MaxPool, AveragePool, GlobalMaxPool, GlobalAveragePool). Gradient: the pooling
// transposes of src/kernels/pool.ts (max routes to the arg-max of x, ties to the first tap in
// row-major window order, padding never wins). AE: the z-rule on positive inputs (spec §2.3).
import src from './ae_pool.wgsl';
import poolSrc from './pool.wgsl';
import { ops as poolOps, maxPoolBackward, avgPoolBackward, type PoolParams } from './forward.js';
import type { CpuTensor } from '../op.js';
import { Gpu, Uniforms, type GpuTensor } from '../../kernels/gpu/runtime.js';
import { assemble, parseSections } from '../../kernels/gpu/wgsl.js';
import { numel, type Shape } from '../../graph/tensor.js';
import type { LegacyRule as Rule, RuleCtx, LegacyTable as RuleTable } from '../rule.js';

/** The prepared params re-based on the backward batch (N·T samples instead of the forward N). */
function atBatch(ctx: RuleCtx<unknown>, r: { shape: Shape }): PoolParams {
  const p = ctx.step.params as PoolParams;
  return { ...p, planes: numel(r.shape) / (p.OH * p.OW) };
}

/** The step's input shape at the backward batch. */
function inputShape(ctx: RuleCtx<unknown>, r: { shape: Shape }): Shape {
  return ctx.plan.shapes.get(ctx.step.inputs[0]!)!.map((d, i) => (i === 0 ? r.shape[0] : d));
}

// ---------------------------------------------------------------- gradient

const maxGrad: Rule = {
  cpu(ctx, dy) {
    const p = atBatch(ctx, dy);
    return [{ shape: inputShape(ctx, dy), data: maxPoolBackward.cpu(p, ctx.input(0)!, dy) }];
  },
  gpu(g, ctx, dy) {
    const p = atBatch(ctx, dy);
    const out = g.alloc(inputShape(ctx, dy), 'grad.maxpool');
    maxPoolBackward.gpu(g, p, ctx.input(0)!, dy, out);
    return [out];
  },
};

const avgGrad: Rule = {
  cpu(ctx, dy) {
    return [{ shape: inputShape(ctx, dy), data: avgPoolBackward.cpu(atBatch(ctx, dy), dy) }];
  },
  gpu(g, ctx, dy) {
    const out = g.alloc(inputShape(ctx, dy), 'grad.avgpool');
    avgPoolBackward.gpu(g, atBatch(ctx, dy), dy, out);
    return [out];
  },
};

// ---------------------------------------------------------------- AE z-rule

const XHAT_EPS = Math.fround(1e-9);

function safeDiv(a: number, b: number): number {
  return b === 0 ? 0 : a / b;
}

/** CPU reference, the spec's formula step by step with the forward pooling and its transposes. */
function zRuleCpu(ctx: RuleCtx<CpuTensor>, r: CpuTensor): CpuTensor {
  const p = atBatch(ctx, r);
  const x = ctx.input(0)!;
  const shape = x.shape;
  const xh: CpuTensor = { shape, data: x.data.map((v) => Math.max(v, 0) + XHAT_EPS) };
  const z = poolOps[ctx.step.node.opType].cpu(p, [xh], [r.shape])[0];
  const s: CpuTensor = { shape: r.shape, data: r.data.map((v, i) => safeDiv(v, z[i])) };
  const back = p.kind === 'max' ? maxPoolBackward.cpu(p, xh, s) : avgPoolBackward.cpu(p, s);
  return { shape, data: back.map((v, i) => xh.data[i] * v) };
}

const sections = new Map([...parseSections(poolSrc), ...parseSections(src)]);
const WG = 64;
const ARG_WRITE = '@group(0) @binding(4) var<storage, read_write> arg: array<u32>;';
const ARG_READ = '@group(0) @binding(4) var<storage, read> arg: array<u32>;';

const S_VARIANT = {
  max: {
    ARG_BINDING: ARG_WRITE,
    ACCUMULATE: 'if (idx == NONE || v > acc) { acc = v; idx = at; }',
    FINISH: 'arg[i] = idx;\n  s[i] = safe_div(r[i], acc);',
    COMBINE: 'if (v > part[lid.x] || (v == part[lid.x] && j < part_idx[lid.x])) { part[lid.x] = v; part_idx[lid.x] = j; }',
    GLOBAL_FINISH: 'arg[plane] = part_idx[0];\n    s[plane] = safe_div(r[plane], part[0]);',
  },
  avg: {
    ARG_BINDING: '',
    ACCUMULATE: 'acc += v;',
    FINISH: 's[i] = safe_div(r[i], acc);',
    COMBINE: 'part[lid.x] += v;',
    GLOBAL_FINISH: 's[plane] = safe_div(r[plane], part[0]);',
  },
};

const GATHER_VARIANT = {
  max: { ARG_BINDING: ARG_READ, CONTRIBUTION: 'return select(0.0, s[o], arg[o] == at);' },
  avg: { ARG_BINDING: '', CONTRIBUTION: 'return s[o];' },
};

/** The uniform block of pool.wgsl's `common` section (as src/kernels/pool.ts builds it). */
function poolUniforms(p: PoolParams, total: number): Uniforms {
  return new Uniforms()
    .u(total, p.H, p.W, p.OH, p.OW, p.kh, p.kw, p.sh, p.sw, p.dh, p.dw)
    .i(p.pt, p.pl, p.pb, p.pr)
    .u(p.countIncludePad ? 1 : 0, p.global ? 1 : 0, 0, 0, 0);
}

function zRuleGpu(g: Gpu, ctx: RuleCtx<GpuTensor>, r: GpuTensor): GpuTensor {
  const p = atBatch(ctx, r);
  const x = ctx.input(0)!;
  const nOut = p.planes * p.OH * p.OW;
  const s = g.alloc([nOut], 'ae.pool.s');
  const arg = p.kind === 'max' ? g.alloc([nOut], 'ae.pool.arg') : undefined;
  const extra = arg ? [arg.buffer] : [];
  const which = p.global ? 's_global' : 's_window';
  const sPipe = g.kernel(`ae.pool.${which}_${p.kind}`, () => assemble(sections, ['common', 'zrule', which], S_VARIANT[p.kind]));
  g.dispatch(sPipe, poolUniforms(p, p.global ? p.planes : nOut), [x.buffer, r.buffer, s.buffer, ...extra],
    p.global ? [p.planes] : Gpu.groups1d(nOut, WG));
  const out = g.alloc(x.shape, 'ae.pool');
  const gPipe = g.kernel(`ae.pool.gather_${p.kind}`, () => assemble(sections, ['common', 'zrule', 'gather'], GATHER_VARIANT[p.kind]));
  g.dispatch(gPipe, poolUniforms(p, p.planes), [x.buffer, s.buffer, out.buffer, ...extra], Gpu.groups1d(numel(x.shape), WG));
  g.release(s);
  if (arg) g.release(arg);
  return out;
}

const zRule: Rule = {
  cpu: (ctx, r) => [zRuleCpu(ctx, r)],
  gpu: (g, ctx, r) => [zRuleGpu(g, ctx, r)],
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
