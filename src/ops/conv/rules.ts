// Convolution rules. Gradient: the transposed convolution (input gradient). AE (spec §2.4–2.6):
// the general rule (kernel > 1×1), the 1×1 rule (no ratio, no shift) and the zB rule of the first
// convolution. Grouped and depthwise convolutions apply the rule within each group (the kernels
// only ever pair channels of one group); the bias plays no part; padding is no neuron.
//
// CPU: the spec's formulas, built from convForwardCpu / convInputGradCpu with |W|, W⁺, W⁻ and
// element-wise loops (two identities by linearity keep it to 6 convolution passes; see below). GPU (backward.ts), general and 1×1:
//   1. ΣR⁺, ΣR⁻ per sample (gpuAttr.samplePosNeg: both in one dispatch);
//   2. one forward pass: Z = conv(x⁺,|W|) and Za, Zb (each valid tap's |w| goes to exactly one of
//      them), with the sections S_c, S_a, S_b formed in its epilogue;
//   3. one transposed pass (the gather skeleton): convT(S_c,|W|) and convT(x>0 ? S_a : S_b,|W|);
//   (on hardware GPUs passes 2 and 3 are tiled GEMMs, tiled.ts: pass 2 for every geometry with
//   8 or more output channels per group, pass 3 for every geometry with 8 or more input channels
//   per group, strided ones as one GEMM per output phase (transposed.ts); with T targets per
//   input pass 2's GEMM runs once per input, its epilogue once per target)
//   4. with the shift: k = non-zero count of C per sample (counted by the gather pass 3 with u32
//      atomics; after the tiled pass 3 by sampleSum 'nonzero') and the combine.
// zB: per-sample (min, max) of the model input, one forward pass (Z, then S = R/Z), one transposed
// pass with the W⁺ and W⁻ accumulators (both tiled GEMMs on hardware GPUs where the side they tile
// has 8 or more channels per group, the two accumulators of each sharing the W tiles).
import type { CpuTensor } from '../op.js';
import { Gpu, type GpuTensor, type SignalSums } from '../../kernels/gpu/runtime.js';
import { convForwardCpu, type ConvParams } from './forward.js';
import { convInputGradCpu, convInputGradGpu } from './input-grad.js';
import { cpuAttr, gpuAttr } from '../shared/attribution.js';
import { perSample } from '../shared/signal.js';
import { geoPipe, pass, SMALL, smallPipe } from './backward.js';
import { tiledAeBackward, tiledAeForward, tiledAeForwardServes, tiledTransposedServes, tiledZbBackward, tiledZbForward } from './tiled.js';
import { kernelVariant } from '../../kernels/gpu/kernel-choice.js';
import { numel, type Shape } from '../../graph/tensor.js';
import type { AeOptions, Rule, RuleCtx, RulePlan, RuleTable } from '../rule.js';

/**
 * What both conv rules plan: the step's geometry re-based on the backward batch (N·T samples
 * instead of N), and one signal, for X (none for W and B), of X's shape at that batch. Every
 * input pixel is written by both twins, so it needs no zeroing.
 */
function planConv<P>(ctx: RuleCtx<unknown>, r: Shape, params: (p: ConvParams) => P): RulePlan<P> {
  const p: ConvParams = { ...(ctx.step.params as ConvParams), n: r[0] };
  const shape = ctx.plan.shapes.get(ctx.step.inputs[0]!)!.map((d, i) => (i === 0 ? r[0] : d));
  return { params: params(p), signals: ctx.step.node.inputs.map((_, i) => (i === 0 ? { shape } : undefined)) };
}

const isPointwise = (p: ConvParams) => p.kh * p.kw === 1;

type Variant = 'general' | 'pointwise' | 'zb';

const variantOf = (p: ConvParams, firstConv: boolean): Variant => (firstConv ? 'zb' : isPointwise(p) ? 'pointwise' : 'general');

// ---------------------------------------------------------------- gradient

const convGrad: Rule<ConvParams> = {
  plan: (ctx, r) => planConv(ctx, r, (p) => p),
  cpu(p, ctx, dy, [dx]) {
    convInputGradCpu(p, dy, ctx.input(1)!, dx!.data);
  },
  gpu(p, g, ctx, dy, [dx]) {
    convInputGradGpu(g, p, dy, ctx.input(1)!, dx!);
  },
};

// ---------------------------------------------------------------- CPU reference

const safeDiv = (a: number, b: number) => (b === 0 ? 0 : a / b);
const per = (t: CpuTensor) => numel(t.shape) / t.shape[0];

/** f(value, sample, index) over t into a new tensor of its shape (plain loops: hot on real models). */
function map(t: CpuTensor, f: (v: number, n: number, i: number) => number): CpuTensor {
  const out = new Float32Array(t.data.length);
  const m = per(t);
  for (let n = 0, i = 0; n < t.shape[0]; n++) for (let e = 0; e < m; e++, i++) out[i] = f(t.data[i], n, i);
  return { shape: t.shape, data: out };
}

type Switches = { ratio: number; contrib: boolean; shift: boolean; activated: boolean; inactivated: boolean };

/** The switches as the rule variant applies them: 1×1 has no ratio and no shift (spec §2.5). */
function effective(o: AeOptions, v: Variant): Switches {
  const pw = v === 'pointwise';
  return { ratio: pw ? 1 : o.ratio, contrib: o.contrib, shift: o.shift && o.contrib && !pw, activated: o.activated, inactivated: o.inactivated };
}

/** Spec §2.4 (and §2.5 through `effective`), into `res` (of x's shape). */
function aeCpu(p: ConvParams, x: CpuTensor, w: CpuTensor, r: CpuTensor, o: Switches, res: Float32Array): void {
  const absW = map(w, Math.abs);
  const sumPos = cpuAttr.sampleSum(r, 'pos'), sumNeg = cpuAttr.sampleSum(r, 'neg');
  // 1. P = R⁺/ΣR⁺ (sums to +1), Q = −R⁻/ΣR⁻ (sums to −1), Pr = ratio·P.
  const P = map(r, (v, n) => safeDiv(Math.max(v, 0), sumPos[n])).data;
  const Q = map(r, (v, n) => -safeDiv(Math.min(v, 0), sumNeg[n])).data;
  const Pr = P.map((v) => o.ratio * v);
  const xPos = map(x, (v) => Math.max(v, 0));
  const a = map(x, (v) => (v > 0 ? 1 : 0));
  const b = map(x, (v) => (v <= 0 ? 1 : 0));
  const conv = (t: CpuTensor): Float32Array => convForwardCpu(p, t, absW);
  const convT = (s: CpuTensor): Float32Array => convInputGradCpu(p, s, absW);
  const out = new Float64Array(numel(x.shape));

  if (o.contrib) {
    // 2. C = x⁺ ⊙ (convT(safe_div(Pr, Z)[R>0], |W|) + convT(safe_div(Q, Z)[R<0], |W|)); the two
    //    sections have disjoint supports, so the sum is the convT of their sum (linearity).
    const Z = conv(xPos);
    const back = convT(map(r, (v, _n, i) => (v > 0 ? safeDiv(Pr[i], Z[i]) : v < 0 ? safeDiv(Q[i], Z[i]) : 0)));
    const C = map(xPos, (v, _n, i) => v * back[i]);
    // 3. C' = C − [C≠0]/k, k = number of non-zero entries of C per sample.
    const k = o.shift ? cpuAttr.sampleSum(C, 'nonzero') : undefined;
    map(C, (v, n, i) => (out[i] += k && v !== 0 ? v - 1 / k[n] : v));
  }
  if (o.activated) {
    // 4. A = a ⊙ convT(safe_div(P, Za), |W|).
    const Za = conv(a);
    const back = convT(map(r, (_v, _n, i) => safeDiv(P[i], Za[i])));
    map(a, (v, _n, i) => (out[i] += v * back[i]));
  }
  if (o.inactivated) {
    // 5. B = b ⊙ convT(safe_div(Q, Zb), |W|).
    const Zb = conv(b);
    const back = convT(map(r, (_v, _n, i) => safeDiv(Q[i], Zb[i])));
    map(b, (v, _n, i) => (out[i] += v * back[i]));
  }
  res.set(out);
}

/** Per-sample minimum and maximum of the model input over all of C,H,W (spec §2.6). */
export function boundsCpu(m: CpuTensor): { lo: number[]; hi: number[] } {
  const pm = per(m);
  const lo: number[] = [], hi: number[] = [];
  for (let n = 0; n < m.shape[0]; n++) {
    let a = Infinity, b = -Infinity;
    for (let k = n * pm; k < (n + 1) * pm; k++) {
      a = Math.min(a, m.data[k]);
      b = Math.max(b, m.data[k]);
    }
    lo.push(a);
    hi.push(b);
  }
  return { lo, hi };
}

/**
 * Spec §2.6: the zB rule. L and Hi are per-sample scalars and zero padding pads them like x, so
 * conv(L, W⁺) = L·conv(1, W⁺) with the convolution of ones computed once (one sample); and
 * convT(S, W) = convT(S, W⁺) + convT(S, W⁻).
 */
function zbCpu(p: ConvParams, x: CpuTensor, w: CpuTensor, r: CpuTensor, model: CpuTensor, res: Float32Array): void {
  const { lo, hi } = boundsCpu(model);
  const pr = per(r);
  const wPos = map(w, (v) => Math.max(v, 0)), wNeg = map(w, (v) => Math.min(v, 0));
  const ones: CpuTensor = { shape: [1, ...x.shape.slice(1)], data: new Float32Array(per(x)).fill(1) };
  const onePos = convForwardCpu({ ...p, n: 1 }, ones, wPos), oneNeg = convForwardCpu({ ...p, n: 1 }, ones, wNeg);
  const zx = convForwardCpu(p, x, w);
  const S = map(r, (v, n, i) => safeDiv(v, zx[i] - lo[n] * onePos[i % pr] - hi[n] * oneNeg[i % pr]));
  const tPos = convInputGradCpu(p, S, wPos), tNeg = convInputGradCpu(p, S, wNeg);
  const px = per(x);
  for (let n = 0, i = 0; n < x.shape[0]; n++) for (let e = 0; e < px; e++, i++) res[i] = x.data[i] * (tPos[i] + tNeg[i]) - lo[n] * tPos[i] - hi[n] * tNeg[i];
}

// ---------------------------------------------------------------- GPU

const F_CONTRIB = 1, F_ACTIVATED = 2, F_INACTIVATED = 4, F_KEEP_C = 8, F_ACC = 16, F_PSHIFT = 32;
/** Gpu.state.defer's kind for a shift left to the next rule that adds into the same fork's sum. */
const PENDING_SHIFT = 'ae.conv.shift';

/**
 * `acc`: `out` holds a fork's pending sum and receives out + result (Rule.accumulates): fused into
 * the gather pass's store without the shift, into the shift otherwise; after a tiled gather pass
 * without the shift, one accumulate of the result (as the walker's sum would be).
 */
function aeGpu(g: Gpu, p: ConvParams, x: GpuTensor, w: GpuTensor, r: GpuTensor, o: Switches, out: GpuTensor, targets: number, acc: boolean): void {
  const nOut = numel(r.shape), nIn = numel(x.shape);
  const flags = (o.contrib ? F_CONTRIB : 0) | (o.activated ? F_ACTIVATED : 0) | (o.inactivated ? F_INACTIVATED : 0);
  // Hardware GPUs run both passes as tiled GEMMs (tiled.ts) where those serve the geometry.
  const tiled = kernelVariant(g.adapterName) === 'tiled';
  // ΣR⁺, ΣR⁻ as the dispatch that wrote R made them (a Concat's masked split), else one dispatch.
  const known = g.state.takeSums(r.buffer);
  const own = known ? undefined : gpuAttr.samplePosNeg(g, r);
  const sums: SignalSums = known ? known.sums : own!;
  const s = g.alloc([nOut, 4], 'ae.conv.sections');
  if (tiled && tiledAeForwardServes(p)) tiledAeForward(g, p, x, w, r, sums.pos, sums.neg, s, flags, o.ratio, targets);
  else {
    const f = pass(p, 'out', flags, o.ratio);
    g.dispatch(geoPipe(g, 'fwd_ae', f.tc), f.u, [w.buffer, x.buffer, r.buffer, sums.pos, sums.neg, s.buffer], Gpu.groups1d(f.threads, 64));
  }

  const cterm = g.alloc(o.shift ? x.shape : [4], 'ae.conv.c');
  const tiledBack = tiled && tiledTransposedServes(p);
  const fuseAcc = acc && !o.shift && !tiledBack;
  // Adding into a fork's sum whose last rule left its shift pending: the shift is done in this store.
  const pend = fuseAcc ? g.state.takePending<[GpuTensor, GPUBufferBinding]>(out.buffer, PENDING_SHIFT) : undefined;
  const bflags = flags | (o.shift ? F_KEEP_C : 0) | (fuseAcc ? F_ACC : 0) | (pend ? F_PSHIFT : 0);
  // Where the gather pass cannot add into `out` itself, it writes a temporary.
  const dst = acc && !fuseAcc ? g.alloc(x.shape, 'ae.conv.part') : out;
  // With the shift, the gather pass also counts C's non-zero entries per sample (u32 atomics).
  let k: GpuTensor | undefined;
  if (tiledBack) {
    tiledAeBackward(g, p, w, s, x, dst, cterm, bflags);
    if (o.shift) k = gpuAttr.sampleSum(g, cterm, 'nonzero');
  } else {
    const b = pass(p, 'in', bflags);
    const [c, n] = pend ? pend.data : [cterm, sums.count];
    // The count starts at zero: sample_pos_neg cleared its part (no clearBuffer between passes).
    g.dispatch(geoPipe(g, 'back_ae', b.tc), b.u, [w.buffer, s.buffer, x.buffer, dst.buffer, c.buffer, n], Gpu.groups1d(b.threads, 64));
  }
  pend?.dispose();
  g.release(s);
  const small = SMALL.pack({ total: nIn, per: nIn / x.shape[0] });
  const count = k ? k.buffer : sums.count;
  const done = (): void => {
    if (k) g.release(k);
    if (known) known.done();
    else g.release(own!.sums);
    g.release(cterm);
  };
  if (o.shift && acc) {
    g.dispatch(smallPipe(g, 'shift_acc', !tiledBack), small, [cterm.buffer, count, dst.buffer, out.buffer], Gpu.groups1d(nIn));
  } else if (o.shift && !tiledBack) {
    // A + B is in `out`; the shift waits for the next rule adding into this fork's sum (done in its
    // store, the same expression, so the same bits), or for whatever touches `out` first.
    g.state.defer(out.buffer, {
      kind: PENDING_SHIFT,
      data: [cterm, count],
      materialize: () => g.dispatch(smallPipe(g, 'shift', true), small, [cterm.buffer, count, out.buffer], Gpu.groups1d(nIn)),
      dispose: done,
    });
    return;
  } else if (o.shift) {
    g.dispatch(smallPipe(g, 'shift', false), small, [cterm.buffer, count, out.buffer], Gpu.groups1d(nIn));
  } else if (acc && !fuseAcc) gpuAttr.accumulate(g, out, dst);
  if (dst !== out) g.release(dst);
  done();
}

function zbGpu(g: Gpu, p: ConvParams, x: GpuTensor, w: GpuTensor, r: GpuTensor, model: GpuTensor, out: GpuTensor): void {
  const n = model.shape[0];
  const bounds = g.alloc([n, 2], 'ae.conv.bounds');
  g.dispatch(smallPipe(g, 'minmax'), SMALL.pack({ total: n, per: numel(model.shape) / n }), [model.buffer, bounds.buffer], [n]);
  const s = g.alloc(r.shape, 'ae.conv.s');
  const tiled = kernelVariant(g.adapterName) === 'tiled';
  if (tiled && tiledAeForwardServes(p)) tiledZbForward(g, p, x, w, r, bounds, s);
  else {
    const f = pass(p, 'out');
    g.dispatch(geoPipe(g, 'fwd_zb', f.tc), f.u, [w.buffer, x.buffer, r.buffer, bounds.buffer, s.buffer], Gpu.groups1d(f.threads, 64));
  }
  if (tiled && tiledTransposedServes(p)) tiledZbBackward(g, p, w, s, x, bounds, out);
  else {
    const b = pass(p, 'in');
    g.dispatch(geoPipe(g, 'back_zb', b.tc), b.u, [w.buffer, s.buffer, x.buffer, bounds.buffer, out.buffer], Gpu.groups1d(b.threads, 64));
  }
  g.release(s);
  g.release(bounds);
}

/** The AE rule's plan: the geometry, the variant (zB, or the general / 1×1 rule with its switches). */
interface AePlan { p: ConvParams; zb: boolean; o: Switches }

/** The AE rule accumulates (Rule.accumulates): given `ctx.acc`, res is it and receives res + result. */
const convAe: Rule<AePlan> = {
  accumulates: true,
  plan: (ctx, r) => planConv(ctx, r, (p) => {
    const v = variantOf(p, ctx.firstConv);
    return { p, zb: v === 'zb', o: effective(ctx.opts, v) };
  }),
  cpu({ p, zb, o }, ctx, r, [res]) {
    const x = ctx.input(0)!, w = ctx.input(1)!;
    const dst = ctx.acc ? new Float32Array(res!.data.length) : res!.data;
    if (zb) zbCpu(p, x, w, r, ctx.modelInput(), dst);
    else aeCpu(p, x, w, r, o, dst);
    if (ctx.acc) for (let i = 0; i < dst.length; i++) res!.data[i] += dst[i];
  },
  gpu({ p, zb, o }, g, ctx, r, [res]) {
    const x = ctx.input(0)!, w = ctx.input(1)!;
    if (zb) {
      // The first convolution: its input forks rarely; then the result is added by one accumulate.
      const dst = ctx.acc ? g.alloc(res!.shape, 'ae.conv.part') : res!;
      zbGpu(g, p, x, w, r, ctx.modelInput(), dst);
      if (ctx.acc) {
        gpuAttr.accumulate(g, res!, dst);
        g.release(dst);
      }
    } else aeGpu(g, p, x, w, r, o, res!, perSample(ctx, r), !!ctx.acc);
  },
};

// ---------------------------------------------------------------- cost

/**
 * FLOPs (adds and multiplies; compares, selects and loads not counted) of the GPU AE rule for
 * this layer at batch `n`, and of the layer's forward convolution without bias (2 per MAC). MACs
 * are counted densely (padded taps included) for both alike; the idle lanes of a partial channel
 * block of 4 are not counted.
 *   general / 1×1: forward pass 4 per MAC (Z: multiply-add; Za and Zb: one branch-free add each,
 *     |w| to one and 0 to the other), transposed pass 4 per MAC (two multiply-adds): 4× the
 *     forward conv; plus per output 2 (ΣR⁺, ΣR⁻) + 8 (sections), per input 2 (x⁺·c + ab) and,
 *     with the shift (general only), 3 (count, subtract, add);
 *   zB: forward 3 per MAC (x − bound, mul, add), transposed 4 per MAC, per output 1 (R/Z), per
 *     input 2 (min/max) + 5 (combine).
 */
export function aeConvFlops(p: ConvParams, n = p.n, variant: Variant = isPointwise(p) ? 'pointwise' : 'general'): {
  forward: number; ae: number; ratio: number;
} {
  const outs = n * p.k * p.oh * p.ow;
  const ins = n * p.c * p.h * p.w;
  const macs = outs * (p.c / p.group) * p.kh * p.kw;
  const forward = 2 * macs;
  const ae = variant === 'zb'
    ? 7 * macs + outs + 7 * ins
    : 8 * macs + 10 * outs + 2 * ins + (variant === 'general' ? 3 * ins : 0);
  return { forward, ae, ratio: ae / forward };
}

export const gradient: RuleTable = { Conv: convGrad };
export const ae: RuleTable = { Conv: convAe };
