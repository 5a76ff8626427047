// The options and results of `aeq eval`'s engine (./evaluate.ts), shared with its metrics.
import type { Model } from '../graph/ir.js';
import type { Dataset } from '../data/format.js';
import type { PreprocessOptions } from '../io/image.js';
import type { MethodSpec } from './methods.js';
import type { Curve, SanityStep } from './metrics/index.js';

/** Every metric, in the order their scores are reported (a method's score keys follow it). */
export const METRICS = ['pointing', 'gridpg', 'outside-inside', 'energy', 'insertion', 'deletion', 'sanity', 'accuracy'] as const;
export type MetricName = (typeof METRICS)[number];

export interface EvalOptions {
  model: Model;
  backend?: 'webgpu' | 'cpu' | 'auto';
  /** Memory budget in bytes per pass (default: half the host's available memory). */
  maxMemory?: number;
  dataset: Dataset;
  methods: MethodSpec[];
  metrics: MetricName[];
  preprocess: PreprocessOptions;
  /** How logits become probabilities: independent sigmoids (multi-label) or a softmax. */
  output: 'sigmoid' | 'softmax';
  /** Images per forward/explain call. */
  batch?: number;
  /** Pointing-game tolerance in pixels (TorchRay: 15); 0 is always reported too. */
  tolerance?: number;
  /** Sanity check: how many layers to randomise, top down (default: all). */
  sanitySteps?: number;
  onProgress?: (done: number, total: number, what: string) => void;
}

export interface MethodResult {
  label: string;
  scores: Record<string, number>;
  /** Insertion/deletion curves (mean over targets) and sanity steps, for --json. */
  curves?: Record<string, Curve>;
  sanity?: SanityStep[];
}

export interface EvalResult {
  images: number;
  targets: number;
  backend: string;
  accuracy?: { mAP: number; top1: number; exactMatch: number };
  methods: MethodResult[];
  seconds: number;
}
