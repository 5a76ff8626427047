// Packed copies of constant weights, made once per (weight, layout) and kept with the weight. A
// model's weights are uploaded once for the session (runtime/executor.ts marks them `constant`),
// so repacking them on every run only spent a dispatch per layer and run; the copies go back to
// the pool with the weight (Gpu.release). A computed W (a tensor another node produces) is
// repacked each time: its pooled buffer changes contents.
import type { Gpu, GpuTensor } from '../../kernels/gpu/runtime.js';

/**
 * The packed form of `w` under `layout` (a key naming everything the packing reads): kept with `w`
 * when it is a constant, else made by `make` for the caller, who then releases it (`owned`).
 */
export function packedWeights(w: GpuTensor, layout: string, make: () => GpuTensor): { packed: GpuTensor; owned: boolean } {
  if (!w.constant) return { packed: make(), owned: true };
  w.derived ??= new Map();
  let packed = w.derived.get(layout);
  if (!packed) w.derived.set(layout, (packed = make()));
  return { packed, owned: false };
}
