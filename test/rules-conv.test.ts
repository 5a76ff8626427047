// Convolution rules: the gradient (transposed convolution) and AE (spec §2.4 general, §2.5 1×1,
// §2.6 zB), checked against an independent dense-matrix implementation of the spec's formulas
// (the convolution of one sample built as an explicit matrix M from the node's attributes), by the
// §4 sum properties, by rescaling and batch independence, and GPU against CPU on odd shapes.
import { afterEach, describe, expect, it } from 'vitest';
import { kernelChoiceOverride } from '../src/kernels/gpu/kernel-choice.js';
import { getGpu } from '../src/kernels/gpu/runtime.js';
import { OnnxBuilder } from '../tools/onnx-builder.js';
import { forwardCase, stepOf, applyCpu, applyGpu, type RuleCase, type ApplyOptions } from './helpers/rules.js';
import { rng } from './helpers/ops.js';
import * as conv from '../src/ops/conv/rules.js';
import { MAX_PHASES } from '../src/ops/conv/tiled.js';
import { transposedPhases } from '../src/ops/conv/transposed.js';
import type { CpuTensor } from '../src/ops/op.js';
import type { ConvParams } from '../src/ops/conv/forward.js';
import type { AeOptions } from '../src/ops/rule.js';
import { DEFAULT_AE } from '../src/ops/rule.js';
import { numel, type Shape } from '../src/graph/tensor.js';

// ---------------------------------------------------------------- cases

interface Geo {
  /** Input shape (N×C×H×W or N×C×L), output channels, kernel (1 entry for 1-D). */
  x: Shape; k: number; kernel: number[];
  strides?: number[]; pads?: number[]; dilations?: number[]; group?: number;
}

function rand(shape: Shape, seed: number, o: { zeros?: number; sign?: 'pos' | 'neg' | 'zero' } = {}): CpuTensor {
  const r = rng(seed);
  const data = new Float32Array(numel(shape));
  for (let i = 0; i < data.length; i++) {
    let v = r() * 2 - 1;
    if (o.sign === 'pos') v = Math.abs(v) + 0.01;
    if (o.sign === 'neg') v = -Math.abs(v) - 0.01;
    if (o.sign === 'zero') v = 0;
    data[i] = r() < (o.zeros ?? 0) ? 0 : v;
  }
  return { shape, data };
}

/** A model of one Conv (with a bias, which must play no part) reading the model input. */
function convCase(geo: Geo, x: CpuTensor, seed = 1): RuleCase {
  const b = new OnnxBuilder();
  b.input('input', x.shape);
  const c = x.shape[1], g = geo.group ?? 1;
  const wShape = [geo.k, c / g, ...geo.kernel];
  const r = rng(seed);
  b.initializer('W', wShape, Float32Array.from({ length: numel(wShape) }, () => r() * 2 - 1));
  b.initializer('B', [geo.k], Float32Array.from({ length: geo.k }, () => r() - 0.5));
  const sr = geo.kernel.length;
  const attrs = {
    kernel_shape: geo.kernel,
    strides: geo.strides ?? Array(sr).fill(1),
    pads: geo.pads ?? Array(2 * sr).fill(0),
    dilations: geo.dilations ?? Array(sr).fill(1),
    group: g,
  };
  const [y] = b.node('Conv', ['input', 'W', 'B'], attrs, [[x.shape[0], geo.k, ...geo.kernel.map((_, i) => `d${i}`)]], 'conv');
  b.output(y);
  return forwardCase(b, x);
}

function relL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return den === 0 ? Math.sqrt(num) : Math.sqrt(num / den);
}

function sampleSums(x: CpuTensor): number[] {
  const per = numel(x.shape) / x.shape[0];
  return Array.from({ length: x.shape[0] }, (_, n) => x.data.subarray(n * per, (n + 1) * per).reduce((s, v) => s + v, 0));
}

function expectFinite(t: CpuTensor | undefined): void {
  expect(t).toBeDefined();
  expect(t!.data.every(Number.isFinite)).toBe(true);
}

const sample = (t: CpuTensor, n: number): CpuTensor => {
  const per = numel(t.shape) / t.shape[0];
  return { shape: [1, ...t.shape.slice(1)], data: t.data.slice(n * per, (n + 1) * per) };
};

// ---------------------------------------------------------------- dense reference

/** One sample's convolution as a dense matrix (K·OH·OW rows × C·H·W columns), from the attributes. */
function convMatrix(geo: Geo, w: ArrayLike<number>, outSpatial: number[]): Float64Array[] {
  const one = geo.x.length === 3;
  const [C, H, W] = one ? [geo.x[1], 1, geo.x[2]] : [geo.x[1], geo.x[2], geo.x[3]];
  const [OH, OW] = one ? [1, outSpatial[0]] : outSpatial;
  const two = (v: number[] | undefined, d: number) => (v ? (one ? [d, v[0]] : v) : [d, d]);
  const [KH, KW] = two(geo.kernel, 1);
  const [sh, sw] = two(geo.strides, 1);
  const [dh, dw] = two(geo.dilations, 1);
  const p = geo.pads ?? [0, 0, 0, 0];
  const [pt, pl] = one ? [0, p[0]] : [p[0], p[1]];
  const G = geo.group ?? 1, Cg = C / G, Kg = geo.k / G;
  const rows: Float64Array[] = [];
  for (let co = 0; co < geo.k; co++) {
    const g = Math.floor(co / Kg);
    for (let oh = 0; oh < OH; oh++) for (let ow = 0; ow < OW; ow++) {
      const row = new Float64Array(C * H * W);
      for (let cl = 0; cl < Cg; cl++) for (let a = 0; a < KH; a++) for (let b = 0; b < KW; b++) {
        const ih = oh * sh - pt + a * dh, iw = ow * sw - pl + b * dw;
        if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
        row[((g * Cg + cl) * H + ih) * W + iw] += w[((co * Cg + cl) * KH + a) * KW + b];
      }
      rows.push(row);
    }
  }
  return rows;
}

const mv = (M: Float64Array[], v: ArrayLike<number>) => Float64Array.from(M, (row) => row.reduce((s, m, i) => s + m * v[i], 0));
function mtv(M: Float64Array[], v: ArrayLike<number>): Float64Array {
  const out = new Float64Array(M[0].length);
  M.forEach((row, o) => { if (v[o] !== 0) row.forEach((m, i) => { out[i] += m * v[o]; }); });
  return out;
}
const mapM = (M: Float64Array[], f: (v: number) => number) => M.map((row) => row.map(f));
const sdiv = (a: number, b: number) => (b === 0 ? 0 : a / b);
const sum = (v: number[]) => v.reduce((s, x) => s + x, 0);

type Opts = Partial<AeOptions>;

/** Spec §2.4 / §2.5 for one sample with matrices: Z = |M| x⁺, convT(s, |W|) = |M|ᵀ s. */
function denseAe(M: Float64Array[], x: ArrayLike<number>, r: ArrayLike<number>, o: AeOptions, pointwise: boolean): Float64Array {
  const A = mapM(M, Math.abs);
  const ratio = pointwise ? 1 : o.ratio;
  const xp = Array.from(x, (v) => Math.max(v, 0));
  const a = Array.from(x, (v) => (v > 0 ? 1 : 0));
  const b = Array.from(x, (v) => (v <= 0 ? 1 : 0));
  const sp = sum(Array.from(r, (v) => Math.max(v, 0))), sn = sum(Array.from(r, (v) => Math.min(v, 0)));
  const P = Array.from(r, (v) => sdiv(Math.max(v, 0), sp));
  const Q = Array.from(r, (v) => -sdiv(Math.min(v, 0), sn));
  const out = new Float64Array(x.length);
  if (o.contrib) {
    const Z = mv(A, xp);
    const up = mtv(A, Array.from(r, (v, i) => (v > 0 ? sdiv(ratio * P[i], Z[i]) : 0)));
    const dn = mtv(A, Array.from(r, (v, i) => (v < 0 ? sdiv(Q[i], Z[i]) : 0)));
    const C = xp.map((v, i) => v * (up[i] + dn[i]));
    const k = C.filter((v) => v !== 0).length;
    const shift = o.shift && !pointwise;
    C.forEach((v, i) => { out[i] += shift && v !== 0 ? v - 1 / k : v; });
  }
  if (o.activated) {
    const Za = mv(A, a);
    const t = mtv(A, P.map((v, i) => sdiv(v, Za[i])));
    t.forEach((v, i) => { out[i] += a[i] * v; });
  }
  if (o.inactivated) {
    const Zb = mv(A, b);
    const t = mtv(A, Q.map((v, i) => sdiv(v, Zb[i])));
    t.forEach((v, i) => { out[i] += b[i] * v; });
  }
  return out;
}

/** Spec §2.6 for one sample whose conv input is the model input: L, Hi its min and max. */
function denseZb(M: Float64Array[], x: ArrayLike<number>, r: ArrayLike<number>): Float64Array {
  const L = Math.min(...Array.from(x)), H = Math.max(...Array.from(x));
  const Mp = mapM(M, (v) => Math.max(v, 0)), Mn = mapM(M, (v) => Math.min(v, 0));
  const zx = mv(M, x), zl = mv(Mp, Array(x.length).fill(L)), zh = mv(Mn, Array(x.length).fill(H));
  const S = Array.from(r, (v, o) => sdiv(v, zx[o] - zl[o] - zh[o]));
  const tx = mtv(M, S), tl = mtv(Mp, S), th = mtv(Mn, S);
  return Float64Array.from(x, (v, i) => v * tx[i] - L * tl[i] - H * th[i]);
}

/** The dense reference over a batch (one matrix per sample, the same weights). */
function dense(c: RuleCase, geo: Geo, r: CpuTensor, kind: 'ae' | 'zb' | 'grad', o: AeOptions = DEFAULT_AE): Float64Array {
  const step = stepOf(c.plan, 'Conv');
  const x = c.values.get('input')!;
  const M = convMatrix(geo, c.values.get('W')!.data, step.outShapes[0].slice(2));
  const pointwise = geo.kernel.every((k) => k === 1);
  const out = new Float64Array(numel(x.shape));
  for (let n = 0; n < x.shape[0]; n++) {
    const xs = sample(x, n).data, rs = sample(r, n).data;
    const res = kind === 'grad' ? mtv(M, rs) : kind === 'zb' ? denseZb(M, xs, rs) : denseAe(M, xs, rs, o, pointwise);
    out.set(res, n * xs.length);
  }
  return out;
}

// ---------------------------------------------------------------- geometries

const TINY: Record<string, Geo> = {
  's2 7→4': { x: [2, 3, 7, 7], k: 4, kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] },
  's2 8→4 (output padding)': { x: [1, 3, 8, 8], k: 4, kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] },
  'asymmetric pads 2×3': { x: [2, 3, 6, 7], k: 5, kernel: [2, 3], strides: [1, 2], pads: [0, 1, 2, 0] },
  'dilation 2': { x: [1, 4, 9, 8], k: 3, kernel: [3, 3], pads: [2, 1, 2, 2], dilations: [2, 2] },
  'groups 2': { x: [2, 4, 7, 6], k: 6, kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], group: 2 },
  'depthwise ×2': { x: [1, 5, 8, 7], k: 10, kernel: [3, 3], pads: [1, 1, 1, 1], group: 5 },
  '1×1': { x: [2, 6, 5, 5], k: 4, kernel: [1, 1] },
  '1×1 s2 groups 2': { x: [1, 6, 7, 7], k: 4, kernel: [1, 1], strides: [2, 2], group: 2 },
  '1-D k3 s2': { x: [2, 3, 11], k: 4, kernel: [3], strides: [2], pads: [1, 1] },
};

const OPTION_SETS: Record<string, Opts> = {
  'ratio 2 (all on)': {},
  'ratio 1': { ratio: 1 },
  'ratio 1.5': { ratio: 1.5 },
  'no C': { contrib: false },
  'no shift': { shift: false },
  'no A': { activated: false },
  'no B': { inactivated: false },
  'C only, ratio 1.5': { ratio: 1.5, activated: false, inactivated: false },
};

const R_KINDS = ['mixed', 'pos', 'neg', 'zero'] as const;

// ---------------------------------------------------------------- gradient

describe('Conv gradient', () => {
  it.each(Object.entries(TINY))('%s: dx = Mᵀ dy (CPU, rel. L2 ≤ 1e-6)', (_name, geo) => {
    const x = rand(geo.x, 3, { zeros: 0.2 });
    const c = convCase(geo, x);
    const step = stepOf(c.plan, 'Conv');
    const dy = rand(step.outShapes[0], 4);
    const [dx, dw, db] = applyCpu(conv.gradient.Conv, c, step, dy);
    expect(dx!.shape).toEqual(x.shape);
    expect(dw).toBeUndefined();
    expect(db).toBeUndefined();
    expect(relL2(dx!.data, dense(c, geo, dy, 'grad'))).toBeLessThan(1e-6);
  });

  it('GPU vs CPU, stride 2 with output padding, groups, batch 3 (rel. L2 ≤ 1e-5)', async () => {
    const geo: Geo = { x: [3, 6, 13, 16], k: 9, kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], group: 3 };
    const c = convCase(geo, rand(geo.x, 5));
    const step = stepOf(c.plan, 'Conv');
    const dy = rand(step.outShapes[0], 6);
    const [cpu] = applyCpu(conv.gradient.Conv, c, step, dy);
    const [gpu] = await applyGpu(conv.gradient.Conv, c, step, dy);
    expect(gpu!.shape).toEqual(geo.x);
    expect(relL2(gpu!.data, cpu!.data)).toBeLessThan(1e-5);
  });
});

// ---------------------------------------------------------------- AE: CPU against the dense reference

describe('Conv AE, CPU rule against the dense-matrix spec (rel. L2 ≤ 1e-5)', () => {
  it.each(Object.entries(TINY))('%s: every R sign pattern × option set, and all-zero x', (_name, geo) => {
    const x = rand(geo.x, 7, { zeros: 0.25 });
    const c = convCase(geo, x);
    const step = stepOf(c.plan, 'Conv');
    const rShape = step.outShapes[0];
    for (const kind of R_KINDS) {
      const r = rand(rShape, 8, { zeros: 0.1, sign: kind === 'mixed' ? undefined : kind });
      for (const [, o] of Object.entries(OPTION_SETS)) {
        const opts = { ...DEFAULT_AE, ...o };
        const [res, w, b] = applyCpu(conv.ae.Conv, c, step, r, { opts: o });
        expect(w).toBeUndefined();
        expect(b).toBeUndefined();
        expect(res!.shape).toEqual(x.shape);
        expectFinite(res);
        expect(relL2(res!.data, dense(c, geo, r, 'ae', opts))).toBeLessThan(1e-5);
      }
    }
    // All-zero x: Z = 0, so C vanishes; every input is inactivated (B carries Q, A nothing).
    const zc = convCase(geo, rand(geo.x, 9, { sign: 'zero' }));
    const r = rand(rShape, 10);
    const [res] = applyCpu(conv.ae.Conv, zc, stepOf(zc.plan, 'Conv'), r);
    expectFinite(res);
    expect(relL2(res!.data, dense(zc, geo, r, 'ae'))).toBeLessThan(1e-5);
  });

  it.each(Object.entries(TINY))('%s, first conv: zB rule (every R sign pattern)', (_name, geo) => {
    const x = rand(geo.x, 11, { zeros: 0.1 });
    const c = convCase(geo, x);
    const step = stepOf(c.plan, 'Conv');
    for (const kind of R_KINDS) {
      const r = rand(step.outShapes[0], 12, { sign: kind === 'mixed' ? undefined : kind });
      const [res] = applyCpu(conv.ae.Conv, c, step, r, { firstConv: true });
      expectFinite(res);
      // zB ignores the AE options.
      const [off] = applyCpu(conv.ae.Conv, c, step, r, { firstConv: true, opts: { ratio: 1, contrib: false, shift: false } });
      expect(Array.from(off!.data)).toEqual(Array.from(res!.data));
      expect(relL2(res!.data, dense(c, geo, r, 'zb'))).toBeLessThan(1e-5);
    }
  });

  it('hand values: 1 channel, 1×2 kernel, stride 1, two outputs', () => {
    // x = [2, 0, -1], W = [1, -3]; R = [1, -1]. Z = conv(x⁺,|W|) = [2, 0]; Za = [1, 0];
    // Zb = [3, 4]. P = [1, 0], Q = [0, -1]. 1×2 is a general kernel: Pr = 2P.
    // C = x⁺ ⊙ convT([2/2, 0]) = [2·1, 0, 0] = [2, 0, 0]; shift k = 1 → [1, 0, 0].
    // A = a ⊙ convT([1/1, 0]) = [1, 0, 0]; B = b ⊙ convT([0, -1/4]) = [0, 1·(-1/4), 3·(-1/4)].
    const x: CpuTensor = { shape: [1, 1, 1, 3], data: Float32Array.from([2, 0, -1]) };
    const b = new OnnxBuilder();
    b.input('input', x.shape);
    b.initializer('W', [1, 1, 1, 2], [1, -3]);
    const [y] = b.node('Conv', ['input', 'W'], { kernel_shape: [1, 2] }, [[1, 1, 1, 2]], 'conv');
    b.output(y);
    const c = forwardCase(b, x);
    const r: CpuTensor = { shape: [1, 1, 1, 2], data: Float32Array.from([1, -1]) };
    const [res] = applyCpu(conv.ae.Conv, c, stepOf(c.plan, 'Conv'), r);
    [2, -0.25, -0.75].forEach((v, i) => expect(res!.data[i]).toBeCloseTo(v, 6));
  });
});

// ---------------------------------------------------------------- spec §4 and invariances

/** x with both signs in every window (and at every pixel across channels): no zero denominator. */
function checkerboard(shape: Shape, seed: number): CpuTensor {
  const r = rng(seed);
  const [N, C] = shape, plane = numel(shape.slice(2)), W = shape[shape.length - 1];
  const data = new Float32Array(numel(shape));
  for (let n = 0; n < N; n++) for (let ch = 0; ch < C; ch++) for (let p = 0; p < plane; p++) {
    const i = Math.floor(p / W), j = p % W;
    const mag = 0.1 + r();
    data[(n * C + ch) * plane + p] = (i + j + ch) % 2 === 0 ? mag : -mag;
  }
  return { shape, data };
}

describe('Conv AE sum properties (spec §4)', () => {
  const SUM_GEOS: Record<string, Geo> = {
    '3×3 pad 1': { x: [2, 3, 8, 9], k: 5, kernel: [3, 3], pads: [1, 1, 1, 1] },
    '3×3 s2 groups 2': { x: [2, 4, 9, 8], k: 6, kernel: [3, 3], strides: [2, 2], group: 2 },
    '1×1': { x: [2, 4, 6, 5], k: 3, kernel: [1, 1] },
  };

  it.each(Object.entries(SUM_GEOS))('%s: Σ R_in per sample = (ratio−1) − 1 + 1 − 1 (general) or 0 (1×1), term by term (abs. 1e-5)', (_name, geo) => {
    const c = convCase(geo, checkerboard(geo.x, 13));
    const step = stepOf(c.plan, 'Conv');
    const r = rand(step.outShapes[0], 14);
    const pw = geo.kernel.every((k) => k === 1);
    const cases: [Opts, number][] = [];
    for (const ratio of [1, 1.5, 2]) {
      const rr = pw ? 1 : ratio;
      cases.push([{ ratio }, pw ? 0 : ratio - 2]);
      cases.push([{ ratio, shift: false, activated: false, inactivated: false }, rr - 1]);
      cases.push([{ ratio, activated: false, inactivated: false }, pw ? 0 : ratio - 2]);
    }
    cases.push([{ contrib: false, inactivated: false }, 1], [{ contrib: false, activated: false }, -1]);
    for (const [o, want] of cases) {
      const [res] = applyCpu(conv.ae.Conv, c, step, r, { opts: o });
      for (const s of sampleSums(res!)) expect(Math.abs(s - want)).toBeLessThan(1e-5);
    }
  });

  it('zB conserves Σ R per sample (rel. 1e-5), also with one-signed R', () => {
    const geo: Geo = { x: [3, 3, 9, 10], k: 4, kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] };
    const c = convCase(geo, rand(geo.x, 15));
    const step = stepOf(c.plan, 'Conv');
    for (const sign of [undefined, 'pos', 'neg'] as const) {
      const r = rand(step.outShapes[0], 16, { sign });
      const [res] = applyCpu(conv.ae.Conv, c, step, r, { firstConv: true });
      const want = sampleSums(r);
      sampleSums(res!).forEach((s, n) => expect(Math.abs(s - want[n])).toBeLessThan(1e-5 * Math.max(1, Math.abs(want[n]))));
    }
  });

  it('invariant to positive rescaling of R (general, 1×1); zB is linear in R (rel. L2 ≤ 1e-5)', () => {
    for (const geo of [TINY['groups 2'], TINY['1×1']]) {
      const c = convCase(geo, rand(geo.x, 17, { zeros: 0.2 }));
      const step = stepOf(c.plan, 'Conv');
      const r = rand(step.outShapes[0], 18);
      const r2: CpuTensor = { shape: r.shape, data: r.data.map((v) => v * 3.7) };
      for (const o of [{}, { ratio: 1.5 }, { shift: false }]) {
        const [a] = applyCpu(conv.ae.Conv, c, step, r, { opts: o });
        const [b] = applyCpu(conv.ae.Conv, c, step, r2, { opts: o });
        expect(relL2(b!.data, a!.data)).toBeLessThan(1e-5);
      }
      const [z1] = applyCpu(conv.ae.Conv, c, step, r, { firstConv: true });
      const [z2] = applyCpu(conv.ae.Conv, c, step, r2, { firstConv: true });
      expect(relL2(z2!.data, z1!.data.map((v) => v * 3.7))).toBeLessThan(1e-5);
    }
  });

  it('a batch gives the same results as single-sample runs (general with shift, 1×1, zB; rel. L2 ≤ 1e-6)', () => {
    for (const geo of [{ ...TINY['s2 7→4'], x: [3, 3, 7, 7] }, { ...TINY['1×1'], x: [3, 6, 5, 5] }]) {
      const x = rand(geo.x, 19, { zeros: 0.2 });
      // Sample 1 is all zero and sample 2's R one-signed: per-sample sums, counts and bounds.
      x.data.fill(0, numel(geo.x) / 3, (2 * numel(geo.x)) / 3);
      const c = convCase(geo, x);
      const step = stepOf(c.plan, 'Conv');
      const r = rand(step.outShapes[0], 20);
      const per = numel(r.shape) / 3;
      for (let i = 2 * per; i < 3 * per; i++) r.data[i] = Math.abs(r.data[i]);
      for (const o of [{}, { firstConv: true }] as ApplyOptions[]) {
        const [all] = applyCpu(conv.ae.Conv, c, step, r, o);
        expectFinite(all);
        for (let n = 0; n < 3; n++) {
          const cn = convCase({ ...geo, x: [1, ...geo.x.slice(1)] }, sample(x, n));
          const [one] = applyCpu(conv.ae.Conv, cn, stepOf(cn.plan, 'Conv'), sample(r, n), o);
          expect(relL2(sample(all!, n).data, one!.data)).toBeLessThan(1e-6);
        }
      }
    }
  });
});

// ---------------------------------------------------------------- GPU vs CPU

const ODD: Record<string, Geo> = {
  '3×3 s2 pad 1, 13×17, batch 3': { x: [3, 5, 13, 17], k: 7, kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] },
  '3×2 s3×2 dilation 2, asymmetric pads': { x: [2, 6, 13, 17], k: 5, kernel: [3, 2], strides: [3, 2], dilations: [2, 2], pads: [2, 0, 1, 1] },
  'groups 3, 3×3 pad 1': { x: [3, 6, 13, 17], k: 9, kernel: [3, 3], pads: [1, 1, 1, 1], group: 3 },
  'depthwise 3×3 s2': { x: [2, 7, 13, 17], k: 7, kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], group: 7 },
  '7×7 s2 pad 3 (stem shape)': { x: [2, 3, 17, 13], k: 5, kernel: [7, 7], strides: [2, 2], pads: [3, 3, 3, 3] },
  '1×1, batch 3': { x: [3, 5, 13, 17], k: 6, kernel: [1, 1] },
  '1×1 s2 groups 3': { x: [2, 9, 13, 17], k: 6, kernel: [1, 1], strides: [2, 2], group: 3 },
  '1-D k5 s3': { x: [3, 5, 29], k: 3, kernel: [5], strides: [3], pads: [2, 1] },
};

describe('Conv AE, GPU vs CPU on odd shapes (rel. L2 ≤ 1e-5)', () => {
  it.each(Object.entries(ODD))('%s: default, zB, and one-signed / zero R', async (_name, geo) => {
    const x = rand(geo.x, 23, { zeros: 0.2 });
    const c = convCase(geo, x);
    const step = stepOf(c.plan, 'Conv');
    const rShape = step.outShapes[0];
    const runs: [CpuTensor, ApplyOptions][] = [
      [rand(rShape, 24, { zeros: 0.1 }), {}],
      [rand(rShape, 25), { firstConv: true }],
      [rand(rShape, 26, { sign: 'pos' }), {}],
      [rand(rShape, 27, { sign: 'neg' }), {}],
      [rand(rShape, 28, { sign: 'zero' }), {}],
      [rand(rShape, 29, { sign: 'neg' }), { firstConv: true }],
    ];
    for (const [r, o] of runs) {
      const [cpu] = applyCpu(conv.ae.Conv, c, step, r, o);
      const [gpu] = await applyGpu(conv.ae.Conv, c, step, r, o);
      expectFinite(gpu);
      expect(gpu!.shape).toEqual(x.shape);
      expect(relL2(gpu!.data, cpu!.data)).toBeLessThan(1e-5);
    }
  });

  it.each(['3×3 s2 pad 1, 13×17, batch 3', '1×1 s2 groups 3'])('%s: each switch and ratio', async (name) => {
    const geo = ODD[name];
    const c = convCase(geo, rand(geo.x, 31, { zeros: 0.2 }));
    const step = stepOf(c.plan, 'Conv');
    const r = rand(step.outShapes[0], 32);
    for (const o of Object.values(OPTION_SETS)) {
      const [cpu] = applyCpu(conv.ae.Conv, c, step, r, { opts: o });
      const [gpu] = await applyGpu(conv.ae.Conv, c, step, r, { opts: o });
      expectFinite(gpu);
      expect(relL2(gpu!.data, cpu!.data)).toBeLessThan(1e-5);
    }
  });

  it('all-zero x and all-zero model input give finite results on the GPU', async () => {
    const geo = ODD['groups 3, 3×3 pad 1'];
    const c = convCase(geo, rand(geo.x, 33, { sign: 'zero' }));
    const step = stepOf(c.plan, 'Conv');
    const r = rand(step.outShapes[0], 34);
    for (const o of [{}, { firstConv: true }]) {
      const [cpu] = applyCpu(conv.ae.Conv, c, step, r, o);
      const [gpu] = await applyGpu(conv.ae.Conv, c, step, r, o);
      expectFinite(gpu);
      expect(relL2(gpu!.data, cpu!.data)).toBeLessThan(1e-5);
    }
  });
});

describe('aeConvFlops', () => {
  it('counts the AE conv as a small multiple of the forward convolution', () => {
    const p: ConvParams = {
      n: 1, c: 64, h: 56, w: 56, k: 64, oh: 56, ow: 56, kh: 3, kw: 3, sh: 1, sw: 1, dh: 1, dw: 1,
      padT: 1, padL: 1, padB: 1, padR: 1, group: 1, hasBias: false, is1d: false,
    };
    const f = conv.aeConvFlops(p, 2);
    expect(f.forward).toBe(2 * 2 * 64 * 56 * 56 * 64 * 9);
    // 8 FLOPs per MAC (two forward and two transposed accumulators) plus element-wise work.
    expect(f.ratio).toBeGreaterThan(4);
    expect(f.ratio).toBeLessThan(4.1);
    expect(conv.aeConvFlops(p, 1, 'zb').ratio).toBeLessThan(3.6);
  });
});

// Layers wide enough (≥ 8 channels per group on the side a pass tiles) for the tiled kernels'
// AE passes, run under both kernel variants (the tiled one is the hardware-GPU default). Strided
// transposed passes run one GEMM per output phase (transposed.ts), MAX_PHASES phases a dispatch.
const WIDE: Record<string, Geo> = {
  '3×3 pad 1, 13 → 19 channels, batch 2': { x: [2, 13, 9, 11], k: 19, kernel: [3, 3], pads: [1, 1, 1, 1] },
  '3×3 s2 asymmetric pads, 9 → 10': { x: [2, 9, 11, 13], k: 10, kernel: [3, 3], strides: [2, 2], pads: [0, 1, 1, 0] },
  'groups 2, dilation 2, 18 → 20': { x: [1, 18, 10, 9], k: 20, kernel: [3, 3], dilations: [2, 2], pads: [2, 2, 2, 2], group: 2 },
  '1×1, 11 → 9, batch 3': { x: [3, 11, 7, 5], k: 9, kernel: [1, 1] },
  '1×1 s2, 12 → 8 (phases no tap reaches)': { x: [2, 12, 9, 8], k: 8, kernel: [1, 1], strides: [2, 2] },
  'groups 2 s2 dilation 2, 5×5, 16 → 18, batch 2': { x: [2, 16, 15, 12], k: 18, kernel: [5, 5], strides: [2, 2], dilations: [2, 2], pads: [4, 3, 2, 4], group: 2 },
  '3×3 s3 (9 phases), 10 → 9': { x: [1, 10, 16, 19], k: 9, kernel: [3, 3], strides: [3, 3], pads: [1, 0, 2, 1] },
  '7×7 s(2,1) p3, 8 → 16': { x: [1, 8, 17, 13], k: 16, kernel: [7, 7], strides: [2, 1], pads: [3, 3, 3, 3] },
  '1-D k4 s2, 9 → 12, batch 2': { x: [2, 9, 21], k: 12, kernel: [4], strides: [2], pads: [1, 2] },
};

describe.each(['shuffle', 'tiled'] as const)('Conv AE on wide layers, %s kernels, GPU vs CPU (rel. L2 ≤ 1e-5)', (variant) => {
  afterEach(() => {
    kernelChoiceOverride.force = null;
  });
  it.each(Object.entries(WIDE))('%s: default, one-signed R, each switch, two targets, zB', async (_name, geo) => {
    kernelChoiceOverride.force = variant;
    const g = await getGpu();
    const before = new Map(g.stats.byKernel);
    const c = convCase(geo, rand(geo.x, 41, { zeros: 0.2 }));
    const step = stepOf(c.plan, 'Conv');
    const rShape = step.outShapes[0];
    const runs: [CpuTensor, ApplyOptions][] = [
      [rand(rShape, 42, { zeros: 0.1 }), {}],
      [rand(rShape, 43, { sign: 'neg' }), {}],
      ...Object.values(OPTION_SETS).map((o): [CpuTensor, ApplyOptions] => [rand(rShape, 44), { opts: o }]),
    ];
    for (const [r, o] of runs) {
      const [cpu] = applyCpu(conv.ae.Conv, c, step, r, o);
      const [gpu] = await applyGpu(conv.ae.Conv, c, step, r, o);
      expectFinite(gpu);
      expect(relL2(gpu!.data, cpu!.data)).toBeLessThan(1e-5);
    }
    // Two targets per input: x repeated sample-major as the walker expands it (the tiled forward
    // side computes Z, Za, Zb once per input and forms both targets' sections in its epilogue).
    const xName = step.inputs[0]!;
    const x1 = c.values.get(xName)!;
    const x2 = { shape: [x1.shape[0] * 2, ...x1.shape.slice(1)], data: new Float32Array(x1.data.length * 2) };
    const per = x1.data.length / x1.shape[0];
    for (let n = 0; n < x1.shape[0]; n++) for (let t = 0; t < 2; t++) x2.data.set(x1.data.subarray(n * per, (n + 1) * per), (n * 2 + t) * per);
    const c2: RuleCase = { ...c, values: new Map(c.values).set(xName, x2) };
    const r2 = rand([rShape[0] * 2, ...rShape.slice(1)], 45, { zeros: 0.1 });
    const [cpu2] = applyCpu(conv.ae.Conv, c2, step, r2);
    const [gpu2] = await applyGpu(conv.ae.Conv, c2, step, r2);
    expectFinite(gpu2);
    expect(relL2(gpu2!.data, cpu2!.data)).toBeLessThan(1e-5);
    runs.push([r2, {}]);
    // The zB rule (the layer as the first convolution), twice: mixed and one-signed R.
    const zbRuns = [rand(rShape, 46, { zeros: 0.1 }), rand(rShape, 47, { sign: 'pos' })];
    for (const r of zbRuns) {
      const [cpu] = applyCpu(conv.ae.Conv, c, step, r, { firstConv: true });
      const [gpu] = await applyGpu(conv.ae.Conv, c, step, r, { firstConv: true });
      expectFinite(gpu);
      expect(relL2(gpu!.data, cpu!.data)).toBeLessThan(1e-5);
    }
    const count = (prefix: string) => {
      let n = 0;
      for (const [k, v] of g.stats.byKernel) if (k.startsWith(prefix)) n += v - (before.get(k) ?? 0);
      return n;
    };
    // Under tiled every pass runs on the tiled kernel (these layers are wide on both sides), a
    // transposed one in ⌈phases / MAX_PHASES⌉ dispatches; under shuffle none does.
    const p = step.params as ConvParams;
    const dispatches = Math.ceil(transposedPhases(p).length / MAX_PHASES);
    const tiled = variant === 'tiled';
    expect(count('conv.tiled.fwd_ae.')).toBe(tiled ? runs.length : 0);
    expect(count('conv.tiled.back_ae.')).toBe(tiled ? runs.length * dispatches : 0);
    expect(count('conv.backward.back_ae.')).toBe(tiled ? 0 : runs.length);
    expect(count('conv.tiled.fwd_zb.')).toBe(tiled ? zbRuns.length : 0);
    expect(count('conv.tiled.back_zb.')).toBe(tiled ? zbRuns.length * dispatches : 0);
    expect(count('conv.backward.back_zb.')).toBe(tiled ? 0 : zbRuns.length);
  });
});

describe.each(['shuffle', 'tiled'] as const)('Conv AE added into a fork\'s pending signal (Rule.accumulates), %s kernels', (variant) => {
  afterEach(() => {
    kernelChoiceOverride.force = null;
  });
  const cases: [string, Geo, ApplyOptions][] = [
    ['3×3 pad 1 with the shift', { x: [2, 12, 11, 13], k: 16, kernel: [3, 3], pads: [1, 1, 1, 1] }, {}],
    ['3×3 pad 1 without the shift', { x: [2, 12, 11, 13], k: 16, kernel: [3, 3], pads: [1, 1, 1, 1] }, { opts: { shift: false } }],
    ['1×1', { x: [2, 12, 11, 13], k: 16, kernel: [1, 1] }, {}],
    ['3×3 s2 with the shift', ODD['3×3 s2 pad 1, 13×17, batch 3'], {}],
    ['zB (first convolution)', ODD['7×7 s2 pad 3 (stem shape)'], { firstConv: true }],
  ];
  it.each(cases)('%s: acc + result, the same bits as the walker\'s separate sum', async (_name, geo, o) => {
    kernelChoiceOverride.force = variant;
    const c = convCase(geo, rand(geo.x, 51, { zeros: 0.2 }));
    const step = stepOf(c.plan, 'Conv');
    const r = rand(step.outShapes[0], 52, { zeros: 0.1 });
    const acc = rand(geo.x, 53);
    const sum = (a: CpuTensor, b: CpuTensor) => Float32Array.from(a.data, (v, i) => v + b.data[i]);
    const [gpu] = await applyGpu(conv.ae.Conv, c, step, r, o);
    const [gpuAcc] = await applyGpu(conv.ae.Conv, c, step, r, { ...o, acc });
    expect(gpuAcc!.data).toEqual(sum(acc, gpu!));
    const [cpu] = applyCpu(conv.ae.Conv, c, step, r, o);
    const [cpuAcc] = applyCpu(conv.ae.Conv, c, step, r, { ...o, acc });
    expect(cpuAcc!.data).toEqual(sum(acc, cpu!));
  });
});
