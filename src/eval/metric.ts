// A metric of `aeq eval` as the evaluation loop (./evaluate.ts) sees it: its name, what it needs
// from the loop, and how it accumulates and reports. The metrics themselves are in ./registry/.
import type { Explainer } from '../explain/explainer.js';
import type { ImageRecord } from '../data/format.js';
import type { MethodSpec } from './methods.js';
import type { Loaded } from './images.js';
import type { Curve, Map2D, SanityStep } from './metrics/index.js';
import type { EvalOptions, EvalResult, MetricName } from './types.js';

/** What a metric asks of the evaluation loop. */
export interface MetricNeeds {
  /** Each image explained by each method for each of its ground-truth labels (one pass shared by all such metrics). */
  labelMaps?: boolean;
  /** Mosaic images (a "grid" field) in the dataset. */
  mosaics?: boolean;
  /** Forward passes of perturbed inputs beyond the explanations, from a blank baseline (insertion, deletion). */
  perturbedPasses?: boolean;
}

/** What the loop shares with every metric of one evaluation. */
export interface EvalEnv {
  o: EvalOptions;
  ex: Explainer;
  /** The model's input size. */
  H: number;
  W: number;
  /** Images per forward/explain call. */
  batch: number;
  /** Pointing-game tolerance in pixels. */
  tolerance: number;
  load(rec: ImageRecord): Loaded;
  /** The black image in the model's input space, when a requested metric needs perturbed passes. */
  blank?: Float32Array;
  /** Counts `k` images done; with `what`, reports progress. */
  progress(k: number, what?: string): void;
}

/** One image explained by one method for its ground-truth labels. */
export interface ExplainedImage {
  image: Loaded;
  /** maps[k]: the map of truth k at the image's resolution. */
  maps: Map2D[];
  /** The map of truth k at the model input's resolution (the curves perturb the input). */
  inputMap(k: number): Map2D;
  predicted: number[];
  /** The probability of `label` for each of m inputs in the model's input space (forward passes). */
  classify(label: number): (inputs: Float32Array, m: number) => Promise<number[]>;
}

/** A method's scores, filled by its metrics in registry order (the key order of the output). */
export interface MethodReport {
  scores: Record<string, number>;
  curves: Record<string, Curve>;
  sanity?: SanityStep[];
}

export interface Accumulator {
  add?(img: ExplainedImage): void | Promise<void>;
  report(out: MethodReport): void | Promise<void>;
}

/** Scored per method: an accumulator per method, fed explained images when it needs label maps. */
export interface MethodMetric {
  name: MetricName;
  scope: 'method';
  needs: MetricNeeds;
  start(env: EvalEnv, method: MethodSpec): Accumulator;
}

/** Scored once for the model (no explanations), before the methods are run. */
export interface ModelMetric {
  name: MetricName;
  scope: 'model';
  needs: MetricNeeds;
  run(env: EvalEnv, result: EvalResult): Promise<void>;
}

export type Metric = MethodMetric | ModelMetric;

