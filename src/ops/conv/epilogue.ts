// The forward convolution's fused epilogue: the activation after it (Relu, or Clip with constant
// bounds such as ReLU6) applied in the conv kernels' store, so that a Conv followed by one is one
// dispatch (the executor's fusion, src/runtime/executor.ts). Shared by the shuffle kernels
// (kernels.ts) and the tiled one (tiled.ts).
import type { GpuTensor } from '../../kernels/gpu/runtime.js';
import type { Activation } from '../op.js';

/**
 * The activation is the unfused kernel's expression on the same f32, so the stored value is that
 * kernel's bit for bit. `keepZ` false: y = act(z) only (nobody reads the pre-activation); true: y = z and yr = act(z)
 * (binding 5, `yr`). `act` defaults to Relu.
 */
export interface Epilogue { keepZ: boolean; yr?: GpuTensor; act?: Activation }

/** The bits of `v` as an f32. */
const bits = (v: number): number => new Uint32Array(new Float32Array([v]).buffer)[0];

/** The activation's WGSL on value `v`, and the key naming it. */
function actOf(e: Epilogue): { wgsl: (v: string) => string; key: string } {
  const a = e.act ?? { op: 'relu' };
  if (a.op === 'relu') return { wgsl: (v) => `max(${v}, 0.0)`, key: 'relu' };
  // Literals by their bits: exactly the f32 the Clip kernel's uniforms hold.
  const [lo, hi] = [bits(a.lo), bits(a.hi)];
  return { wgsl: (v) => `min(max(${v}, bitcast<f32>(${lo}u)), bitcast<f32>(${hi}u))`, key: `clip_${lo.toString(16)}_${hi.toString(16)}_` };
}

/** The pipeline key's suffix. */
export const epiKey = (e?: Epilogue): string => (!e ? '' : `.${actOf(e).key}${e.keepZ ? '2' : ''}`);

/** The declaration of `yr` (kept pre-activation only). */
export const epiBinding = (e?: Epilogue): string => (e?.keepZ ? '@group(0) @binding(5) var<storage, read_write> yr: array<f32>;\n' : '');

/** The extra buffer bound after y. */
export const epiBuffers = (e?: Epilogue): GPUBuffer[] => (e?.keepZ ? [e.yr!.buffer] : []);

/** The store of value `v` at index `i` of y under the epilogue. */
export function epiStore(i: string, v: string, e?: Epilogue): string {
  if (!e) return `y[${i}] = ${v};`;
  const act = actOf(e).wgsl;
  if (!e.keepZ) return `y[${i}] = ${act(v)};`;
  return `{ let zv = ${v}; y[${i}] = zv; yr[${i}] = ${act('zv')}; }`;
}
