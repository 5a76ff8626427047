// `aeq eval`'s engine: run attribution methods over a dataset folder and score the maps with the
// paper's measures (spec §5). Images are fed whole (resized directly to the model's input, which is
// a no-op for the benchmark's 224-pixel images); maps are resized back to the image so every score
// is taken against the annotation at its own resolution (TorchRay's protocol).
import { Explainer } from '../explain/explainer.js';
import type { CpuTensor } from '../ops/op.js';
import { cpuAttr } from '../explain/kernels.js';
import { preprocess, type PreprocessOptions } from '../io/image.js';
import { type Dataset, type ImageRecord, loadImage } from '../data/format.js';
import { labelTruths, type LabelTruth } from './ground-truth.js';
import type { MethodSpec } from './methods.js';
import { randomizeTop, parametrisedLayers } from './randomize.js';
import {
  ClassMeans, PointingGame, energyPointingGame, gridPointingGame, insertionCurve, deletionCurve, meanCurve, map2d,
  outsideInsideRatio, sanityCheck, type Curve, type Map2D, type SanityStep, type Table, type Cell,
} from './metrics/index.js';
import { InputError, OptionError } from '../errors.js';
import type { Model } from '../graph/ir.js';

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

interface Loaded {
  rec: ImageRecord;
  x: CpuTensor;
  truths: LabelTruth[];
}

const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));

function probabilities(logits: Float32Array, output: 'sigmoid' | 'softmax'): Float32Array {
  if (output === 'sigmoid') return logits.map(sigmoid);
  const m = Math.max(...logits);
  const e = logits.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

/** Predicted labels: p ≥ 0.5 (sigmoid), the top class (softmax). */
function predictedLabels(p: Float32Array, output: 'sigmoid' | 'softmax'): number[] {
  if (output === 'softmax') return [p.indexOf(Math.max(...p))];
  const out: number[] = [];
  p.forEach((v, i) => { if (v >= 0.5) out.push(i); });
  return out;
}

/** VOC-style AP: mean precision at each positive's rank (ties broken by order). */
export function averagePrecision(scores: ArrayLike<number>, positive: ArrayLike<boolean>): number {
  const idx = Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => scores[b] - scores[a] || a - b);
  let hits = 0, sum = 0;
  idx.forEach((i, r) => { if (positive[i]) { hits++; sum += hits / (r + 1); } });
  return hits ? sum / hits : NaN;
}

function mapAt(heat: CpuTensor, k: number, rec: ImageRecord): Map2D {
  const [, h, w] = heat.shape;
  const plane = { shape: [1, 1, h, w], data: heat.data.slice(k * h * w, (k + 1) * h * w) };
  const m = h === rec.height && w === rec.width ? plane : cpuAttr.resizeBilinear(plane, rec.height, rec.width);
  return map2d(m.data, rec.height, rec.width);
}

export async function evaluate(o: EvalOptions): Promise<EvalResult> {
  const t0 = performance.now();
  const { dataset: ds } = o;
  if (!ds.images.length) throw new InputError(`${ds.dir}: the dataset has no images (after --split/--limit)`);
  const ex = await Explainer.create(o.model, { backend: o.backend ?? 'auto', maxMemory: o.maxMemory });
  const [, , H, W] = ex.inputShape(1);
  if (!Number.isFinite(H) || !Number.isFinite(W)) throw new InputError(`${o.model.source}: the model's input size is dynamic; eval needs a fixed H×W`);
  const pre: PreprocessOptions = { ...o.preprocess, size: [H, W], resize: 'direct' };
  const batch = Math.max(1, o.batch ?? 8);
  const tol = o.tolerance ?? 15;
  const wants = new Set(o.metrics);
  if (wants.has('gridpg') && !ds.images.some((r) => r.grid)) throw new InputError(`${ds.dir}: gridpg needs mosaic images (a "grid" field; aeq dataset --kind mosaics)`);
  const load = (rec: ImageRecord): Loaded => {
    const img = loadImage(ds, rec);
    const b = preprocess([{ ...img, source: rec.id }], pre);
    return { rec, x: { shape: b.shape, data: b.data }, truths: labelTruths(ds, rec) };
  };
  const stack = (xs: Loaded[]): CpuTensor => {
    const per = xs[0].x.data.length;
    const data = new Float32Array(xs.length * per);
    xs.forEach((l, i) => data.set(l.x.data, i * per));
    return { shape: [xs.length, ...xs[0].x.shape.slice(1)], data };
  };
  // Black image in the model's input space: the "blank" canvas of insertion and deletion.
  const blank = preprocess([{ width: W, height: H, rgb: new Uint8Array(W * H * 3), source: 'blank' }], pre).data;

  const result: EvalResult = { images: ds.images.length, targets: 0, backend: ex.session.gpu ? `webgpu (${ex.session.gpu.adapterName})` : 'cpu', methods: [], seconds: 0 };
  // Metrics scored on each image's maps (sanity explains its own subset with randomised models).
  const perImage = [...wants].some((m) => m !== 'accuracy' && m !== 'sanity');
  const total = ds.images.length * ((perImage ? o.methods.length : 0) + (wants.has('accuracy') ? 1 : 0));
  let done = 0;

  try {
    if (wants.has('accuracy')) {
      const probs: Float32Array[] = [];
      const truth: Set<number>[] = [];
      for (let i = 0; i < ds.images.length; i += batch) {
        const xs = ds.images.slice(i, i + batch).map(load);
        const logits = await forwardLogits(ex, stack(xs));
        const C = logits.length / xs.length;
        xs.forEach((l, j) => { probs.push(probabilities(logits.subarray(j * C, (j + 1) * C), o.output)); truth.push(new Set(l.rec.labels)); });
        done += xs.length;
        o.onProgress?.(done, total, 'accuracy');
      }
      const C = probs[0].length;
      const aps: number[] = [];
      for (let c = 0; c < C; c++) {
        const ap = averagePrecision(probs.map((p) => p[c]), truth.map((t) => t.has(c)));
        if (!Number.isNaN(ap)) aps.push(ap);
      }
      const top1 = probs.filter((p, i) => truth[i].has(p.indexOf(Math.max(...p)))).length / probs.length;
      const exact = probs.filter((p, i) => {
        const pred = predictedLabels(p, o.output);
        return pred.length === truth[i].size && pred.every((c) => truth[i].has(c));
      }).length / probs.length;
      result.accuracy = { mAP: aps.reduce((a, b) => a + b, 0) / aps.length, top1, exactMatch: exact };
    }

    const mapMetrics = [...wants].filter((m) => m !== 'accuracy');
    // One accumulator set per method; each batch of images is decoded once and explained by every method.
    const acc = o.methods.map(() => ({
      pg: new PointingGame([0, tol]), oi: new ClassMeans(), en: new ClassMeans(), grid: new ClassMeans(),
      ins: [] as Curve[], del: [] as Curve[], targets: 0,
    }));
    // Images with the same number of labels share a batch (explain takes T targets per input).
    const order = perImage ? [...ds.images].sort((a, b) => a.labels.length - b.labels.length) : [];
    for (let i = 0; i < order.length;) {
      const T = order[i].labels.length;
      let j = i;
      while (j < order.length && j - i < batch && order[j].labels.length === T) j++;
      const xs = order.slice(i, j).map(load);
      i = j;
      if (T === 0) { done += xs.length * o.methods.length; continue; }
      const x = stack(xs);
      for (const [mi, method] of o.methods.entries()) {
        const a = acc[mi];
        const r = await ex.explain(x, { ...method.options, target: { perInput: xs.map((l) => l.rec.labels) } });
        const C = r.logits.data.length / xs.length;
        for (const [n, l] of xs.entries()) {
          const p = probabilities(r.logits.data.subarray(n * C, (n + 1) * C), o.output);
          const predicted = predictedLabels(p, o.output);
          const maps = l.truths.map((t, k) => mapAt(r.heatmaps, n * T + k, l.rec));
          a.targets += T;
          if (wants.has('pointing')) a.pg.add({ targets: l.truths.map((t, k) => ({ label: t.label, map: maps[k], region: t.region, difficult: t.difficult })), predicted });
          l.truths.forEach((t, k) => {
            if (wants.has('outside-inside')) a.oi.add(t.label, outsideInsideRatio(maps[k], t.region));
            if (wants.has('energy')) a.en.add(t.label, energyPointingGame(maps[k], t.region));
            if (wants.has('gridpg') && l.rec.grid && t.cell !== undefined) a.grid.add(t.label, gridPointingGame(maps[k], t.cell, { rows: l.rec.grid.rows, cols: l.rec.grid.cols }));
          });
          if (wants.has('insertion') || wants.has('deletion')) {
            for (const [k, t] of l.truths.entries()) {
              // Curves live in the model's input space: the map at input resolution, the preprocessed image.
              const [, h, w] = r.heatmaps.shape;
              const inMap = map2d(r.heatmaps.data.slice((n * T + k) * h * w, (n * T + k + 1) * h * w), h, w);
              const image = { data: l.x.data, channels: 3, height: H, width: W };
              const classify = async (b: Float32Array, m: number) => {
                const lg = await forwardLogits(ex, { shape: [m, 3, H, W], data: b });
                return Array.from({ length: m }, (_, q) => probabilities(lg.subarray(q * C, (q + 1) * C), o.output)[t.label]);
              };
              const popts = { baseline: blank, threshold: 0.5, batchSize: 21 };
              if (wants.has('insertion')) a.ins.push(await insertionCurve(image, inMap, classify, popts));
              if (wants.has('deletion')) a.del.push(await deletionCurve(image, inMap, classify, popts));
            }
          }
        }
        done += xs.length;
        o.onProgress?.(done, total, method.label);
      }
    }

    for (const [mi, method] of o.methods.entries()) {
      if (!mapMetrics.length) break;
      const { pg, oi, en, grid, ins, del, targets } = acc[mi];
      const sanityRuns: SanityStep[][] = [];
      if (wants.has('sanity')) sanityRuns.push(...await sanity(o, ex, method, ds, load, stack));
      const scores: Record<string, number> = {};
      if (wants.has('pointing')) {
        for (const s of ['L', 'P'] as const) {
          scores[`PG-${s}`] = pg.summary(s, 'full', 0).accuracy;
          scores[`PG-${s} tol${tol}`] = pg.summary(s, 'full', tol).accuracy;
          scores[`PG-${s} difficult tol${tol}`] = pg.summary(s, 'difficult', tol).accuracy;
        }
        scores.PR = pg.summary('L', 'full', 0).pr;
      }
      if (wants.has('gridpg')) scores.GridPG = grid.meanOverClasses();
      if (wants.has('outside-inside')) scores['outside/inside'] = oi.meanOverClasses();
      if (wants.has('energy')) scores['energy PG'] = en.meanOverClasses();
      const curves: Record<string, Curve> = {};
      if (ins.length) {
        curves.insertion = meanCurve(ins);
        scores['insertion AUC'] = curves.insertion.auc;
        scores['insertion acc AUC'] = curves.insertion.accuracyAuc ?? NaN;
      }
      if (del.length) {
        curves.deletion = meanCurve(del);
        scores['deletion AUC'] = curves.deletion.auc;
      }
      let sanitySteps: SanityStep[] | undefined;
      if (sanityRuns.length) {
        sanitySteps = meanSanity(sanityRuns);
        const last = sanitySteps[sanitySteps.length - 1];
        scores['sanity spearman (all randomised)'] = last.spearman;
        scores['sanity SSIM (all randomised)'] = last.ssim;
      }
      result.targets = Math.max(result.targets, targets);
      result.methods.push({ label: method.label, scores, ...(Object.keys(curves).length ? { curves } : {}), ...(sanitySteps ? { sanity: sanitySteps } : {}) });
    }
  } finally {
    ex.dispose();
  }
  result.seconds = (performance.now() - t0) / 1000;
  return result;
}

/** The explained logits (the input of a final Sigmoid/Softmax), forward pass only. */
async function forwardLogits(ex: Explainer, x: CpuTensor): Promise<Float32Array> {
  return (await ex.logits(x)).data;
}

/** Per image: maps of the original and of each cascading-randomised model; Spearman/SSIM per step. */
async function sanity(
  o: EvalOptions, ex: Explainer, method: MethodSpec, ds: Dataset,
  load: (r: ImageRecord) => Loaded, stack: (xs: Loaded[]) => CpuTensor,
): Promise<SanityStep[][]> {
  const layers = parametrisedLayers(o.model);
  const steps = Math.min(o.sanitySteps ?? layers.length, layers.length);
  if (steps < 1) throw new OptionError(`${o.model.source}: no parametrised layers to randomise`);
  const xs = ds.images.map(load);
  // The explained class is the ORIGINAL model's top class, kept fixed while the weights change.
  const x = stack(xs);
  const base = await ex.explain(x, { ...method.options, target: 'top' });
  const fixed = base.targets;
  const perImage: Map2D[][] = xs.map((l, n) => [mapAt(base.heatmaps, n, l.rec)]);
  for (let k = 1; k <= steps; k++) {
    const rex = await Explainer.create(randomizeTop(o.model, k), { backend: ex.backend, maxMemory: o.maxMemory });
    try {
      const r = await rex.explain(x, { ...method.options, target: { perInput: fixed } });
      xs.forEach((l, n) => perImage[n].push(mapAt(r.heatmaps, n, l.rec)));
    } finally {
      rex.dispose();
    }
  }
  return perImage.map((maps) => sanityCheck(maps));
}

function meanSanity(runs: SanityStep[][]): SanityStep[] {
  return runs[0].map((s, i) => {
    // A randomised model can give a constant map (Grad-CAM after its ReLU, often): its rank
    // correlation is undefined, so the mean runs over the images where it is defined (NaN if none).
    const avg = (k: keyof SanityStep) => {
      const v = runs.map((r) => r[i][k] as number).filter(Number.isFinite);
      return v.length ? v.reduce((a, b) => a + b, 0) / v.length : NaN;
    };
    return { step: s.step, spearman: avg('spearman'), spearmanAbs: avg('spearmanAbs'), ssim: avg('ssim'), ssimAbs: avg('ssimAbs') };
  });
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
