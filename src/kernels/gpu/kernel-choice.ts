// Which family of GEMM-like kernels (convolutions, Gemm/MatMul) an adapter gets. Software Vulkan
// (lavapipe/llvmpipe, SwiftShader) pays tens of FMAs per storage load and has no real workgroup
// memory, so there the direct subgroup-shuffle kernels win (register-tiled designs measured
// 3–4.5 GFLOP/s on lavapipe); hardware GPUs get the tiled implicit-GEMM kernels, which stage
// operand tiles through workgroup memory. AEQ_KERNELS=tiled|shuffle forces either, for tests and
// for measuring one against the other on the same adapter.
import { OptionError } from '../../errors.js';

export type KernelVariant = 'tiled' | 'shuffle';

const VARIANTS: readonly KernelVariant[] = ['tiled', 'shuffle'];

/** Adapter names (vendor, architecture, device, description joined) of CPU-emulated GPUs. */
const SOFTWARE = /llvmpipe|lavapipe|swiftshader|softpipe|\bsoftware\b|microsoft basic render/i;

export function isSoftwareAdapter(adapterName: string): boolean {
  return SOFTWARE.test(adapterName);
}

/** AEQ_KERNELS parsed once per process: the forced variant, null when unset, or the error it gave. */
let fromEnv: { variant: KernelVariant | null } | { error: string } | undefined;

export function parseKernelsEnv(value: string | undefined): { variant: KernelVariant | null } | { error: string } {
  if (value === undefined || value === '') return { variant: null };
  if ((VARIANTS as readonly string[]).includes(value)) return { variant: value as KernelVariant };
  return { error: `AEQ_KERNELS must be 'tiled' or 'shuffle', got '${value}'` };
}

/** For tests and benchmarks: force a variant in-process (null: back to AEQ_KERNELS / the adapter's default); read AEQ_KERNELS again. */
export const kernelChoiceOverride = {
  force: null as KernelVariant | null,
  rereadEnv(): void {
    fromEnv = undefined;
  },
};

/** The variant for kernels on this adapter: forced by a test or AEQ_KERNELS, else by the adapter kind. */
export function kernelVariant(adapterName: string): KernelVariant {
  if (kernelChoiceOverride.force) return kernelChoiceOverride.force;
  fromEnv ??= parseKernelsEnv(process.env.AEQ_KERNELS);
  if ('error' in fromEnv) throw new OptionError(fromEnv.error);
  return fromEnv.variant ?? (isSoftwareAdapter(adapterName) ? 'shuffle' : 'tiled');
}
