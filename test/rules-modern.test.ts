// Rules for the operators of modern CNNs in the element-wise and layout families (spec §2.11), on
// small builder models:
//   - gating Mul: which operand is the gate (src/ops/elementwise/roles.ts) for SiLU, SE with
//     Expand or broadcasting, HardSwish-like x·Tanh(x), a GELU-shaped constant chain (with Sigmoid
//     in a planned model, with Erf in a synthetic plan), the smaller operand, and the refusals;
//     AE hands all of R to the signal on both backends;
//   - a normaliser's Sub / Div: R to the minuend / numerator, statistics get nothing; the
//     gradient of a runtime divisor and of Pow (0 where undefined, no NaN) against differences;
//   - Split with 2 and 3 outputs on odd shapes: the per-output rule puts each output's signal in its
//     slice of zeros, the outputs' results sum to their concatenation, T = 2 equals single runs.
import { describe, it, expect, vi } from 'vitest';
import { OnnxBuilder } from '../tools/onnx-builder.js';
import { forwardCase, stepOf, applyCpu, applyGpu, type RuleCase, type ApplyOptions } from './helpers/rules.js';
import { randn, rng, diff } from './helpers/ops.js';
import { methodTable } from '../src/ops/table.js';
import { gatingSignal, isGate, isStatisticOf } from '../src/ops/elementwise/roles.js';
import { cpuAttr } from '../src/ops/shared/attribution.js';
import { numel, type Shape } from '../src/graph/tensor.js';
import type { Plan, Step } from '../src/planner/plan.js';
import type { CpuTensor } from '../src/ops/op.js';
import type { Rule } from '../src/ops/rule.js';

const gradient = methodTable('gradient');
const ae = methodTable('ae');
const R = rng(11);
const S: Shape = [2, 3, 5, 7];

function model(inShape: Shape, build: (b: OnnxBuilder, x: string) => string | string[], seed = 5): (input?: CpuTensor) => RuleCase {
  return (input = randn(inShape, R)) => {
    const b = new OnnxBuilder({ seed });
    const x = b.input('input', inShape);
    const outs = build(b, x);
    for (const o of Array.isArray(outs) ? outs : [outs]) b.output(o);
    return forwardCase(b, input);
  };
}

const op = (b: OnnxBuilder, type: string, ins: string[], name?: string, attrs = {}) => b.node(type, ins, attrs, [[]], name)[0];
const scalar = (b: OnnxBuilder, name: string, v: number) => b.initializer(name, [], [v]);
const i64 = (b: OnnxBuilder, name: string, v: number[]) => b.initializer(name, [v.length], v, 'int64');

/** CPU and GPU agree (exactly, or to a relative L2); returns the CPU result. */
async function both(rule: Rule, c: RuleCase, step: Step, r: CpuTensor, tol: number | 'exact', o: ApplyOptions = {}): Promise<(CpuTensor | undefined)[]> {
  const cpu = applyCpu(rule, c, step, r, o);
  const gpu = await applyGpu(rule, c, step, r, o);
  expect(gpu.length).toBe(cpu.length);
  cpu.forEach((t, i) => {
    if (!t) return expect(gpu[i]).toBeUndefined();
    expect(gpu[i]!.shape).toEqual(t.shape);
    if (tol === 'exact') expect(Array.from(gpu[i]!.data)).toEqual(Array.from(t.data));
    else expect(diff(gpu[i]!.data, t.data).relL2).toBeLessThanOrEqual(tol);
  });
  return cpu;
}

const finite = (ts: (CpuTensor | undefined)[]) => ts.every((t) => !t || t.data.every(Number.isFinite));

// ---------------------------------------------------------------- gating Mul

/** SE: x ⊙ σ(conv1×1(GAP(x))), the gate broadcast [N,C,1,1], or Expanded to x's shape first. */
function se(b: OnnxBuilder, x: string, expand: boolean, gateFirst = false): string {
  const s = op(b, 'Sigmoid', [b.conv(b.globalAvgPool(x), 3, 1, { pad: 0 })]);
  const g = expand ? op(b, 'Expand', [s, i64(b, 'shape', S)]) : s;
  return op(b, 'Mul', gateFirst ? [g, x] : [x, g], 'scale');
}

const gateCases: [string, (b: OnnxBuilder, x: string) => string, number][] = [
  ['SiLU x·σ(x)', (b, x) => op(b, 'Mul', [x, op(b, 'Sigmoid', [x])]), 0],
  ['SiLU σ(x)·x', (b, x) => op(b, 'Mul', [op(b, 'Sigmoid', [x]), x]), 1],
  ['SE with Expand (same shape at the Mul)', (b, x) => se(b, x, true, true), 1],
  ['SE broadcast [N,C,1,1]', (b, x) => se(b, x, false), 0],
  ['HardSwish-like x·Tanh(x)', (b, x) => op(b, 'Mul', [op(b, 'Tanh', [x]), x]), 1],
  ['a gate through Reshape views', (b, x) => {
    const flat = op(b, 'Reshape', [x, i64(b, 'flat', [2, -1])]);
    return op(b, 'Mul', [x, op(b, 'Reshape', [op(b, 'Sigmoid', [flat]), i64(b, 'back', S)])]);
  }, 0],
  ['a GELU-shaped constant chain x·(0.5·(1 + σ(x/√2)))', (b, x) => {
    const t = op(b, 'Sigmoid', [op(b, 'Div', [x, scalar(b, 'sqrt2', Math.SQRT2)])]);
    return op(b, 'Mul', [x, op(b, 'Mul', [scalar(b, 'half', 0.5), op(b, 'Add', [t, scalar(b, 'one', 1)])])]);
  }, 0],
  ['no gate: the smaller operand, x·relu(GAP(x))', (b, x) => op(b, 'Mul', [op(b, 'Relu', [b.globalAvgPool(x)]), x]), 1],
];

describe('gating Mul (spec §2.11)', () => {
  it.each(gateCases)('%s: the gate is found, the other operand is the signal', (_n, build, signal) => {
    const c = model(S, build)();
    const step = c.plan.steps.filter((s) => s.node.opType === 'Mul').at(-1)!;
    expect(gatingSignal(c.plan, step)).toEqual({ signal });
    expect(isGate(c.plan, step.inputs[signal]!)).toBe(false);
  });

  it.each(gateCases)('%s: AE gives all of R to the signal, nothing to the gate (GPU = CPU)', async (_n, build, signal) => {
    const c = model(S, build)();
    const step = c.plan.steps.filter((s) => s.node.opType === 'Mul').at(-1)!;
    const r = randn(S, R);
    const res = await both(ae.Mul, c, step, r, 1e-6);
    expect(res[1 - signal]).toBeUndefined();
    const sig = res[signal]!;
    expect(sig.shape).toEqual(c.plan.shapes.get(step.inputs[signal]!));
    if (numel(sig.shape) === numel(S)) expect(Array.from(sig.data)).toEqual(Array.from(r.data));
  });

  it('the constant chain is a gate at each of its steps; a Relu or a runtime Add is not', () => {
    const c = model(S, gateCases[6][1])();
    const types = (t: string) => c.plan.steps[c.plan.producer.get(t)!].node.opType;
    const step = stepOf(c.plan, 'Mul', 1);
    const chain = step.inputs[1]!;
    expect(types(chain)).toBe('Mul');
    expect(isGate(c.plan, chain)).toBe(true);
    const d = model(S, (b, x) => op(b, 'Mul', [x, op(b, 'Add', [op(b, 'Sigmoid', [x]), op(b, 'Relu', [x])])]))();
    const dm = stepOf(d.plan, 'Mul');
    expect(isGate(d.plan, dm.inputs[1]!)).toBe(false);
    expect(isGate(d.plan, 'input')).toBe(false);
  });

  it('an Erf reached through constant ops is a gate (an exported GELU, synthetic plan)', () => {
    // x·(0.5·(1 + erf(x/√2))) as the plan's graph facts: producers, constants and op types.
    const nodes: [string, string[], string][] = [
      ['Div', ['x', 'c_sqrt2'], 'scaled'], ['Erf', ['scaled'], 'e'], ['Add', ['e', 'c_one'], 'e1'],
      ['Mul', ['e1', 'c_half'], 'gate'], ['Mul', ['x', 'gate'], 'y'], ['Mul', ['x', 'x'], 'sq'],
    ];
    const steps = nodes.map(([opType, inputs, out], i) => ({
      node: { opType, name: `n${i}`, inputs, outputs: [out], attrs: new Map() },
      spec: { traits: {} }, params: null, outShapes: [S], inputs,
    })) as unknown as Step[];
    const c = (v: number) => ({ dtype: 'float32', dims: [], data: Float32Array.of(v) });
    const plan = {
      steps,
      producer: new Map<string, number>([['x', -1], ...nodes.map(([, , out], i): [string, number] => [out, i])]),
      consts: new Map([['c_sqrt2', c(Math.SQRT2)], ['c_one', c(1)], ['c_half', c(0.5)]]),
      shapes: new Map<string, Shape>(['x', 'scaled', 'e', 'e1', 'gate', 'y', 'sq'].map((t) => [t, S])),
    } as unknown as Plan;
    expect(isGate(plan, 'gate')).toBe(true);
    expect(isGate(plan, 'e')).toBe(true);
    expect(isGate(plan, 'x')).toBe(false);
    expect(gatingSignal(plan, steps[4])).toEqual({ signal: 0 });
    expect(gatingSignal(plan, steps[5])).toHaveProperty('error');
  });

  it('two same-shape operands where neither (or both) is a gate are refused, naming the node', () => {
    const c = model(S, (b, x) => op(b, 'Mul', [x, b.conv(x, 3, 3, { pad: 1 })], 'mix'))();
    expect(() => applyCpu(ae.Mul, c, stepOf(c.plan, 'Mul'), randn(S, R))).toThrow(/Mul node 'mix': .*neither is a gate/);
    const d = model(S, (b, x) => op(b, 'Mul', [op(b, 'Sigmoid', [x]), op(b, 'Tanh', [x])], 'lstm'))();
    expect(() => applyCpu(ae.Mul, d, stepOf(d.plan, 'Mul'), randn(S, R))).toThrow(/Mul node 'lstm': .*both are a gate/);
  });

  it('the gradient of a gating Mul still reaches both operands', async () => {
    const c = model(S, gateCases[0][1])();
    const step = stepOf(c.plan, 'Mul');
    const dy = randn(S, R);
    const res = await both(gradient.Mul, c, step, dy, 1e-6);
    const x = c.values.get('input')!.data, s = c.values.get(step.inputs[1]!)!.data;
    for (let i = 0; i < 20; i++) {
      expect(res[0]!.data[i]).toBeCloseTo(dy.data[i] * s[i], 5);
      expect(res[1]!.data[i]).toBeCloseTo(dy.data[i] * x[i], 5);
    }
  });
});

// ---------------------------------------------------------------- normaliser Sub / Div

/** An exported InstanceNorm over the spatial axes: (x − mean) / √(mean((x − mean)²) + ε), with Pow for √. */
function normaliser(b: OnnxBuilder, x: string): string {
  const d = op(b, 'Sub', [x, b.globalAvgPool(x)], 'center');
  const v = b.globalAvgPool(op(b, 'Pow', [d, scalar(b, 'two', 2)]));
  const sd = op(b, 'Pow', [op(b, 'Add', [v, scalar(b, 'eps', 1e-5)]), scalar(b, 'half', 0.5)]);
  return op(b, 'Div', [d, sd], 'scale');
}

/** Central differences of ⟨dy, step(inputs with input k moved by ε·v)⟩, in float64 sums. */
function fd(c: RuleCase, step: Step, k: number, v: CpuTensor, dy: CpuTensor, eps = 1e-3): number {
  const probe = (s: number) => {
    const ins = step.inputs.map((n) => (n ? c.values.get(n) : undefined));
    const xk = ins[k]!;
    ins[k] = { shape: xk.shape, data: Float32Array.from(xk.data, (x, i) => x + s * v.data[i]) };
    const y = step.spec.cpu(step.params, ins, step.outShapes)[0];
    return y.reduce((a, yi, i) => a + yi * dy.data[i], 0);
  };
  return (probe(eps) - probe(-eps)) / (2 * eps);
}
const dot = (a: CpuTensor, v: CpuTensor) => a.data.reduce((s, x, i) => s + x * v.data[i], 0);

describe('a normaliser\'s Sub / Div of two runtime tensors (spec §2.11)', () => {
  const c = model(S, normaliser)();
  const sub = stepOf(c.plan, 'Sub'), div = stepOf(c.plan, 'Div');

  it('the subtrahend and the divisor are statistics of the minuend and the numerator', () => {
    expect(isStatisticOf(c.plan, sub.inputs[1]!, sub.inputs[0]!)).toBe(true);
    expect(isStatisticOf(c.plan, div.inputs[1]!, div.inputs[0]!)).toBe(true);
    expect(isStatisticOf(c.plan, sub.inputs[0]!, sub.inputs[1]!)).toBe(false);
  });

  it.each([['Sub'], ['Div']])('AE at %s: all of R to operand 0, nothing to the statistic (GPU = CPU)', async (t) => {
    const step = t === 'Sub' ? sub : div;
    const r = randn(S, R);
    const res = await both(ae[t], c, step, r, 'exact');
    expect(res[1]).toBeUndefined();
    expect(Array.from(res[0]!.data)).toEqual(Array.from(r.data));
  });

  it('Sub / Div of two runtime tensors outside a normaliser are refused, naming the node', () => {
    const s = model(S, (b, x) => op(b, 'Sub', [op(b, 'Relu', [x]), x], 'diff'))();
    expect(() => applyCpu(ae.Sub, s, stepOf(s.plan, 'Sub'), randn(S, R))).toThrow(/Sub node 'diff': .*subtrahend is computed from the minuend/);
    const d = model(S, (b, x) => op(b, 'Div', [op(b, 'Relu', [x]), x], 'ratio'))();
    expect(() => applyCpu(ae.Div, d, stepOf(d.plan, 'Div'), randn(S, R))).toThrow(/Div node 'ratio': .*divisor is computed from the numerator/);
  });

  it.each([['Sub'], ['Div'], ['Pow']])('gradient at the normaliser\'s %s: its runtime operands, against central differences, GPU = CPU', async (t) => {
    const step = t === 'Sub' ? sub : t === 'Div' ? div : stepOf(c.plan, 'Pow', 1);
    const dy = randn(step.outShapes[0], R);
    const res = await both(gradient[t], c, step, dy, 1e-5);
    let checked = 0;
    res.forEach((g, k) => {
      if (!g) return;
      const v = randn(g.shape, R);
      const want = fd(c, step, k, v, dy);
      expect(Math.abs(dot(g, v) - want)).toBeLessThanOrEqual(2e-3 * Math.abs(want) + 1e-4);
      checked++;
    });
    expect(checked).toBe(t === 'Pow' ? 1 : 2);
  });
});

describe('Pow gradient: 0 where the derivative is undefined, never NaN', () => {
  const X = [2, 3, 4, 5];
  it.each([[0.5], [2], [0], [-1], [1], [3]])('x^%s over x with zeros and negatives: finite, GPU = CPU, p·x^(p−1) where defined', async (p) => {
    const input = randn(X, R);
    for (let i = 0; i < input.data.length; i += 4) input.data[i] = 0;
    const c = model(X, (b, x) => op(b, 'Pow', [x, scalar(b, 'p', p)]))(input);
    const step = stepOf(c.plan, 'Pow');
    const dy = randn(X, R);
    const [g] = await both(gradient.Pow, c, step, dy, 1e-5);
    expect(finite([g])).toBe(true);
    input.data.forEach((x, i) => {
      const defined = x > 0 || (x < 0 && Number.isInteger(p)) || (x === 0 && p >= 1);
      expect(g!.data[i]).toBeCloseTo(defined ? dy.data[i] * p * Math.pow(x, p - 1) : 0, 3);
    });
  });

  it('a runtime exponent on a positive base: both gradients against central differences, GPU = CPU', async () => {
    const c = model(X, (b, x) => op(b, 'Pow', [op(b, 'Sigmoid', [x]), op(b, 'Tanh', [x])]))();
    const step = stepOf(c.plan, 'Pow');
    const dy = randn(X, R);
    const res = await both(gradient.Pow, c, step, dy, 1e-5);
    res.forEach((g, k) => {
      const v = randn(g!.shape, R);
      const want = fd(c, step, k, v, dy);
      expect(Math.abs(dot(g!, v) - want)).toBeLessThanOrEqual(2e-3 * Math.abs(want) + 1e-4);
    });
  });

  it('Pow has no AE rule: statistics receive nothing', () => {
    expect(ae.Pow).toBeUndefined();
  });
});

// ---------------------------------------------------------------- Split

const splitCases: [string, Shape, number, number[]][] = [
  ['2 outputs, axis 1', [2, 5, 3, 7], 1, [2, 3]],
  ['3 outputs, axis 3 (odd sizes)', [2, 3, 5, 7], 3, [3, 1, 3]],
  ['3 outputs, axis 2, one empty', [1, 3, 5, 3], 2, [2, 0, 3]],
];

function splitModel(x: Shape, axis: number, sizes: number[]): RuleCase {
  return model(x, (b, i) => b.node('Split', [i, i64(b, 'split', sizes)], { axis }, sizes.map(() => []), 'split'))();
}

/** Output k's signal placed in its slice of zeros of the input's shape (batch `n`). */
function placed(x: Shape, axis: number, sizes: number[], k: number, r: CpuTensor): Float32Array {
  const out = new Float32Array(numel(x));
  const outer = numel(x.slice(0, axis)), inner = numel(x.slice(axis + 1));
  const start = sizes.slice(0, k).reduce((a, v) => a + v, 0);
  for (let o = 0; o < outer; o++) for (let j = 0; j < sizes[k]; j++) for (let i = 0; i < inner; i++) {
    out[(o * x[axis] + start + j) * inner + i] = r.data[(o * sizes[k] + j) * inner + i];
  }
  return out;
}

describe('Split (spec §2.11: the inverse of Concat)', () => {
  it('AE and the gradient are one rule, run once per output', () => {
    expect(ae.Split).toBe(gradient.Split);
    expect(ae.Split.perOutput).toBe(true);
  });

  it.each(splitCases)('%s: each output\'s signal lands in its slice of zeros, the sum is their concatenation (GPU = CPU)', async (_n, x, axis, sizes) => {
    const c = splitModel(x, axis, sizes);
    const step = stepOf(c.plan, 'Split');
    const sum = new Float32Array(numel(x));
    for (let k = 0; k < sizes.length; k++) {
      const r = randn(step.outShapes[k], R);
      const [g] = await both(ae.Split, c, step, r, 'exact', { signalOf: k });
      expect(g!.shape).toEqual(x);
      const want = placed(x, axis, sizes, k, r);
      expect(Array.from(g!.data)).toEqual(Array.from(want));
      g!.data.forEach((v, i) => { sum[i] += v; });
    }
    // Concatenated back: every element of the input comes from exactly one output.
    expect(sum.some((v) => v !== 0)).toBe(true);
  });

  it('the gradient matches central differences of each output', () => {
    const [, x, axis, sizes] = splitCases[1];
    const c = splitModel(x, axis, sizes);
    const step = stepOf(c.plan, 'Split');
    for (let k = 0; k < sizes.length; k++) {
      const dy = randn(step.outShapes[k], R);
      const [g] = applyCpu(gradient.Split, c, step, dy, { signalOf: k });
      const v = randn(x, R);
      const ins = step.inputs.map((n) => (n ? c.values.get(n) : undefined));
      const probe = (s: number) => {
        const moved = ins.slice();
        moved[0] = { shape: x, data: Float32Array.from(ins[0]!.data, (xi, i) => xi + s * v.data[i]) };
        return step.spec.cpu(step.params, moved, step.outShapes)[k].reduce((a, y, i) => a + y * dy.data[i], 0);
      };
      expect(dot(g!, v)).toBeCloseTo((probe(1e-3) - probe(-1e-3)) / 2e-3, 3);
    }
  });

  it('T = 2 targets per sample equals single-target runs; splitting along axis 0 is refused then', async () => {
    const [, x, axis, sizes] = splitCases[1];
    const c = splitModel(x, axis, sizes);
    const step = stepOf(c.plan, 'Split');
    const big: RuleCase = { plan: c.plan, values: new Map([...c.values].map(([k, v]) => [k, c.plan.consts.has(k) ? v : cpuAttr.expand(v, 2)])) };
    const k = 2;
    const os = step.outShapes[k];
    const r = randn([os[0] * 2, ...os.slice(1)], R);
    const [g] = await both(ae.Split, big, step, r, 'exact', { signalOf: k, batch: 4 });
    const per = numel(os) / os[0], inPer = numel(x) / x[0];
    for (let j = 0; j < 4; j++) {
      const one = { shape: [1, ...os.slice(1)], data: r.data.slice(j * per, (j + 1) * per) };
      const want = placed([1, ...x.slice(1)], axis, sizes, k, one);
      expect(Array.from(g!.data.slice(j * inPer, (j + 1) * inPer))).toEqual(Array.from(want));
    }
    const z = splitModel([4, 3, 2], 0, [1, 3]);
    const zbig: RuleCase = { plan: z.plan, values: new Map([...z.values].map(([n, v]) => [n, z.plan.consts.has(n) ? v : cpuAttr.expand(v, 2)])) };
    expect(() => applyCpu(ae.Split, zbig, stepOf(z.plan, 'Split'), randn([2, 3, 2], R), { signalOf: 0, batch: 8 }))
      .toThrow(/Split node 'split': splitting along axis 0: it mixes samples/);
  });

  it('forward: attribute split (opset 11), num_outputs (opset 18: the last part smaller), equal parts by default', () => {
    const b = new OnnxBuilder({ opset: 18 });
    b.input('input', [2, 7]);
    const outs = b.node('Split', ['input'], { axis: 1, num_outputs: 3 }, [[], [], []]);
    outs.forEach((o) => b.output(o));
    const input = randn([2, 7], R);
    const c = forwardCase(b, input);
    expect(stepOf(c.plan, 'Split').outShapes).toEqual([[2, 3], [2, 3], [2, 1]]);
    expect(Array.from(c.values.get(outs[2])!.data)).toEqual([input.data[6], input.data[13]]);
    const e = new OnnxBuilder();
    e.input('input', [2, 6]);
    e.node('Split', ['input'], { axis: -1 }, [[], [], []]).forEach((o) => e.output(o));
    expect(stepOf(forwardCase(e, randn([2, 6], R)).plan, 'Split').outShapes).toEqual([[2, 2], [2, 2], [2, 2]]);
    const old = new OnnxBuilder({ opset: 11 });
    old.input('input', [2, 7]);
    old.node('Split', ['input'], { axis: 1, split: [3, 4] }, [[], []]).forEach((o) => old.output(o));
    expect(stepOf(forwardCase(old, randn([2, 7], R)).plan, 'Split').outShapes).toEqual([[2, 3], [2, 4]]);
    const bad = new OnnxBuilder();
    bad.input('input', [2, 7]);
    bad.node('Split', ['input'], { axis: 1 }, [[], []], 'uneven').forEach((o) => bad.output(o));
    expect(() => forwardCase(bad, randn([2, 7], R))).toThrow(/Split node 'uneven': axis of size 7 does not split into 2 equal parts/);
  });
});


// ---------------------------------------------------------------- end to end

describe('end to end: Split, gating Mul and a normaliser in one model', () => {
  it('AE and Grad-CAM are finite, non-zero and equal on both backends; both Split outputs carry relevance', async () => {
    const b = new OnnxBuilder({ seed: 9 });
    const x = b.input('input', [2, 3, 12, 10]);
    const h = b.relu(b.conv(x, 5, 3, { pad: 1 }));
    const [p, q] = b.node('Split', [h, i64(b, 'split', [2, 3])], { axis: 1 }, [[2, 2, 12, 10], [2, 3, 12, 10]], 'split');
    const cat = op(b, 'Concat', [b.conv(p, 4, 3, { pad: 1 }), b.conv(q, 4, 1, { pad: 0 })], 'cat', { axis: 1 });
    const silu = op(b, 'Mul', [cat, op(b, 'Sigmoid', [cat])], 'silu');
    const layer = b.node('Relu', [normaliser(b, silu)], {}, [[2, 8, 12, 10]], 'last')[0];
    b.output(b.gemm(b.flatten(b.globalAvgPool(layer)), 5));
    const bytes = b.toBytes();
    const { Explainer } = await import('../src/explain/explainer.js');
    const gpu = await Explainer.create(bytes, { backend: 'webgpu' });
    const cpu = await Explainer.create(bytes, { backend: 'cpu' });
    const input = randn([2, 3, 12, 10], R);
    const plan = vi.spyOn(ae.Split, 'plan');
    for (const o of [{ method: 'ae' as const, layer, target: { top: 2 } }, { method: 'gradcam' as const, layer }]) {
      const forward = await gpu.forwardValues(input, o);
      const g = await gpu.explain(input, o);
      const c = await cpu.explain(input, { ...o, forward });
      for (const [u, v] of [[g.heatmaps, c.heatmaps], [g.attribution, c.attribution]] as const) {
        if (!u || !v) continue;
        expect(u.data.every(Number.isFinite) && v.data.every(Number.isFinite)).toBe(true);
        expect(v.data.some((t) => t !== 0)).toBe(true);
        expect(diff(u.data, v.data).relL2).toBeLessThanOrEqual(1e-4);
      }
    }
    // The AE walks (GPU and CPU) ran Split's rule once for each output.
    expect(plan.mock.calls.map(([ctx]) => ctx.signalOf).sort()).toEqual([0, 0, 1, 1]);
    plan.mockRestore();
  });
});
