// Layout ops: GPU vs CPU (exact equality: pure data movement) on odd shapes — transposes up to
// rank 6, slices with negative steps and INT64_MAX ends, pads of every mode including negative
// (cropping) pads, concat on every axis, gather with runs and scattered indices, expand, tile —
// plus views (alias, no kernel), Cast on both backends, folding of constants with their dtypes
// (checked against ONNX's conformance data as folds), and error messages.
import { describe, it, expect } from 'vitest';
import { ops, sliceRange } from '../src/ops/layout/forward.js';
import { constOf, numel, type Const, type Shape } from '../src/graph/tensor.js';
import type { AttrValue } from '../src/graph/ir.js';
import type { CpuTensor } from '../src/ops/op.js';
import { makeNode, prepare, randn, rng, runCpu, runGpu, type OpInput } from './helpers/ops.js';
import { foldCases } from './helpers/fold_conformance.js';

const t = (tensor: CpuTensor): OpInput => ({ tensor });
const k = (konst: Const): OpInput => ({ konst });
const i64 = (v: number[], dims = [v.length]) => constOf('int64', dims, v);
const iota = (shape: Shape): CpuTensor => ({ shape, data: Float32Array.from({ length: numel(shape) }, (_, i) => i) });
const INT64_MAX = 9223372036854775807;

/** Exact GPU == CPU, returning the CPU result. */
async function same(op: string, inputs: OpInput[], attrs: Record<string, AttrValue> = {}, opset = 17): Promise<CpuTensor> {
  const node = makeNode(op, inputs.length, attrs);
  const [c] = runCpu(ops[op], node, inputs, opset);
  const [g] = await runGpu(ops[op], node, inputs, opset);
  expect(g.shape).toEqual(c.shape);
  expect(g.data.length).toBe(numel(c.shape));
  for (let i = 0; i < c.data.length; i++) {
    if (!Object.is(g.data[i], c.data[i])) expect(`${op} [${i}] gpu ${g.data[i]}`).toBe(`${op} [${i}] cpu ${c.data[i]}`);
  }
  return c;
}

function shuffle<T>(a: T[], r: () => number): T[] {
  const b = [...a];
  for (let i = b.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [b[i], b[j]] = [b[j], b[i]];
  }
  return b;
}

describe('Transpose', () => {
  const r = rng(1);
  const shapes: Shape[] = [[7], [5, 9], [3, 1, 7], [2, 5, 3, 7], [3, 2, 5, 1, 4], [2, 3, 1, 4, 3, 5]];
  it.each(shapes.map((s) => [s.length, s] as const))('rank %i, random permutations', async (_r, s) => {
    const x = randn(s, r);
    for (let rep = 0; rep < 3; rep++) {
      const perm = shuffle(s.map((_, i) => i), r);
      const y = await same('Transpose', [t(x)], { perm });
      expect(y.shape).toEqual(perm.map((p) => s[p]));
    }
  });
  it('default perm reverses; hand-computed 2×3', async () => {
    const y = await same('Transpose', [t(iota([2, 3]))]);
    expect(y.shape).toEqual([3, 2]);
    expect(Array.from(y.data)).toEqual([0, 3, 1, 4, 2, 5]);
  });
  it('rejects a bad perm', () => {
    expect(() => prepare(ops.Transpose, makeNode('Transpose', 1, { perm: [0, 0, 1] }), [t(iota([2, 3, 4]))]))
      .toThrow(/Transpose node 'Transpose_test': perm \[0,0,1\] is not a permutation/);
  });
});

describe('Slice', () => {
  it('ONNX clamping (hand-computed)', () => {
    expect(sliceRange(0, INT64_MAX, 1, 5)).toEqual({ start: 0, len: 5 });
    expect(sliceRange(-1, -INT64_MAX, -1, 5)).toEqual({ start: 4, len: 5 });
    expect(sliceRange(10, 0, -2, 5)).toEqual({ start: 4, len: 2 });
    expect(sliceRange(-100, 3, 1, 5)).toEqual({ start: 0, len: 3 });
    expect(sliceRange(3, 1, 1, 5).len).toBe(0);
  });
  it('inputs form (opset ≥ 10): negative steps, negative axes, huge ends', async () => {
    const x = iota([4, 5, 6]);
    const y = await same('Slice', [t(x), k(i64([-1, 1])), k(i64([-INT64_MAX, INT64_MAX])), k(i64([0, -1])), k(i64([-1, 2]))]);
    expect(y.shape).toEqual([4, 5, 3]);
    expect(Array.from(y.data.slice(0, 3))).toEqual([91, 93, 95]);
  });
  it('randomized over ranks 1–5', async () => {
    const r = rng(2);
    for (let rank = 1; rank <= 5; rank++) {
      const s = Array.from({ length: rank }, () => 1 + Math.floor(r() * 6));
      const x = randn(s, r);
      for (let rep = 0; rep < 3; rep++) {
        const axes = shuffle(s.map((_, i) => i), r).slice(0, 1 + Math.floor(r() * rank));
        const pick = () => Math.floor(r() * 14) - 7;
        const starts = axes.map(pick);
        const ends = axes.map(() => (r() < 0.2 ? (r() < 0.5 ? INT64_MAX : -INT64_MAX) : pick()));
        const steps = axes.map(() => (r() < 0.5 ? -1 : 1) * (1 + Math.floor(r() * 3)));
        await same('Slice', [t(x), k(i64(starts)), k(i64(ends)), k(i64(axes.map((a) => (r() < 0.5 ? a - rank : a)))), k(i64(steps))]);
      }
    }
  });
  it('attribute form (opset 9), default axes', async () => {
    const y = await same('Slice', [t(iota([3, 4]))], { starts: [1, -3], ends: [3, 100] }, 9);
    expect(Array.from(y.data)).toEqual([5, 6, 7, 9, 10, 11]);
  });
  it('ResNet "option A" pattern: every other row and column (step 2 from 0 to INT64_MAX)', async () => {
    const x = randn([1, 16, 32, 32], rng(3));
    const y = await same('Slice', [t(x), k(i64([0, 0])), k(i64([INT64_MAX, INT64_MAX])), k(i64([2, 3])), k(i64([2, 2]))]);
    expect(y.shape).toEqual([1, 16, 16, 16]);
  });
  it('rejects step 0 and non-constant starts', () => {
    expect(() => prepare(ops.Slice, makeNode('Slice', 5), [t(iota([3])), k(i64([0])), k(i64([2])), k(i64([0])), k(i64([0]))]))
      .toThrow(/Slice node 'Slice_test': step for axis 0 is 0/);
    expect(() => prepare(ops.Slice, makeNode('Slice', 3), [t(iota([3])), t(iota([1])), k(i64([2]))]))
      .toThrow(/Slice node 'Slice_test': input 1 \(starts.*must be a constant/);
  });
});

describe('Pad', () => {
  const r = rng(4);
  const MODES = ['constant', 'reflect', 'edge', 'wrap'];
  it.each(MODES)('%s: random pads (negative = crop) on ranks 1–5', async (mode) => {
    for (let rank = 1; rank <= 5; rank++) {
      const s = Array.from({ length: rank }, () => 2 + Math.floor(r() * 5));
      const x = randn(s, r);
      const pads = [...s.map(() => Math.floor(r() * 4) - 1), ...s.map(() => Math.floor(r() * 4) - 1)];
      await same('Pad', [t(x), k(i64(pads)), k(constOf('float32', [], [1.5]))], { mode });
    }
  });
  it('reflect past the edge repeats the mirror (numpy semantics); hand-computed 1-D', async () => {
    const x = { shape: [3], data: Float32Array.from([1, 2, 3]) };
    expect(Array.from((await same('Pad', [t(x), k(i64([5, 4]))], { mode: 'reflect' })).data)).toEqual([2, 1, 2, 3, 2, 1, 2, 3, 2, 1, 2, 3]);
    expect(Array.from((await same('Pad', [t(x), k(i64([2, 1]))], { mode: 'edge' })).data)).toEqual([1, 1, 1, 2, 3, 3]);
    expect(Array.from((await same('Pad', [t(x), k(i64([-1, 2])), k(constOf('float32', [], [9]))])).data)).toEqual([2, 3, 9, 9]);
    expect(Array.from((await same('Pad', [t(x), k(i64([2, 1]))], { mode: 'wrap' }, 19)).data)).toEqual([2, 3, 1, 2, 3, 1]);
  });
  it('attribute form (opset 10, MobileNet style) and axes input (opset 18)', async () => {
    const x = randn([1, 3, 5, 5], r);
    const y = await same('Pad', [t(x)], { mode: 'constant', pads: [0, 0, 0, 0, 0, 0, 1, 1], value: 0 }, 10);
    expect(y.shape).toEqual([1, 3, 6, 6]);
    const z = await same('Pad', [t(x), k(i64([1, 2, -1, 3])), { omitted: true }, k(i64([-1, 1]))], { mode: 'reflect' }, 18);
    expect(z.shape).toEqual([1, 8, 5, 5]);
  });
  it('rejects over-cropping and a pads length mismatch', () => {
    expect(() => prepare(ops.Pad, makeNode('Pad', 2), [t(iota([3])), k(i64([-2, -2]))])).toThrow(/Pad node 'Pad_test': pads \[-2,-2\] crop more/);
    expect(() => prepare(ops.Pad, makeNode('Pad', 2), [t(iota([3, 3])), k(i64([1, 1]))])).toThrow(/pads has 2 values, expected 4/);
  });
});

describe('Concat', () => {
  const r = rng(5);
  it('every axis (and its negative form) of rank 4, three inputs of different lengths', async () => {
    const base = [2, 3, 4, 5];
    for (let axis = 0; axis < 4; axis++) {
      const ins = [1, 3, 2].map((len) => t(randn(base.map((d, i) => (i === axis ? len : d)), r)));
      const y = await same('Concat', ins, { axis });
      expect(y.shape[axis]).toBe(6);
      const y2 = await same('Concat', ins, { axis: axis - 4 });
      expect(Array.from(y2.data)).toEqual(Array.from(y.data));
    }
  });
  it('seven inputs (two dispatches of up to 4 parts), axes 1 and 3', async () => {
    for (const axis of [1, 3]) {
      const ins = [1, 3, 2, 1, 4, 2, 1].map((len) => t(randn([2, 3, 4, 5].map((d, i) => (i === axis ? len : d)), r)));
      const y = await same('Concat', ins, { axis });
      expect(y.shape[axis]).toBe(14);
    }
  });
  it('runtime and constant inputs mixed, an empty input, hand-computed', async () => {
    const a = { shape: [2, 1], data: Float32Array.from([1, 2]) };
    const y = await same('Concat', [t(a), k(constOf('float32', [2, 2], [3, 4, 5, 6])), t({ shape: [2, 0], data: new Float32Array(0) })], { axis: 1 });
    expect(Array.from(y.data)).toEqual([1, 3, 4, 2, 5, 6]);
  });
  it('rank mismatch and dimension mismatch name the shapes', () => {
    expect(() => prepare(ops.Concat, makeNode('Concat', 2, { axis: 0 }), [t(iota([2, 3])), t(iota([2, 3, 1]))]))
      .toThrow(/Concat node 'Concat_test': inputs must have the same rank: input 0 is \[2×3\] \(rank 2\), input 1 is \[2×3×1\] \(rank 3\)/);
    expect(() => prepare(ops.Concat, makeNode('Concat', 2, { axis: 0 }), [t(iota([2, 3])), t(iota([2, 4]))]))
      .toThrow(/input 1 \[2×4\] does not match input 0 \[2×3\] outside axis 0/);
  });
});

describe('Gather, Expand, Tile', () => {
  const r = rng(6);
  it('Gather on a runtime tensor: scalar, runs, scattered and negative indices, every axis', async () => {
    const x = randn([4, 5, 6], r);
    for (let axis = -3; axis < 3; axis++) {
      const dim = x.shape[(axis + 3) % 3];
      await same('Gather', [t(x), k(i64([dim - 2], []))], { axis });
      const idx = [0, 1, 2, -1, -2, 1, 1, 0].map((v) => Math.max(-dim, Math.min(v, dim - 1)));
      await same('Gather', [t(x), k(i64(idx, [2, 4]))], { axis });
    }
    const y = await same('Gather', [t(iota([3, 2])), k(i64([2, 0, -1]))], { axis: 0 });
    expect(Array.from(y.data)).toEqual([4, 5, 0, 1, 4, 5]);
  });
  it('Gather rejects an out-of-range index', () => {
    expect(() => prepare(ops.Gather, makeNode('Gather', 2), [t(iota([3])), k(i64([3]))])).toThrow(/index 3 is out of range for axis 0 of size 3/);
  });
  it('Expand in both directions, Tile on ranks 1–5', async () => {
    await same('Expand', [t(randn([3, 1, 5], r)), k(i64([2, 1, 4, 1]))]);
    const e = await same('Expand', [t(randn([1, 5], r)), k(i64([3, 1]))]);
    expect(e.shape).toEqual([3, 5]);
    await same('Tile', [t(randn([7], r)), k(i64([3]))]);
    await same('Tile', [t(randn([2, 3], r)), k(i64([2, 1]))]);
    await same('Tile', [t(randn([2, 3, 1, 5], r)), k(i64([1, 2, 3, 2]))]);
    // A rank-10 strided view (every dimension repeated): the widest copy kernel.
    await same('Tile', [t(randn([2, 3, 2, 2, 3], r)), k(i64([2, 3, 2, 2, 2]))]);
    const y = await same('Tile', [t(iota([2])), k(i64([2]))]);
    expect(Array.from(y.data)).toEqual([0, 1, 0, 1]);
  });
});

describe('views alias their input', () => {
  const x = () => t(randn([2, 3, 4], rng(7)));
  const view = (op: string, inputs: OpInput[], attrs: Record<string, AttrValue> = {}, opset = 17) => {
    const p = prepare(ops[op], makeNode(op, inputs.length, attrs), inputs, opset);
    expect(p.alias, `${op} is a view`).toBe(0);
    return p.shapes[0];
  };
  it('Reshape: 0 copies, -1 infers, allowzero (opset 14) keeps 0', () => {
    expect(view('Reshape', [x(), k(i64([0, -1]))])).toEqual([2, 12]);
    expect(view('Reshape', [x(), k(i64([-1, 2, 0]))])).toEqual([3, 2, 4]);
    expect(view('Reshape', [{ tensor: { shape: [0, 3], data: new Float32Array(0) } }, k(i64([3, 0]))], { allowzero: 1 }, 14)).toEqual([3, 0]);
    expect(prepare(ops.Reshape, makeNode('Reshape', 2), [x(), k(i64([4, 6]))]).staticInputs).toEqual([1]);
  });
  it('Reshape errors: wrong element count, two -1', () => {
    expect(() => prepare(ops.Reshape, makeNode('Reshape', 2), [x(), k(i64([5, 5]))]))
      .toThrow(/Reshape node 'Reshape_test': cannot reshape input \[2×3×4\] \(24 elements\) to \[5×5\] \(25 elements\)/);
    expect(() => prepare(ops.Reshape, makeNode('Reshape', 2), [x(), k(i64([5, -1]))])).toThrow(/24 is not a multiple of 5/);
    expect(() => prepare(ops.Reshape, makeNode('Reshape', 2), [x(), k(i64([-1, -1]))])).toThrow(/more than one -1/);
  });
  it('Flatten (negative axis), Squeeze/Unsqueeze (attribute before 13, input from 13), Identity, Dropout', () => {
    expect(view('Flatten', [x()], { axis: -1 })).toEqual([6, 4]);
    expect(view('Flatten', [x()], { axis: 0 })).toEqual([1, 24]);
    const one = () => t(randn([1, 3, 1, 2], rng(1)));
    expect(view('Squeeze', [one()])).toEqual([3, 2]);
    expect(view('Squeeze', [one()], { axes: [-2] }, 11)).toEqual([1, 3, 2]);
    expect(view('Squeeze', [one(), k(i64([0]))])).toEqual([3, 1, 2]);
    expect(view('Unsqueeze', [x()], { axes: [0, -1] }, 11)).toEqual([1, 2, 3, 4, 1]);
    expect(view('Unsqueeze', [x(), k(i64([3, 1]))])).toEqual([2, 1, 3, 1, 4]);
    expect(view('Identity', [x()])).toEqual([2, 3, 4]);
    expect(view('Dropout', [x(), k(constOf('float32', [], [0.5]))])).toEqual([2, 3, 4]);
    expect(() => prepare(ops.Squeeze, makeNode('Squeeze', 2), [x(), k(i64([1]))])).toThrow(/cannot squeeze axis 1 of size 3/);
  });
  it('Dropout rejects a consumed mask output, naming the node', () => {
    expect(() => prepare(ops.Dropout, makeNode('Dropout', 1, {}, 2), [x()])).toThrow(/Dropout node 'Dropout_test': the mask output 'out1' is not supported/);
  });
  it('GPU reads of a view are the input', async () => {
    const y = await same('Reshape', [t(iota([2, 3])), k(i64([3, 2]))]);
    expect(Array.from(y.data)).toEqual([0, 1, 2, 3, 4, 5]);
  });
});

describe('Cast', () => {
  it('runtime: to float is a view; to int truncates toward zero, to bool is non-zero, to float16 rounds (GPU == CPU)', async () => {
    const x = { shape: [9], data: Float32Array.from([-2.7, -0.5, 0, 0.5, 1.5, 2.9, 1e5, 1 / 3, -1e-9]) };
    expect(prepare(ops.Cast, makeNode('Cast', 1, { to: 1 }), [t(x)]).alias).toBe(0);
    expect(Array.from((await same('Cast', [t(x)], { to: 7 })).data)).toEqual([-2, -0, 0, 0, 1, 2, 1e5, 0, -0]);
    expect(Array.from((await same('Cast', [t(x)], { to: 9 })).data)).toEqual([1, 1, 0, 1, 1, 1, 1, 1, 1]);
    const h = await same('Cast', [t(x)], { to: 10 });
    expect(h.data[7]).toBe(0.333251953125);
    expect(h.data[6]).toBe(Infinity);
    await same('Cast', [t(randn([3, 70, 5], rng(8), 4))], { to: 10 });
    // float16 boundaries: max finite, overflow, ties to even in normal and subnormal range.
    const edges = [65504, 65519, 65520, -65536, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 2 ** -25, 3 * 2 ** -25, 1e-6, -6.1e-5, 2 ** -14];
    const e = await same('Cast', [t({ shape: [edges.length], data: Float32Array.from(edges) })], { to: 10 });
    expect(Array.from(e.data)).toEqual([65504, 65504, Infinity, -Infinity, 1, 1 + 2 ** -9, 0, 2 ** -23, 17 * 2 ** -24, -1023 * 2 ** -24, 2 ** -14].map(Math.fround));
  });
  it('folds constants per target dtype', () => {
    const fold = (to: number, c: Const) => prepare(ops.Cast, makeNode('Cast', 1, { to }), [k(c)]).folded![0];
    const f = constOf('float64', [5], [-2.7, 2.5, 300, -129, 1e10]);
    expect(fold(7, f)).toMatchObject({ dtype: 'int64', data: Float64Array.from([-2, 2, 300, -129, 1e10]) });
    expect(Array.from(fold(2, f).data)).toEqual([254, 2, 44, 127, 0]);
    expect(Array.from(fold(3, f).data)).toEqual([-2, 2, 44, 127, 0]);
    expect(Array.from(fold(9, f).data)).toEqual([1, 1, 1, 1, 1]);
    expect(fold(1, constOf('int64', [1], [16777217])).data[0]).toBe(16777216);
    expect(fold(1, constOf('int64', [1], [3])).dtype).toBe('float32');
  });
});

describe('folding of constants keeps dtypes', () => {
  it('int64 Transpose/Slice/Concat/Gather/Pad fold without kernels', () => {
    const c = constOf('int64', [2, 3], [1, 2, 3, 4, 5, 6]);
    const fold = (op: string, inputs: Const[], attrs: Record<string, AttrValue> = {}) => {
      const p = prepare(ops[op], makeNode(op, inputs.length, attrs), inputs.map(k));
      expect(p.folded, `${op} folds`).toBeDefined();
      expect(p.folded![0].dtype).toBe('int64');
      return Array.from(p.folded![0].data);
    };
    expect(fold('Transpose', [c])).toEqual([1, 4, 2, 5, 3, 6]);
    expect(fold('Slice', [c, i64([-1]), i64([-INT64_MAX]), i64([1]), i64([-1])])).toEqual([3, 2, 1, 6, 5, 4]);
    expect(fold('Concat', [c, i64([7, 8, 9], [1, 3])], { axis: 0 })).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(fold('Gather', [c, i64([1], [])], { axis: 1 })).toEqual([2, 5]);
    expect(fold('Pad', [c, i64([0, 1, 0, 0]), i64([-5], [])])).toEqual([-5, 1, 2, 3, -5, 4, 5, 6]);
    expect(fold('Reshape', [c, i64([-1])])).toEqual([1, 2, 3, 4, 5, 6]);
    expect(fold('Tile', [i64([1, 2]), i64([2])])).toEqual([1, 2, 1, 2]);
    expect(fold('Expand', [i64([1, 2]), i64([2, 1])])).toEqual([1, 2, 1, 2]);
  });
  describe('ONNX conformance data, replayed as folds', () => {
    const cases = foldCases(
      /^test_(slice|concat|reshape|gather_(\d|2d|negative)|transpose|squeeze|unsqueeze|flatten|expand|tile|cast_|castlike_|constant_pad|edge_pad|reflect_pad|identity$|dropout_default$|dropout_default_ratio|dropout_default_old)/,
      /expanded|STRING|BFLOAT16/);
    it('found the cases', () => expect(cases.length).toBeGreaterThan(60));
    it.each(cases.map((c) => [c.name, c] as const))('%s', (_n, c) => c.run());
  });
});
