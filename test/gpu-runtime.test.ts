// The GPU runtime's dispatch path: bindings derived from WGSL declarations (explicit layouts with a
// dynamic uniform offset), and bind groups cached across runs of the same plan.
import { describe, it, expect } from 'vitest';
import { declaredBindings, getGpu } from '../src/kernels/gpu/runtime.js';
import { Session } from '../src/runtime/session.js';
import { resolveModelPath } from '../src/models.js';

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
