// The GPU runtime's dispatch path: bindings derived from WGSL declarations (explicit layouts with a
// dynamic uniform offset), bind groups cached across runs of the same plan, the executor's
// Conv → Relu fusion, and the dispatches per explanation (issue 9's budget).
import { afterEach, describe, it, expect } from 'vitest';
import { declaredBindings, getGpu } from '../src/kernels/gpu/runtime.js';
import { kernelChoiceOverride } from '../src/kernels/gpu/kernel-choice.js';
import { Session } from '../src/runtime/session.js';
import { Explainer } from '../src/explain/explainer.js';
import { parseMethod } from '../src/eval/methods.js';
import { resolveModelPath } from '../src/models.js';
import { OnnxBuilder } from '../tools/onnx-builder.js';
import { shared } from './helpers/shared.js';

describe('declaredBindings', () => {
  it('reads group-0 bindings, their access modes, either attribute order, and skips comments', () => {
    const code = `
struct U { n: u32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@binding(2) @group(0) var<storage, read_write> y: array<f32>;
// @group(0) @binding(3) var<storage, read_write> commented: array<f32>;
@group(0) @binding(3) var<storage> z: array<f32>;
@group(1) @binding(0) var<storage, read_write> other: array<f32>;
`;
    expect(declaredBindings(code)).toEqual(['u', 'r', 'w', 'r']);
  });
});

const gpu = await getGpu().then(() => true, () => false);

describe.skipIf(!gpu)('bind-group cache', () => {
  it('a second run of the same plan makes no bind group and gives the same bits', async () => {
    const s = await Session.create(resolveModelPath('aeq-resnet'), { backend: 'webgpu' });
    const g = s.gpu!;
    const shape = [1, 3, 224, 224];
    const data = new Float32Array(3 * 224 * 224).map((_, i) => Math.sin(i * 0.37));
    const name = s.inputNames[0];
    const first = await s.run({ [name]: { shape, data } });
    const made = g.stats.bindGroupsMade;
    const d0 = g.stats.dispatches;
    const second = await s.run({ [name]: { shape, data } });
    expect(g.stats.dispatches).toBeGreaterThan(d0);
    expect(g.stats.bindGroupsMade).toBe(made);
    for (const k of Object.keys(first)) expect(second[k].data).toEqual(first[k].data);
    s.dispose();
  });
});

/** Conv → Relu on each kernel family: pixels (7×7 s2), lanes 3×3, lanes 1×1 (even and odd planes). */
function convReluModel(readZ: boolean): Uint8Array {
  const b = new OnnxBuilder({ seed: 7 });
  const x = b.input('input', [2, 3, 23, 22]);
  let t = b.relu(b.conv(x, 16, 7, { stride: 2, pad: 3 })); // 12×11
  t = b.relu(b.conv(t, 24, 3, { pad: 1 }));
  const z = b.conv(t, 20, 1); // 12×11 = 132 pixels, a multiple of 4
  t = b.relu(z);
  const z2 = b.conv(b.maxPool(t, 2, { stride: 2 }), 12, 1); // 30 pixels
  const y = b.relu(z2);
  // With readZ, a pre-activation is also read by another node: the fused kernel writes both.
  b.output(readZ ? b.add(z2, y) : y);
  return b.toBytes();
}

/**
 * A model whose activations (op `opType`) follow convs, on one kernel variant: no `kernel`
 * dispatch runs (fused into the conv store), every output equals act(z) of its kept input z bit
 * for bit, and every tensor is what the CPU reference computes.
 */
async function checkFused(variant: 'shuffle' | 'tiled', bytes: Uint8Array, opType: string, kernel: string, act: (v: number, p: { lo: number; hi: number }) => number, scale: number, count: number): Promise<void> {
  kernelChoiceOverride.force = variant;
  const s = await Session.create(bytes, { backend: 'webgpu' });
  const cpu = await Session.create(bytes, { backend: 'cpu' });
  const g = s.gpu!;
  const data = new Float32Array(2 * 3 * 23 * 22).map((_, i) => Math.sin(i * 0.37) * scale);
  const feeds = { input: { shape: [2, 3, 23, 22], data } };
  const before = new Map(g.stats.byKernel);
  const out = await s.run(feeds);
  let unfused = 0;
  for (const [k, v] of g.stats.byKernel) if (k.startsWith(kernel)) unfused += v - (before.get(k) ?? 0);
  expect(unfused).toBe(0);
  const all = await s.run(feeds, { keep: 'all' });
  const ref = await cpu.run(feeds, { keep: 'all' });
  for (const [k, v] of Object.entries(out)) expect(v.data).toEqual(all[k].data);
  const plan = s.plan({ input: [2, 3, 23, 22] });
  const steps = plan.steps.filter((q) => q.node.opType === opType);
  expect(steps.length).toBe(count);
  for (const st of steps) {
    const p = st.params as { lo: number; hi: number };
    const z = all[st.inputs[0]!].data, y = all[st.node.outputs[0]].data;
    expect(y).toEqual(z.map((v) => act(v, p)));
    expect(y.some((v, i) => v !== z[i])).toBe(true); // the activation bites
  }
  for (const k of plan.steps.flatMap((q) => q.node.outputs)) {
    const d = all[k].data, v = ref[k];
    let err = 0, norm = 0;
    for (let i = 0; i < d.length; i++) { err += (d[i] - v.data[i]) ** 2; norm += v.data[i] ** 2; }
    expect(Math.sqrt(err / Math.max(norm, 1e-30))).toBeLessThan(1e-5);
  }
  s.dispose();
  cpu.dispose();
}

describe.skipIf(!gpu).each(['shuffle', 'tiled'] as const)('Conv → Relu fused into one dispatch (%s kernels)', (variant) => {
  afterEach(() => {
    kernelChoiceOverride.force = null;
  });
  it.each([false, true])('pre-activation read elsewhere: %s; every tensor as the CPU computes it, the ReLU the max(z, 0) of the kept z bit for bit', async (readZ) => {
    await checkFused(variant, convReluModel(readZ), 'Relu', 'activation.forward.relu', (v) => Math.max(v, 0), 1, 4);
  });
});

/** Conv → Clip on each kernel family (ReLU6, a bound pair inside the values' range, a minimum only). */
function convClipModel(readZ: boolean): Uint8Array {
  const b = new OnnxBuilder({ seed: 11 });
  const x = b.input('input', [2, 3, 23, 22]);
  let nb = 0;
  const clip = (t: string, lo: number | null, hi: number | null): string => {
    const ins = [t, lo === null ? '' : b.initializer(`lo${nb}`, [], [lo]), hi === null ? '' : b.initializer(`hi${nb++}`, [], [hi])];
    while (ins[ins.length - 1] === '') ins.pop();
    return b.node('Clip', ins, {}, [b.shape(t)])[0];
  };
  let t = clip(b.conv(x, 16, 7, { stride: 2, pad: 3 }), 0, 6);
  const z = b.conv(t, 24, 3, { pad: 1 });
  t = clip(z, -0.25, 0.3);
  const y = clip(b.conv(t, 20, 1), 0.1, null);
  b.output(readZ ? b.add(b.conv(z, 20, 1), y) : y);
  return b.toBytes();
}

describe.skipIf(!gpu).each(['shuffle', 'tiled'] as const)('Conv → Clip (constant bounds) fused into one dispatch (%s kernels)', (variant) => {
  afterEach(() => {
    kernelChoiceOverride.force = null;
  });
  it.each([false, true])('pre-activation read elsewhere: %s; no Clip kernel runs, each Clip output is clamp(z) of the kept z bit for bit, every tensor as the CPU computes it', async (readZ) => {
    await checkFused(variant, convClipModel(readZ), 'Clip', 'activation.forward.clip', (v, p) => Math.min(Math.max(v, Math.fround(p.lo)), Math.fround(p.hi)), 2, 3);
  });
});

// Signal sums (Gpu.state: setSums / takeSums): a producer's per-sample sums of a buffer stay with it until
// anything writes the buffer again, and their storage goes back to the pool with the last entry.
describe.skipIf(!gpu)('signal sums registry', () => {
  it('taken once; dropped by a read-write binding, a clear, a copy into the buffer or its release; the owner released with the last entry', async () => {
    const g = await getGpu();
    const { gpuAttr } = await import('../src/ops/shared/attribution.js');
    const a = g.alloc([64], 'a'), b = g.alloc([64], 'b'), c = g.alloc([64], 'c');
    const live0 = (g as unknown as { live: number }).live;
    const reg = () => {
      const owner = g.alloc([3 * 64], 'owner');
      const at = (k: number) => ({ buffer: owner.buffer, offset: k * 256, size: 4 });
      g.state.setSums([a.buffer, b.buffer], [{ pos: at(0), neg: at(1), count: at(2) }, { pos: at(0), neg: at(1), count: at(2) }], owner);
    };
    reg();
    const t = g.state.takeSums(a.buffer)!;
    expect(t).toBeDefined();
    expect(g.state.takeSums(a.buffer)).toBeUndefined(); // taken once
    t.done();
    expect((g as unknown as { live: number }).live).toBeGreaterThan(live0); // b's entry still holds the owner
    g.zero(b);
    expect(g.state.takeSums(b.buffer)).toBeUndefined();
    expect((g as unknown as { live: number }).live).toBe(live0); // the owner went back to the pool
    reg();
    gpuAttr.accumulate(g, a, c); // a is bound read-write
    expect(g.state.takeSums(a.buffer)).toBeUndefined();
    gpuAttr.accumulate(g, c, b); // b is only read
    const tb = g.state.takeSums(b.buffer);
    expect(tb).toBeDefined();
    tb!.done();
    reg();
    g.copy(c, a);
    expect(g.state.takeSums(a.buffer)).toBeUndefined();
    g.release(b);
    expect(g.state.takeSums(b.buffer)).toBeUndefined();
    expect((g as unknown as { live: number }).live).toBe(live0 - 256); // b released, no owner left
    g.release(a);
    g.release(c);
    await g.sync();
  });
});

// Deferred work (Gpu.state: defer / takePending): recorded before anything touches the buffer — a dispatch
// binding it (read or write), a read-back, a copy — unless its consumer takes it over; dropped
// unrecorded when the buffer is released.
describe.skipIf(!gpu)('deferred work on a buffer', () => {
  it('recorded before a read-back, a read-only binding or a copy; taken by its kind only; dropped on release', async () => {
    const g = await getGpu();
    const { gpuAttr } = await import('../src/ops/shared/attribution.js');
    const a = g.upload(new Float32Array([1, 2, 3, 4]), [4], 'a');
    const one = g.upload(new Float32Array([1, 1, 1, 1]), [4], 'one');
    const c = g.upload(new Float32Array([10, 10, 10, 10]), [4], 'c');
    let disposed = 0;
    const defer = () => g.state.defer(a.buffer, { kind: 'add-one', data: null, materialize: () => gpuAttr.accumulate(g, a, one), dispose: () => { disposed++; } });
    defer();
    expect(Array.from(await g.read(a))).toEqual([2, 3, 4, 5]);
    expect(disposed).toBe(1);
    defer();
    gpuAttr.accumulate(g, c, a); // a only read: the deferred add lands first
    expect(Array.from(await g.read(c))).toEqual([13, 14, 15, 16]);
    expect(disposed).toBe(2);
    defer();
    expect(g.state.takePending(a.buffer, 'other')).toBeUndefined();
    const p = g.state.takePending(a.buffer, 'add-one')!;
    expect(p).toBeDefined();
    p.dispose();
    expect(Array.from(await g.read(a))).toEqual([3, 4, 5, 6]); // taken over: not recorded by the runtime
    defer();
    g.copy(a, c); // a copied out: the deferred add lands first, outside any pass
    expect(Array.from(await g.read(c))).toEqual([4, 5, 6, 7]);
    expect(disposed).toBe(4);
    defer();
    g.release(a);
    expect(disposed).toBe(5);
    expect(Array.from(await g.read(c))).toEqual([4, 5, 6, 7]);
    g.release(one);
    g.release(c);
  });
});

// Packed weights (src/ops/conv/packed-cache.ts): a model's W is packed once for the session, a
// computed W (here W0 + a graph input) on every run, since its buffer's contents change.
describe.skipIf(!gpu).each(['shuffle', 'tiled'] as const)('packed conv weights (%s kernels)', (variant) => {
  afterEach(() => {
    kernelChoiceOverride.force = null;
  });
  it('constant W packed on the first run only; computed W repacked and right on every run; the packed copies leave with the session', async () => {
    kernelChoiceOverride.force = variant;
    const b = new OnnxBuilder({ seed: 5 });
    const x = b.input('input', [2, 4, 9, 11]);
    const dw = b.input('dw', [12, 8, 5, 5]);
    // 12 output channels: the shuffle variant's pixel-lane kernels and the tiled GEMM both pack W.
    const t = b.conv(x, 12, 5, { stride: 2, pad: 2 });
    const w0 = b.randomInit('w0', [12, 12, 5, 5], 0.2);
    const w = b.add(w0, b.node('Pad', [dw, b.initializer('pads', [8], [0, 4, 0, 0, 0, 0, 0, 0], 'int64')], {}, [[12, 12, 5, 5]])[0]);
    b.output(b.node('Conv', [t, w], { pads: [1, 1, 1, 1], strides: [2, 1] }, [[2, 12, 3, 6]])[0]);
    const bytes = b.toBytes();
    const s = await Session.create(bytes, { backend: 'webgpu' });
    const cpu = await Session.create(bytes, { backend: 'cpu' });
    const g = s.gpu!;
    const packs = () => [...g.stats.byKernel].filter(([k]) => k.endsWith('.pack')).reduce((a, [, v]) => a + v, 0);
    const input = { shape: [2, 4, 9, 11], data: new Float32Array(2 * 4 * 9 * 11).map((_, i) => Math.sin(i * 0.7)) };
    const counts: number[] = [];
    for (let run = 0; run < 3; run++) {
      const feeds = { input, dw: { shape: [12, 8, 5, 5], data: new Float32Array(2400).map((_, i) => Math.cos(i * (run + 1))) } };
      const p0 = packs();
      const out = await s.run(feeds);
      counts.push(packs() - p0);
      const ref = await cpu.run(feeds);
      for (const [k, v] of Object.entries(out)) {
        let err = 0, norm = 0;
        for (let i = 0; i < v.data.length; i++) { err += (v.data[i] - ref[k].data[i]) ** 2; norm += ref[k].data[i] ** 2; }
        expect(Math.sqrt(err / norm)).toBeLessThan(1e-5);
      }
    }
    // Both convolutions pack on the first run; then only the computed W.
    expect(counts[0]).toBe(2);
    expect(counts.slice(1)).toEqual([1, 1]);
    const live = (g as unknown as { live: number }).live;
    s.dispose();
    expect((g as unknown as { live: number }).live).toBeLessThan(live);
    cpu.dispose();
  });
});

// Issue 9: SqueezeNet 1.0's AE explanation at batch 1 on the shuffle kernels (lavapipe's default),
// 229 dispatches before the fusions: unfused ReLUs, padded copies, one copy and one mask per Concat
// part, the count of the shift, fork sums, the expand convs' own ΣR⁺/ΣR⁻ (now made by the
// Concat's masked split) and the expand 3×3 convs' shift (now done by the expand 1×1's store).
describe.skipIf(!gpu)('dispatches per explanation', () => {
  afterEach(() => {
    kernelChoiceOverride.force = null;
  });
  it('SqueezeNet 1.0 AE at batch 1 (shuffle kernels), as aeq bench counts them: at most 120 (forward 38)', async () => {
    kernelChoiceOverride.force = 'shuffle';
    const ex = await Explainer.create(shared('models/squeezenet1_0_deepcompression.onnx'), { backend: 'webgpu' });
    const g = ex.session.gpu!;
    const shape = ex.inputShape(1);
    const x = { shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)).map((_, i) => Math.sin(i * 12.9898) * 0.5) };
    const name = ex.session.inputNames[0];
    await ex.session.run({ [name]: x });
    let d0 = g.stats.dispatches;
    await ex.session.run({ [name]: x });
    expect(g.stats.dispatches - d0).toBeLessThanOrEqual(38);
    const options = parseMethod('ae').options;
    await ex.explain(x, options);
    d0 = g.stats.dispatches;
    await ex.explain(x, options);
    expect(g.stats.dispatches - d0).toBeLessThanOrEqual(120);
    ex.dispose();
  });
});
