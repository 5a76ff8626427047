// Host cost of one Gpu.dispatch on a trivial 1-workgroup kernel (issue 9): wall and main-thread
// on-CPU µs per dispatch, N dispatches per flush, with the GPU idle while recording (a sync after
// every flush) and busy (no sync until the end), then the per-call costs of the pieces. Prints
// figures only; on a shared box they are noisy, so compare runs interleaved.
import { getGpu } from '../src/kernels/gpu/runtime.js';
import { uniforms } from '../src/kernels/gpu/wgsl.js';
import { threadCpuNs } from './thread-cpu.js';

const N = 4000, PER_FLUSH = 150;
const U = uniforms({ total: 'u32', per: 'u32' });
const g = await getGpu();
const p = g.kernel('host.copy', () => `${U.wgsl()}
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read_write> b: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) gid: vec3u) { if (gid.x < u.total) { b[gid.x] = a[gid.x]; } }`);
const a = g.alloc([64]), b = g.alloc([64]);
const us = (ms: number) => ((ms * 1000) / N).toFixed(2);

for (const idle of [true, false, true, false]) {
  const h0 = g.stats.hostMs, q0 = g.stats.submitMs, c0 = threadCpuNs();
  for (let i = 0; i < N; i++) {
    g.dispatch(p, U.pack({ total: 64, per: i }), [a.buffer, b.buffer], [1]);
    if (i % PER_FLUSH === PER_FLUSH - 1) {
      g.flush();
      if (idle) await g.sync();
    }
  }
  g.flush();
  const c1 = threadCpuNs();
  await g.sync();
  const cpu = c0 !== null && c1 !== null ? (((c1 - c0) / 1e6) * 1000 / N).toFixed(2) : 'n/a';
  console.log(`${idle ? 'gpu idle' : 'gpu busy'}: host wall ${us(g.stats.hostMs - h0)} µs/dispatch (submit ${us(g.stats.submitMs - q0)}), main-thread cpu ${cpu} µs/dispatch (whole loop)`);
}

const time = (label: string, f: (i: number) => void) => {
  const t0 = performance.now();
  for (let i = 0; i < N; i++) f(i);
  console.log(`${label}: ${us(performance.now() - t0)} µs/call`);
};
time('uniforms pack', (i) => void U.pack({ total: 64, per: i }));
// Outside Gpu: a bind group of our own (the runtime's layout takes binding 0 at a dynamic offset).
const ubuf = g.device.createBuffer({ size: 512, usage: GPUBufferUsage.UNIFORM });
const bg = g.device.createBindGroup({ layout: p.getBindGroupLayout(0), entries: [
  { binding: 0, resource: { buffer: ubuf, offset: 0, size: 256 } }, { binding: 1, resource: { buffer: a.buffer } }, { binding: 2, resource: { buffer: b.buffer } }] });
const offsets = new Uint32Array(1);
const e = g.device.createCommandEncoder();
const pass = e.beginComputePass();
time('setPipeline', () => pass.setPipeline(p));
time('setBindGroup (dynamic offset)', () => pass.setBindGroup(0, bg, offsets, 0, 1));
time('dispatchWorkgroups', () => pass.dispatchWorkgroups(1));
pass.end();
const t0 = performance.now();
g.device.queue.submit([e.finish()]);
console.log(`finish+submit of ${N} dispatches: ${us(performance.now() - t0)} µs/dispatch`);
await g.sync();
process.exit(0);
