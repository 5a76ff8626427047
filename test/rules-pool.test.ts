// Pooling rules: the gradient (pooling transposes) and the AE z-rule on positive inputs (spec §2.3),
// checked against an independent dense-matrix reference (the pooling's linear map / Jacobian built
// window by window here), by hand, by the §4 sum property, and GPU against CPU.
import { describe, expect, it } from 'vitest';
import { OnnxBuilder, type AttrIn } from '../tools/onnx-builder.js';
import { forwardCase, stepOf, applyCpu, applyGpu, type RuleCase } from './helpers/rules.js';
import { rng } from './helpers/ops.js';
import * as pool from '../src/ops/pool/rules.js';
import type { CpuTensor } from '../src/ops/op.js';
import { numel, type Shape } from '../src/graph/tensor.js';

type PoolOp = 'MaxPool' | 'AveragePool' | 'GlobalMaxPool' | 'GlobalAveragePool';

/** A model made of one pooling node reading the model input. */
function poolCase(op: PoolOp, x: CpuTensor, attrs: Record<string, AttrIn> = {}): RuleCase {
  const b = new OnnxBuilder();
  b.input('input', x.shape);
  const [y] = b.node(op, ['input'], attrs, [x.shape.map((_, i) => (i < 2 ? x.shape[i] : `d${i}`))], 'pool');
  b.output(y);
  return forwardCase(b, x);
}

const t = (shape: Shape, data: number[]): CpuTensor => ({ shape, data: Float32Array.from(data) });

function rand(shape: Shape, seed: number, opts: { zeros?: number; quant?: number } = {}): CpuTensor {
  const r = rng(seed);
  const data = new Float32Array(numel(shape));
  for (let i = 0; i < data.length; i++) {
    let v = r() * 2 - 1;
    if (opts.quant) v = Math.round(v * opts.quant) / opts.quant; // repeated values: arg-max ties
    data[i] = r() < (opts.zeros ?? 0) ? 0 : v;
  }
  return { shape, data };
}

function relL2(a: Float32Array, b: ArrayLike<number>): number {
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num) / Math.max(Math.sqrt(den), 1e-30);
}

function sampleSums(x: CpuTensor): number[] {
  const per = numel(x.shape) / x.shape[0];
  return Array.from({ length: x.shape[0] }, (_, n) => x.data.subarray(n * per, (n + 1) * per).reduce((s, v) => s + v, 0));
}

// ---------------------------------------------------------------- dense reference

interface Geo {
  H: number; W: number; OH: number; OW: number; kh: number; kw: number; sh: number; sw: number;
  dh: number; dw: number; pt: number; pl: number; pb: number; pr: number; cip: boolean;
}

/** Geometry from the node's attributes (explicit pads only) and the planned output shape. */
function geoOf(c: RuleCase): Geo {
  const step = stepOf(c.plan, c.plan.steps[0].node.opType);
  const n = step.node;
  const xs = c.plan.shapes.get(step.inputs[0]!)!, ys = step.outShapes[0];
  const spatial = (s: Shape) => (s.length === 3 ? [1, s[2]] : [s[2], s[3]]);
  const [H, W] = spatial(xs), [OH, OW] = spatial(ys);
  if (n.opType.startsWith('Global')) {
    return { H, W, OH: 1, OW: 1, kh: H, kw: W, sh: 1, sw: 1, dh: 1, dw: 1, pt: 0, pl: 0, pb: 0, pr: 0, cip: false };
  }
  const a = (k: string) => n.attrs.get(k) as number[] | undefined;
  const one = xs.length === 3;
  const k = a('kernel_shape')!, s = a('strides') ?? [1, 1], d = a('dilations') ?? [1, 1];
  const p = a('pads') ?? [0, 0, 0, 0];
  const two = (v: number[]) => (one ? [1, v[0]] : v);
  const [kh, kw] = two(k), [sh, sw] = two(s), [dh, dw] = two(d);
  const [pt, pl, pb, pr] = one ? [0, p[0], 0, p[1]] : p;
  return { H, W, OH, OW, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, cip: (n.attrs.get('count_include_pad') as number | undefined) === 1 };
}

/**
 * The pooling of one plane as a dense OH·OW × H·W matrix: average pooling's linear map, or max
 * pooling's Jacobian at `x` (1 at the first largest in-input tap of each window, row-major).
 */
function poolMatrix(g: Geo, kind: 'max' | 'avg', x: ArrayLike<number>): Float64Array[] {
  const rows: Float64Array[] = [];
  for (let oh = 0; oh < g.OH; oh++) {
    for (let ow = 0; ow < g.OW; ow++) {
      const row = new Float64Array(g.H * g.W);
      const taps: number[] = [];
      let count = 0;
      for (let a = 0; a < g.kh; a++) {
        for (let b = 0; b < g.kw; b++) {
          const h = oh * g.sh - g.pt + a * g.dh, w = ow * g.sw - g.pl + b * g.dw;
          const inInput = h >= 0 && h < g.H && w >= 0 && w < g.W;
          const inPadded = h >= -g.pt && h < g.H + g.pb && w >= -g.pl && w < g.W + g.pr;
          if (inInput) taps.push(h * g.W + w);
          if (g.cip ? inPadded : inInput) count++;
        }
      }
      if (kind === 'avg') for (const i of taps) row[i] = 1 / count;
      else if (taps.length) {
        let best = taps[0];
        for (const i of taps) if (x[i] > x[best]) best = i;
        row[best] = 1;
      }
      rows.push(row);
    }
  }
  return rows;
}

/** Apply per plane: y = P x or x = Pᵀ y, with P built from the plane's `at` values. */
function perPlane(g: Geo, x: CpuTensor, fn: (plane: number, base: number, obase: number) => void): void {
  const planes = numel(x.shape) / (g.H * g.W);
  for (let p = 0; p < planes; p++) fn(p, p * g.H * g.W, p * g.OH * g.OW);
}

function denseGradient(g: Geo, kind: 'max' | 'avg', x: CpuTensor, dy: CpuTensor): Float64Array {
  const dx = new Float64Array(numel(x.shape));
  perPlane(g, x, (_p, base, obase) => {
    const P = poolMatrix(g, kind, x.data.subarray(base, base + g.H * g.W));
    P.forEach((row, o) => row.forEach((v, i) => { dx[base + i] += v * dy.data[obase + o]; }));
  });
  return dx;
}

/** Spec §2.3 with matrices: x̂ = x⁺ + 1e-9, Z = P x̂, S = safe_div(R, Z), R_in = x̂ ⊙ Pᵀ S. */
function denseZRule(g: Geo, kind: 'max' | 'avg', x: CpuTensor, r: CpuTensor): Float64Array {
  const xh = Float64Array.from(x.data, (v) => Math.max(v, 0) + 1e-9);
  const out = new Float64Array(xh.length);
  perPlane(g, x, (_p, base, obase) => {
    const plane = xh.subarray(base, base + g.H * g.W);
    const P = poolMatrix(g, kind, plane);
    P.forEach((row, o) => {
      const z = row.reduce((s, v, i) => s + v * plane[i], 0);
      const s = z === 0 ? 0 : r.data[obase + o] / z;
      row.forEach((v, i) => { out[base + i] += plane[i] * v * s; });
    });
  });
  return out;
}

const kindOf = (op: string): 'max' | 'avg' => (op.includes('Max') ? 'max' : 'avg');

// ---------------------------------------------------------------- cases

interface Cfg { name: string; op: PoolOp; shape: Shape; attrs?: Record<string, AttrIn> }

const ODD: Cfg[] = [
  { name: 'max 3×3/s2 pad 1 ceil', op: 'MaxPool', shape: [2, 3, 13, 11], attrs: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], ceil_mode: 1 } },
  { name: 'max 2×2/s2 (VGG)', op: 'MaxPool', shape: [3, 2, 10, 14], attrs: { kernel_shape: [2, 2], strides: [2, 2] } },
  { name: 'max 3×2 dilated, asymmetric pads', op: 'MaxPool', shape: [2, 3, 12, 9], attrs: { kernel_shape: [3, 2], strides: [1, 2], dilations: [2, 1], pads: [2, 0, 1, 1] } },
  { name: 'max 1-D', op: 'MaxPool', shape: [2, 5, 17], attrs: { kernel_shape: [3], strides: [2], pads: [1, 1], ceil_mode: 1 } },
  { name: 'avg 3×3/s2 pad 1 ceil', op: 'AveragePool', shape: [2, 3, 13, 11], attrs: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], ceil_mode: 1 } },
  { name: 'avg 3×3/s2 pad 1 count_include_pad ceil', op: 'AveragePool', shape: [2, 3, 12, 11], attrs: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], count_include_pad: 1, ceil_mode: 1 } },
  { name: 'avg 2×3 dilated', op: 'AveragePool', shape: [1, 4, 11, 12], attrs: { kernel_shape: [2, 3], strides: [3, 2], dilations: [2, 2], pads: [1, 2, 0, 2] } },
  { name: 'global avg', op: 'GlobalAveragePool', shape: [2, 5, 7, 9] },
  { name: 'global max', op: 'GlobalMaxPool', shape: [3, 4, 9, 13] },
  { name: 'global max, large plane', op: 'GlobalMaxPool', shape: [1, 3, 31, 17] },
];

describe('pooling gradient', () => {
  it('MaxPool routes to the arg-max of x, ties to the first position (hand values)', () => {
    // Window 1 all negative: its max −0.5 wins; window 2 has 3 twice: the first in row-major order wins.
    const x = t([1, 1, 2, 4], [-1, -2, 1, 3, -3, -0.5, 3, 2]);
    const c = poolCase('MaxPool', x, { kernel_shape: [2, 2], strides: [2, 2] });
    const [dx] = applyCpu(pool.gradient.MaxPool, c, stepOf(c.plan, 'MaxPool'), t([1, 1, 1, 2], [10, 20]));
    expect(Array.from(dx!.data)).toEqual([0, 0, 0, 20, 0, 10, 0, 0]);
    expect(dx!.shape).toEqual([1, 1, 2, 4]);
  });

  it('AveragePool gradient with padding: count_include_pad divides by the padded count (hand values)', () => {
    const x = t([1, 1, 2, 2], [1, 2, 3, 4]);
    const dy = t([1, 1, 1, 1], [12]);
    for (const [cip, want] of [[0, 3], [1, 12 / 9]] as const) {
      const c = poolCase('AveragePool', x, { kernel_shape: [3, 3], pads: [1, 1, 0, 0], count_include_pad: cip });
      const [dx] = applyCpu(pool.gradient.AveragePool, c, stepOf(c.plan, 'AveragePool'), dy);
      for (const v of dx!.data) expect(v).toBeCloseTo(want, 6);
    }
  });

  it.each(ODD)('$name: dense Jacobian reference (CPU, rel. L2 ≤ 1e-6) and GPU vs CPU (rel. L2 ≤ 1e-5)', async ({ op, shape, attrs }) => {
    const x = rand(shape, 11, { zeros: 0.3, quant: 4 });
    const c = poolCase(op, x, attrs);
    const step = stepOf(c.plan, op);
    const g = geoOf(c);
    // The reference geometry reproduces the forward op: P(x)·x = y per plane.
    const y = c.values.get(step.node.outputs[0])!;
    const yRef = new Float64Array(numel(y.shape));
    perPlane(g, x, (_p, base, obase) => {
      poolMatrix(g, kindOf(op), x.data.subarray(base, base + g.H * g.W))
        .forEach((row, o) => { yRef[obase + o] = row.reduce((s, v, i) => s + v * x.data[base + i], 0); });
    });
    expect(relL2(y.data, yRef)).toBeLessThan(1e-6);

    const dy = rand(y.shape, 12);
    const rule = pool.gradient[op];
    const [cpu] = applyCpu(rule, c, step, dy);
    expect(cpu!.shape).toEqual(x.shape);
    expect(relL2(cpu!.data, denseGradient(g, kindOf(op), x, dy))).toBeLessThan(1e-6);
    const [gpu] = await applyGpu(rule, c, step, dy);
    expect(relL2(gpu!.data, cpu!.data)).toBeLessThan(1e-5);
  });
});

describe('pooling AE z-rule (spec §2.3)', () => {
  it('MaxPool: all-zero and all-negative windows send their relevance to the first position (hand values)', async () => {
    // Windows (2×2/s2): all zeros; max 3 twice (first in row-major order wins); all negative
    // (x̂ all equal: first position, unlike the gradient); a single positive.
    const x = t([1, 1, 2, 8], [0, 0, 1, 3, -1, -2, 0, 0, 0, 0, 3, 2, -3, -0.5, 0, 5]);
    const r = t([1, 1, 1, 4], [-0.5, 2, -0.25, 0.75]);
    const c = poolCase('MaxPool', x, { kernel_shape: [2, 2], strides: [2, 2] });
    const step = stepOf(c.plan, 'MaxPool');
    const want = [-0.5, 0, 0, 2, -0.25, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0.75];
    for (const res of [applyCpu(pool.ae.MaxPool, c, step, r), await applyGpu(pool.ae.MaxPool, c, step, r)]) {
      expect(res[0]!.shape).toEqual(x.shape);
      res[0]!.data.forEach((v, i) => expect(v).toBeCloseTo(want[i], 6));
    }
  });

  it('AveragePool shares R in proportion to x⁺ (hand values); padding takes nothing', () => {
    const x = t([1, 1, 2, 2], [1, 3, 0, -2]);
    for (const cip of [0, 1]) {
      const c = poolCase('AveragePool', x, { kernel_shape: [3, 3], pads: [1, 1, 0, 0], count_include_pad: cip });
      const [res] = applyCpu(pool.ae.AveragePool, c, stepOf(c.plan, 'AveragePool'), t([1, 1, 1, 1], [-2]));
      const want = [-0.5, -1.5, 0, 0];
      res!.data.forEach((v, i) => expect(v).toBeCloseTo(want[i], 6));
    }
  });

  it('GlobalAveragePool and GlobalMaxPool on hand values', () => {
    const x = t([1, 2, 2, 2], [2, 0, 6, -1, /* channel 2: all ≤ 0 */ 0, -1, 0, -4]);
    const r = t([1, 2, 1, 1], [4, -1]);
    const ca = poolCase('GlobalAveragePool', x);
    const [ra] = applyCpu(pool.ae.GlobalAveragePool, ca, stepOf(ca.plan, 'GlobalAveragePool'), r);
    // Channel 2 has x̂ = 1e-9 everywhere: R spread evenly.
    [1, 0, 3, 0, -0.25, -0.25, -0.25, -0.25].forEach((w, i) => expect(ra!.data[i]).toBeCloseTo(w, 6));
    const cm = poolCase('GlobalMaxPool', x);
    const [rm] = applyCpu(pool.ae.GlobalMaxPool, cm, stepOf(cm.plan, 'GlobalMaxPool'), r);
    [0, 0, 4, 0, -1, 0, 0, 0].forEach((w, i) => expect(rm!.data[i]).toBeCloseTo(w, 6));
  });

  it.each(ODD)('$name: dense reference (CPU, rel. L2 ≤ 1e-5), Σ R conserved per sample, GPU vs CPU (rel. L2 ≤ 1e-5)', async ({ op, shape, attrs }) => {
    const x = rand(shape, 21, { zeros: 0.35, quant: 4 });
    const c = poolCase(op, x, attrs);
    const step = stepOf(c.plan, op);
    const outShape = step.outShapes[0];
    const r = rand(outShape, 22);
    const rule = pool.ae[op];
    const [cpu] = applyCpu(rule, c, step, r);
    expect(cpu!.shape).toEqual(x.shape);
    expect(relL2(cpu!.data, denseZRule(geoOf(c), kindOf(op), x, r))).toBeLessThan(1e-5);
    // Every window has an input tap and x̂ > 0, so no denominator is zero: Σ R_in = Σ R.
    const sIn = sampleSums(cpu!), sOut = sampleSums(r);
    sIn.forEach((s, n) => expect(Math.abs(s - sOut[n])).toBeLessThan(1e-5 * Math.max(1, Math.abs(sOut[n]))));
    const [gpu] = await applyGpu(rule, c, step, r);
    expect(relL2(gpu!.data, cpu!.data)).toBeLessThan(1e-5);
  });

  it.each(ODD.filter((_, i) => [0, 5, 7, 8].includes(i)))('$name: batch samples are independent; the backward batch may exceed the forward one', async ({ op, shape, attrs }) => {
    const x = rand(shape, 31, { zeros: 0.3, quant: 4 });
    const c = poolCase(op, x, attrs);
    const step = stepOf(c.plan, op);
    const outShape = step.outShapes[0];
    const r = rand(outShape, 32);
    const rule = pool.ae[op];
    const [whole] = applyCpu(rule, c, step, r);
    const perX = numel(shape) / shape[0], perR = numel(outShape) / shape[0];
    for (let n = 0; n < shape[0]; n++) {
      const xn = { shape: [1, ...shape.slice(1)], data: x.data.slice(n * perX, (n + 1) * perX) };
      const rn = { shape: [1, ...outShape.slice(1)], data: r.data.slice(n * perR, (n + 1) * perR) };
      const cn = poolCase(op, xn, attrs);
      const [one] = applyCpu(rule, cn, stepOf(cn.plan, op), rn);
      expect(relL2(whole!.data.subarray(n * perX, (n + 1) * perX), one!.data)).toBeLessThan(1e-6);
    }
    // A plan for one sample, walked with the whole batch (as with several targets per sample).
    const one = { shape: [1, ...shape.slice(1)], data: x.data.slice(0, perX) };
    const c1 = poolCase(op, one, attrs);
    c1.values.set('input', x);
    c1.values.set(step.node.outputs[0], c.values.get(step.node.outputs[0])!);
    const s1 = stepOf(c1.plan, op);
    const [cpu] = applyCpu(rule, c1, s1, r);
    expect(cpu!.shape).toEqual(x.shape);
    expect(relL2(cpu!.data, whole!.data)).toBeLessThan(1e-7);
    const [gpu] = await applyGpu(rule, c1, s1, r);
    expect(relL2(gpu!.data, whole!.data)).toBeLessThan(1e-5);
  });

  it.each(ODD.filter((_, i) => [0, 4, 7, 8].includes(i)))('$name: finite with all-zero input, all-zero and one-signed relevance', async ({ op, shape, attrs }) => {
    const zeroX = { shape, data: new Float32Array(numel(shape)) };
    const c0 = poolCase(op, zeroX, attrs);
    const step = stepOf(c0.plan, op);
    const outShape = step.outShapes[0];
    const pos = rand(outShape, 41);
    pos.data.forEach((v, i) => { pos.data[i] = Math.abs(v); });
    const neg = { shape: outShape, data: pos.data.map((v) => -v) };
    const zeroR = { shape: outShape, data: new Float32Array(numel(outShape)) };
    const cx = poolCase(op, rand(shape, 42, { zeros: 0.5 }), attrs);
    for (const [c, r] of [[c0, pos], [c0, zeroR], [cx, zeroR], [cx, neg]] as const) {
      const st = stepOf(c.plan, op);
      for (const res of [applyCpu(pool.ae[op], c, st, r), await applyGpu(pool.ae[op], c, st, r)]) {
        expect(res[0]!.data.every(Number.isFinite)).toBe(true);
        const sIn = sampleSums(res[0]!), sOut = sampleSums(r);
        sIn.forEach((s, n) => expect(Math.abs(s - sOut[n])).toBeLessThan(1e-5 * Math.max(1, Math.abs(sOut[n]))));
      }
    }
  });
});
