// One pass of an explanation, on any backend: forward (keeping what the walks read) → targets from
// the logits → the pipeline → the maps, attribution and trace read back to the host.
import type { CpuTensor } from '../ops/op.js';
import type { AeOptions, LrpOptions } from '../ops/rule.js';
import type { Composite } from '../ops/shared/composites.js';
import type { AttrBackend } from './backend.js';
import { runPipeline, type PipelineRequest } from './pipeline.js';
import type { ForwardRequest, PassBackend } from './passes.js';
import { resolveTargets, type Target } from './targets.js';
import { toExplanation, type Explanation, type TraceEntry } from './explanation.js';

export interface BatchRequest extends ForwardRequest {
  layer: string;
  logit: string;
  method: PipelineRequest<unknown>['method'];
  opts: AeOptions;
  target: Target;
  trace: boolean;
  composite?: Composite;
  lrp?: LrpOptions;
  contrastLayer?: string;
  /** The gradient family's reduction, on the backend before the readback (Explainer.explainCombined). */
  combine?: Combine;
}

/**
 * K consecutive samples per attribution row, averaged (their squares with `square`) and multiplied
 * by `factor` (one C×H×W row per attribution row) on the backend: the pass reads back R·T rows
 * instead of R·K·T gradients.
 */
export interface Combine {
  k: number;
  square: boolean;
  factor?: CpuTensor;
}

type Signal<T> = { walk: 'gradient' | 'ae'; name: string; value: T };

export async function explainBatch<T>(passes: PassBackend<T>, req: BatchRequest): Promise<Explanation> {
  const { plan, method, layer, logit, opts } = req;
  const be = passes.attr;
  const fwd = passes.forward(req);
  try {
    const logits = await be.read(fwd.value(logit));
    const targets = resolveTargets(req.target, logits);
    const signals = req.trace ? [] as Signal<T>[] : undefined;
    const r = runPipeline(be, {
      plan, method, layer, logit, targets, opts, forward: fwd.value, trace: signals,
      composite: req.composite, lrp: req.lrp, contrastLayer: req.contrastLayer,
    });
    if (req.combine) combineOnBackend(be, r, req.combine, targets[0].length);
    const heat = await be.read(r.heatmap);
    const trace = signals && await readTrace(be, signals);
    const attr = r.attribution ? await be.read(r.attribution) : undefined;
    const cam = r.layerMap ? await be.read(r.layerMap) : undefined;
    const weights = r.layerMap && r.alpha ? await be.read(r.alpha) : undefined;
    be.release(r.heatmap);
    if (r.alpha) be.release(r.alpha);
    if (r.attribution) be.release(r.attribution);
    if (r.layerMap) be.release(r.layerMap);
    return { ...toExplanation(method, logits, targets, layer, heat, attr, cam, weights), trace };
  } finally {
    fwd.release();
  }
}

/** Replaces the pass's input gradients and heatmaps by their combined rows (Combine). */
function combineOnBackend<T>(be: AttrBackend<T>, r: { attribution?: T; heatmap: T }, c: Combine, t: number): void {
  const f = c.factor && be.upload(c.factor.data, c.factor.shape);
  const a = be.sampleMean(r.attribution!, c.k, t, c.square, f);
  if (f) be.release(f);
  be.release(r.attribution!);
  be.release(r.heatmap);
  r.attribution = a;
  r.heatmap = be.channelSum(a);
}

/** The traced signals on the host, each released once read. */
async function readTrace<T>(be: AttrBackend<T>, signals: Signal<T>[]): Promise<TraceEntry[]> {
  const trace: TraceEntry[] = [];
  for (const e of signals) {
    trace.push({ walk: e.walk, name: e.name, value: await be.read(e.value) });
    be.release(e.value);
  }
  return trace;
}

