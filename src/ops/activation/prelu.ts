// PRelu: y = x < 0 ? slope·x : x with the slope (input 1, usually a constant per channel)
// broadcast to x by ONNX's unidirectional broadcasting. Gradient: at x, dy or dy·slope; at a
// runtime slope, dy·min(x, 0) summed over the axes it is broadcast along (a constant slope gets no
// signal). AE: an activation, the relevance passes to x unchanged (spec §2.11); the slope gets none.
import fwdSrc from './forward.wgsl';
import bwdSrc from './backward.wgsl';
import { fmtShape, numel, stridesOf, type Shape } from '../../graph/tensor.js';
import { nodeError } from '../../errors.js';
import { Gpu } from '../../kernels/gpu/runtime.js';
import { assemble, parseSections, uniforms } from '../../kernels/gpu/wgsl.js';
import { broadcastStrides, coalesce, forEachOffset } from '../shared/fold.js';
import { backShape, fail, isRuntime, keepsSamples, perSample } from '../shared/signal.js';
import type { OpSpec, PrepareCtx } from '../op.js';
import type { Rule, RuleTable } from '../rule.js';

const sections = new Map([...parseSections(fwdSrc), ...parseSections(bwdSrc)]);
const MAX_RANK = 8;

const PRELU_U = uniforms({ total: 'u32', rank: 'u32', m: 'u32', shape: { vec4: 'u32', n: 2 }, ss: { vec4: 'u32', n: 2 }, red: { vec4: 'u32', n: 2 } });

/** x's shape coalesced with the slope's strides at x's coordinates (what both element kernels read). */
interface Layout { total: number; shape: Shape; ss: number[] }

function layout(x: Shape, slope: Shape): Layout {
  const c = coalesce(x, [stridesOf(x), broadcastStrides(slope, x)]);
  return { total: numel(x), shape: c.shape, ss: c.strides[1] };
}

/** Unidirectional broadcasting: the slope's shape, right-aligned, has 1 or x's extent on every axis. */
function broadcastsTo(slope: Shape, x: Shape): boolean {
  if (slope.length > x.length) return false;
  const off = x.length - slope.length;
  return slope.every((s, d) => s === 1 || s === x[d + off]);
}

function prepare(ctx: PrepareCtx) {
  const { node } = ctx;
  const x = ctx.shapes[0], s = ctx.shapes[1];
  if (!x || !s) throw nodeError(node.opType, node.name, 'inputs X and slope are required');
  if (!broadcastsTo(s, x)) throw nodeError(node.opType, node.name, `slope ${fmtShape(s)} does not broadcast to X ${fmtShape(x)} (unidirectional broadcasting)`);
  if (x.length > MAX_RANK) throw nodeError(node.opType, node.name, `rank ${x.length} exceeds the ${MAX_RANK} supported`);
  return { shapes: [x], params: layout(x, s) };
}

function pack(l: Layout, m = 1, red: number[] = []) {
  return PRELU_U.pack({ total: l.total, rank: l.shape.length, m, shape: l.shape, ss: l.ss, red }, { shape: 1, red: 1 });
}

export const PRelu: OpSpec<Layout> = {
  traits: { activation: true },
  prepare,
  cpu(p, inputs) {
    const x = inputs[0]!.data, s = inputs[1]!.data;
    const y = new Float32Array(p.total);
    forEachOffset(p.shape, [p.ss], [0], (i, [o]) => (y[i] = x[i] < 0 ? s[o] * x[i] : x[i]));
    return [y];
  },
  gpu(g, p, inputs, outputs) {
    const pipe = g.kernel('activation.forward.prelu', () => assemble(sections, ['offset_of', 'slope_at', 'prelu'], {}, PRELU_U));
    g.dispatch(pipe, pack(p), [inputs[0]!.buffer, inputs[1]!.buffer, outputs[0].buffer], Gpu.groups1d(p.total, 64));
  },
};

interface GradParams {
  x: Layout;
  /** The slope's gradient (a runtime slope only): its back shape aligned to dy's rank, and the broadcast extents. */
  slope?: { n: number; kshape: Shape; red: Shape; sdy: number[] };
}

const grad: Rule<GradParams> = {
  plan(ctx, r) {
    const name = ctx.step.node.inputs[1];
    const t = perSample(ctx, { shape: r });
    const runtime = isRuntime(ctx, 1);
    const planShape = ctx.plan.shapes.get(name)!;
    if (runtime) {
      keepsSamples(ctx, t, planShape.length === r.length && planShape[0] === ctx.step.outShapes[0][0],
        `the runtime slope ${fmtShape(planShape)} is broadcast along the batch axis`);
    }
    const sShape = runtime ? backShape(ctx, name, t) : planShape;
    const x = layout(r, sShape);
    if (!runtime) return { params: { x }, signals: [{ shape: r }, undefined] };
    const kshape = [...new Array<number>(r.length - sShape.length).fill(1), ...sShape];
    const slope = { n: numel(sShape), kshape, red: kshape.map((s, d) => (s === 1 ? r[d] : 1)), sdy: stridesOf(r) };
    if (r.length > MAX_RANK) throw fail(ctx, `rank ${r.length} exceeds the ${MAX_RANK} supported`);
    return { params: { x, slope }, signals: [{ shape: r }, { shape: sShape }] };
  },
  cpu(p, ctx, dy, out) {
    const x = ctx.input(0)!.data, s = ctx.input(1)!.data, d = dy.data, o = out[0]!.data;
    const acc = p.slope ? new Float64Array(p.slope.n) : undefined;
    forEachOffset(p.x.shape, [p.x.ss], [0], (i, [k]) => {
      o[i] = x[i] > 0 ? d[i] : d[i] * s[k];
      if (acc && x[i] < 0) acc[k] += d[i] * x[i];
    });
    if (acc) out[1]!.data.set(acc);
  },
  gpu(p, g, ctx, dy, out) {
    const x = ctx.input(0)!, s = ctx.input(1)!;
    const pipe = g.kernel('activation.grad.prelu.x', () => assemble(sections, ['offset_of', 'slope_at', 'prelu_grad_x'], {}, PRELU_U));
    g.dispatch(pipe, pack(p.x), [out[0]!.buffer, dy.buffer, x.buffer, s.buffer], Gpu.groups1d(p.x.total));
    if (!p.slope) return;
    const q = p.slope;
    const ps = g.kernel('activation.grad.prelu.slope', () => assemble(sections, ['offset_of', 'prelu_grad_slope'], {}, PRELU_U));
    const u = PRELU_U.pack({ total: q.n, rank: q.kshape.length, m: numel(q.red), shape: q.kshape, ss: q.sdy, red: q.red }, { shape: 1, red: 1 });
    g.dispatch(ps, u, [out[1]!.buffer, dy.buffer, x.buffer], Gpu.groups1d(q.n, 64));
  },
};

/** AE: all of R to x; the slope receives nothing. */
const ae: Rule<null> = {
  plan: (_ctx, r) => ({ params: null, signals: [{ shape: r, alias: true }, undefined] }),
  cpu() {},
  gpu() {},
};

export const preluRules: { gradient: RuleTable; ae: RuleTable } = { gradient: { PRelu: grad }, ae: { PRelu: ae } };
