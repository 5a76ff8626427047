// The element-wise kernels of the modified-gradient rules (lrp.wgsl) and their CPU twins: input
// and parameter modifiers, the stabilised quotient, and the accumulations of the reducer. The
// convolutions and products between them are the families' own launches.
import src from './lrp.wgsl';
import { numel } from '../../graph/tensor.js';
import type { CpuTensor } from '../op.js';
import { Gpu, type GpuTensor } from '../../kernels/gpu/runtime.js';
import { assemble, parseSections, uniforms, type UniformBlock } from '../../kernels/gpu/wgsl.js';

/** What a term feeds the layer instead of x: Zennit's input modifiers (low/high: the ZBox bounds). */
export type InputMod = 'x' | 'pos' | 'neg' | 'one' | 'low' | 'high';
const INPUT_MODE: Record<InputMod, number> = { x: 0, pos: 1, neg: 2, one: 3, low: 4, high: 5 };

/** A parameter modifier w ↦ cw·w + cp·w⁺ + cn·w⁻ + c1 (one formula covers W⁺, W⁻, W + γW±, ones). */
export interface ParamMod { cw: number; cp: number; cn: number; c1: number }

/**
 * How a rule stabilises its division: 'sign' is Zennit's z + 1e-6·sign(z) (sign(0) = +1), 'tiny'
 * TorchRay's z + 1e-20, 'none' the plain quotient (0 where z = 0: TorchRay's skip sum divides
 * unguarded, which only differs where torch would give NaN).
 */
export type Stab = 'sign' | 'tiny' | 'none';
const STAB: Record<Stab, number> = { sign: 0, tiny: 1, none: 2 };
/** Which entries keep their quotient: all, or where a mask tensor is positive / negative. */
export type Mask = 'none' | 'pos' | 'neg';
const MASK: Record<Mask, number> = { none: 0, pos: 1, neg: 2 };

export const ZENNIT_EPS = 1e-6;
export const TORCHRAY_EPS = 1e-20;

// ---------------------------------------------------------------- CPU reference

function inputModCpu(v: number, mode: InputMod, bounds: Float32Array | undefined, s: number): number {
  switch (mode) {
    case 'pos': return Math.max(v, 0);
    case 'neg': return Math.min(v, 0);
    case 'one': return 1;
    case 'low': return bounds![2 * s];
    case 'high': return bounds![2 * s + 1];
    default: return v;
  }
}

const stabCpu = (z: number, stab: Stab): number =>
  stab === 'sign' ? z + (z >= 0 ? ZENNIT_EPS : -ZENNIT_EPS) : stab === 'tiny' ? z + TORCHRAY_EPS : z;

export const cpuLrp = {
  /** A new tensor: the input modifier of x; `bounds` holds (low, high) per sample for 'low'/'high'. */
  inputMod(x: CpuTensor, mode: InputMod, bounds?: Float32Array): CpuTensor {
    const per = numel(x.shape) / x.shape[0];
    const out = new Float32Array(x.data.length);
    for (let i = 0; i < out.length; i++) out[i] = inputModCpu(x.data[i], mode, bounds, Math.floor(i / per));
    return { shape: x.shape, data: out };
  },
  paramMod(w: CpuTensor, m: ParamMod): CpuTensor {
    return { shape: w.shape, data: w.data.map((v) => m.cw * v + m.cp * Math.max(v, 0) + m.cn * Math.min(v, 0) + m.c1) };
  },
  axpy(acc: Float32Array, f: number, v: Float32Array): void {
    for (let i = 0; i < acc.length; i++) acc[i] += f * v[i];
  },
  quotient(r: CpuTensor, z: Float32Array, stab: Stab, mask: Mask = 'none', m?: Float32Array): CpuTensor {
    const out = new Float32Array(r.data.length);
    for (let i = 0; i < out.length; i++) {
      if ((mask === 'pos' && !(m![i] > 0)) || (mask === 'neg' && !(m![i] < 0))) continue;
      const d = Math.fround(stabCpu(z[i], stab));
      out[i] = stab === 'none' && z[i] === 0 ? 0 : r.data[i] / d;
    }
    return { shape: r.shape, data: out };
  },
  mac(acc: Float32Array, f: number, a: Float32Array, b: Float32Array): void {
    for (let i = 0; i < acc.length; i++) acc[i] += f * a[i] * b[i];
  },
  scaleBy(acc: Float32Array, a: Float32Array): void {
    for (let i = 0; i < acc.length; i++) acc[i] *= a[i];
  },
};

// ---------------------------------------------------------------- GPU

const sections = parseSections(src);

const BLOCKS = {
  input_mod: uniforms({ n: 'u32', per: 'u32', mode: 'u32' }),
  param_mod: uniforms({ n: 'u32', cw: 'f32', cp: 'f32', cn: 'f32', c1: 'f32' }),
  axpy: uniforms({ n: 'u32', f: 'f32' }),
  quotient: uniforms({ n: 'u32', stab: 'u32', mask: 'u32' }),
  mac: uniforms({ n: 'u32', f: 'f32' }),
  scale_by: uniforms({ n: 'u32' }),
};
type Kernel = keyof typeof BLOCKS;
type Values<K extends Kernel> = Parameters<(typeof BLOCKS)[K]['pack']>[0];

function run<K extends Kernel>(g: Gpu, k: K, values: Values<K>, out: GpuTensor, ins: GpuTensor[]): void {
  const block = BLOCKS[k] as UniformBlock<any>;
  const pipe = g.kernel(`lrp.${k}`, () => assemble(sections, k === 'quotient' ? ['io', 'io3', k] : ['io', k], {}, block));
  g.dispatch(pipe, block.pack(values), [out.buffer, ...ins.map((t) => t.buffer)], Gpu.groups1d(values.n));
}

export const gpuLrp = {
  inputMod(g: Gpu, x: GpuTensor, mode: InputMod, bounds?: GpuTensor): GpuTensor {
    const out = g.alloc(x.shape, `lrp.input.${mode}`);
    const n = numel(x.shape);
    run(g, 'input_mod', { n, per: n / x.shape[0], mode: INPUT_MODE[mode] }, out, bounds ? [x, bounds] : [x]);
    return out;
  },
  paramMod(g: Gpu, w: GpuTensor, m: ParamMod): GpuTensor {
    const out = g.alloc(w.shape, 'lrp.param');
    run(g, 'param_mod', { n: numel(w.shape), ...m }, out, [w]);
    return out;
  },
  axpy(g: Gpu, acc: GpuTensor, f: number, v: GpuTensor): void {
    run(g, 'axpy', { n: numel(acc.shape), f }, acc, [v]);
  },
  quotient(g: Gpu, r: GpuTensor, z: GpuTensor, stab: Stab, mask: Mask = 'none', m?: GpuTensor): GpuTensor {
    const out = g.alloc(r.shape, 'lrp.quotient');
    run(g, 'quotient', { n: numel(r.shape), stab: STAB[stab], mask: MASK[mask] }, out, [r, z, m ?? z]);
    return out;
  },
  mac(g: Gpu, acc: GpuTensor, f: number, a: GpuTensor, b: GpuTensor): void {
    run(g, 'mac', { n: numel(acc.shape), f }, acc, [a, b]);
  },
  scaleBy(g: Gpu, acc: GpuTensor, a: GpuTensor): void {
    run(g, 'scale_by', { n: numel(acc.shape) }, acc, [a]);
  },
};
