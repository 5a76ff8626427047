// The GPU runtime every kernel dispatches through: a pipeline cache keyed by kernel name (which
// includes rank or other variant tags: shapes travel as uniforms, never baked into WGSL text),
// a buffer pool, a ring of uniform slots, and one command encoder per batch of work so that a
// whole forward or backward pass is recorded without any readback in between. Layouts and the
// bind-group cache are in ./bindings.ts.
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { numel } from '../../graph/tensor.js';
import { AeqError } from '../../errors.js';
import { requireDevice } from './device.js';
import { Bindings } from './bindings.js';
import { BufferState } from './buffer-state.js';

export { declaredBindings } from './bindings.js';

export interface GpuTensor {
  shape: number[];
  buffer: GPUBuffer;
  /** Set on a model's weights: the contents never change while the tensor is held. */
  constant?: boolean;
  /** Tensors derived from a constant one (packed weight layouts), released with it. */
  derived?: Map<string, GpuTensor>;
}

export type { SignalSums, Pending } from './buffer-state.js';

/** Words of a uniform struct. Floats are bit-cast so everything is written as u32. */
export class Uniforms {
  private words: number[] = [];
  /** Words laid out by a declared block (src/kernels/gpu/wgsl.ts `UniformBlock.pack`). */
  static fromWords(w: ArrayLike<number>): Uniforms {
    const u = new Uniforms();
    u.words = Array.from(w);
    return u;
  }
  private f32 = new Float32Array(1);
  private u32 = new Uint32Array(this.f32.buffer);
  u(...v: number[]): this {
    for (const x of v) this.words.push(x >>> 0);
    return this;
  }
  i(...v: number[]): this {
    for (const x of v) this.words.push(x | 0);
    return this;
  }
  f(...v: number[]): this {
    for (const x of v) {
      this.f32[0] = x;
      this.words.push(this.u32[0]);
    }
    return this;
  }
  /** Pad to a multiple of 4 words, as WGSL vec4 arrays require. */
  align4(): this {
    while (this.words.length % 4) this.words.push(0);
    return this;
  }
  /** An array<vec4<u32>, n> of `values`, padded with `fill`. */
  vec4s(values: number[], n: number, fill = 0): this {
    this.align4();
    for (let k = 0; k < n * 4; k++) this.words.push((k < values.length ? values[k] : fill) >>> 0);
    return this;
  }
  get data(): Uint32Array {
    const w = this.words.slice();
    while (w.length % 4) w.push(0);
    if (w.length === 0) w.push(0, 0, 0, 0);
    return Uint32Array.from(w);
  }
}

const UNIFORM_SLOT = 256; // minUniformBufferOffsetAlignment
const UNIFORM_RING_BYTES = 1 << 20;
const MAX_GROUPS = 65535;

export interface DispatchStats {
  dispatches: number;
  submits: number;
  readbacks: number;
  /** Bytes copied back to the host by read(). */
  bytesRead: number;
  bytesAllocated: number;
  peakBytes: number;
  /**
   * Milliseconds spent on the host inside recording and submission calls (dispatch, zero, copy,
   * flush/submit, the recording half of read); waits on the queue (sync, mapAsync) are excluded.
   */
  hostMs: number;
  /** The part of hostMs spent in encoder.finish() and queue.submit() (Dawn records the backend's commands there). */
  submitMs: number;
  /** Bind groups created (the rest of the dispatches found theirs in the cache). */
  bindGroupsMade: number;
  /** Dispatches per kernel key (the pipeline's label). */
  byKernel: Map<string, number>;
}

export class Gpu {
  readonly stats: DispatchStats = { dispatches: 0, submits: 0, readbacks: 0, bytesRead: 0, bytesAllocated: 0, peakBytes: 0, hostMs: 0, submitMs: 0, bindGroupsMade: 0, byKernel: new Map() };
  private pipelines = new Map<string, GPUComputePipeline>();
  private bindings: Bindings;
  // Nesting depth of timed host calls (dispatch may flush): only the outermost one is timed.
  private hostDepth = 0;
  private free = new Map<number, GPUBuffer[]>();
  private live = 0;
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  // The pipeline last set in the open pass: a pass keeps it until changed, so a run of one kernel
  // sets it once (each set costs the host ~0.5 µs through Dawn's binding).
  private passPipeline: GPUComputePipeline | null = null;
  private ring: GPUBuffer;
  private ringHost = new Uint8Array(UNIFORM_RING_BYTES);
  private ringUsed = 0;
  private dynamicOffset = new Uint32Array(1);
  private error: string | null = null;
  private dumpDir = process.env.AEQ_DUMP_WGSL;
  /** Sums and deferred work registered on buffers (buffer-state.ts). */
  readonly state: BufferState<GpuTensor> = new BufferState((t) => this.release(t));

  constructor(readonly device: GPUDevice, readonly adapterName: string) {
    this.ring = device.createBuffer({
      label: 'aeq.uniform-ring',
      size: UNIFORM_RING_BYTES,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
    this.bindings = new Bindings(device, this.ring, UNIFORM_SLOT);
    device.onuncapturederror = (ev: GPUUncapturedErrorEvent) => {
      this.error ??= ev.error.message;
    };
    device.lost.then((info) => {
      if (info.reason !== 'destroyed') this.error ??= `device lost: ${info.message}`;
    });
  }

  get limits(): GPUSupportedLimits {
    return this.device.limits;
  }

  /** A cached compute pipeline. `key` names the kernel and its variant; it labels the pipeline. */
  kernel(key: string, code: () => string, entryPoint = 'main'): GPUComputePipeline {
    let p = this.pipelines.get(key);
    if (p) return p;
    const text = code();
    if (this.dumpDir) {
      if (this.dumpDir === '1') process.stderr.write(`// ---- aeq kernel ${key}\n${text}\n`);
      else {
        mkdirSync(this.dumpDir, { recursive: true });
        writeFileSync(join(this.dumpDir, `${key.replace(/[^A-Za-z0-9_.-]/g, '_')}.wgsl`), text);
      }
    }
    const module = this.device.createShaderModule({ label: key, code: text });
    const l = this.bindings.layoutFor(key, text);
    p = this.device.createComputePipeline({ label: key, layout: l.pipelineLayout, compute: { module, entryPoint } });
    l.register(p);
    this.pipelines.set(key, p);
    return p;
  }

  private hostStart(): number {
    return this.hostDepth++ === 0 ? performance.now() : -1;
  }

  private hostEnd(t0: number): void {
    this.hostDepth--;
    if (t0 >= 0) this.stats.hostMs += performance.now() - t0;
  }

  get pipelineCount(): number {
    return this.pipelines.size;
  }

  /** A pooled storage buffer for `n` float32 values. */
  alloc(shape: number[], label = 'tensor'): GpuTensor {
    const bytes = Math.max(16, Math.ceil((numel(shape) * 4) / 256) * 256);
    // A buffer may exceed the binding limit (kernels such as MatMul bind slices of it); dispatch
    // rejects any single binding that is still too large.
    if (bytes > this.device.limits.maxBufferSize) {
      throw new AeqError(`tensor ${label} of shape [${shape.join('×')}] needs ${bytes} bytes, more than this ` +
        `GPU's buffer limit (${this.device.limits.maxBufferSize}); use a smaller batch`);
    }
    // The free buffer made first, not the last one released: the same sequence of allocations and
    // releases (a plan run again) then gets the same buffers, and finds its bind groups cached.
    const list = this.free.get(bytes);
    let buffer: GPUBuffer | undefined;
    if (list && list.length) {
      let best = 0;
      for (let i = 1; i < list.length; i++) if (this.bindings.bufferId(list[i]) < this.bindings.bufferId(list[best])) best = i;
      buffer = list[best];
      list[best] = list[list.length - 1];
      list.pop();
    } else {
      buffer = this.device.createBuffer({
        label,
        size: bytes,
        usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
      });
      this.bindings.bufferId(buffer);
      this.stats.bytesAllocated += bytes;
    }
    this.live += bytes;
    this.stats.peakBytes = Math.max(this.stats.peakBytes, this.live);
    return { shape, buffer };
  }

  release(t: GpuTensor): void {
    this.state.released(t.buffer);
    if (t.derived) {
      for (const d of t.derived.values()) this.release(d);
      t.derived = undefined;
    }
    const bytes = t.buffer.size;
    this.live -= bytes;
    let list = this.free.get(bytes);
    if (!list) this.free.set(bytes, (list = []));
    list.push(t.buffer);
  }

  /** Drop every pooled (free) buffer. */
  trim(): void {
    for (const list of this.free.values()) for (const b of list) b.destroy();
    this.free.clear();
    this.bindings.clearGroups();
  }

  upload(data: Float32Array, shape: number[], label = 'const'): GpuTensor {
    // writeBuffer runs on the queue ahead of commands still being recorded; a pooled buffer may
    // still be read by them, so submit those first.
    if (this.encoder) this.flush();
    const t = this.alloc(shape, label);
    this.device.queue.writeBuffer(t.buffer, 0, data.buffer, data.byteOffset, data.byteLength);
    return t;
  }

  write(t: GpuTensor, data: Float32Array): void {
    this.state.touch(t.buffer);
    this.flush();
    this.state.written(t.buffer);
    this.device.queue.writeBuffer(t.buffer, 0, data.buffer, data.byteOffset, data.byteLength);
  }

  private computePass(): GPUComputePassEncoder {
    if (!this.pass) {
      this.encoder ??= this.device.createCommandEncoder({ label: 'aeq.work' });
      this.pass = this.encoder.beginComputePass({ label: 'aeq.pass' });
      this.passPipeline = null;
    }
    return this.pass;
  }

  private endPass(): void {
    this.pass?.end();
    this.pass = null;
  }

  /**
   * Record one dispatch. Binding 0 is the uniform struct, bindings 1..n the storage buffers in
   * order. `threads` is a flat thread count for 1-D kernels (split over x/y when it exceeds the
   * per-dimension limit; use `linearId()` in WGSL) or explicit workgroup counts. A binding is a
   * whole buffer or a `{buffer, offset, size}` slice (offset a multiple of
   * minStorageBufferOffsetAlignment), for buffers larger than maxStorageBufferBindingSize.
   */
  dispatch(pipeline: GPUComputePipeline, uniforms: Uniforms, buffers: (GPUBuffer | GPUBufferBinding)[], groups: [number, number?, number?]): void {
    const t0 = this.hostStart();
    try {
      this.record(pipeline, uniforms, buffers, groups);
    } finally {
      this.hostEnd(t0);
    }
  }

  private record(pipeline: GPUComputePipeline, uniforms: Uniforms, buffers: (GPUBuffer | GPUBufferBinding)[], groups: [number, number?, number?]): void {
    if (this.state.hasPending) for (const b of buffers) this.state.touch('buffer' in b ? b.buffer : b);
    const u = uniforms.data;
    if (this.ringUsed + UNIFORM_SLOT > UNIFORM_RING_BYTES) this.flush();
    const offset = this.ringUsed;
    this.ringHost.set(new Uint8Array(u.buffer, 0, Math.min(u.byteLength, UNIFORM_SLOT)), offset);
    // The whole slot is bound, so a shader's struct may be longer than the words given (zeros).
    this.ringHost.fill(0, offset + Math.min(u.byteLength, UNIFORM_SLOT), offset + UNIFORM_SLOT);
    if (u.byteLength > UNIFORM_SLOT) throw new AeqError(`uniform block of ${u.byteLength} bytes exceeds ${UNIFORM_SLOT}`);
    this.ringUsed += UNIFORM_SLOT;
    const { bindGroup, key } = this.bindings.groupFor(pipeline, buffers, this.stats);
    if (this.state.hasSums) this.bindings.forWritable(pipeline, buffers, (b) => this.state.written(b));
    this.dynamicOffset[0] = offset;
    const pass = this.computePass();
    if (this.passPipeline !== pipeline) {
      pass.setPipeline(pipeline);
      this.passPipeline = pipeline;
    }
    pass.setBindGroup(0, bindGroup, this.dynamicOffset, 0, 1);
    let [x, y = 1, z = 1] = groups;
    if (x === 0 || y === 0 || z === 0) return;
    if (x > MAX_GROUPS) {
      y *= Math.ceil(x / MAX_GROUPS);
      x = MAX_GROUPS;
      if (groups[1] !== undefined && groups[1] !== 1) throw new AeqError('dispatch too large in x with explicit y');
    }
    pass.dispatchWorkgroups(x, y, z);
    this.stats.dispatches++;
    this.stats.byKernel.set(key, (this.stats.byKernel.get(key) ?? 0) + 1);
  }

  /** Workgroup count covering `n` threads of `wg` each (1-D; the runtime folds large counts into y). */
  static groups1d(n: number, wg = 256): [number] {
    return [Math.ceil(n / wg)];
  }

  /** Set a tensor's whole buffer to zero (recorded in order with the dispatches). */
  zero(t: GpuTensor): void {
    const t0 = this.hostStart();
    this.state.touch(t.buffer); // records a dispatch: before the pass ends
    this.endPass();
    this.encoder ??= this.device.createCommandEncoder({ label: 'aeq.work' });
    this.state.written(t.buffer);
    this.encoder.clearBuffer(t.buffer);
    this.hostEnd(t0);
  }

  copy(src: GpuTensor, dst: GpuTensor, bytes = numel(src.shape) * 4): void {
    if (bytes === 0) return;
    const t0 = this.hostStart();
    this.state.touch(src.buffer); // these record dispatches: before the pass ends
    this.state.touch(dst.buffer);
    this.endPass();
    this.encoder ??= this.device.createCommandEncoder({ label: 'aeq.work' });
    this.state.written(dst.buffer);
    this.encoder.copyBufferToBuffer(src.buffer, 0, dst.buffer, 0, Math.ceil(bytes / 4) * 4);
    this.hostEnd(t0);
  }

  /** Submit everything recorded so far. */
  flush(): void {
    const t0 = this.hostStart();
    try {
      this.submit();
    } finally {
      this.hostEnd(t0);
    }
    this.throwIfFailed();
  }

  private submit(): void {
    this.endPass();
    if (this.ringUsed > 0) {
      this.device.queue.writeBuffer(this.ring, 0, this.ringHost.buffer, 0, this.ringUsed);
      this.ringUsed = 0;
    }
    if (this.encoder) {
      const t0 = performance.now();
      this.device.queue.submit([this.encoder.finish()]);
      this.stats.submitMs += performance.now() - t0;
      this.encoder = null;
      this.stats.submits++;
    }
  }

  throwIfFailed(): void {
    if (this.error) {
      const e = this.error;
      this.error = null;
      throw new AeqError(`WebGPU error: ${e}`);
    }
  }

  /** Wait for all submitted work. */
  async sync(): Promise<void> {
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
    this.throwIfFailed();
  }

  async read(t: GpuTensor): Promise<Float32Array> {
    const bytes = numel(t.shape) * 4;
    const out = new Float32Array(numel(t.shape));
    if (bytes === 0) return out;
    this.state.touch(t.buffer);
    const t0 = this.hostStart();
    const staging = this.device.createBuffer({ label: 'aeq.readback', size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    this.endPass();
    this.encoder ??= this.device.createCommandEncoder({ label: 'aeq.work' });
    this.encoder.copyBufferToBuffer(t.buffer, 0, staging, 0, bytes);
    try {
      this.submit();
    } finally {
      this.hostEnd(t0);
    }
    this.throwIfFailed();
    this.stats.readbacks++;
    this.stats.bytesRead += bytes;
    await staging.mapAsync(GPUMapMode.READ);
    out.set(new Float32Array(staging.getMappedRange()));
    staging.unmap();
    staging.destroy();
    this.throwIfFailed();
    return out;
  }
}

let shared: Promise<Gpu> | null = null;

/** The process-wide Gpu runtime (throws GpuUnavailableError when there is no adapter). */
export function getGpu(): Promise<Gpu> {
  shared ??= requireDevice().then((d) => new Gpu(d.device, d.adapterName));
  shared.catch(() => { shared = null; });
  return shared;
}

/** WGSL helpers shared by every kernel source. Prepended to each shader. */
export const WGSL_COMMON = /* wgsl */ `
// Flat thread id for 1-D dispatches folded over x/y by the runtime (workgroup size WG).
fn linear_id(gid: vec3u, nwg: vec3u, wg: u32) -> u32 {
  return gid.x + gid.y * nwg.x * wg;
}
`;
