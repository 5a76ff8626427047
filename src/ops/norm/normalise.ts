// LayerNormalization (opset 17), GroupNormalization (18: scale and bias per group; 21: per
// channel) and InstanceNormalization: x is seen as `rows` contiguous rows of `inner` elements, each
// normalised by its own mean and (population) variance, then scaled and shifted by parameters
// indexed per element i as (i / div) % mod. Gradient: the true derivative, through the mean and
// the variance. AE (spec §2.11, §2.2's rule): R ⊙ [x ≠ 0] ⊙ [γ ≠ 0].
import src from './forward.wgsl';
import bwd from './backward.wgsl';
import { attrFloat, attrInt } from '../../graph/ir.js';
import { fmtShape, numel, type Shape } from '../../graph/tensor.js';
import { nodeError } from '../../errors.js';
import { Gpu } from '../../kernels/gpu/runtime.js';
import { assemble, parseSections, uniforms } from '../../kernels/gpu/wgsl.js';
import { normAxis } from '../shared/fold.js';
import { fail, isRuntime, keepsSamples, perSample } from '../shared/signal.js';
import type { OpSpec, OpTable, PrepareCtx } from '../op.js';
import type { Rule, RuleTable } from '../rule.js';

const sections = new Map([...parseSections(src), ...parseSections(bwd)]);

const NORM_U = uniforms({
  total: 'u32', rows: 'u32', inner: 'u32', eps: 'f32',
  sdiv: 'u32', smod: 'u32', bdiv: 'u32', bmod: 'u32', has_bias: 'u32',
});

/** Which parameter element applies to element i: (i / div) % mod. */
export interface ParamIndex { div: number; mod: number }

export interface NormParams {
  op: string;
  total: number;
  rows: number;
  inner: number;
  eps: number;
  scale: ParamIndex;
  bias?: ParamIndex;
  /** LayerNormalization's Mean and InvStdDev outputs are requested (one value per row). */
  stats: boolean;
  /** LayerNormalization over the batch axis (axis 0): rows span samples. */
  acrossBatch: boolean;
}

const at = (p: ParamIndex, i: number) => Math.floor(i / p.div) % p.mod;

/**
 * The index of a parameter of shape `p` broadcast (right-aligned) over `inner`, the trailing
 * dimensions of x: its non-1 axes must be one contiguous run equal to inner's there.
 */
function broadcastIndex(fail: (m: string) => Error, what: string, p: Shape, inner: Shape): ParamIndex {
  const dims = [...p];
  while (dims.length > inner.length && dims[0] === 1) dims.shift();
  const off = inner.length - dims.length;
  const big = dims.map((d, k) => (d !== 1 ? k : -1)).filter((k) => k >= 0);
  const ok = off >= 0 && dims.every((d, k) => d === 1 || d === inner[k + off]) && (big.length === 0 || big[big.length - 1] - big[0] + 1 === big.length);
  if (!ok) throw fail(`${what} ${fmtShape(p)} must broadcast to the normalised shape ${fmtShape(inner)} along one contiguous run of axes`);
  if (!big.length) return { div: 1, mod: 1 };
  return { div: numel(inner.slice(big[big.length - 1] + off + 1)), mod: numel(dims.slice(big[0], big[big.length - 1] + 1)) };
}

function prepareNorm(ctx: PrepareCtx) {
  const { node, opset } = ctx;
  const bad = (m: string) => nodeError(node.opType, node.name, m);
  const x = ctx.shapes[0], s = ctx.shapes[1], b = node.inputs[2] ? ctx.shapes[2] : undefined;
  if (!x) throw bad('input X is required');
  if (!s) throw bad('input scale is required');
  const eps = attrFloat(node, 'epsilon', 1e-5);
  const total = numel(x);
  const op = node.opType;
  let rows: number, inner: number, scale: ParamIndex, bias: ParamIndex | undefined, stats = false, acrossBatch = false;
  const shapes: Shape[] = [x];
  const perChannel = (what: string, t: Shape, want: number, div: number, per: string): ParamIndex => {
    if (numel(t) !== want) throw bad(`${what} ${fmtShape(t)} must have ${want} elements (one per ${per}) for X ${fmtShape(x)}`);
    return { div, mod: want };
  };
  if (op === 'LayerNormalization') {
    if (x.length < 1) throw bad('input X must have rank ≥ 1');
    const axis = normAxis(node, attrInt(node, 'axis', -1), x.length);
    rows = numel(x.slice(0, axis));
    inner = numel(x.slice(axis));
    scale = broadcastIndex(bad, 'scale', s, x.slice(axis));
    bias = b ? broadcastIndex(bad, 'B', b, x.slice(axis)) : undefined;
    acrossBatch = axis === 0;
    // Mean and InvStdDev: x's shape with 1 on the normalised axes.
    if (node.outputs.slice(1).some((o) => o !== '')) {
      stats = true;
      const st = x.map((d, k) => (k < axis ? d : 1));
      shapes.push(st, st);
    }
  } else {
    if (x.length < 2) throw bad(`input X must be N×C×…, got ${fmtShape(x)}`);
    if (!b) throw bad('input B is required');
    const [N, C] = x;
    const spatial = numel(x.slice(2));
    if (op === 'InstanceNormalization') {
      rows = N * C;
      inner = spatial;
      scale = perChannel('scale', s, C, spatial, 'channel');
      bias = perChannel('B', b, C, spatial, 'channel');
    } else {
      const G = attrInt(node, 'num_groups');
      if (!Number.isInteger(G) || G < 1 || C % G !== 0) throw bad(`num_groups ${G} must divide the ${C} channels`);
      rows = N * G;
      inner = (C / G) * spatial;
      // Opset 18 takes one scale and bias per group; 21 (as PyTorch) one per channel.
      if (opset < 21) {
        scale = perChannel('scale', s, G, inner, 'group, opset < 21');
        bias = perChannel('bias', b, G, inner, 'group, opset < 21');
      } else {
        scale = perChannel('scale', s, C, spatial, 'channel');
        bias = perChannel('bias', b, C, spatial, 'channel');
      }
    }
  }
  const params: NormParams = { op, total, rows, inner, eps, scale, bias, stats, acrossBatch };
  return { shapes, params };
}

function pack(p: NormParams, total: number) {
  const b = p.bias ?? { div: 1, mod: 1 };
  return NORM_U.pack({
    total, rows: total / Math.max(1, p.inner), inner: p.inner, eps: p.eps,
    sdiv: p.scale.div, smod: p.scale.mod, bdiv: b.div, bmod: b.mod, has_bias: p.bias ? 1 : 0,
  });
}

/** Mean and 1/sqrt(var + ε) of the row at `base`, in float64. */
function rowStats(x: Float32Array, base: number, n: number, eps: number): [number, number] {
  let s = 0;
  for (let k = 0; k < n; k++) s += x[base + k];
  const mean = s / n;
  let q = 0;
  for (let k = 0; k < n; k++) q += (x[base + k] - mean) ** 2;
  return [mean, 1 / Math.sqrt(q / n + Math.fround(eps))];
}

const STATS_BINDINGS = [
  '@group(0) @binding(5) var<storage, read_write> mean_out: array<f32>;',
  '@group(0) @binding(6) var<storage, read_write> istd_out: array<f32>;',
].join('\n');
const STATS = 'if (lid == 0u) {\n    mean_out[row] = st.x;\n    istd_out[row] = st.y;\n  }';

function spec(): OpSpec<NormParams> {
  return {
    traits: { normaliser: true },
    prepare: prepareNorm,
    cpu(p, inputs) {
      const x = inputs[0]!.data, sc = inputs[1]!.data, b = p.bias ? inputs[2]!.data : undefined;
      const y = new Float32Array(p.total);
      const mean = new Float32Array(p.rows), istd = new Float32Array(p.rows);
      for (let r = 0; r < p.rows; r++) {
        const base = r * p.inner;
        const [m, rho] = rowStats(x, base, p.inner, p.eps);
        mean[r] = m;
        istd[r] = rho;
        for (let k = 0; k < p.inner; k++) {
          const i = base + k;
          y[i] = (x[i] - m) * rho * sc[at(p.scale, i)] + (b ? b[at(p.bias!, i)] : 0);
        }
      }
      return p.stats ? [y, mean, istd] : [y];
    },
    gpu(g, p, inputs, outputs) {
      const key = `norm.forward.${p.op === 'LayerNormalization' ? 'layernorm' : 'rows'}${p.stats ? '.stats' : ''}`;
      const pipe = g.kernel(key, () => assemble(sections, ['row_stats', 'normalise'], {
        STATS_BINDINGS: p.stats ? STATS_BINDINGS : '', STATS: p.stats ? STATS : '',
      }, NORM_U));
      const x = inputs[0]!, sc = inputs[1]!;
      const bufs = [x.buffer, sc.buffer, (p.bias ? inputs[2]! : sc).buffer, outputs[0].buffer];
      if (p.stats) bufs.push(outputs[1].buffer, outputs[2].buffer);
      g.dispatch(pipe, pack(p, p.total), bufs, [p.rows]);
    },
  };
}

export const ops: OpTable = { LayerNormalization: spec(), GroupNormalization: spec(), InstanceNormalization: spec() };

// ---------------------------------------------------------------- rules

interface RuleParams { norm: NormParams; total: number }

function planRule(ctx: Parameters<Rule['plan']>[0], r: Shape, what: string): { params: RuleParams; signals: [{ shape: Shape }] } {
  const norm = ctx.step.params as NormParams;
  const t = perSample(ctx, { shape: r });
  keepsSamples(ctx, t, !norm.acrossBatch, `${what}: LayerNormalization over axis 0 normalises across samples`);
  // The walker repeats runtime tensors along their axis 0, which a parameter tensor does not have.
  keepsSamples(ctx, t, !isRuntime(ctx, 1), `${what}: the scale is a runtime tensor`);
  return { params: { norm, total: numel(r) }, signals: [{ shape: r }] };
}

/** Gradient: dx = ρ (g − mean(g) − x̂ mean(g x̂)) per row, g = dy·γ; only x receives one. */
const grad: Rule<RuleParams> = {
  plan(ctx, r) {
    for (const [i, name] of [[1, 'scale'], [2, 'bias']] as const) {
      if (isRuntime(ctx, i)) throw fail(ctx, `the gradient with respect to a runtime ${name} is not supported (only constant parameters)`);
    }
    return planRule(ctx, r, 'gradient');
  },
  cpu({ norm: p, total }, ctx, dy, [out]) {
    const x = ctx.input(0)!.data, sc = ctx.input(1)!.data, d = dy.data, o = out!.data;
    const n = p.inner;
    for (let base = 0; base < total; base += n) {
      const [m, rho] = rowStats(x, base, n, p.eps);
      let a = 0, b = 0;
      for (let k = 0; k < n; k++) {
        const g = d[base + k] * sc[at(p.scale, base + k)];
        a += g;
        b += g * (x[base + k] - m) * rho;
      }
      a /= n;
      b /= n;
      for (let k = 0; k < n; k++) {
        const i = base + k;
        o[i] = rho * (d[i] * sc[at(p.scale, i)] - a - (x[i] - m) * rho * b);
      }
    }
  },
  gpu({ norm: p, total }, g, ctx, dy, [out]) {
    const pipe = g.kernel('norm.grad.rows', () => assemble(sections, ['row_stats', 'normalise_grad'], {}, NORM_U));
    g.dispatch(pipe, pack(p, total), [out!.buffer, dy.buffer, ctx.input(1)!.buffer, ctx.input(0)!.buffer], [total / Math.max(1, p.inner)]);
  },
};

/** AE (spec §2.11 → §2.2): R where x ≠ 0 and γ ≠ 0; the statistics and the parameters receive nothing. */
const mask: Rule<RuleParams> = {
  plan: (ctx, r) => planRule(ctx, r, 'AE'),
  cpu({ norm: p, total }, ctx, r, [out]) {
    const x = ctx.input(0)!.data, sc = ctx.input(1)!.data, o = out!.data;
    for (let i = 0; i < total; i++) o[i] = x[i] !== 0 && sc[at(p.scale, i)] !== 0 ? r.data[i] : 0;
  },
  gpu({ norm: p, total }, g, ctx, r, [out]) {
    const pipe = g.kernel('norm.ae.rows', () => assemble(sections, ['normalise_mask'], {}, NORM_U));
    g.dispatch(pipe, pack(p, total), [out!.buffer, r.buffer, ctx.input(1)!.buffer, ctx.input(0)!.buffer], Gpu.groups1d(total));
  },
};

const names = Object.keys(ops);
export const gradient: RuleTable = Object.fromEntries(names.map((k) => [k, grad]));
export const ae: RuleTable = Object.fromEntries(names.map((k) => [k, mask]));
