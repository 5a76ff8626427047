// The forward convolution's fused epilogue: a ReLU applied in the conv kernels' store, so that a
// Conv followed by a Relu is one dispatch (the executor's fusion, src/runtime/executor.ts). Shared
// by the shuffle kernels (kernels.ts) and the tiled one (tiled.ts).
import type { GpuTensor } from '../../kernels/gpu/runtime.js';

/**
 * `keepZ` false: y = max(z, 0) only (nobody reads the pre-activation); true: y = z and
 * yr = max(z, 0) (binding 5, `yr`). The value stored is max(·, 0.0) of the same f32 that the
 * unfused kernel stores and the Relu kernel reads, so both outputs are the unfused ones bit for bit.
 */
export interface Epilogue { keepZ: boolean; yr?: GpuTensor }

/** The pipeline key's suffix. */
export const epiKey = (e?: Epilogue): string => (!e ? '' : e.keepZ ? '.relu2' : '.relu');

/** The declaration of `yr` (kept pre-activation only). */
export const epiBinding = (e?: Epilogue): string => (e?.keepZ ? '@group(0) @binding(5) var<storage, read_write> yr: array<f32>;\n' : '');

/** The extra buffer bound after y. */
export const epiBuffers = (e?: Epilogue): GPUBuffer[] => (e?.keepZ ? [e.yr!.buffer] : []);

/** The store of value `v` at index `i` of y under the epilogue. */
export function epiStore(i: string, v: string, e?: Epilogue): string {
  if (!e) return `y[${i}] = ${v};`;
  if (!e.keepZ) return `y[${i}] = max(${v}, 0.0);`;
  return `{ let zv = ${v}; y[${i}] = zv; yr[${i}] = max(zv, 0.0); }`;
}
