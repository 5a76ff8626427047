// The contract every operator implements: plan-time shape inference (and folding of constant
// shape arithmetic), a CPU reference, and a GPU kernel. The two backends take the same params.
import type { Node } from '../graph/ir.js';
import type { Const, DType, Shape } from '../graph/tensor.js';
import type { Gpu, GpuTensor } from '../kernels/gpu/runtime.js';

export interface CpuTensor {
  shape: Shape;
  data: Float32Array;
}

export interface PrepareCtx {
  node: Node;
  /** Opset of the default domain (attribute forms differ by opset, e.g. Clip, Pad, Squeeze). */
  opset: number;
  /** Shape of each input, aligned with node.inputs; undefined for an omitted optional input. */
  shapes: (Shape | undefined)[];
  /** Constant value of each input where known at plan time (initializers, folded values). */
  consts: (Const | undefined)[];
  dtypes: (DType | undefined)[];
}

export interface Prepared<P> {
  /** Output shapes, aligned with node.outputs. */
  shapes: Shape[];
  /** Output dtypes; default float32. Only constant-folded values may be non-float. */
  dtypes?: DType[];
  params: P;
  /** Input indices consumed at plan time (axes, shape, pads, …), never passed at run time. */
  staticInputs?: number[];
  /** Set when the outputs are known now (shape arithmetic on constants): the node is not run. */
  folded?: Const[];
  /** Set for pure views (Reshape, Flatten, Squeeze, Identity, Dropout…): output 0 shares input `alias`'s data. */
  alias?: number;
}

export interface OpSpec<P = any> {
  prepare(ctx: PrepareCtx): Prepared<P>;
  /** CPU reference. `inputs` is aligned with node.inputs (undefined for omitted or static inputs). */
  cpu(p: P, inputs: (CpuTensor | undefined)[], outShapes: Shape[]): Float32Array[];
  /** Record the GPU kernel(s). Output tensors are allocated by the executor with the prepared shapes. */
  gpu(g: Gpu, p: P, inputs: (GpuTensor | undefined)[], outputs: GpuTensor[]): void;
}

export type OpTable = Record<string, OpSpec>;
