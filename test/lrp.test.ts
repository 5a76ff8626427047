// LRP composites and excitation backprop on small built models, both backends: every conv and
// dense rule against an independent reference (the layer written out as a dense matrix, the rule's
// formula from baselines.md evaluated in float64), relevance conservation per layer on a net with
// every kind of step the rules cover (zero biases), the BatchNormalization merge before LRP (Zennit's
// MergeBatchNorm canonizer: logits kept, conservation on the merged net, the unmergeable refused),
// the refusals, the options and the CLI.
import { describe, it, expect, afterAll } from 'vitest';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { OnnxBuilder } from '../tools/onnx-builder.js';
import { Explainer, type ExplainOptions } from '../src/explain/explainer.js';
import type { CpuTensor } from '../src/ops/op.js';
import { COMPOSITES, type Composite } from '../src/ops/shared/composites.js';
import { methodTag } from '../src/cli/output.js';
import { parseMethod } from '../src/eval/methods.js';
import { mergeBatchNorms } from '../src/graph/canonize.js';
import { parseModel } from '../src/io/onnx.js';
import { diff, rng } from './helpers/ops.js';
import { aeqInProcess } from './helpers/cli.js';

const BACKENDS = ['cpu', 'webgpu'] as const;
const REF_TOL = 1e-4;

// ---------------------------------------------------------------- the reference

type Vec = Float64Array;
/** A layer as a matrix: M[j][i] the weight from input i to output j, taps[j][i] whether i is in j's window. */
interface Dense { M: number[][]; taps: boolean[][]; b: number[] }

/** A 2-D convolution (one sample, C×H×W → K×OH×OW, square stride and pad) as a dense matrix. */
function convMatrix(w: Float32Array, bias: Float32Array | undefined, [C, H, W]: number[], K: number, k: number, s: number, p: number): Dense & { out: number[] } {
  const OH = Math.floor((H + 2 * p - k) / s) + 1, OW = Math.floor((W + 2 * p - k) / s) + 1;
  const I = C * H * W, J = K * OH * OW;
  const M = Array.from({ length: J }, () => new Array<number>(I).fill(0));
  const taps = Array.from({ length: J }, () => new Array<boolean>(I).fill(false));
  const b: number[] = [];
  for (let o = 0; o < K; o++) for (let y = 0; y < OH; y++) for (let x = 0; x < OW; x++) {
    const j = (o * OH + y) * OW + x;
    b.push(bias ? bias[o] : 0);
    for (let c = 0; c < C; c++) for (let u = 0; u < k; u++) for (let v = 0; v < k; v++) {
      const iy = y * s - p + u, ix = x * s - p + v;
      if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
      const i = (c * H + iy) * W + ix;
      M[j][i] = w[((o * C + c) * k + u) * k + v];
      taps[j][i] = true;
    }
  }
  return { M, taps, b, out: [K, OH, OW] };
}

const pos = (v: number) => Math.max(v, 0), neg = (v: number) => Math.min(v, 0);
const stab = (z: number) => z + (z >= 0 ? 1e-6 : -1e-6);
const fwd = (L: Dense, x: ArrayLike<number>, fw: (w: number) => number, fx: (v: number) => number, fb?: (b: number) => number): number[] =>
  L.M.map((row, j) => row.reduce((a, w, i) => a + fw(w) * fx(x[i]), 0) + (fb ? fb(L.b[j]) : 0));
const back = (L: Dense, s: number[], fw: (w: number) => number): number[] => {
  const out = new Array<number>(L.M[0].length).fill(0);
  L.M.forEach((row, j) => row.forEach((w, i) => { out[i] += fw(w) * s[j]; }));
  return out;
};
const add = (...vs: number[][]) => vs[0].map((_, i) => vs.reduce((a, v) => a + v[i], 0));
const mul = (a: ArrayLike<number>, f: (v: number) => number, b: number[]) => b.map((v, i) => f(a[i]) * v);
const id = (v: number) => v;

/** baselines.md's rules, one sample: relevance R at the layer's output → R at its input. */
const RULES = {
  zplus(L: Dense, x: ArrayLike<number>, R: number[]) {
    const z = add(fwd(L, x, pos, pos, pos), fwd(L, x, neg, neg));
    const s = R.map((r, j) => r / stab(z[j]));
    return add(mul(x, pos, back(L, s, pos)), mul(x, neg, back(L, s, neg)));
  },
  alphaBeta(L: Dense, x: ArrayLike<number>, R: number[]) {
    const p = add(fwd(L, x, pos, pos, pos), fwd(L, x, neg, neg));
    const n = add(fwd(L, x, neg, pos, neg), fwd(L, x, pos, neg));
    const sp = R.map((r, j) => r / stab(p[j])), sn = R.map((r, j) => r / stab(n[j]));
    const a = add(mul(x, pos, back(L, sp, pos)), mul(x, neg, back(L, sp, neg)));
    const b = add(mul(x, pos, back(L, sn, neg)), mul(x, neg, back(L, sn, pos)));
    return a.map((v, i) => 2 * v - b[i]);
  },
  gamma(L: Dense, x: ArrayLike<number>, R: number[], g = 0.25) {
    const wp = (w: number) => w + g * pos(w), wn = (w: number) => w + g * neg(w);
    const z = fwd(L, x, id, id, id);
    const A = add(fwd(L, x, wp, pos, (b) => b + g * pos(b)), fwd(L, x, wn, neg));
    const B = add(fwd(L, x, wn, pos, (b) => b + g * neg(b)), fwd(L, x, wp, neg));
    const sa = R.map((r, j) => (z[j] > 0 ? r / stab(A[j]) : 0)), sb = R.map((r, j) => (z[j] < 0 ? r / stab(B[j]) : 0));
    return add(mul(x, pos, back(L, sa, wp)), mul(x, neg, back(L, sa, wn)), mul(x, pos, back(L, sb, wn)), mul(x, neg, back(L, sb, wp)));
  },
  zbox(L: Dense, x: ArrayLike<number>, R: number[], lo: number, hi: number) {
    const l = new Array<number>(x.length).fill(lo), h = new Array<number>(x.length).fill(hi);
    const z = add(fwd(L, x, id, id, id), fwd(L, l, pos, id, pos).map((v) => -v), fwd(L, h, neg, id, neg).map((v) => -v));
    const s = R.map((r, j) => r / stab(z[j]));
    return add(mul(x, id, back(L, s, id)), mul(l, (v) => -v, back(L, s, pos)), mul(h, (v) => -v, back(L, s, neg)));
  },
  flat(L: Dense, x: ArrayLike<number>, R: number[]) {
    const ones: Dense = { ...L, M: L.taps.map((row) => row.map((t) => (t ? 1 : 0))) };
    const z = fwd(ones, x, id, () => 1);
    return back(ones, R.map((r, j) => r / stab(z[j])), id);
  },
  epsilon(L: Dense, x: ArrayLike<number>, R: number[]) {
    const z = fwd(L, x, id, id, id);
    return mul(x, id, back(L, R.map((r, j) => r / stab(z[j])), id));
  },
  eb(L: Dense, x: ArrayLike<number>, R: number[]) {
    const z = fwd(L, x, pos, id);
    return mul(x, id, back(L, R.map((r, j) => r / (z[j] + 1e-20)), pos));
  },
};

// ---------------------------------------------------------------- models

const R = rng(11);
const values = (n: number, scale: number) => Float32Array.from({ length: n }, () => (R() * 2 - 1) * scale);

interface Built { bytes: Uint8Array; conv1: Dense & { out: number[] }; conv2?: Dense & { out: number[] }; fc?: Dense }

/** x 2×3×7×6 → Conv 3→4 k3 s2 p1 (bias) [→ Relu → Conv 4→5 k3 p1 (bias)] [→ Relu → Flatten → Gemm 5 (bias)], logits flattened. */
function build(kind: 'one' | 'two' | 'gemm'): Built {
  const b = new OnnxBuilder({ opset: 13 });
  const x = b.input('x', [2, 3, 7, 6]);
  const w1 = values(4 * 3 * 9, 0.5), b1 = values(4, 0.2);
  let y = b.node('Conv', [x, b.initializer('w1', [4, 3, 3, 3], w1), b.initializer('b1', [4], b1)], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }, [[2, 4, 4, 3]])[0];
  const conv1 = convMatrix(w1, b1, [3, 7, 6], 4, 3, 2, 1);
  const built: Built = { bytes: new Uint8Array(), conv1 };
  if (kind === 'two') {
    y = b.relu(y);
    const w2 = values(5 * 4 * 9, 0.4), b2 = values(5, 0.1);
    y = b.node('Conv', [y, b.initializer('w2', [5, 4, 3, 3], w2), b.initializer('b2', [5], b2)], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, [[2, 5, 4, 3]])[0];
    built.conv2 = convMatrix(w2, b2, [4, 4, 3], 5, 3, 1, 1);
  }
  y = kind === 'gemm' ? b.flatten(b.relu(y)) : b.flatten(y);
  if (kind === 'gemm') {
    const wf = values(5 * 48, 0.3), bf = values(5, 0.1);
    y = b.node('Gemm', [y, b.initializer('wf', [5, 48], wf), b.initializer('bf', [5], bf)], { transB: 1 }, [[2, 5]])[0];
    built.fc = { M: Array.from({ length: 5 }, (_, j) => Array.from(wf.subarray(j * 48, (j + 1) * 48))), taps: [], b: Array.from(bf) };
  }
  b.output(y);
  built.bytes = b.toBytes();
  return built;
}

const x: CpuTensor = { shape: [2, 3, 7, 6], data: values(2 * 3 * 7 * 6, 1) };
const sample = (n: number) => x.data.subarray(n * 126, (n + 1) * 126);
const oneHot = (len: number, c: number) => Array.from({ length: len }, (_, j) => (j === c ? 1 : 0));
const relu = (v: number[]) => v.map(pos);
const minMax = (a: ArrayLike<number>) => [Math.min(...Array.from(a)), Math.max(...Array.from(a))];

const explainers: Explainer[] = [];
afterAll(() => explainers.forEach((e) => e.dispose()));
async function explainer(bytes: Uint8Array, backend: 'cpu' | 'webgpu'): Promise<Explainer> {
  const e = await Explainer.create(bytes, { backend });
  explainers.push(e);
  return e;
}

/** aeq's relevance at the input for targets [t0, t1] of both samples against the reference per (sample, target). */
async function check(bytes: Uint8Array, o: ExplainOptions, targets: number[], ref: (n: number, c: number) => number[]) {
  for (const backend of BACKENDS) {
    const e = await explainer(bytes, backend);
    const r = await e.explain(x, { ...o, target: targets });
    const want = new Float32Array(r.attribution!.data.length);
    for (let n = 0; n < 2; n++) targets.forEach((c, k) => want.set(ref(n, c), (n * targets.length + k) * 126));
    expect(diff(r.attribution!.data, want).relL2, `${backend} ${JSON.stringify(o)}`).toBeLessThanOrEqual(REF_TOL);
  }
}

describe('LRP rules = their formulas (baselines.md) on dense matrices', () => {
  const one = build('one'), two = build('two'), gemm = build('gemm');
  const FIRST: Record<Composite, (L: Dense, x: ArrayLike<number>, R: number[]) => number[]> = {
    'epsilon-plus': RULES.zplus,
    'epsilon-plus-flat': RULES.flat,
    'epsilon-gamma-box': (L, xs, r) => RULES.zbox(L, xs, r, ...(minMax(xs) as [number, number])),
    'epsilon-alpha2-beta1': RULES.alphaBeta,
  };
  it.each(COMPOSITES)('first convolution under %s (ZPlus, Flat, ZBox with the input\'s own bounds, AlphaBeta)', async (c) => {
    await check(one.bytes, { method: 'lrp', composite: c }, [5, 30], (n, t) => FIRST[c](one.conv1, sample(n), oneHot(48, t)));
  });
  it('ZBox with given bounds (--low/--high)', async () => {
    await check(one.bytes, { method: 'lrp', composite: 'epsilon-gamma-box', low: -2, high: 3 }, [7], (n, t) => RULES.zbox(one.conv1, sample(n), oneHot(48, t), -2, 3));
  });
  it('Gamma(0.25) after the first convolution, Pass at ReLU, ZBox first (epsilon-gamma-box)', async () => {
    await check(two.bytes, { method: 'lrp', composite: 'epsilon-gamma-box' }, [3, 41], (n, t) => {
      const a = relu(fwd(two.conv1, sample(n), id, id, id));
      const [lo, hi] = minMax(sample(n));
      return RULES.zbox(two.conv1, sample(n), RULES.gamma(two.conv2!, a, oneHot(60, t)), lo, hi);
    });
  });
  it('ZPlus after a Flat first convolution (epsilon-plus-flat) and AlphaBeta after AlphaBeta', async () => {
    const inner = (rule: typeof RULES.zplus, first: typeof RULES.zplus) => (n: number, t: number) =>
      first(two.conv1, sample(n), rule(two.conv2!, relu(fwd(two.conv1, sample(n), id, id, id)), oneHot(60, t)));
    await check(two.bytes, { method: 'lrp', composite: 'epsilon-plus-flat' }, [0, 59], inner(RULES.zplus, RULES.flat));
    await check(two.bytes, { method: 'lrp', composite: 'epsilon-alpha2-beta1' }, [22], inner(RULES.alphaBeta, RULES.alphaBeta));
  });
  it('Epsilon at Gemm (every composite) above a ZPlus convolution', async () => {
    await check(gemm.bytes, { method: 'lrp' }, [1, 4], (n, t) => {
      const a = relu(fwd(gemm.conv1, sample(n), id, id, id));
      return RULES.zplus(gemm.conv1, sample(n), RULES.epsilon(gemm.fc!, a, oneHot(5, t)));
    });
  });
  it('excitation backprop at Gemm: the layer map is the channel sum of x ⊙ W⁺ᵀ(p / (x·W⁺ + 1e-20)), upsampled for the heatmap', async () => {
    for (const backend of BACKENDS) {
      const e = await explainer(gemm.bytes, backend);
      const relu1 = e.layerFor(x.shape).plan.steps.find((s) => s.node.opType === 'Relu')!.node.outputs[0];
      const r = await e.explain(x, { method: 'eb', layer: relu1, target: [2, 3] });
      expect(r.layer).toBe(relu1);
      expect(r.attribution).toBeUndefined();
      const want = new Float32Array(4 * 12);
      for (let n = 0; n < 2; n++) [2, 3].forEach((c, k) => {
        const p = RULES.eb(gemm.fc!, relu(fwd(gemm.conv1, sample(n), id, id, id)), oneHot(5, c));
        for (let ch = 0; ch < 4; ch++) for (let q = 0; q < 12; q++) want[(n * 2 + k) * 12 + q] += p[ch * 12 + q];
      });
      expect(r.layerMap!.shape).toEqual([4, 4, 3]);
      expect(diff(r.layerMap!.data, want).relL2, backend).toBeLessThanOrEqual(REF_TOL);
      expect(r.heatmaps.shape).toEqual([4, 7, 6]);
    }
  });
});

describe('excitation backprop: contrastive pass', () => {
  it('ceb = ReLU(channel sum of EB minus EB with the classifier negated), through the ReLU\'s gradient to the layer', async () => {
    const gemm = build('gemm');
    for (const backend of BACKENDS) {
      const e = await explainer(gemm.bytes, backend);
      const plan = e.layerFor(x.shape).plan;
      const conv = plan.steps.find((s) => s.node.opType === 'Conv')!.node.outputs[0];
      const r = await e.explain(x, { method: 'ceb', layer: conv, target: [0, 4] });
      const want = new Float32Array(4 * 12);
      for (let n = 0; n < 2; n++) [0, 4].forEach((c, k) => {
        const z = fwd(gemm.conv1, sample(n), id, id, id);
        const flip: Dense = { ...gemm.fc!, M: gemm.fc!.M.map((row) => row.map((w) => -w)) };
        const p = RULES.eb(gemm.fc!, relu(z), oneHot(5, c)), q = RULES.eb(flip, relu(z), oneHot(5, c));
        const g = p.map((v, i) => (z[i] > 0 ? v - q[i] : 0));
        for (let q2 = 0; q2 < 12; q2++) {
          let s = 0;
          for (let ch = 0; ch < 4; ch++) s += g[ch * 12 + q2];
          want[(n * 2 + k) * 12 + q2] = Math.max(s, 0);
        }
      });
      expect(diff(r.layerMap!.data, want).relL2, backend).toBeLessThanOrEqual(REF_TOL);
      expect(want.some((v) => v > 0) && want.some((v) => v === 0)).toBe(true);
    }
  });
});

// ---------------------------------------------------------------- conservation

/**
 * Conv (no bias) → Relu → Conv → Relu, + the first Relu (residual) → MaxPool → Conv → Relu,
 * Concat with the pool → AveragePool → GlobalAveragePool → Flatten → Gemm (no bias). The rules
 * conserve where their denominators do not vanish. AlphaBeta's n = x⁺∗W⁻ + x⁻∗W⁺ vanishes where
 * every non-zero input of a window meets a positive weight, which ReLU's zeros make likely at the
 * border, so AlphaBeta is checked on the same net with LeakyRelu (signed inputs everywhere), and
 * every kernel has 27 taps or more.
 */
function residualNet(act: 'Relu' | 'LeakyRelu' = 'Relu', bn = false): { bytes: Uint8Array; cuts: string[]; pool: string } {
  const b = new OnnxBuilder({ seed: 5, opset: 13 });
  const relu = (t: string) => b.node(act, [t], act === 'LeakyRelu' ? { alpha: 0.1 } : {}, [b.shape(t)])[0];
  // bn: each conv followed by a BatchNormalization with zero mean and shift (a per-channel scale), so
  // that the merged convs stay without bias and the merged net conserves.
  const conv = (t: string, out: number) => {
    const y = b.conv(t, out, 3, { pad: 1, bias: false });
    if (!bn) return y;
    const name = `${y}.bn`, zeros = new Float32Array(out);
    const scale = b.randomInit(`${name}.scale`, [out], 0.3, 1), v = b.randomInit(`${name}.var`, [out], 0.2, 1);
    return b.node('BatchNormalization', [y, scale, b.initializer(`${name}.b`, [out], zeros), b.initializer(`${name}.mean`, [out], zeros), v], { epsilon: 1e-5 }, [b.shape(y)], name)[0];
  };
  const x0 = b.input('x', [2, 3, 10, 10]);
  const a = relu(conv(x0, 4));
  const sum = b.add(relu(conv(a, 4)), a);
  const pool = b.maxPool(sum, 2);
  const cat = b.concat([relu(conv(pool, 6)), pool]);
  const avg = b.avgPool(cat, 2);
  const flat = b.flatten(b.globalAvgPool(avg));
  const y = b.node('Gemm', [flat, b.randomInit('fc.weight', [5, 10], 0.5)], { transB: 1 }, [[2, 5]])[0];
  b.output(y);
  return { bytes: b.toBytes(), cuts: [x0, a, sum, pool, cat, avg, flat, y], pool };
}

describe('conservation: Σ R per sample is 1 (the one-hot seed) at every cut of a net without biases', () => {
  const net = residualNet(), leaky = residualNet('LeakyRelu'), netBn = residualNet('Relu', true);
  const sums = (t: CpuTensor) => {
    const per = t.data.length / t.shape[0];
    return Array.from({ length: t.shape[0] }, (_, n) => t.data.subarray(n * per, (n + 1) * per).reduce((s, v) => s + v, 0));
  };
  const cases: [string, ExplainOptions, typeof net, string[]][] = [
    ...COMPOSITES.filter((c) => c !== 'epsilon-alpha2-beta1').map((c): [string, ExplainOptions, typeof net, string[]] => [c, { method: 'lrp', composite: c }, net, net.cuts]),
    ...COMPOSITES.map((c): [string, ExplainOptions, typeof net, string[]] => [`${c}, LeakyRelu`, { method: 'lrp', composite: c }, leaky, leaky.cuts]),
    ...COMPOSITES.filter((c) => c !== 'epsilon-alpha2-beta1').map((c): [string, ExplainOptions, typeof net, string[]] => [`${c}, BN merged`, { method: 'lrp', composite: c }, netBn, netBn.cuts]),
    ['eb', { method: 'eb' }, net, net.cuts.slice(net.cuts.indexOf(net.pool))],
  ];
  for (const backend of BACKENDS) {
    it.each(cases)(`${backend} · %s`, async (_name, o, model, cuts) => {
      const e = await explainer(model.bytes, backend);
      const r = await e.explain(x10, { ...o, target: [1, 3], trace: true });
      if (o.method === 'eb') expect(r.layer).toBe(model.pool);
      const seen = new Set<string>();
      for (const t of r.trace!) {
        if (!cuts.includes(t.name)) continue;
        seen.add(t.name);
        for (const s of sums(t.value)) expect(Math.abs(s - 1), `${t.name}: Σ R = ${s}`).toBeLessThanOrEqual(1e-4);
      }
      expect([...seen].sort()).toEqual([...cuts].sort());
    });
  }
});

const x10: CpuTensor = { shape: [2, 3, 10, 10], data: values(600, 1) };

// ---------------------------------------------------------------- BatchNormalization merged before LRP

describe('BatchNormalization merged into the layer before it for LRP (Zennit\'s MergeBatchNorm canonizer)', () => {
  /** Conv (bias) → BN → Relu → Conv (no bias) → BN → Relu, + the first Relu → GAP → Flatten → Gemm (transB 0, α, β) → BN → Gemm (transB 1) → BN. */
  function bnNet(): Uint8Array {
    const b = new OnnxBuilder({ seed: 9, opset: 13 });
    const a = b.relu(b.bn(b.conv(b.input('x', [2, 3, 7, 6]), 4, 3, { pad: 1 }), { name: 'bn1' }));
    const sum = b.add(b.relu(b.bn(b.conv(a, 4, 3, { pad: 1, bias: false }), { name: 'bn2' })), a);
    const flat = b.flatten(b.globalAvgPool(sum));
    const g1 = b.node('Gemm', [flat, b.randomInit('g1.w', [4, 5], 0.5), b.randomInit('g1.c', [1, 5], 0.1)], { alpha: 0.5, beta: 2, transB: 0 }, [[2, 5]], 'g1')[0];
    b.output(b.bn(b.gemm(b.relu(b.bn(g1, { name: 'bn3' })), 3, { name: 'g2' }), { name: 'bn4' }));
    return b.toBytes();
  }
  const bytes = bnNet();

  it('every BN after a Conv or Gemm is merged; the merged graph\'s logits equal the original\'s (relative 1e-5), on both backends', async () => {
    const { model, merged, kept } = mergeBatchNorms(parseModel(bytes, 'bn-net', null));
    expect(merged).toEqual([{ bn: 'bn1', into: 'conv1' }, { bn: 'bn2', into: 'conv2' }, { bn: 'bn3', into: 'g1' }, { bn: 'bn4', into: 'g2' }].map((m) => expect.objectContaining({ bn: m.bn })));
    expect(kept).toEqual([]);
    expect(model.graph.nodes.some((n) => n.opType === 'BatchNormalization')).toBe(false);
    for (const backend of BACKENDS) {
      const e = await explainer(bytes, backend);
      const plain = (await e.session.run({ x }))[e.session.outputNames[0]];
      const mergedOut = (await e.session.run({ x }, { variant: { mergeBatchNorm: true } }))[e.session.outputNames[0]];
      expect(e.session.plan({ x: x.shape }, { mergeBatchNorm: true }).steps.some((s) => s.node.opType === 'BatchNormalization')).toBe(false);
      expect(e.session.plan({ x: x.shape }).steps.filter((s) => s.node.opType === 'BatchNormalization').length).toBe(4);
      expect(diff(mergedOut.data, plain.data).relL2, backend).toBeLessThanOrEqual(1e-5);
      // LRP explains it; the other methods keep the unmerged graph (their BN rules), bit for bit.
      const before = await e.explain(x, { method: 'gradient', target: [1] });
      const r = await e.explain(x, { method: 'lrp', composite: 'epsilon-plus', target: [0, 2] });
      expect(r.attribution!.data.some((v) => v !== 0)).toBe(true);
      expect(r.logits.data.length).toBe(6);
      expect(diff(r.logits.data, plain.data).relL2).toBeLessThanOrEqual(1e-5);
      expect(Array.from((await e.explain(x, { method: 'gradient', target: [1] })).attribution!.data)).toEqual(Array.from(before.attribution!.data));
    }
  });

  it('the merge itself: W\' = W·γ/√(σ²+ε) per output channel, b\' = (b − μ)·γ/√(σ²+ε) + β', () => {
    const m = parseModel(bytes, 'bn-net', null);
    const g = m.graph;
    const conv = g.nodes.find((n) => n.opType === 'Conv')!;
    const bn = g.nodes.find((n) => n.name === 'bn1')!;
    const [w, bias, gamma, beta, mean, v] = [conv.inputs[1], conv.inputs[2], ...bn.inputs.slice(1, 5)].map((t) => g.initializers.get(t)!.data);
    const out = mergeBatchNorms(m).model.graph;
    const c2 = out.nodes.find((n) => n.name === conv.name)!;
    expect(c2.outputs).toEqual(bn.outputs);
    const [w2, b2] = [c2.inputs[1], c2.inputs[2]].map((t) => out.initializers.get(t)!.data);
    const per = w.length / 4;
    for (let c = 0; c < 4; c++) {
      const s = gamma[c] / Math.sqrt(v[c] + Math.fround(1e-5));
      expect(b2[c]).toBe(Math.fround((bias[c] - mean[c]) * s + beta[c]));
      for (let i = c * per; i < (c + 1) * per; i++) expect(w2[i]).toBe(Math.fround(w[i] * s));
    }
    // the replaced weights and the BN parameters are gone; the graph input and outputs are the same
    expect(out.initializers.has(conv.inputs[1])).toBe(false);
    expect(out.initializers.has(bn.inputs[1])).toBe(false);
    expect(out.outputs).toEqual(g.outputs);
  });

  it('a BN that cannot be merged is refused by name, saying why (input not from a Conv or Gemm; the Conv output read elsewhere)', async () => {
    const afterRelu = new OnnxBuilder({ seed: 3, opset: 13 });
    afterRelu.output(afterRelu.gemm(afterRelu.flatten(afterRelu.bn(afterRelu.relu(afterRelu.conv(afterRelu.input('x', [2, 3, 7, 6]), 4, 3, { pad: 1 })), { name: 'late-bn' })), 5));
    const shared = new OnnxBuilder({ seed: 4, opset: 13 });
    const y = shared.conv(shared.input('x', [2, 3, 7, 6]), 4, 3, { pad: 1, name: 'c0' });
    shared.output(shared.gemm(shared.flatten(shared.add(shared.bn(y, { name: 'shared-bn' }), y)), 5));
    for (const backend of BACKENDS) {
      const a = await explainer(afterRelu.toBytes(), backend);
      await expect(a.explain(x, { method: 'lrp' })).rejects.toThrow(/^BatchNormalization node 'late-bn': LRP cannot merge this BatchNormalization into the layer before it .*: its input '.*' comes from Relu node '.*', not from a Conv or Gemm/);
      const s = await explainer(shared.toBytes(), backend);
      await expect(s.explain(x, { method: 'lrp', composite: 'epsilon-plus-flat' })).rejects.toThrow(/^BatchNormalization node 'shared-bn': LRP cannot merge .*: the output '.*' of Conv node 'c0' is also read by Add node '.*', which must keep the unnormalised values/);
      // the other methods run on both
      expect((await s.explain(x, { method: 'gradient' })).attribution!.data.some((v) => v !== 0)).toBe(true);
    }
    expect(mergeBatchNorms(parseModel(shared.toBytes(), 's', null)).kept).toEqual([{ node: 'shared-bn', why: expect.stringMatching(/also read by Add node/) }]);
  });
});

// ---------------------------------------------------------------- refusals and options

describe('refusals and options', () => {
  const withOp = (op: 'BatchNormalization' | 'Mul') => {
    const b = new OnnxBuilder({ seed: 2, opset: 13 });
    let y = b.conv(b.input('x', [2, 3, 7, 6]), 4, 3, { pad: 1 });
    y = op === 'Mul' ? b.node('Mul', [y, b.randomInit('k', [4, 1, 1], 0.5, 1)], {}, [b.shape(y)])[0] : b.bn(y);
    b.output(b.gemm(b.flatten(b.relu(y)), 5));
    return b.toBytes();
  };
  it('LRP merges a Conv → BatchNormalization pair and refuses any op without an LRP rule, by name; EB passes BN on', async () => {
    for (const backend of BACKENDS) {
      const bn = await explainer(withOp('BatchNormalization'), backend);
      expect((await bn.explain(x, { method: 'lrp' })).attribution!.data.some((v) => v !== 0)).toBe(true);
      const conv = bn.layerFor(x.shape).plan.steps.find((s) => s.node.opType === 'Conv')!.node.outputs[0];
      const r = await bn.explain(x, { method: 'eb', layer: conv });
      expect(r.layerMap!.data.some((v) => v !== 0)).toBe(true);
      const mul = await explainer(withOp('Mul'), backend);
      await expect(mul.explain(x, { method: 'lrp', composite: 'epsilon-alpha2-beta1' })).rejects.toThrow(/^no lrp-epsilon-alpha2-beta1 rule for Mul \(node '.*'\)$/);
    }
  });
  it('EB and cEB without the VGG structure need their layers', async () => {
    const e = await explainer(build('gemm').bytes, 'cpu');
    await expect(e.explain(x, { method: 'eb' })).rejects.toThrow(/no default layer for eb .*--layer/);
    const noRelu = await explainer(build('one').bytes, 'cpu');
    const conv = noRelu.session.plan({ x: x.shape }).steps[0].node.outputs[0];
    await expect(noRelu.explain(x, { method: 'ceb', layer: conv })).rejects.toThrow(/no default contrast layer for ceb \(the input of the last Conv or Gemm, which is the model input here\); give one with --contrast-layer/);
  });
  it.each([
    [{ method: 'lrp', composite: 'foo' }, /unknown composite 'foo' \(use epsilon-plus, epsilon-plus-flat, epsilon-gamma-box, epsilon-alpha2-beta1\)/],
    [{ method: 'lrp', composite: 'epsilon-gamma-box', low: -1 }, /low and high .* must be given together/],
    [{ method: 'lrp', composite: 'epsilon-gamma-box', low: 1, high: 1 }, /low \(1\) must be below high \(1\)/],
    [{ method: 'lrp', composite: 'epsilon-gamma-box', low: -1, high: Infinity }, /high must be a finite number/],
    [{ method: 'lrp', low: -1, high: 1 }, /ZBox bounds of composite epsilon-gamma-box, not epsilon-plus/],
    [{ method: 'gradient', composite: 'epsilon-plus' }, /composite applies to method lrp only, not gradient/],
    [{ method: 'eb', contrastLayer: 'x' }, /contrastLayer applies to method ceb only, not eb/],
  ] as [ExplainOptions, RegExp][])('%j is refused', async (o, why) => {
    const e = await explainer(build('gemm').bytes, 'cpu');
    const conv = e.layerFor(x.shape).plan.steps[0].node.outputs[0];
    await expect(e.explain(x, { layer: o.method === 'eb' ? conv : undefined, ...o })).rejects.toThrow(why);
  });
  it('output tags and aeq eval spellings', () => {
    expect(methodTag({ method: 'lrp' })).toBe('lrp-epsilon-plus');
    expect(methodTag({ method: 'lrp', composite: 'epsilon-gamma-box', low: -2.5, high: 3 })).toBe('lrp-epsilon-gamma-box-low-2.5-high3');
    expect([methodTag({ method: 'eb' }), methodTag({ method: 'ceb' })]).toEqual(['eb', 'ceb']);
    expect(parseMethod('lrp')).toEqual({ label: 'LRP epsilon-plus', options: { method: 'lrp' } });
    expect(parseMethod('lrp:epsilon-gamma-box:low=-1:high=2').options).toEqual({ method: 'lrp', composite: 'epsilon-gamma-box', low: -1, high: 2 });
    expect(parseMethod('ceb')).toEqual({ label: 'cEB', options: { method: 'ceb' } });
    expect(() => parseMethod('lrp:epsilon')).toThrow(/'epsilon' is none of the composites/);
  });
});

describe('EB defaults and the CLI on the VGG-style reference net', () => {
  const DIR = 'test/fixtures/baselines';
  it('L is the max-pool feeding the last conv block, K the ReLU feeding the last Gemm', async () => {
    const e = await explainer(new Uint8Array(await import('node:fs').then((fs) => fs.readFileSync(join(DIR, 'vgg.onnx')))), 'cpu');
    const r = await e.explain({ shape: [1, 3, 32, 32], data: new Float32Array(3072).fill(0.5) }, { method: 'ceb' });
    const plan = e.layerFor([1, 3, 32, 32]).plan;
    const step = (t: string) => plan.steps[plan.producer.get(t)!];
    expect(step(r.layer).node.opType).toBe('MaxPool');
    const convs = plan.steps.filter((s) => s.node.opType === 'Conv');
    expect(plan.steps.indexOf(step(r.layer))).toBe(plan.steps.indexOf(convs[convs.length - 1]) - 1);
  });
  it('aeq explain --method lrp / ceb writes its tagged files (and the layer map), and refuses misplaced options', async () => {
    const out = mkdtempSync(join(tmpdir(), 'aeq-lrp-'));
    try {
      const common = [join(DIR, 'vgg.onnx'), join(DIR, 'x.npy'), '--backend', 'cpu', '--target', '1', '-o', out, '--save-npy'];
      const a = await aeqInProcess(['explain', ...common, '--method', 'lrp', '--composite', 'epsilon-gamma-box', '--low', '-3', '--high', '3']);
      expect(a.code, a.stderr).toBe(0);
      const b = await aeqInProcess(['explain', ...common, '--method', 'ceb']);
      expect(b.code, b.stderr).toBe(0);
      expect(readdirSync(out).sort()).toEqual(['x-0', 'x-1'].flatMap((s) => [
        `${s}__c1__ceb.heatmap.npy`, `${s}__c1__ceb.layermap.npy`, `${s}__c1__ceb.png`,
        `${s}__c1__lrp-epsilon-gamma-box-low-3-high3.attribution.npy`, `${s}__c1__lrp-epsilon-gamma-box-low-3-high3.heatmap.npy`, `${s}__c1__lrp-epsilon-gamma-box-low-3-high3.png`,
      ]).sort());
      const bad = await aeqInProcess(['explain', ...common, '--method', 'gradient', '--composite', 'epsilon-plus']);
      expect(bad.code).toBe(1);
      expect(bad.stderr).toMatch(/--composite applies to lrp only, not --method gradient/);
      const help = await aeqInProcess(['explain', '--help']);
      expect(help.stdout).toMatch(/--composite NAME[^\n]*epsilon-plus \(default\)/);
      expect(help.stdout).toMatch(/--contrast-layer NAME/);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
