// The contract every operator implements: plan-time shape inference (and folding of constant
// shape arithmetic), a CPU reference, and a GPU kernel. The two backends take the same params.
import type { Model, Node } from '../graph/ir.js';
import type { Const, DType, Shape } from '../graph/tensor.js';
import type { Gpu, GpuTensor } from '../kernels/gpu/runtime.js';

/**
 * An activation a producer can apply in its store (OpSpec.gpuRelu): Relu, or Clip's [lo, hi]
 * (constant bounds, as f32 values: what the Clip kernel reads from its uniforms).
 */
export type Activation = { op: 'relu' } | { op: 'clip'; lo: number; hi: number };

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
  /**
   * Optional: the GPU kernel(s) with a following activation (Relu, or Clip with constant bounds)
   * fused into the store, one dispatch for both (the executor's fusion, src/runtime/executor.ts):
   * `relu` receives act(output 0), and `z`, when given, output 0 itself (its other readers need
   * it). Bit-identical to `gpu` then the activation's kernel.
   */
  gpuRelu?(g: Gpu, p: P, inputs: (GpuTensor | undefined)[], relu: GpuTensor, z?: GpuTensor, act?: Activation): void;
  /** Declared once here; see `Traits`. */
  traits?: Traits;
}

export type OpTable = Record<string, OpSpec>;

// The plan's data as operators and rules see it (built by src/planner/plan.ts).
export interface Step {
  node: Node;
  spec: OpSpec;
  params: unknown;
  outShapes: Shape[];
  /** Aligned with node.inputs: the runtime tensor name, or undefined (omitted/static input). */
  inputs: (string | undefined)[];
  alias?: number;
}

export interface Plan {
  model: Model;
  inputs: { name: string; shape: Shape }[];
  outputs: { name: string; shape: Shape }[];
  steps: Step[];
  shapes: Map<string, Shape>;
  /** Every constant known at plan time (initializers and folded values). */
  consts: Map<string, Const>;
  /** Float constants that kernels read at run time (weights, biases). */
  weights: Set<string>;
  /** Step index producing each runtime tensor (-1 for graph inputs). */
  producer: Map<string, number>;
  /** Folded (never run) nodes, for `info`. */
  foldedNodes: Node[];
}


/**
 * What the rest of the engine may know about an operator without naming it. Every operator list
 * in the code (views, the ops a first convolution may sit behind, default-layer candidates, the
 * logit search) is a query on these, declared once with the operator.
 */
export interface Traits {
  /** Output 0 is input 0's data reshaped (Reshape, Flatten, Squeeze, Identity, Dropout, Cast): no value changes. */
  view?: boolean;
  /** Output 0 equals input 0 at inference (Identity, Dropout): the logit search looks through it. */
  identity?: boolean;
  /** Moves or pads values without arithmetic (Transpose, Pad): a convolution behind it still reads the model input (zB rule, spec §2.6). */
  layout?: boolean;
  /** Element-wise activation (spec §2.1). */
  activation?: boolean;
  /** Ends a block: a candidate for the default explained layer (spec §1.3). */
  blockOutput?: boolean;
  /** Maps logits to scores (Softmax, LogSoftmax, Sigmoid at the end): explanations start at its input. */
  scoreHead?: boolean;
  /** Has learned weights as its second input (Conv, Gemm, MatMul): the sanity check randomises them. */
  weighted?: boolean;
  pooling?: boolean;
  normaliser?: boolean;
  /** A convolution or a dense layer: a linear map of its input by a weight tensor. */
  linear?: boolean;
  /**
   * The per-channel constant its N×C×H×W output adds, from the node's constant inputs (undefined
   * when it has none): FullGrad's bias terms (pytorch-grad-cam takes Conv2d's and BatchNorm2d's).
   */
  channelBias?: (node: Node, constOf: (name: string) => Const | undefined) => Float32Array | undefined;
}
