// AE at a residual Add, mode 'proportional' (spec §2.7): R is split by contribution,
// a = x1·safe_div(R, x1+x2) and b likewise, then each part is rescaled per sample so that
// Σa = |Σa|/(|Σa|+|Σb|)·ΣR (likewise b).
import src from './backward.wgsl';
import { numel } from '../../graph/tensor.js';
import type { CpuTensor } from '../op.js';
import { Gpu, type GpuTensor } from '../../kernels/gpu/runtime.js';
import { assemble, parseSections, uniforms, type UniformBlock } from '../../kernels/gpu/wgsl.js';
import { gpuAttr } from '../shared/attribution.js';

export const sections = parseSections(src);

/**
 * Zero-sum guard of the proportional split: R whose sum is below this fraction of its absolute sum
 * (relevance from 1×1 rules, or 3×3 ones at ratio 2, is zero-sum by construction) has no total to
 * share out; spec §2.7's rescaling to ΣR would scale both parts down to rounding noise, so the
 * plain split a + b = R is kept, like safe_div's guard for a zero denominator.
 */
export const ZERO_SUM = 1e-3;

/** Per-sample rescaling factor of a part summing to `s` (spec §2.7); a zero-sum part stays as is. */
const rescale = (s: number, other: number, total: number) => (s !== 0 ? (Math.sign(s) * total) / (Math.abs(s) + Math.abs(other)) : 1);

/** The split of r into a and b (zeroed, r's shape). */
export function splitCpu(x1: CpuTensor, x2: CpuTensor, r: CpuTensor, a: Float32Array, b: Float32Array): void {
  const n = r.data.length;
  for (let i = 0; i < n; i++) {
    const z = Math.fround(x1.data[i] + x2.data[i]);
    const s = z !== 0 ? r.data[i] / z : 0;
    a[i] = x1.data[i] * s;
    b[i] = x2.data[i] * s;
  }
  const batch = r.shape[0] ?? 1;
  const per = batch ? n / batch : 0;
  for (let k = 0; k < batch; k++) {
    let sa = 0, sb = 0, sr = 0, srAbs = 0;
    for (let i = k * per; i < (k + 1) * per; i++) {
      sa += a[i];
      sb += b[i];
      sr += r.data[i];
      srAbs += Math.abs(r.data[i]);
    }
    if (Math.abs(sr) <= ZERO_SUM * srAbs) continue;
    const fa = rescale(sa, sb, sr), fb = rescale(sb, sa, sr);
    for (let i = k * per; i < (k + 1) * per; i++) {
      a[i] *= fa;
      b[i] *= fb;
    }
  }
}

const SPLIT = uniforms({ n: 'u32' });
const RESCALE = uniforms({ n: 'u32', per: 'u32' });

function pipe(g: Gpu, name: string, block: UniformBlock<any>): GPUComputePipeline {
  return g.kernel(`elementwise.${name}`, () => assemble(sections, [name], {}, block));
}

/** The split of r into a and b (r's shape) on the GPU; the per-sample sums are temporaries. */
export function splitGpu(g: Gpu, x1: GpuTensor, x2: GpuTensor, r: GpuTensor, a: GpuTensor, b: GpuTensor): void {
  const n = numel(r.shape);
  if (n === 0) return;
  g.dispatch(pipe(g, 'residual_split', SPLIT), SPLIT.pack({ n }), [r.buffer, x1.buffer, x2.buffer, a.buffer, b.buffer], Gpu.groups1d(n));
  const sums = [gpuAttr.sampleSum(g, a), gpuAttr.sampleSum(g, b), gpuAttr.sampleSum(g, r), gpuAttr.sampleSum(g, r, 'abs')];
  g.dispatch(pipe(g, 'residual_rescale', RESCALE), RESCALE.pack({ n, per: n / r.shape[0] }),
    [...sums.map((s) => s.buffer), a.buffer, b.buffer], Gpu.groups1d(n));
  sums.forEach((s) => g.release(s));
}

/** The split as fresh tensors [a, b]. */
export function proportionalCpu(x1: CpuTensor, x2: CpuTensor, r: CpuTensor): CpuTensor[] {
  const a = new Float32Array(r.data.length);
  const b = new Float32Array(r.data.length);
  splitCpu(x1, x2, r, a, b);
  return [{ shape: r.shape, data: a }, { shape: r.shape, data: b }];
}

/** The split as fresh tensors [a, b] on the GPU. */
export function proportionalGpu(g: Gpu, x1: GpuTensor, x2: GpuTensor, r: GpuTensor): GpuTensor[] {
  const a = g.alloc(r.shape, 'ae.residual.a');
  const b = g.alloc(r.shape, 'ae.residual.b');
  splitGpu(g, x1, x2, r, a, b);
  return [a, b];
}
