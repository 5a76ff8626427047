// The CAM family's per-element and per-channel kernels on both backends (cam.wgsl), each with its
// CPU twin: Grad-CAM++'s channel weights, LayerCAM's map, Score-CAM's masks (align_corners = true
// upsampling, min-max per channel) and masked inputs, and FullGrad's normalised channel sums.
// Formulas as pytorch-grad-cam computes them (baselines.md, "CAM family").
import src from './cam.wgsl';
import { numel } from '../../graph/tensor.js';
import type { CpuTensor } from '../op.js';
import { Gpu, type GpuTensor } from '../../kernels/gpu/runtime.js';
import { assemble, parseSections, uniforms, type UniformBlock } from '../../kernels/gpu/wgsl.js';

/**
 * What FullGrad normalises per plane: |x ⊙ g| (input: g ⊙ the model input, element by element),
 * |b_k · g| (bias: one value per channel), or the plane itself (plain: the final map).
 */
export type FullGradTerm = 'input' | 'bias' | 'plain';

/** Score-CAM's masked inputs: input `img`'s masks k0 … k0 + m − 1, clamped to `klast`. */
export interface MaskRange {
  img: number;
  k0: number;
  m: number;
  klast: number;
}

/** align_corners = true bilinear sample of plane `pl` (h×w) at (oy, ox) of an oh×ow grid (torch's formula). */
function upsampledAt(a: Float32Array, pl: number, h: number, w: number, oh: number, ow: number, oy: number, ox: number): number {
  const sy = (oh > 1 ? (h - 1) / (oh - 1) : 0) * oy;
  const sx = (ow > 1 ? (w - 1) / (ow - 1) : 0) * ox;
  const y0 = Math.min(Math.floor(sy), h - 1), x0 = Math.min(Math.floor(sx), w - 1);
  const y1 = Math.min(y0 + 1, h - 1), x1 = Math.min(x0 + 1, w - 1);
  const ly = sy - y0, lx = sx - x0;
  const b = pl * h * w;
  const top = (1 - lx) * a[b + y0 * w + x0] + lx * a[b + y0 * w + x1];
  const bot = (1 - lx) * a[b + y1 * w + x0] + lx * a[b + y1 * w + x1];
  return (1 - ly) * top + ly * bot;
}

function termAt(kind: FullGradTerm, g: Float32Array, v: Float32Array | undefined, i: number, pl: number, c: number): number {
  if (kind === 'plain') return g[i];
  return Math.abs(kind === 'input' ? v![i] * g[i] : v![pl % c] * g[i]);
}

// ---------------------------------------------------------------- CPU reference
export const cpuCam = {
  /** B×C×h×w A and g → B×C weights Σ_p relu(g)·g²/(2g² + (Σ_p A)·g³ + 1e-6) (0 where g = 0). */
  gradcamPlusPlusWeights(a: CpuTensor, g: CpuTensor): CpuTensor {
    const [b, c] = a.shape;
    const hw = numel(a.shape) / (b * c);
    const out = new Float32Array(b * c);
    for (let r = 0; r < b * c; r++) {
      let sa = 0;
      for (let p = 0; p < hw; p++) sa += a.data[r * hw + p];
      let w = 0;
      for (let p = 0; p < hw; p++) {
        const v = g.data[r * hw + p];
        if (v === 0) continue;
        const v2 = v * v;
        w += Math.max(v, 0) * (v2 / (2 * v2 + sa * (v2 * v) + 1e-6));
      }
      out[r] = w;
    }
    return { shape: [b, c], data: out };
  },
  /** relu(Σ_k relu(g_k) ⊙ A_k): B×1×h×w. */
  layerCam(a: CpuTensor, g: CpuTensor): CpuTensor {
    const [b, c, h, w] = a.shape;
    const hw = h * w;
    const out = new Float32Array(b * hw);
    for (let s = 0; s < b; s++) for (let p = 0; p < hw; p++) {
      let acc = 0;
      for (let k = 0; k < c; k++) {
        const j = (s * c + k) * hw + p;
        acc += Math.max(g.data[j], 0) * a.data[j];
      }
      out[s * hw + p] = Math.max(acc, 0);
    }
    return { shape: [b, 1, h, w], data: out };
  },
  /** Min and max of every plane of `a` upsampled to oh×ow (align_corners = true): [min, max] per plane. */
  upsampledMinMax(a: CpuTensor, oh: number, ow: number): CpuTensor {
    const [b, c, h, w] = a.shape;
    const out = new Float32Array(2 * b * c);
    for (let pl = 0; pl < b * c; pl++) {
      let mn = Infinity, mx = -Infinity;
      for (let oy = 0; oy < oh; oy++) for (let ox = 0; ox < ow; ox++) {
        const v = Math.fround(upsampledAt(a.data, pl, h, w, oh, ow, oy, ox));
        mn = Math.min(mn, v);
        mx = Math.max(mx, v);
      }
      out[2 * pl] = mn;
      out[2 * pl + 1] = mx;
    }
    return { shape: [b * c, 2], data: out };
  },
  /** r.m masked copies of input r.img of x (N×C×H×W): x ⊙ (up(A_k) − min)/(max − min + 1e-8). */
  maskedInputs(a: CpuTensor, x: CpuTensor, mm: CpuTensor, r: MaskRange): CpuTensor {
    const [, k, h, w] = a.shape;
    const [, c, oh, ow] = x.shape;
    const hw = oh * ow, per = c * hw;
    const out = new Float32Array(r.m * per);
    for (let j = 0; j < r.m; j++) {
      const pl = r.img * k + Math.min(r.k0 + j, r.klast);
      const mn = mm.data[2 * pl], span = Math.fround(mm.data[2 * pl + 1] - mn) + 1e-8;
      for (let p = 0; p < hw; p++) {
        const mask = Math.fround((Math.fround(upsampledAt(a.data, pl, h, w, oh, ow, Math.floor(p / ow), p % ow)) - mn) / span);
        for (let ch = 0; ch < c; ch++) out[j * per + ch * hw + p] = x.data[r.img * per + ch * hw + p] * mask;
      }
    }
    return { shape: [r.m, c, oh, ow], data: out };
  },
  /**
   * FullGrad's Σ_k of every B×C plane's term min-max normalised, (v − min)/(1e-7 + (max − min)):
   * B×1×h×w. `v` is the model input (input), the C biases (bias) or unused (plain).
   */
  normalisedSum(kind: FullGradTerm, g: CpuTensor, v?: CpuTensor): CpuTensor {
    const [b, c] = g.shape;
    const hw = numel(g.shape) / (b * c);
    const out = new Float32Array(b * hw);
    for (let pl = 0; pl < b * c; pl++) {
      let mn = Infinity, mx = -Infinity;
      for (let q = 0; q < hw; q++) {
        const t = Math.fround(termAt(kind, g.data, v?.data, pl * hw + q, pl, c));
        mn = Math.min(mn, t);
        mx = Math.max(mx, t);
      }
      const span = Math.fround(mx - mn) + 1e-7;
      const s = Math.floor(pl / c);
      for (let q = 0; q < hw; q++) out[s * hw + q] += (Math.fround(termAt(kind, g.data, v?.data, pl * hw + q, pl, c)) - mn) / span;
    }
    return { shape: [b, 1, ...g.shape.slice(2)], data: out };
  },
};

// ---------------------------------------------------------------- GPU
const sections = parseSections(src);

const BLOCKS = {
  gradcampp_weights: uniforms({ n: 'u32', hw: 'u32' }),
  layercam: uniforms({ n: 'u32', hw: 'u32', c: 'u32' }),
  upsampled_minmax: uniforms({ n: 'u32', h: 'u32', w: 'u32', oh: 'u32', ow: 'u32' }),
  masked_inputs: uniforms({ n: 'u32', h: 'u32', w: 'u32', oh: 'u32', ow: 'u32', c: 'u32', k: 'u32', img: 'u32', k0: 'u32', klast: 'u32' }),
  plane_minmax: uniforms({ n: 'u32', hw: 'u32', c: 'u32' }),
  normalised_channel_sum: uniforms({ n: 'u32', hw: 'u32', c: 'u32' }),
};
type Kernel = keyof typeof BLOCKS;
type Values<K extends Kernel> = Parameters<(typeof BLOCKS)[K]['pack']>[0];

/** The sections each kernel is assembled from (the shared align-corners sampler, the shared min-max walk). */
const PARTS: Partial<Record<Kernel, string[]>> = {
  upsampled_minmax: ['align_corners', 'upsampled_value', 'minmax_walk'],
  masked_inputs: ['align_corners', 'masked_inputs'],
  plane_minmax: ['term_value', 'minmax_walk'],
};

/** FullGrad's TERM hook per kind (x = g, y = the input or the biases). */
const TERM: Record<FullGradTerm, string> = {
  input: 'abs(y[i] * x[i])',
  bias: 'abs(y[pl % u.c] * x[i])',
  plain: 'x[i]',
};

function run<K extends Kernel>(g: Gpu, k: K, values: Values<K>, out: GpuTensor, ins: GpuTensor[], groups: [number], variant?: FullGradTerm): void {
  const block = BLOCKS[k] as UniformBlock<any>;
  const key = variant ? `cam.${k}.${variant}` : `cam.${k}`;
  const pipeline = g.kernel(key, () => assemble(sections, ['io', ...(PARTS[k] ?? [k])], variant ? { TERM: TERM[variant] } : {}, block));
  g.dispatch(pipeline, block.pack(values), [out.buffer, ...ins.map((t) => t.buffer)], groups);
}

export const gpuCam = {
  gradcamPlusPlusWeights(g: Gpu, a: GpuTensor, grad: GpuTensor): GpuTensor {
    const [b, c] = a.shape;
    const out = g.alloc([b, c], 'gradcam++-weights');
    run(g, 'gradcampp_weights', { n: b * c, hw: numel(a.shape) / (b * c) }, out, [a, grad], Gpu.groups1d(b * c, 64));
    return out;
  },
  layerCam(g: Gpu, a: GpuTensor, grad: GpuTensor): GpuTensor {
    const [b, c, h, w] = a.shape;
    const out = g.alloc([b, 1, h, w], 'layercam');
    run(g, 'layercam', { n: b * h * w, hw: h * w, c }, out, [a, grad], Gpu.groups1d(b * h * w, 64));
    return out;
  },
  upsampledMinMax(g: Gpu, a: GpuTensor, oh: number, ow: number): GpuTensor {
    const [b, c, h, w] = a.shape;
    const out = g.alloc([b * c, 2], 'scorecam-minmax');
    run(g, 'upsampled_minmax', { n: b * c, h, w, oh, ow }, out, [a], [b * c]);
    return out;
  },
  maskedInputs(g: Gpu, a: GpuTensor, x: GpuTensor, mm: GpuTensor, r: MaskRange): GpuTensor {
    const [, k, h, w] = a.shape;
    const [, c, oh, ow] = x.shape;
    const out = g.alloc([r.m, c, oh, ow], 'scorecam-masked');
    const n = r.m * c * oh * ow;
    run(g, 'masked_inputs', { n, h, w, oh, ow, c, k, img: r.img, k0: r.k0, klast: r.klast }, out, [a, x, mm], Gpu.groups1d(n));
    return out;
  },
  normalisedSum(g: Gpu, kind: FullGradTerm, grad: GpuTensor, v?: GpuTensor): GpuTensor {
    const [b, c] = grad.shape;
    const hw = numel(grad.shape) / (b * c);
    const mm = g.alloc([b * c, 2], 'fullgrad-minmax');
    const ins = v ? [grad, v] : [grad];
    run(g, 'plane_minmax', { n: b * c, hw, c }, mm, ins, [b * c], kind);
    const out = g.alloc([b, 1, ...grad.shape.slice(2)], 'fullgrad-sum');
    run(g, 'normalised_channel_sum', { n: b * hw, hw, c }, out, v ? [grad, v, mm] : [grad, grad, mm], Gpu.groups1d(b * hw, 64), kind);
    g.release(mm);
    return out;
  },
};
