// `aeq eval`'s engine: run attribution methods over a dataset folder and score the maps with the
// paper's measures (spec §5). Images are fed whole (resized directly to the model's input, which is
// a no-op for the benchmark's 224-pixel images); maps are resized back to the image so every score
// is taken against the annotation at its own resolution (TorchRay's protocol).
// The metrics are a registry (./registry/); this loop gives each requested one what it needs.
import { Explainer } from '../explain/explainer.js';
import { preprocess, type PreprocessOptions } from '../io/image.js';
import type { Table, Cell } from './metrics/index.js';
import { METRICS, type EvalOptions, type EvalResult, type MethodResult } from './types.js';
import type { EvalEnv, MethodMetric, MethodReport, ModelMetric } from './metric.js';
import { REGISTRY } from './registry/index.js';
import { imageLoader } from './images.js';
import { explainLabelMaps } from './label-maps.js';
import { InputError } from '../errors.js';

export { METRICS } from './types.js';
export type { EvalOptions, EvalResult, MethodResult, MetricName } from './types.js';
export { averagePrecision } from './registry/index.js';

export async function evaluate(o: EvalOptions): Promise<EvalResult> {
  const t0 = performance.now();
  const { dataset: ds } = o;
  if (!ds.images.length) throw new InputError(`${ds.dir}: the dataset has no images (after --split/--limit)`);
  const ex = await Explainer.create(o.model, { backend: o.backend ?? 'auto', maxMemory: o.maxMemory });
  const [, , H, W] = ex.inputShape(1);
  if (!Number.isFinite(H) || !Number.isFinite(W)) throw new InputError(`${o.model.source}: the model's input size is dynamic; eval needs a fixed H×W`);
  const pre: PreprocessOptions = { ...o.preprocess, size: [H, W], resize: 'direct' };
  // Registry order, whatever the order asked for: it fixes the order of the scores.
  const wanted = METRICS.filter((m) => o.metrics.includes(m)).map((m) => REGISTRY[m]);
  for (const m of wanted) {
    if (m.needs.mosaics && !ds.images.some((r) => r.grid)) throw new InputError(`${ds.dir}: ${m.name} needs mosaic images (a "grid" field; aeq dataset --kind mosaics)`);
  }
  const perModel = wanted.filter((m): m is ModelMetric => m.scope === 'model');
  const perMethod = wanted.filter((m): m is MethodMetric => m.scope === 'method');
  const labelMaps = perMethod.some((m) => m.needs.labelMaps);

  const total = ds.images.length * ((labelMaps ? o.methods.length : 0) + perModel.length);
  let done = 0;
  const env: EvalEnv = {
    o, ex, H, W,
    batch: Math.max(1, o.batch ?? 8),
    tolerance: o.tolerance ?? 15,
    load: imageLoader(ds, pre),
    // Black image in the model's input space: the "blank" canvas of insertion and deletion.
    blank: perMethod.some((m) => m.needs.perturbedPasses)
      ? preprocess([{ width: W, height: H, rgb: new Uint8Array(W * H * 3), source: 'blank' }], pre).data
      : undefined,
    progress: (k, what) => {
      done += k;
      if (what !== undefined) o.onProgress?.(done, total, what);
    },
  };

  const result: EvalResult = { images: ds.images.length, targets: 0, backend: ex.session.gpu ? `webgpu (${ex.session.gpu.adapterName})` : 'cpu', methods: [], seconds: 0 };
  try {
    for (const m of perModel) await m.run(env, result);
    if (perMethod.length) {
      const acc = o.methods.map((method) => perMethod.map((m) => m.start(env, method)));
      const targets = labelMaps
        ? await explainLabelMaps(env, o.methods, async (mi, img) => { for (const a of acc[mi]) await a.add?.(img); })
        : o.methods.map(() => 0);
      for (const [mi, method] of o.methods.entries()) {
        const out: MethodReport = { scores: {}, curves: {} };
        for (const a of acc[mi]) await a.report(out);
        result.targets = Math.max(result.targets, targets[mi]);
        result.methods.push(methodResult(method.label, out));
      }
    }
  } finally {
    ex.dispose();
  }
  result.seconds = (performance.now() - t0) / 1000;
  return result;
}

/** Curves and sanity steps only where a metric gave them (the JSON keeps its historical keys). */
function methodResult(label: string, { scores, curves, sanity }: MethodReport): MethodResult {
  return { label, scores, ...(Object.keys(curves).length ? { curves } : {}), ...(sanity ? { sanity } : {}) };
}

/** One row per method, one column per score (union over methods, in first-seen order). */
export function resultTable(r: EvalResult, title?: string): Table {
  const cols: string[] = [];
  for (const m of r.methods) for (const k of Object.keys(m.scores)) if (!cols.includes(k)) cols.push(k);
  const rows: Cell[][] = r.methods.map((m) => [m.label, ...cols.map((c) => m.scores[c] ?? null)]);
  return { title, columns: ['method', ...cols], rows };
}

export function sanityTable(m: MethodResult): Table | undefined {
  if (!m.sanity) return undefined;
  return {
    title: `sanity check, ${m.label}: maps after randomising the top k layers vs the original`,
    columns: ['k', 'spearman', '|spearman|', 'SSIM', '|SSIM|'],
    rows: m.sanity.map((s) => [s.step, s.spearman, s.spearmanAbs, s.ssim, s.ssimAbs]),
  };
}
