// Pad (negative pads crop): the index map of each mode, its CPU reference and its kernel. The map
// is one WGSL section (`pad_index`, {{MAP}} per mode) shared by the forward kernel and the
// gradient's fold (backward.wgsl `pad_fold`).
import { numel, stridesOf, type Shape } from '../../graph/tensor.js';
import { Gpu, type GpuTensor } from '../../kernels/gpu/runtime.js';
import { assemble, uniforms } from '../../kernels/gpu/wgsl.js';
import type { NumArray } from '../shared/fold.js';
import { forwardSections } from './copies.js';

export type PadMode = 'constant' | 'reflect' | 'edge' | 'wrap';

export interface PadParams {
  mode: PadMode;
  value: number;
  /** constant_value arrives at run time (input 2) instead of as a plan-time constant. */
  valueAtRunTime?: boolean;
  inShape: Shape;
  outShape: Shape;
  begin: number[];
}

/** Body of WGSL `map_index(k, n)` per mode (k outside [0, n); constant never maps). */
export const PAD_MAP: Record<PadMode, string> = {
  constant: 'return clamp(k, 0, n - 1);',
  reflect: 'return reflect_index(k, n);',
  edge: 'return clamp(k, 0, n - 1);',
  wrap: 'return ((k % n) + n) % n;',
};

/** Source index of padded coordinate k along an axis of length n (-1: the constant). */
export function mapPadIndex(mode: PadMode, k: number, n: number): number {
  if (k >= 0 && k < n) return k;
  switch (mode) {
    case 'constant': return -1;
    case 'edge': return Math.min(Math.max(k, 0), n - 1);
    case 'wrap': return ((k % n) + n) % n;
    case 'reflect': {
      if (n === 1) return 0;
      const p = 2 * (n - 1);
      const m = ((k % p) + p) % p;
      return m >= n ? p - m : m;
    }
  }
}

/** CPU reference of Pad into `out`. */
export function runPad(p: PadParams, x: NumArray, out: NumArray): NumArray {
  const r = p.outShape.length;
  const ist = stridesOf(p.inShape);
  const c = new Array<number>(r).fill(0);
  for (let i = 0; i < out.length; i++) {
    let o = 0;
    for (let d = 0; d < r && o >= 0; d++) {
      const k = mapPadIndex(p.mode, c[d] - p.begin[d], p.inShape[d]);
      o = k < 0 ? -1 : o + k * ist[d];
    }
    out[i] = o < 0 ? p.value : x[o];
    for (let d = r - 1; d >= 0; d--) {
      if (++c[d] < p.outShape[d]) break;
      c[d] = 0;
    }
  }
  return out;
}

const PAD = uniforms({
  n: 'u32',
  value: 'f32',
  oshape: { vec4: 'u32', n: 2 },
  ishape: { vec4: 'i32', n: 2 },
  begin: { vec4: 'i32', n: 2 },
  ist: { vec4: 'i32', n: 2 },
});

/** y = Pad(x); `value` is the run-time constant_value tensor when there is one. */
export function recordPad(g: Gpu, p: PadParams, x: GpuTensor, y: GpuTensor, value?: GpuTensor): void {
  const n = numel(p.outShape);
  if (n === 0) return;
  const r = p.outShape.length;
  const u = PAD.pack({ n, value: p.value, oshape: p.outShape, ishape: p.inShape, begin: p.begin, ist: stridesOf(p.inShape) }, { oshape: 1, ishape: 1 });
  const dyn = p.mode === 'constant' && !!value;
  const pipeline = g.kernel(`layout.pad.${p.mode}${dyn ? '.value-input' : ''}.r${r}`, () =>
    assemble(forwardSections, ['pad_index', 'pad'], {
      RANK: r, CONSTANT: p.mode === 'constant' ? 'true' : 'false', MAP: PAD_MAP[p.mode],
      VALUE_DECL: dyn ? '@group(0) @binding(3) var<storage, read> value_in: array<f32>;' : '',
      VALUE: dyn ? 'value_in[0]' : 'u.value',
    }, PAD));
  const bufs = [x.buffer, y.buffer];
  if (dyn) bufs.push(value!.buffer);
  g.dispatch(pipeline, u, bufs, Gpu.groups1d(n));
}
