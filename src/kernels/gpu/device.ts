// One WebGPU device per process. Dawn's Node binding aborts the process if the object returned by
// create() is garbage-collected while a device is alive, so it is pinned on globalThis for good.
import { GpuUnavailableError } from '../../errors.js';

export interface DeviceHandle {
  device: GPUDevice;
  adapterName: string;
}

const PIN = Symbol.for('aeq.dawn.navigator');
let pending: Promise<DeviceHandle | { error: string }> | null = null;

/**
 * Dawn toggles of the opt-in fast mode (AEQ_FAST=1): no API validation, no robust buffer access
 * (out-of-bounds reads and writes are then undefined behaviour, not clamped), no zero-initialised
 * workgroup memory. aeq's kernels index within their bindings and initialise what they read, so
 * results are unchanged; a bug would show as garbage rather than as an error.
 */
export const FAST_TOGGLES = ['skip_validation', 'disable_robustness', 'disable_workgroup_init'];

function dawnFlags(): string[] {
  return process.env.AEQ_FAST === '1' ? [`enable-dawn-features=${FAST_TOGGLES.join(',')}`] : [];
}

async function acquire(): Promise<DeviceHandle | { error: string }> {
  let mod: typeof import('webgpu');
  try {
    mod = await import('webgpu');
  } catch (e) {
    return { error: `the 'webgpu' package (Dawn) could not be loaded: ${(e as Error).message}` };
  }
  Object.assign(globalThis, mod.globals);
  const gpu = mod.create(dawnFlags());
  (globalThis as Record<symbol, unknown>)[PIN] = gpu;
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) {
    return {
      error: 'no WebGPU adapter found (on a machine without a GPU install a Vulkan driver: Mesa >= 24 lavapipe, ' +
        'e.g. Debian bookworm-backports mesa-vulkan-drivers)',
    };
  }
  const lim = adapter.limits;
  // Subgroups let the convolution kernels share one load of uniform weights across lanes.
  const requiredFeatures: GPUFeatureName[] = adapter.features.has('subgroups') ? ['subgroups' as GPUFeatureName] : [];
  const device = await adapter.requestDevice({
    requiredFeatures,
    requiredLimits: {
      maxStorageBufferBindingSize: lim.maxStorageBufferBindingSize,
      maxBufferSize: lim.maxBufferSize,
      maxComputeWorkgroupStorageSize: lim.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: lim.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupSizeX: lim.maxComputeWorkgroupSizeX,
      maxComputeWorkgroupSizeY: lim.maxComputeWorkgroupSizeY,
      maxStorageBuffersPerShaderStage: lim.maxStorageBuffersPerShaderStage,
    },
  });
  (globalThis as Record<symbol, unknown>)[Symbol.for('aeq.dawn.device')] = device;
  const info = adapter.info;
  const adapterName = [info?.vendor, info?.architecture, info?.device, info?.description].filter(Boolean).join(' ') || 'unknown adapter';
  return { device, adapterName };
}

/** The process-wide device, or null with the reason when there is none. */
export async function getDevice(): Promise<DeviceHandle | { error: string }> {
  pending ??= acquire();
  return pending;
}

export async function requireDevice(): Promise<DeviceHandle> {
  const d = await getDevice();
  if ('error' in d) throw new GpuUnavailableError(`WebGPU backend required but unavailable: ${d.error}`);
  return d;
}
