// Bind groups for the runtime: explicit layouts derived from each kernel's WGSL (binding 0 the
// uniform slot with a dynamic offset into the ring, 1..n storage buffers read-only or read-write,
// as declared), shared by every kernel with the same signature, and bind groups cached by
// (layout, exact buffer bindings), so the same plan run again binds the same pooled buffers and
// makes no new bind group.
import { AeqError } from '../../errors.js';

// Cached bind groups beyond this count are dropped all at once (they pin buffers' JS wrappers).
const BIND_GROUP_CACHE_MAX = 8192;

/**
 * The group-0 bindings a WGSL module declares, by binding number: 'u' for `var<uniform>`, 'r' for
 * `var<storage, read>`, 'w' for `var<storage, read_write>`. Line comments are ignored.
 */
export function declaredBindings(code: string): string[] {
  const text = code.replace(/\/\/[^\n]*/g, '');
  const out: string[] = [];
  for (const m of text.matchAll(/((?:@\w+\s*\(\s*\d+\s*\)\s*)+)var\s*<([^>]+)>/g)) {
    const group = /@group\s*\(\s*(\d+)/.exec(m[1]);
    const binding = /@binding\s*\(\s*(\d+)/.exec(m[1]);
    if (!group || !binding || group[1] !== '0') continue;
    const [space, access = 'read'] = m[2].split(',').map((t) => t.trim());
    out[Number(binding[1])] = space === 'uniform' ? 'u' : access === 'read_write' ? 'w' : 'r';
  }
  return out;
}

interface Layout { layout: GPUBindGroupLayout; pipelineLayout: GPUPipelineLayout; id: number }
interface KernelInfo { key: string; kinds: string[]; layout: Layout }

export class Bindings {
  private layouts = new Map<string, Layout>();
  private kernels = new Map<GPUComputePipeline, KernelInfo>();
  private groups = new Map<string, GPUBindGroup>();
  private placeholders = new Map<string, GPUBuffer>();
  // Per buffer: its creation order and its size (read once: GPUBuffer.size is a native getter).
  private ids = new WeakMap<GPUBuffer, { id: number; size: number }>();
  private nextId = 1;
  private readonly maxBinding: number;

  constructor(private device: GPUDevice, private ring: GPUBuffer, private slot: number) {
    this.maxBinding = device.limits.maxStorageBufferBindingSize;
  }

  /**
   * The pipeline layout for a kernel's WGSL (checked: binding 0 uniform, 1..n storage, no gaps),
   * and `register` to call with the pipeline made from it.
   */
  layoutFor(key: string, code: string): { pipelineLayout: GPUPipelineLayout; register(p: GPUComputePipeline): void } {
    const kinds = declaredBindings(code);
    const layout = this.layoutOf(key, kinds);
    return { pipelineLayout: layout.pipelineLayout, register: (p) => { this.kernels.set(p, { key, kinds, layout }); } };
  }

  /** A buffer's creation order (the pool hands out the oldest free buffer, see Gpu.alloc). */
  bufferId(b: GPUBuffer): number {
    return this.infoOf(b).id;
  }

  private infoOf(b: GPUBuffer): { id: number; size: number } {
    let info = this.ids.get(b);
    if (info === undefined) this.ids.set(b, (info = { id: this.nextId++, size: b.size }));
    return info;
  }

  clearGroups(): void {
    this.groups.clear();
  }

  /** The (cached) bind group of one dispatch; every binding is checked against the device's limit. */
  groupFor(pipeline: GPUComputePipeline, buffers: (GPUBuffer | GPUBufferBinding)[], stats: { bindGroupsMade: number }): { bindGroup: GPUBindGroup; key: string } {
    const info = this.kernels.get(pipeline);
    if (!info) throw new AeqError(`internal: pipeline ${pipeline.label} was not made by Gpu.kernel`);
    let key = `${info.layout.id}`;
    for (let i = 0; i < buffers.length; i++) {
      const b = buffers[i];
      if ('buffer' in b) {
        const whole = this.infoOf(b.buffer);
        const size = b.size ?? whole.size - (b.offset ?? 0);
        if (size > this.maxBinding) this.tooLarge(info.key, i, b.buffer, size);
        key += `|${whole.id}@${b.offset ?? 0}+${size}`;
      } else {
        const whole = this.infoOf(b);
        if (whole.size > this.maxBinding) this.tooLarge(info.key, i, b, whole.size);
        key += `|${whole.id}`;
      }
    }
    let bindGroup = this.groups.get(key);
    if (!bindGroup) {
      if (buffers.length + 1 > info.kinds.length) {
        throw new AeqError(`internal: kernel ${info.key} declares ${info.kinds.length - 1} storage bindings, given ${buffers.length}`);
      }
      const entries: GPUBindGroupEntry[] = [{ binding: 0, resource: { buffer: this.ring, offset: 0, size: this.slot } }];
      buffers.forEach((b, i) => entries.push({ binding: i + 1, resource: 'buffer' in b ? b : { buffer: b } }));
      // Trailing bindings a module declares but its entry point never reads (shared declaration
      // sections) still need a buffer in an explicit layout: a placeholder, one per access mode.
      for (let i = buffers.length + 1; i < info.kinds.length; i++) {
        entries.push({ binding: i, resource: { buffer: this.placeholder(info.kinds[i]) } });
      }
      bindGroup = this.device.createBindGroup({ label: info.key, layout: info.layout.layout, entries });
      stats.bindGroupsMade++;
      if (this.groups.size >= BIND_GROUP_CACHE_MAX) this.groups.clear();
      this.groups.set(key, bindGroup);
    }
    return { bindGroup, key: info.key };
  }

  /** Call `f` with each buffer a dispatch of `pipeline` binds read-write. */
  forWritable(pipeline: GPUComputePipeline, buffers: (GPUBuffer | GPUBufferBinding)[], f: (b: GPUBuffer) => void): void {
    const kinds = this.kernels.get(pipeline)!.kinds;
    for (let i = 0; i < buffers.length; i++) {
      if (kinds[i + 1] !== 'w') continue;
      const b = buffers[i];
      f('buffer' in b ? b.buffer : b);
    }
  }

  private layoutOf(key: string, kinds: string[]): Layout {
    if (kinds[0] !== 'u' || kinds.some((k, i) => i > 0 && k !== 'r' && k !== 'w') || kinds.length !== Object.keys(kinds).length) {
      throw new AeqError(`internal: kernel ${key} must declare binding 0 as its uniform struct and 1..n as storage buffers ` +
        `without gaps (declares ${JSON.stringify(kinds)})`);
    }
    const sig = kinds.join(',');
    let l = this.layouts.get(sig);
    if (!l) {
      const entries: GPUBindGroupLayoutEntry[] = kinds.map((k, binding) => ({
        binding,
        visibility: GPUShaderStage.COMPUTE,
        buffer: k === 'u'
          ? { type: 'uniform', hasDynamicOffset: true, minBindingSize: this.slot }
          : { type: k === 'w' ? 'storage' : 'read-only-storage' },
      }));
      const layout = this.device.createBindGroupLayout({ label: `aeq.layout(${sig})`, entries });
      const pipelineLayout = this.device.createPipelineLayout({ label: `aeq.layout(${sig})`, bindGroupLayouts: [layout] });
      l = { layout, pipelineLayout, id: this.layouts.size };
      this.layouts.set(sig, l);
    }
    return l;
  }

  private placeholder(kind: string): GPUBuffer {
    let b = this.placeholders.get(kind);
    if (!b) {
      b = this.device.createBuffer({ label: `aeq.unused-binding(${kind})`, size: 256, usage: GPUBufferUsage.STORAGE });
      this.placeholders.set(kind, b);
    }
    return b;
  }

  private tooLarge(kernel: string, i: number, buffer: GPUBuffer, size: number): never {
    throw new AeqError(`kernel ${kernel}: binding ${i + 1} (${buffer.label}) is ${size} bytes, more ` +
      `than this GPU's storage-buffer binding limit (${this.maxBinding}); use a smaller batch`);
  }
}
