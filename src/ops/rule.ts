// Attribution methods are rule tables over operators (as in Zennit): for each op type, how a
// backward signal (a gradient, or AE relevance) at the step's output becomes one at its inputs.
// Every rule has a CPU reference and a GPU implementation built on the shared kernels.
import type { Plan, Step } from '../planner/plan.js';
import type { CpuTensor } from './op.js';
import type { Gpu, GpuTensor } from '../kernels/gpu/runtime.js';

export type ResidualMode = 'main' | 'proportional';

/** Options of Attribution Equilibrium (spec §2–3). */
export interface AeOptions {
  /** Degree of evidence, a real number (paper range 1–2; the reference default is 2). */
  ratio: number;
  /** Ablation switches (paper Table II): contribution term C, its uniform shift, activated term A, inactivated term B. */
  contrib: boolean;
  shift: boolean;
  activated: boolean;
  inactivated: boolean;
  residual: ResidualMode;
}

export const DEFAULT_AE: AeOptions = { ratio: 2, contrib: true, shift: true, activated: true, inactivated: true, residual: 'main' };

export interface RuleCtx<T> {
  plan: Plan;
  step: Step;
  /** Forward value of runtime input i (activation or weight), expanded to the backward batch; undefined for omitted or plan-time inputs. */
  input(i: number): T | undefined;
  /** Forward value of output i, expanded to the backward batch. */
  output(i?: number): T;
  /** The model input, expanded to the backward batch (zB-rule bounds). */
  modelInput(): T;
  /** This step is the first convolution (consumes the model input directly or through layout ops). */
  firstConv: boolean;
  /** For Add in residual mode 'main': the operand index that receives the relevance. */
  mainOperand?: number;
  opts: AeOptions;
  /** Backward batch size (samples × targets). */
  batch: number;
}

export interface Rule {
  /** Signal for each node input (aligned with node.inputs; undefined where nothing flows). */
  cpu(ctx: RuleCtx<CpuTensor>, r: CpuTensor): (CpuTensor | undefined)[];
  /**
   * GPU twin. It may return `r` itself (or a view of its buffer) for pass-through; any other
   * returned tensor is newly allocated from `g` and becomes the walker's. Temporaries are released.
   */
  gpu(g: Gpu, ctx: RuleCtx<GpuTensor>, r: GpuTensor): (GpuTensor | undefined)[];
}

export type RuleTable = Record<string, Rule>;

/** Ops through which no signal flows back to any runtime input (their inputs are all constants). */
export const PASS_OPS = new Set(['Identity', 'Dropout', 'Cast', 'Flatten', 'Reshape', 'Squeeze', 'Unsqueeze']);
