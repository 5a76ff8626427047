// Helpers of the backward walks and of attribution stage one, on both backends (attribution.wgsl).
import src from './attribution.wgsl';
import { numel } from '../../graph/tensor.js';
import type { CpuTensor } from '../op.js';
import { Gpu, type GpuTensor } from '../../kernels/gpu/runtime.js';
import { assemble, parseSections, uniforms, type UniformBlock } from '../../kernels/gpu/wgsl.js';

export type SumMode = 'sum' | 'pos' | 'neg' | 'nonzero' | 'abs';
const SUM_MODE: Record<SumMode, number> = { sum: 0, pos: 1, neg: 2, nonzero: 3, abs: 4 };

// ---------------------------------------------------------------- CPU reference
export const cpuAttr = {
  accumulate(acc: CpuTensor, v: CpuTensor): CpuTensor {
    for (let i = 0; i < acc.data.length; i++) acc.data[i] += v.data[i];
    return acc;
  },
  scale(x: CpuTensor, f: number): CpuTensor {
    for (let i = 0; i < x.data.length; i++) x.data[i] *= f;
    return x;
  },
  expand(x: CpuTensor, t: number): CpuTensor {
    if (t === 1) return x;
    const per = numel(x.shape) / x.shape[0];
    const out = new Float32Array(x.data.length * t);
    for (let b = 0; b < x.shape[0] * t; b++) out.set(x.data.subarray(Math.floor(b / t) * per, Math.floor(b / t) * per + per), b * per);
    return { shape: [x.shape[0] * t, ...x.shape.slice(1)], data: out };
  },
  oneHot(targets: number[], classes: number): CpuTensor {
    const out = new Float32Array(targets.length * classes);
    targets.forEach((t, b) => { out[b * classes + t] = 1; });
    return { shape: [targets.length, classes], data: out };
  },
  channelMean(x: CpuTensor): CpuTensor {
    const [b, c] = x.shape;
    const hw = numel(x.shape) / (b * c);
    const out = new Float32Array(b * c);
    for (let i = 0; i < b * c; i++) {
      let s = 0;
      for (let k = 0; k < hw; k++) s += x.data[i * hw + k];
      out[i] = s / hw;
    }
    return { shape: [b, c], data: out };
  },
  scaleChannels(x: CpuTensor, alpha: CpuTensor): CpuTensor {
    const hw = numel(x.shape) / (x.shape[0] * x.shape[1]);
    const out = new Float32Array(x.data.length);
    for (let i = 0; i < out.length; i++) out[i] = x.data[i] * alpha.data[Math.floor(i / hw)];
    return { shape: x.shape, data: out };
  },
  sampleSum(x: CpuTensor, mode: SumMode = 'sum'): Float32Array {
    const b = x.shape[0];
    const per = numel(x.shape) / b;
    const out = new Float32Array(b);
    for (let s = 0; s < b; s++) {
      let acc = 0;
      for (let k = 0; k < per; k++) {
        const v = x.data[s * per + k];
        acc += mode === 'sum' ? v : mode === 'pos' ? Math.max(v, 0) : mode === 'neg' ? Math.min(v, 0) : mode === 'abs' ? Math.abs(v) : v !== 0 ? 1 : 0;
      }
      out[s] = acc;
    }
    return out;
  },
  divAbsSample(x: CpuTensor, sums: Float32Array): CpuTensor {
    const per = numel(x.shape) / x.shape[0];
    const out = new Float32Array(x.data.length);
    for (let i = 0; i < out.length; i++) {
      const d = Math.abs(sums[Math.floor(i / per)]);
      out[i] = d !== 0 ? x.data[i] / d : 0;
    }
    return { shape: x.shape, data: out };
  },
  cam(a: CpuTensor, alpha: CpuTensor): CpuTensor {
    const [b, c, h, w] = a.shape;
    const hw = h * w;
    const out = new Float32Array(b * hw);
    for (let s = 0; s < b; s++) for (let p = 0; p < hw; p++) {
      let acc = 0;
      for (let k = 0; k < c; k++) acc += alpha.data[s * c + k] * a.data[(s * c + k) * hw + p];
      out[s * hw + p] = Math.max(acc, 0);
    }
    return { shape: [b, 1, h, w], data: out };
  },
  resizeBilinear(x: CpuTensor, oh: number, ow: number): CpuTensor {
    const [b, c, h, w] = x.shape;
    const out = new Float32Array(b * c * oh * ow);
    for (let pl = 0; pl < b * c; pl++) for (let oy = 0; oy < oh; oy++) for (let ox = 0; ox < ow; ox++) {
      const sy = Math.max((oy + 0.5) * h / oh - 0.5, 0);
      const sx = Math.max((ox + 0.5) * w / ow - 0.5, 0);
      const y0 = Math.min(Math.floor(sy), h - 1), x0 = Math.min(Math.floor(sx), w - 1);
      const y1 = Math.min(y0 + 1, h - 1), x1 = Math.min(x0 + 1, w - 1);
      const fy = sy - y0, fx = sx - x0;
      const at = (yy: number, xx: number) => x.data[pl * h * w + yy * w + xx];
      const top = at(y0, x0) * (1 - fx) + at(y0, x1) * fx;
      const bot = at(y1, x0) * (1 - fx) + at(y1, x1) * fx;
      out[(pl * oh + oy) * ow + ox] = top * (1 - fy) + bot * fy;
    }
    return { shape: [b, c, oh, ow], data: out };
  },
  /**
   * The gradient family's reduction of K consecutive samples per row (SampleMean): gradients g of
   * R·K samples × T targets, ordered ((r·K + q)·T + j), to R·T rows: mean over q of g (or g² with
   * `square`), times factor[r] element-wise when given (R×per: x for input×gradient, x − x₀ for IG).
   */
  sampleMean(g: CpuTensor, k: number, t: number, square: boolean, factor?: CpuTensor): CpuTensor {
    const per = numel(g.shape) / g.shape[0];
    const rows = g.shape[0] / (k * t);
    const out = new Float32Array(rows * t * per);
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < t; j++) {
        const o = (r * t + j) * per;
        for (let i = 0; i < per; i++) {
          let acc = 0;
          for (let q = 0; q < k; q++) {
            const v = g.data[((r * k + q) * t + j) * per + i];
            acc += square ? v * v : v;
          }
          out[o + i] = (acc / k) * (factor ? factor.data[r * per + i] : 1);
        }
      }
    }
    return { shape: [rows * t, ...g.shape.slice(1)], data: out };
  },
  channelSum(x: CpuTensor): CpuTensor {
    const [b, c] = x.shape;
    const hw = numel(x.shape) / (b * c);
    const out = new Float32Array(b * hw);
    for (let s = 0; s < b; s++) for (let k = 0; k < c; k++) for (let p = 0; p < hw; p++) out[s * hw + p] += x.data[(s * c + k) * hw + p];
    return { shape: [b, 1, ...x.shape.slice(2)], data: out };
  },
};

// ---------------------------------------------------------------- GPU
const sections = parseSections(src);

/** Each kernel's uniform block (its WGSL section reads `u`). */
const BLOCKS = {
  accumulate: uniforms({ n: 'u32' }),
  scale: uniforms({ n: 'u32', f: 'f32' }),
  expand: uniforms({ n: 'u32', per: 'u32', t: 'u32' }),
  one_hot: uniforms({ n: 'u32', classes: 'u32' }),
  channel_mean: uniforms({ n: 'u32', hw: 'u32' }),
  scale_channels: uniforms({ n: 'u32', hw: 'u32' }),
  sample_sum: uniforms({ n: 'u32', per: 'u32', mode: 'u32' }),
  sample_pos_neg: uniforms({ n: 'u32', per: 'u32', neg: 'u32' }),
  div_abs_sample: uniforms({ n: 'u32', per: 'u32' }),
  cam: uniforms({ n: 'u32', hw: 'u32', c: 'u32' }),
  resize_bilinear: uniforms({ n: 'u32', h: 'u32', w: 'u32', oh: 'u32', ow: 'u32' }),
  channel_sum: uniforms({ n: 'u32', hw: 'u32', c: 'u32' }),
  sample_mean: uniforms({ n: 'u32', per: 'u32', t: 'u32', k: 'u32', square: 'u32', scaled: 'u32' }),
};
type Kernel = keyof typeof BLOCKS;
type Values<K extends Kernel> = Parameters<(typeof BLOCKS)[K]['pack']>[0];

/** The WGSL of `pos_neg_tree` (module-scope workgroup arrays and the function), for other families' kernels. */
export const POS_NEG_TREE = sections.get('pos_neg_tree')!;

/** Kernels assembled from a shared skeleton: its section and the hooks filled in. */
const SKELETON: Partial<Record<Kernel, { section: string; vars: Record<string, string | number>; before?: string[] }>> = {
  sample_pos_neg: { section: 'sample_pos_neg', vars: {}, before: ['pos_neg_tree'] },
  cam: { section: 'channel_reduce', vars: { WG: 64, TERM: 'y[s * u.c + k] * x[(s * u.c + k) * u.hw + p]', RESULT: 'max(acc, 0.0)' } },
  channel_sum: { section: 'channel_reduce', vars: { WG: 256, TERM: 'x[(s * u.c + k) * u.hw + p]', RESULT: 'acc' } },
};

/** Record kernel `k` over `groups` workgroups: binding 1 is `out`, then `ins`. */
function run<K extends Kernel>(g: Gpu, k: K, values: Values<K>, out: GpuTensor, ins: GpuTensor[], groups: [number]): void {
  const block = BLOCKS[k] as UniformBlock<any>;
  const sk = SKELETON[k];
  const pipeline = g.kernel(`attr.${k}`, () => assemble(sections, ['io', ...(sk?.before ?? []), sk?.section ?? k], sk?.vars ?? {}, block));
  g.dispatch(pipeline, block.pack(values), [out.buffer, ...ins.map((t) => t.buffer)], groups);
}

/** A kernel with one thread per output element (workgroups of `wg`). */
function run1d<K extends Kernel>(g: Gpu, k: K, values: Values<K>, out: GpuTensor, ins: GpuTensor[], wg = 256): void {
  run(g, k, values, out, ins, Gpu.groups1d(values.n, wg));
}

export const gpuAttr = {
  accumulate(g: Gpu, acc: GpuTensor, v: GpuTensor): GpuTensor {
    run1d(g, 'accumulate', { n: numel(acc.shape) }, acc, [v]);
    return acc;
  },
  scale(g: Gpu, x: GpuTensor, f: number): GpuTensor {
    run1d(g, 'scale', { n: numel(x.shape), f }, x, []);
    return x;
  },
  expand(g: Gpu, x: GpuTensor, t: number): GpuTensor {
    const shape = [x.shape[0] * t, ...x.shape.slice(1)];
    const out = g.alloc(shape, 'expand');
    run1d(g, 'expand', { n: numel(shape), per: numel(x.shape) / x.shape[0], t }, out, [x]);
    return out;
  },
  oneHot(g: Gpu, targets: number[], classes: number): GpuTensor {
    const tg = g.upload(Float32Array.from(targets), [targets.length], 'targets');
    const out = g.alloc([targets.length, classes], 'seed');
    run1d(g, 'one_hot', { n: targets.length * classes, classes }, out, [tg]);
    g.release(tg);
    return out;
  },
  channelMean(g: Gpu, x: GpuTensor): GpuTensor {
    const [b, c] = x.shape;
    const out = g.alloc([b, c], 'alpha');
    run1d(g, 'channel_mean', { n: b * c, hw: numel(x.shape) / (b * c) }, out, [x], 64);
    return out;
  },
  scaleChannels(g: Gpu, x: GpuTensor, alpha: GpuTensor): GpuTensor {
    const out = g.alloc(x.shape, 'scaled');
    run1d(g, 'scale_channels', { n: numel(x.shape), hw: numel(x.shape) / (x.shape[0] * x.shape[1]) }, out, [x, alpha]);
    return out;
  },
  sampleSum(g: Gpu, x: GpuTensor, mode: SumMode = 'sum'): GpuTensor {
    const b = x.shape[0];
    const out = g.alloc([b], 'sample-sum');
    // One workgroup per sample.
    run(g, 'sample_sum', { n: b, per: numel(x.shape) / b, mode: SUM_MODE[mode] }, out, [x], [b]);
    return out;
  },
  /**
   * sampleSum(x, 'pos') and sampleSum(x, 'neg') (the same bits) in one dispatch: one tensor holding
   * both, and the two bindings of its halves (the negative sums start at a storage-offset boundary).
   * A third part, `count`, is set to zero by the same dispatch: a per-sample u32 counter for a later
   * pass (the AE conv rule's count of non-zero C), with no clearBuffer to end the compute pass.
   */
  samplePosNeg(g: Gpu, x: GpuTensor): { sums: GpuTensor; pos: GPUBufferBinding; neg: GPUBufferBinding; count: GPUBufferBinding } {
    const b = x.shape[0];
    const align = g.limits.minStorageBufferOffsetAlignment / 4;
    const neg = Math.ceil(b / align) * align;
    const sums = g.alloc([2 * neg + b], 'sample-pos-neg');
    run(g, 'sample_pos_neg', { n: b, per: numel(x.shape) / b, neg }, sums, [x], [b]);
    const part = (k: number): GPUBufferBinding => ({ buffer: sums.buffer, offset: k * neg * 4, size: b * 4 });
    return { sums, pos: part(0), neg: part(1), count: part(2) };
  },
  divAbsSample(g: Gpu, x: GpuTensor, sums: GpuTensor): GpuTensor {
    const out = g.alloc(x.shape, 'normalised');
    run1d(g, 'div_abs_sample', { n: numel(x.shape), per: numel(x.shape) / x.shape[0] }, out, [x, sums]);
    return out;
  },
  cam(g: Gpu, a: GpuTensor, alpha: GpuTensor): GpuTensor {
    const [b, c, h, w] = a.shape;
    const out = g.alloc([b, 1, h, w], 'cam');
    run1d(g, 'cam', { n: b * h * w, hw: h * w, c }, out, [a, alpha], 64);
    return out;
  },
  resizeBilinear(g: Gpu, x: GpuTensor, oh: number, ow: number): GpuTensor {
    const [b, c, h, w] = x.shape;
    const out = g.alloc([b, c, oh, ow], 'resized');
    run1d(g, 'resize_bilinear', { n: b * c * oh * ow, h, w, oh, ow }, out, [x]);
    return out;
  },
  /** cpuAttr.sampleMean on the GPU (float32 accumulation, in q order). */
  sampleMean(g: Gpu, x: GpuTensor, k: number, t: number, square: boolean, factor?: GpuTensor): GpuTensor {
    const per = numel(x.shape) / x.shape[0];
    const rows = x.shape[0] / (k * t);
    const out = g.alloc([rows * t, ...x.shape.slice(1)], 'sample-mean');
    // Without a factor, binding 3 is x again (never read).
    run1d(g, 'sample_mean', { n: rows * t * per, per, t, k, square: square ? 1 : 0, scaled: factor ? 1 : 0 }, out, [x, factor ?? x]);
    return out;
  },
  channelSum(g: Gpu, x: GpuTensor): GpuTensor {
    const [b, c] = x.shape;
    const hw = numel(x.shape) / (b * c);
    const out = g.alloc([b, 1, ...x.shape.slice(2)], 'channel-sum');
    run1d(g, 'channel_sum', { n: b * hw, hw, c }, out, [x]);
    return out;
  },
};
