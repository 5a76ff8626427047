// Backward rules of structural ops (src/ops/layout, src/ops/elementwise) and the walker's graph facts
// (src/planner/topology.ts), on small builder models.
//   - Gradients against the transposed Jacobian Jᵀ·dy, with J built column by column from the
//     op's own CPU forward on basis vectors (f(x + e_j) − f(x) for the affine ops): rel. L2 ≤ 1e-6.
//   - GPU vs CPU: exact (bit-equal) for pure data movement (Transpose, Slice, Concat, constant
//     Pad, crops, Concat masks); rel. L2 ≤ 1e-5 where sums are formed (broadcast reductions,
//     reflect/edge/wrap Pad, Gather with repeated indices, proportional residual split).
//   - AE (spec §2.1, §2.7, §2.8): crop, masked split, residual 'main' and 'proportional' with a
//     hand-computed case, per-sample Σ conservation, per-sample independence (batch 3), T > 1
//     targets per sample, no NaN on zero inputs/relevance and one-signed relevance.
import { describe, it, expect } from 'vitest';
import { OnnxBuilder } from '../tools/onnx-builder.js';
import { forwardCase, stepOf, applyCpu, applyGpu, type RuleCase, type ApplyOptions } from './helpers/rules.js';
import { randn, rng, diff } from './helpers/ops.js';
import { proportionalCpu, proportionalGpu } from '../src/ops/elementwise/rules.js';
import { methodTable } from '../src/ops/table.js';
import { firstConvs, residualAdds } from '../src/planner/topology.js';
import { cpuAttr } from '../src/ops/shared/attribution.js';
import { getGpu } from '../src/kernels/gpu/runtime.js';
import { numel, type Shape } from '../src/graph/tensor.js';
import type { Step } from '../src/planner/plan.js';
import type { CpuTensor } from '../src/ops/op.js';
import type { Rule } from '../src/ops/rule.js';

const gradient = methodTable('gradient');
const ae = methodTable('ae');

const R = rng(7);

function model(inShape: Shape, build: (b: OnnxBuilder, x: string) => string, seed = 3): (input?: CpuTensor) => RuleCase {
  return (input = randn(inShape, R)) => {
    const b = new OnnxBuilder({ seed });
    const x = b.input('input', inShape);
    b.output(build(b, x));
    return forwardCase(b, input);
  };
}

const i64 = (b: OnnxBuilder, name: string, v: number[], dims = [v.length]) => b.initializer(name, dims, v, 'int64');

/** Jᵀ·dy for operand k of a step, J from the op's CPU forward on basis vectors. */
function jacobianT(c: RuleCase, step: Step, k: number, dy: CpuTensor): Float32Array {
  const inputs = step.inputs.map((n) => (n ? c.values.get(n) : undefined));
  const xk = inputs[k]!;
  const n = xk.data.length;
  const run = (data: Float32Array) => {
    const ins = inputs.slice();
    ins[k] = { shape: xk.shape, data };
    return step.spec.cpu(step.params, ins, step.outShapes)[0];
  };
  const base = run(new Float32Array(n));
  const out = new Float32Array(n);
  for (let j = 0; j < n; j++) {
    const e = new Float32Array(n);
    e[j] = 1;
    const col = run(e);
    let s = 0;
    for (let i = 0; i < col.length; i++) s += (col[i] - base[i]) * dy.data[i];
    out[j] = s;
  }
  return out;
}

function outShape(c: RuleCase, step: Step, batch = 1): Shape {
  const s = step.outShapes[0];
  return [s[0] * batch, ...s.slice(1)];
}

/** GPU equals CPU: exactly, or within a relative L2 tolerance. */
async function gpuMatches(rule: Rule, c: RuleCase, step: Step, r: CpuTensor, tol: number | 'exact', o: ApplyOptions = {}): Promise<(CpuTensor | undefined)[]> {
  const cpu = applyCpu(rule, c, step, r, o);
  const gpu = await applyGpu(rule, c, step, r, o);
  expect(gpu.length).toBe(cpu.length);
  cpu.forEach((t, i) => {
    if (!t) {
      expect(gpu[i]).toBeUndefined();
      return;
    }
    const g = gpu[i]!;
    expect(g.shape).toEqual(t.shape);
    expect(g.data.length).toBe(numel(t.shape));
    if (tol === 'exact') {
      for (let j = 0; j < t.data.length; j++) if (!Object.is(g.data[j], t.data[j])) expect(`[${i}][${j}] gpu ${g.data[j]}`).toBe(`cpu ${t.data[j]}`);
    } else {
      expect(diff(g.data, t.data).relL2).toBeLessThanOrEqual(tol);
    }
  });
  return cpu;
}

/** Check the gradient of every runtime input against Jᵀ·dy, and GPU against CPU. */
async function checkGradient(c: RuleCase, step: Step, tol: number | 'exact'): Promise<void> {
  const rule = gradient[step.node.opType];
  const dy = randn(outShape(c, step), R);
  const res = applyCpu(rule, c, step, dy);
  step.inputs.forEach((n, k) => {
    if (!n || c.plan.consts.has(n)) {
      expect(res[k]).toBeUndefined();
      return;
    }
    const ref = jacobianT(c, step, k, dy);
    expect(res[k]!.shape).toEqual(c.values.get(n)!.shape);
    expect(diff(res[k]!.data, ref).relL2).toBeLessThanOrEqual(1e-6);
  });
  await gpuMatches(rule, c, step, dy, tol);
}

/** Every runtime tensor repeated T times along axis 0, as the pipeline expands forward values. */
function expandCase(c: RuleCase, t: number): RuleCase {
  const values = new Map<string, CpuTensor>();
  for (const [k, v] of c.values) values.set(k, c.plan.consts.has(k) ? v : cpuAttr.expand(v, t));
  return { plan: c.plan, values };
}

const noNaN = (ts: (CpuTensor | undefined)[]) => ts.forEach((t) => t && expect(t.data.every(Number.isFinite)).toBe(true));

function sampleSums(t: CpuTensor): number[] {
  const b = t.shape[0], per = t.data.length / b;
  return Array.from({ length: b }, (_, s) => t.data.subarray(s * per, (s + 1) * per).reduce((a, v) => a + v, 0));
}

// ---------------------------------------------------------------- Transpose, Slice, Gather

describe('Transpose', () => {
  const cases: [string, Shape, number[] | undefined][] = [
    ['NCHW→NHWC', [2, 3, 5, 7], [0, 2, 3, 1]],
    ['rank 3', [3, 4, 5], [0, 2, 1]],
    ['rank 5', [2, 3, 1, 4, 5], [0, 4, 2, 1, 3]],
    ['default perm (reverses, batch 1)', [1, 3, 5], undefined],
  ];
  it.each(cases)('%s: gradient = Jᵀ·dy, GPU exact; AE is the same inverse permutation', async (_n, s, perm) => {
    const c = model(s, (b, x) => b.node('Transpose', [x], perm ? { perm } : {}, [(perm ?? s.map((_, i) => s.length - 1 - i)).map((p) => s[p])])[0])();
    const step = stepOf(c.plan, 'Transpose');
    await checkGradient(c, step, 'exact');
    expect(ae.Transpose).toBe(gradient.Transpose);
  });
  it('hand-checked 2×3 → 3×2 back', () => {
    const c = model([1, 2, 3], (b, x) => b.node('Transpose', [x], { perm: [0, 2, 1] }, [[1, 3, 2]])[0])();
    const [dx] = applyCpu(ae.Transpose, c, stepOf(c.plan, 'Transpose'), { shape: [1, 3, 2], data: Float32Array.of(0, 3, 1, 4, 2, 5) });
    expect(dx!.shape).toEqual([1, 2, 3]);
    expect(Array.from(dx!.data)).toEqual([0, 1, 2, 3, 4, 5]);
  });
});

describe('Slice', () => {
  it('negative steps, several axes, out-of-range ends: scatter into zeros = Jᵀ·dy, GPU exact', async () => {
    const c = model([2, 4, 6, 7], (b, x) => b.node('Slice', [x, i64(b, 'starts', [1, 3, -1]), i64(b, 'ends', [1000000, -1000, 0]),
      i64(b, 'axes', [3, 1, 2]), i64(b, 'steps', [2, -2, -1])], {}, [[2, 2, 5, 3]])[0])();
    const step = stepOf(c.plan, 'Slice');
    expect(step.outShapes[0]).toEqual([2, 2, 5, 3]);
    await checkGradient(c, step, 'exact');
  });
  it('a plain crop, AE = gradient; hand-checked', async () => {
    const c = model([1, 1, 4], (b, x) => b.node('Slice', [x, i64(b, 's', [1]), i64(b, 'e', [3]), i64(b, 'a', [2])], {}, [[1, 1, 2]])[0])();
    const step = stepOf(c.plan, 'Slice');
    const [dx] = applyCpu(ae.Slice, c, step, { shape: [1, 1, 2], data: Float32Array.of(5, -6) });
    expect(Array.from(dx!.data)).toEqual([0, 5, -6, 0]);
    await gpuMatches(ae.Slice, c, step, randn([1, 1, 2], R), 'exact');
  });
});

describe('Gather', () => {
  it('repeated and negative indices accumulate (= Jᵀ·dy); GPU ≤ 1e-5', async () => {
    const c = model([2, 5, 6], (b, x) => b.node('Gather', [x, i64(b, 'idx', [4, 4, 0, 1, 2, -1, 4, 3, 1], [3, 3])], { axis: 1 }, [[2, 3, 3, 6]])[0])();
    await checkGradient(c, stepOf(c.plan, 'Gather'), 1e-5);
  });
  it('axis 2 with a run of equal indices', async () => {
    const c = model([2, 3, 7], (b, x) => b.node('Gather', [x, i64(b, 'idx', [6, 6, 6, 0, 2, 4])], { axis: 2 }, [[2, 3, 6]])[0])();
    await checkGradient(c, stepOf(c.plan, 'Gather'), 1e-5);
  });
});

// ---------------------------------------------------------------- Concat

/** relu(x) ⊕ constant ⊕ conv(x) along `axis`: two runtime inputs (one with zeros), one constant. */
function concatModel(axis: number) {
  const s: Shape = [2, 3, 5, 4];
  return model(s, (b, x) => {
    const a = b.relu(x);
    const k = b.randomInit('k', s.map((d, i) => (i === axis ? 1 : d)), 1);
    const cv = b.conv(x, 3, 3, { pad: 1 });
    const ks: Shape = s.map((d, i) => (i === axis ? 1 : d));
    const out = s.map((d, i) => (i === axis ? d + ks[i] + d : d));
    return b.node('Concat', [a, k, cv], { axis: axis === 3 ? -1 : axis }, [out])[0];
  });
}

describe('Concat', () => {
  it.each([1, 2, 3])('axis %i: gradient splits dy (= Jᵀ·dy, constant input gets nothing), GPU exact', async (axis) => {
    const c = concatModel(axis)();
    await checkGradient(c, stepOf(c.plan, 'Concat'), 'exact');
  });
  it.each([1, 3])('axis %i: AE splits R, each part masked by [x_i ≠ 0]; GPU exact', async (axis) => {
    const c = concatModel(axis)();
    const step = stepOf(c.plan, 'Concat');
    const r = randn(outShape(c, step), R);
    const res = await gpuMatches(ae.Concat, c, step, r, 'exact');
    const grads = applyCpu(gradient.Concat, c, step, r);
    expect(res[1]).toBeUndefined();
    for (const k of [0, 2]) {
      const x = c.values.get(step.inputs[k]!)!.data;
      const want = grads[k]!.data.map((v, j) => (x[j] !== 0 ? v : 0));
      expect(Array.from(res[k]!.data)).toEqual(Array.from(want));
    }
    // relu(x) has zeros: the mask drops relevance there.
    expect(res[0]!.data.filter((v) => v === 0).length).toBeGreaterThan(10);
  });
  it('six runtime parts (two dispatches of up to 4 parts, concat.ts): forward, gradient and AE exact on the GPU', async () => {
    const c = model([2, 3, 5, 4], (b, x) => {
      const parts = [b.relu(x), x, b.conv(x, 2, 1), b.relu(b.conv(x, 4, 3, { pad: 1 })), b.conv(x, 1, 1), b.relu(x)];
      return b.node('Concat', parts, { axis: 1 }, [[2, 3 + 3 + 2 + 4 + 1 + 3, 5, 4]])[0];
    })();
    const step = stepOf(c.plan, 'Concat');
    await checkGradient(c, step, 'exact');
    const r = randn(outShape(c, step), R);
    const res = await gpuMatches(ae.Concat, c, step, r, 'exact');
    const grads = applyCpu(gradient.Concat, c, step, r);
    for (let k = 0; k < 6; k++) {
      const x = c.values.get(step.inputs[k]!)!.data;
      expect(Array.from(res[k]!.data)).toEqual(Array.from(grads[k]!.data.map((v, j) => (x[j] !== 0 ? v : 0))));
    }
  });
  it('T = 2 targets per sample: each copy of a sample gets its own part; axis 0 is refused', async () => {
    const c = concatModel(1)();
    const step = stepOf(c.plan, 'Concat');
    const r = randn(outShape(c, step, 2), R);
    const big = expandCase(c, 2);
    const res = await gpuMatches(ae.Concat, big, step, r, 'exact', { batch: 4 });
    const per = numel(step.outShapes[0]) / 2;
    for (let s = 0; s < 4; s++) {
      // Sample s of the backward batch is forward sample ⌊s/2⌋ with relevance r[s].
      const one = { shape: [2, ...r.shape.slice(1)], data: new Float32Array(2 * per) };
      one.data.set(r.data.subarray(s * per, (s + 1) * per), Math.floor(s / 2) * per);
      const ref = applyCpu(ae.Concat, c, step, one)[0]!;
      const n = ref.data.length / 2;
      expect(Array.from(res[0]!.data.subarray(s * n, (s + 1) * n))).toEqual(Array.from(ref.data.subarray(Math.floor(s / 2) * n, Math.floor(s / 2) * n + n)));
    }
    const c0 = model([1, 3, 4], (b, x) => b.node('Concat', [x, b.relu(x)], { axis: 0 }, [[2, 3, 4]])[0])();
    const s0 = stepOf(c0.plan, 'Concat');
    expect(() => applyCpu(ae.Concat, expandCase(c0, 2), s0, randn([4, 3, 4], R), { batch: 2 }))
      .toThrow(/Concat node '.*': concatenation along axis 0: it mixes samples/);
  });
});

// ---------------------------------------------------------------- Pad

function padModel(mode: string, pads: number[], s: Shape, value?: number) {
  const out = s.map((d, i) => d + pads[i] + pads[i + s.length]);
  return model(s, (b, x) => {
    const ins = [x, i64(b, 'pads', pads)];
    if (value !== undefined) ins.push(b.initializer('value', [], [value]));
    return b.node('Pad', ins, { mode }, [out])[0];
  });
}

describe('Pad', () => {
  const s: Shape = [2, 3, 5, 6];
  const padCases: [string, number[]][] = [
    ['positive', [0, 0, 2, 1, 0, 0, 1, 3]],
    ['mixed with crops', [0, 1, -1, 2, 0, -1, 2, -2]],
    ['wider than the axis', [0, 0, 6, 0, 0, 0, 0, 7]],
  ];
  const modes = ['constant', 'reflect', 'edge', 'wrap'];
  const all = modes.flatMap((m) => padCases.map(([n, p]) => [m, n, p] as const));
  it.each(all)('%s, %s pads: gradient = Jᵀ·dy; GPU exact (constant) or ≤ 1e-5', async (mode, _n, pads) => {
    const c = padModel(mode, pads, s, mode === 'constant' ? 0.5 : undefined)();
    await checkGradient(c, stepOf(c.plan, 'Pad'), mode === 'constant' ? 'exact' : 1e-5);
  });
  it.each(modes)('%s: AE crops R to the unpadded region (GPU exact)', async (mode) => {
    const pads = [0, 0, 2, 1, 0, 0, 1, 3];
    const c = padModel(mode, pads, s)();
    const step = stepOf(c.plan, 'Pad');
    const r = randn(outShape(c, step), R);
    const [dx] = await gpuMatches(ae.Pad, c, step, r, 'exact');
    const [, , H, W] = step.outShapes[0];
    const want = new Float32Array(numel(s));
    let j = 0;
    for (let p = 0; p < s[0] * s[1]; p++) for (let h = 0; h < s[2]; h++) for (let w = 0; w < s[3]; w++) want[j++] = r.data[(p * H + h + 2) * W + w + 1];
    expect(Array.from(dx!.data)).toEqual(Array.from(want));
  });
  it('reflect gradient, hand-checked on 1-D: [a b c] → [c b | a b c | b a]', () => {
    const c = padModel('reflect', [0, 0, 2, 0, 0, 2], [1, 1, 3])();
    const [dx] = applyCpu(gradient.Pad, c, stepOf(c.plan, 'Pad'), { shape: [1, 1, 7], data: Float32Array.of(1, 2, 10, 20, 30, 40, 50) });
    // a ← 10 + 50; b ← 2 + 20 + 40; c ← 1 + 30.
    expect(Array.from(dx!.data)).toEqual([60, 62, 31]);
  });
  it('T = 2: matches the single-target result per copy; padding the batch axis is refused', () => {
    const c = padModel('reflect', [0, 0, 2, 1, 0, 0, 1, 3], s)();
    const step = stepOf(c.plan, 'Pad');
    const r = randn(outShape(c, step, 2), R);
    const [dx] = applyCpu(gradient.Pad, expandCase(c, 2), step, r, { batch: 4 });
    expect(dx!.shape).toEqual([4, ...s.slice(1)]);
    const per = r.data.length / 4;
    const n = numel(s) / 2;
    for (let k = 0; k < 4; k++) {
      const one = { shape: outShape(c, step), data: new Float32Array(2 * per) };
      one.data.set(r.data.subarray(k * per, (k + 1) * per));
      const [ref] = applyCpu(gradient.Pad, c, step, one);
      expect(Array.from(dx!.data.subarray(k * n, (k + 1) * n))).toEqual(Array.from(ref!.data.subarray(0, n)));
    }
    const c0 = padModel('constant', [1, 0, 0, 0], [1, 3])();
    expect(() => applyCpu(ae.Pad, expandCase(c0, 2), stepOf(c0.plan, 'Pad'), randn([4, 3], R), { batch: 2 }))
      .toThrow(/Pad node '.*': padding along axis 0/);
  });
});

// ---------------------------------------------------------------- Add / Sub / Mul / Div

/** x [2,3,5,7] against: itself via GAP (runtime, broadcast), a per-channel constant, a scalar. */
const S: Shape = [2, 3, 5, 7];
const binCases: [string, (b: OnnxBuilder, x: string) => string][] = [
  ['Add x + gap(x)', (b, x) => b.node('Add', [x, b.globalAvgPool(x)], {}, [S])[0]],
  ['Sub gap(x) − x', (b, x) => b.node('Sub', [b.globalAvgPool(x), x], {}, [S])[0]],
  ['Mul x · gap(x)', (b, x) => b.node('Mul', [x, b.globalAvgPool(x)], {}, [S])[0]],
  ['Mul gap(x) · relu(x)', (b, x) => b.node('Mul', [b.globalAvgPool(x), b.relu(x)], {}, [S])[0]],
  ['Mul x · const[3,1,1]', (b, x) => b.node('Mul', [x, b.randomInit('k', [3, 1, 1], 1)], {}, [S])[0]],
  ['Mul scalar · x', (b, x) => b.node('Mul', [b.initializer('k', [], [2.5]), x], {}, [S])[0]],
  ['Sub x − const[1,3,1,1]', (b, x) => b.node('Sub', [x, b.randomInit('k', [1, 3, 1, 1], 1)], {}, [S])[0]],
  ['Div x / const[7]', (b, x) => b.node('Div', [x, b.randomInit('k', [7], 1, 2)], {}, [S])[0]],
  ['Div x / scalar', (b, x) => b.node('Div', [x, b.initializer('k', [1], [4])], {}, [S])[0]],
  ['Add x + x (one tensor twice)', (b, x) => b.node('Add', [x, x], {}, [S])[0]],
];

describe('element-wise gradients (numpy broadcasting)', () => {
  it.each(binCases)('%s: each runtime operand = Jᵀ·dy; GPU ≤ 1e-5', async (_n, build) => {
    const c = model(S, build)();
    const op = c.plan.steps[c.plan.steps.length - 1].node.opType;
    await checkGradient(c, stepOf(c.plan, op, 0), 1e-5);
  });
  it('hand-checked: Mul [1,2,2] · [1,1,2] back to [1,1,2] sums over the broadcast rows', () => {
    const c = model([1, 2, 2], (b, x) => b.node('Mul', [x, b.node('Slice', [x, i64(b, 's', [0]), i64(b, 'e', [1]), i64(b, 'a', [1])], {}, [[1, 1, 2]])[0]], {}, [[1, 2, 2]])[0])(
      { shape: [1, 2, 2], data: Float32Array.of(1, 2, 3, 4) });
    const [dx, dk] = applyCpu(gradient.Mul, c, stepOf(c.plan, 'Mul'), { shape: [1, 2, 2], data: Float32Array.of(1, 1, 1, 1) });
    expect(Array.from(dx!.data)).toEqual([1, 2, 1, 2]);
    expect(Array.from(dk!.data)).toEqual([4, 6]);
  });
  it('T = 2 targets per sample: a batch-broadcast operand [N,3,1,1] gets [2N,3,1,1], equal to single-target runs', async () => {
    const c = model(S, binCases[2][1])();
    const step = stepOf(c.plan, 'Mul');
    const r = randn(outShape(c, step, 2), R);
    const big = expandCase(c, 2);
    const res = await gpuMatches(gradient.Mul, big, step, r, 1e-5, { batch: 4 });
    expect(res[1]!.shape).toEqual([4, 3, 1, 1]);
    const per = numel(S) / 2;
    for (let k = 0; k < 4; k++) {
      const one = { shape: S, data: new Float32Array(numel(S)) };
      const s = Math.floor(k / 2);
      one.data.set(r.data.subarray(k * per, (k + 1) * per), s * per);
      const ref = applyCpu(gradient.Mul, c, step, one);
      expect(diff(res[0]!.data.slice(k * per, (k + 1) * per), ref[0]!.data.slice(s * per, (s + 1) * per)).relL2).toBeLessThanOrEqual(1e-6);
      expect(diff(res[1]!.data.slice(k * 3, k * 3 + 3), ref[1]!.data.slice(s * 3, s * 3 + 3)).relL2).toBeLessThanOrEqual(1e-6);
    }
    const t = model([2, 3], (b, x) => b.node('Transpose', [x], { perm: [1, 0] }, [[3, 2]], 'swap')[0])();
    expect(() => applyCpu(ae.Transpose, expandCase(t, 2), stepOf(t.plan, 'Transpose'), randn([6, 2], R), { batch: 4 }))
      .toThrow(/Transpose node 'swap': perm \[1,0\] moves the batch axis: it mixes samples/);
  });
  it('Div by a runtime tensor: the divisor receives −dy·a/b², 0 where b = 0 (GPU = CPU)', async () => {
    const c = model(S, (b, x) => b.node('Div', [x, b.relu(x)], {}, [S], 'ratio')[0])();
    const step = stepOf(c.plan, 'Div');
    const dy = randn(S, R);
    const res = await gpuMatches(gradient.Div, c, step, dy, 1e-5);
    const a = c.values.get(step.inputs[0]!)!.data, d = c.values.get(step.inputs[1]!)!.data;
    let zeros = 0;
    for (let i = 0; i < a.length; i++) {
      if (d[i] === 0) zeros++;
      expect(res[0]!.data[i]).toBeCloseTo(d[i] !== 0 ? dy.data[i] / d[i] : 0, 4);
      expect(res[1]!.data[i]).toBeCloseTo(d[i] !== 0 ? -dy.data[i] * a[i] / (d[i] * d[i]) : 0, 3);
    }
    expect(zeros).toBeGreaterThan(0);
  });
});

describe('element-wise AE with a constant operand (normalisation, bias)', () => {
  it.each(binCases.filter(([n]) => /const|scalar/.test(n)))('%s: R passes unchanged (GPU returns the same signal)', async (_n, build) => {
    const c = model(S, build)();
    const step = c.plan.steps[c.plan.steps.length - 1];
    const r = randn(S, R);
    const res = await gpuMatches(ae[step.node.opType], c, step, r, 'exact');
    const k = step.inputs.findIndex((n) => n && !c.plan.consts.has(n));
    expect(Array.from(res[k]!.data)).toEqual(Array.from(r.data));
    expect(res.filter(Boolean).length).toBe(1);
  });
  it('a constant minus x also passes R to x', () => {
    const c = model(S, (b, x) => b.node('Sub', [b.randomInit('m', [3, 1, 1], 1), x], {}, [S])[0])();
    const r = randn(S, R);
    const res = applyCpu(ae.Sub, c, stepOf(c.plan, 'Sub'), r);
    expect(res[0]).toBeUndefined();
    expect(Array.from(res[1]!.data)).toEqual(Array.from(r.data));
  });
  it('a runtime operand broadcast against a constant receives R summed over the broadcast axes', async () => {
    const c = model(S, (b, x) => b.node('Add', [b.globalAvgPool(x), b.randomInit('k', [1, 1, 5, 7], 1)], {}, [S])[0])();
    const step = stepOf(c.plan, 'Add');
    const r = randn(S, R);
    const [g] = await gpuMatches(ae.Add, c, step, r, 1e-5);
    expect(g!.shape).toEqual([2, 3, 1, 1]);
    for (let i = 0; i < 6; i++) expect(g!.data[i]).toBeCloseTo(r.data.subarray(i * 35, (i + 1) * 35).reduce((a, v) => a + v, 0), 4);
  });
  it('Mul of two same-shape runtime tensors, neither a gate, and Div by a runtime tensor are refused, naming the node', () => {
    const c = model(S, (b, x) => b.node('Mul', [x, b.relu(x)], {}, [S], 'gate')[0])();
    expect(() => applyCpu(ae.Mul, c, stepOf(c.plan, 'Mul'), randn(S, R))).toThrow(/Mul node 'gate': AE has no rule for a Mul of two runtime tensors/);
    const d = model(S, (b, x) => b.node('Div', [b.initializer('one', [1, 3, 1, 1], [1, 2, 3]), x], {}, [S], 'inv')[0])();
    expect(() => applyCpu(ae.Div, d, stepOf(d.plan, 'Div'), randn(S, R))).toThrow(/Div node 'inv': AE has no rule for a division by a runtime tensor/);
  });
});

// ---------------------------------------------------------------- residual Add (spec §2.7)

/** A stem conv, then relu(conv3×3(s)) + s in the given operand order. */
function residualModel(branchFirst: boolean, batch = 3) {
  return model([batch, 4, 6, 5], (b, x) => {
    const s = b.relu(b.conv(x, 4, 3, { pad: 1 }));
    const br = b.relu(b.conv(s, 4, 3, { pad: 1 }));
    return branchFirst ? b.add(br, s) : b.add(s, br);
  }, 11);
}

describe('residual Add, AE', () => {
  it("mode 'main': all of R to the main operand (walker's choice, default operand 0), GPU passes R itself", async () => {
    const c = residualModel(true)();
    const step = stepOf(c.plan, 'Add');
    const r = randn(outShape(c, step), R);
    for (const main of [0, 1, undefined]) {
      const res = await gpuMatches(ae.Add, c, step, r, 'exact', { mainOperand: main });
      const k = main ?? 0;
      expect(Array.from(res[k]!.data)).toEqual(Array.from(r.data));
      expect(res[1 - k]).toBeUndefined();
    }
  });

  it("mode 'proportional': hand-checked", () => {
    // x1 = [2, 4], x2 = [1, −1], R = [3, 6]: a0 = [2, 8], b0 = [1, −2]; Σa0 = 10, Σb0 = −1, ΣR = 9
    // → a = a0 · 9/11, b = b0 · (−9/11): Σa = 10/11 · 9, Σb = 1/11 · 9.
    const [a, b] = proportionalCpu({ shape: [1, 2], data: Float32Array.of(2, 4) }, { shape: [1, 2], data: Float32Array.of(1, -1) },
      { shape: [1, 2], data: Float32Array.of(3, 6) });
    [18 / 11, 72 / 11].forEach((v, i) => expect(a.data[i]).toBeCloseTo(v, 6));
    [-9 / 11, 18 / 11].forEach((v, i) => expect(b.data[i]).toBeCloseTo(v, 6));
  });

  it("mode 'proportional': zero-sum R keeps the plain split (no rescaling to a noise-level total), CPU and GPU", async () => {
    // x1 = [2, 4], x2 = [1, −1], R = [3, −3]: ΣR = 0 ≤ 1e-3·Σ|R| → a = x1·R/z = [2, −4], b = [1, 1].
    const x1 = { shape: [1, 2], data: Float32Array.of(2, 4) }, x2 = { shape: [1, 2], data: Float32Array.of(1, -1) };
    const r = { shape: [1, 2], data: Float32Array.of(3, -3) };
    const [a, b] = proportionalCpu(x1, x2, r);
    expect(Array.from(a.data)).toEqual([2, -4]);
    expect(Array.from(b.data)).toEqual([1, 1]);
    const g = await getGpu();
    const up = (t: typeof r) => g.upload(t.data, t.shape);
    const [ga, gb] = proportionalGpu(g, up(x1), up(x2), up(r));
    expect(Array.from(await g.read(ga))).toEqual([2, -4]);
    expect(Array.from(await g.read(gb))).toEqual([1, 1]);
  });

  it("mode 'proportional': per-sample targets Σa = |Σa₀|/(|Σa₀|+|Σb₀|)·ΣR, Σa + Σb = ΣR, GPU ≤ 1e-5", async () => {
    const c = residualModel(false)();
    const step = stepOf(c.plan, 'Add');
    const r = randn(outShape(c, step), R);
    const o = { opts: { residual: 'proportional' as const } };
    const [a, b] = await gpuMatches(ae.Add, c, step, r, 1e-5, o);
    // Independent f64 reference of the unscaled split.
    const x1 = c.values.get(step.inputs[0]!)!.data, x2 = c.values.get(step.inputs[1]!)!.data;
    const a0 = new Float64Array(r.data.length), b0 = new Float64Array(r.data.length);
    r.data.forEach((v, i) => {
      const z = Math.fround(x1[i] + x2[i]);
      a0[i] = z !== 0 ? (x1[i] * v) / z : 0;
      b0[i] = z !== 0 ? (x2[i] * v) / z : 0;
    });
    const per = r.data.length / 3;
    const sum = (t: ArrayLike<number>, s: number) => Array.prototype.slice.call(t, s * per, (s + 1) * per).reduce((p: number, v: number) => p + v, 0);
    for (let s = 0; s < 3; s++) {
      const sa = sum(a0, s), sb = sum(b0, s), sr = sum(r.data, s);
      expect(sum(a!.data, s)).toBeCloseTo((Math.abs(sa) / (Math.abs(sa) + Math.abs(sb))) * sr, 4);
      expect(sum(b!.data, s)).toBeCloseTo((Math.abs(sb) / (Math.abs(sa) + Math.abs(sb))) * sr, 4);
      expect(sum(a!.data, s) + sum(b!.data, s)).toBeCloseTo(sr, 4);
      // Each part is the unscaled split times one per-sample factor.
      const fa = sum(a!.data, s) / sa;
      for (let i = s * per; i < (s + 1) * per; i++) expect(a!.data[i]).toBeCloseTo(a0[i] * fa, 5);
    }
  });

  it("mode 'proportional': per-sample independence (batch 3 = three single runs, CPU and GPU)", async () => {
    const x = randn([3, 4, 6, 5], R);
    const c = residualModel(true)(x);
    const step = stepOf(c.plan, 'Add');
    const r = randn(outShape(c, step), R);
    const o = { opts: { residual: 'proportional' as const } };
    const all = await applyGpu(ae.Add, c, step, r, o);
    const per = numel(x.shape) / 3;
    for (let s = 0; s < 3; s++) {
      const one = residualModel(true, 1)({ shape: [1, 4, 6, 5], data: x.data.slice(s * per, (s + 1) * per) });
      const single = applyCpu(ae.Add, one, stepOf(one.plan, 'Add'), { shape: [1, 4, 6, 5], data: r.data.slice(s * per, (s + 1) * per) }, o);
      for (const k of [0, 1]) expect(diff(all[k]!.data.slice(s * per, (s + 1) * per), single[k]!.data).relL2).toBeLessThanOrEqual(1e-5);
    }
  });

  it("mode 'proportional': no NaN with zero inputs, zero relevance, x₁ = −x₂, one-signed relevance; odd sizes on GPU", async () => {
    const g = await getGpu();
    const shape = [3, 257];
    const n = numel(shape);
    const pos = Float32Array.from({ length: n }, () => R() + 0.01);
    const zero = new Float32Array(n);
    const x = randn(shape, R).data;
    const cases: [Float32Array, Float32Array, Float32Array][] = [
      [zero, zero, randn(shape, R).data],
      [x, x.map((v) => -v), randn(shape, R).data],
      [x, randn(shape, R).data, zero],
      [x, randn(shape, R).data, pos],
      [x, randn(shape, R).data, pos.map((v) => -v)],
      // Sample 1 of x1 zero: its a-part sums to 0 and stays as is.
      [x.map((v, i) => (Math.floor(i / 257) === 1 ? 0 : v)), randn(shape, R).data, randn(shape, R).data],
    ];
    for (const [p, q, rr] of cases) {
      const t = (d: Float32Array) => ({ shape, data: d });
      const cpu = proportionalCpu(t(p), t(q), t(rr));
      noNaN(cpu);
      const up = [p, q, rr].map((d) => g.upload(d, shape));
      const outs = proportionalGpu(g, up[0], up[1], up[2]);
      for (let k = 0; k < 2; k++) expect(diff(await g.read(outs[k]), cpu[k].data).relL2).toBeLessThanOrEqual(1e-5);
      [...up, ...outs].forEach((b) => g.release(b));
      const sa = sampleSums(cpu[0]), sb = sampleSums(cpu[1]), sr = sampleSums(t(rr));
      // Σ is conserved wherever some mass went through a non-zero denominator.
      for (let s = 0; s < 3; s++) if (sa[s] !== 0 || sb[s] !== 0) expect(sa[s] + sb[s]).toBeCloseTo(sr[s], 3);
    }
  });

  it('one runtime operand plus a constant (bias): R passes unchanged', async () => {
    const c = model(S, (b, x) => b.node('Add', [b.randomInit('bias', [3, 1, 1], 1), b.relu(x)], {}, [S])[0])();
    const r = randn(S, R);
    for (const residual of ['main', 'proportional'] as const) {
      const res = await gpuMatches(ae.Add, c, stepOf(c.plan, 'Add'), r, 'exact', { opts: { residual } });
      expect(res[0]).toBeUndefined();
      expect(Array.from(res[1]!.data)).toEqual(Array.from(r.data));
    }
  });
});

// ---------------------------------------------------------------- topology (src/planner/topology.ts)

describe('topology: residual Adds and first convolutions', () => {
  it('ResNet basic block: main = the 3×3 branch whatever the operand order; fork = the block input', () => {
    for (const branchFirst of [true, false]) {
      const c = residualModel(branchFirst, 1)();
      const res = residualAdds(c.plan);
      const add = stepOf(c.plan, 'Add');
      const info = res.get(add)!;
      expect(info.main).toBe(branchFirst ? 0 : 1);
      // The fork is the stem's ReLU output, which is also the shortcut operand.
      expect(info.fork).toBe(add.inputs[branchFirst ? 1 : 0]);
      expect(c.plan.steps[c.plan.producer.get(info.fork)!].node.opType).toBe('Relu');
    }
  });

  it('bottleneck with a 1×1 downsample shortcut: main = the branch with the 3×3 conv', () => {
    for (const branchFirst of [true, false]) {
      const c = model([1, 4, 8, 8], (b, x) => {
        const s = b.relu(b.conv(x, 4, 3, { pad: 1 }));
        let br = b.relu(b.bn(b.conv(s, 2, 1, { bias: false })));
        br = b.relu(b.bn(b.conv(br, 2, 3, { pad: 1, stride: 2, bias: false })));
        br = b.bn(b.conv(br, 8, 1, { bias: false }));
        const sc = b.bn(b.conv(s, 8, 1, { stride: 2, bias: false }));
        return b.relu(branchFirst ? b.add(br, sc) : b.add(sc, br));
      })();
      const add = stepOf(c.plan, 'Add');
      const info = residualAdds(c.plan).get(add)!;
      expect(info.main).toBe(branchFirst ? 0 : 1);
      expect(c.plan.steps[c.plan.producer.get(info.fork)!].node.opType).toBe('Relu');
    }
  });

  it('two stacked blocks: each Add has its own fork; 1×1-only branches fall back to operand 0', () => {
    const c = model([1, 4, 6, 6], (b, x) => {
      const s = b.relu(b.conv(x, 4, 3, { pad: 1 }));
      const y1 = b.relu(b.add(s, b.conv(b.relu(b.conv(s, 4, 3, { pad: 1 })), 4, 3, { pad: 1 })));
      return b.add(b.conv(y1, 4, 1), b.conv(y1, 4, 1));
    })();
    const res = residualAdds(c.plan);
    const [a1, a2] = [stepOf(c.plan, 'Add', 0), stepOf(c.plan, 'Add', 1)];
    expect(res.get(a1)).toEqual({ main: 1, fork: a1.inputs[0] });
    expect(res.get(a2)!.main).toBe(0);
    expect(res.get(a2)!.fork).toBe(c.plan.steps[c.plan.producer.get(a2.inputs[0]!)!].inputs[0]);
  });

  it('an Add of a bias constant is no residual', () => {
    const c = model(S, (b, x) => b.node('Add', [b.relu(x), b.randomInit('bias', [3, 1, 1], 1)], {}, [S])[0])();
    expect(residualAdds(c.plan).size).toBe(0);
  });

  it('first convolution found through Transpose and Pad (NHWC input); later convs are not first', () => {
    const c = model([1, 6, 6, 3], (b, x) => {
      const t = b.node('Transpose', [x], { perm: [0, 3, 1, 2] }, [[1, 3, 6, 6]])[0];
      const p = b.node('Pad', [t, i64(b, 'pads', [0, 0, 1, 1, 0, 0, 1, 1])], {}, [[1, 3, 8, 8]])[0];
      const c1 = b.conv(p, 4, 3);
      return b.conv(b.relu(c1), 4, 3, { pad: 1 });
    })();
    const first = firstConvs(c.plan);
    expect([...first]).toEqual([stepOf(c.plan, 'Conv', 0)]);
  });

  it('a conv reading the input directly is first; one after a ReLU is not', () => {
    const c = model([1, 3, 6, 6], (b, x) => b.conv(b.relu(b.conv(x, 4, 3)), 4, 1))();
    expect([...firstConvs(c.plan)]).toEqual([stepOf(c.plan, 'Conv', 0)]);
  });
});

// ---------------------------------------------------------------- no NaN

describe('no NaN on all-zero inputs and relevance', () => {
  it('every AE rule here, zero input and zero R', async () => {
    const zeroIn = (s: Shape) => ({ shape: s, data: new Float32Array(numel(s)) });
    const builds: [Shape, (b: OnnxBuilder, x: string) => string, string][] = [
      [[2, 3, 5, 4], (b, x) => b.node('Concat', [b.relu(x), x], { axis: 1 }, [[2, 6, 5, 4]])[0], 'Concat'],
      [[2, 3, 5, 4], (b, x) => b.add(b.relu(b.conv(x, 3, 3, { pad: 1 })), x), 'Add'],
      [[2, 3, 5, 4], (b, x) => b.node('Pad', [x, i64(b, 'pads', [0, 0, 1, 1, 0, 0, 1, 1])], { mode: 'reflect' }, [[2, 3, 7, 6]])[0], 'Pad'],
    ];
    for (const [s, build, op] of builds) {
      const c = model(s, build)(zeroIn(s));
      const step = stepOf(c.plan, op);
      for (const r of [zeroIn(outShape(c, step)), randn(outShape(c, step), R)]) {
        for (const residual of ['main', 'proportional'] as const) {
          noNaN(applyCpu(ae[op], c, step, r, { opts: { residual } }));
          noNaN(await applyGpu(ae[op], c, step, r, { opts: { residual } }));
        }
        noNaN(applyCpu(gradient[op], c, step, r));
      }
    }
  });
});
