// The gradient of a convolution with respect to its input: the transposed convolution into the
// known input shape. The gradient rule uses it, and so do the AE rules' CPU references.
import type { CpuTensor } from '../op.js';
import { Gpu, type GpuTensor } from '../../kernels/gpu/runtime.js';
import { geoPipe, pass } from './backward.js';
import type { ConvParams } from './forward.js';
import { convCpu, convLaunch, type Launch } from './kernels.js';
import { tiledInputGrad, tiledTransposedServes } from './tiled.js';
import { kernelVariant } from '../../kernels/gpu/kernel-choice.js';

/** dX = ∂⟨conv(x, W), dY⟩/∂x, of exactly the input's shape (p describes the forward conv), into `out` (a new array when not given). */
export function convInputGradCpu(p: ConvParams, dy: CpuTensor, w: CpuTensor, out?: Float32Array): Float32Array {
  return convCpu(p, dy, w, true, undefined, out ?? new Float32Array(p.n * p.c * p.h * p.w));
}

/** dX of the input's shape from dY (N×K×OH×OW) and W; `out` is N×C×H×W. */
export function convInputGradGpu(g: Gpu, p: ConvParams, dy: GpuTensor, w: GpuTensor, out: GpuTensor): void {
  const G = p.group;
  // Stride 1: a plain convolution of dY with the flipped, transposed kernel and the
  // complementary padding, which reaches the fast 3×3 path. Otherwise, on hardware GPUs, one tiled
  // GEMM per output phase (transposed.ts); on software adapters a gather per input pixel: the
  // transposed pass of the AE rules (backward.wgsl's gather skeleton) with plain weights.
  if (p.sh !== 1 || p.sw !== 1) {
    if (kernelVariant(g.adapterName) === 'tiled' && tiledTransposedServes(p)) return tiledInputGrad(g, p, dy, w, out);
    const b = pass(p, 'in');
    g.dispatch(geoPipe(g, 'back_grad', b.tc), b.u, [w.buffer, dy.buffer, out.buffer], Gpu.groups1d(b.threads, 64));
    return;
  }
  const L: Launch = {
    n: p.n, groups: G, cin: p.k / G, kout: p.c / G, h: p.oh, w: p.ow, oh: p.h, ow: p.w,
    kh: p.kh, kw: p.kw, sh: p.sh, sw: p.sw, dh: p.dh, dw: p.dw,
    padT: p.dh * (p.kh - 1) - p.padT,
    padL: p.dw * (p.kw - 1) - p.padL,
  };
  const k3s1 = p.kh === 3 && p.kw === 3 && p.dh === 1 && p.dw === 1;
  const pointwise = p.kh === 1 && p.kw === 1 && p.padT + p.padL + p.padB + p.padR === 0;
  const mode = k3s1 ? 'k3s1' : p.kh === 1 && p.kw === 1 ? 'k1' : 'gen';
  convLaunch(g, L, dy, w, out, { transposed: true, wk: p.k / G, wc: p.c / G, k3s1, pointwise, mode });
}
