// What an explanation returns, and the last step that shapes (and checks) it for the caller.
import type { CpuTensor } from '../ops/op.js';
import { numel } from '../graph/tensor.js';
import type { Method } from './pipeline.js';
import { AeqError } from '../errors.js';

export interface TraceEntry {
  walk: 'gradient' | 'ae';
  /** The tensor whose incoming signal this is. */
  name: string;
  value: CpuTensor;
}

export interface Explanation {
  method: Method;
  /** N×classes logits of the forward pass. */
  logits: CpuTensor;
  /** targets[n] = the T classes explained for input n. */
  targets: number[][];
  /** (N·T)×C×H×W input attribution, ordered sample-major (AE only). */
  attribution?: CpuTensor;
  /** (N·T)×H×W channel-summed heatmaps (AE) or upsampled Grad-CAM maps. */
  heatmaps: CpuTensor;
  /** The explained layer (tensor name). */
  layer: string;
  /** (N·T)×h×w maps at the layer, before upsampling (gradcam, gradcam++, layercam, scorecam, eb, ceb). */
  layerMap?: CpuTensor;
  /** (N·T)×K channel weights of the weighted CAMs (gradcam, gradcam++, scorecam). */
  channelWeights?: CpuTensor;
  /** With `trace`: the signal at every tensor of both walks, in visiting order. */
  trace?: TraceEntry[];
}

/** The host-side results of one pass as an Explanation: N×classes logits, (N·T)×H×W maps, all finite. */
export function toExplanation(
  method: Method, logits: CpuTensor, targets: number[][], layer: string, heat: CpuTensor, attribution?: CpuTensor, cam?: CpuTensor, weights?: CpuTensor,
): Explanation {
  const [b, , h, w] = heat.shape;
  const heatmaps = { shape: [b, h, w], data: heat.data };
  const layerMap = cam && { shape: [cam.shape[0], ...cam.shape.slice(2)], data: cam.data };
  for (const v of [heatmaps.data, attribution?.data, layerMap?.data, weights?.data]) {
    if (v && !v.every(Number.isFinite)) throw new AeqError(`non-finite values in the ${method} result (layer '${layer}'): the model overflows float32 on this input`);
  }
  const n = logits.shape[0];
  return { method, logits: { shape: [n, numel(logits.shape) / n], data: logits.data }, targets, attribution, heatmaps, layer, ...(layerMap ? { layerMap } : {}), ...(weights ? { channelWeights: weights } : {}) };
}
