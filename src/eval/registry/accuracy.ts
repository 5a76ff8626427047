// Classification quality of the model itself (no explanations): mAP over classes, top-1 (the top
// class is one of the labels) and exact match (the predicted label set is the label set).
import { stack } from '../images.js';
import { probabilities, predictedLabels } from '../probabilities.js';
import type { ModelMetric } from '../metric.js';

/** VOC-style AP: mean precision at each positive's rank (ties broken by order). */
export function averagePrecision(scores: ArrayLike<number>, positive: ArrayLike<boolean>): number {
  const idx = Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => scores[b] - scores[a] || a - b);
  let hits = 0, sum = 0;
  idx.forEach((i, r) => { if (positive[i]) { hits++; sum += hits / (r + 1); } });
  return hits ? sum / hits : NaN;
}

export const accuracy: ModelMetric = {
  name: 'accuracy',
  scope: 'model',
  needs: {},
  async run({ o, ex, load, batch, progress }, result) {
    const ds = o.dataset;
    const probs: Float32Array[] = [];
    const truth: Set<number>[] = [];
    for (let i = 0; i < ds.images.length; i += batch) {
      const xs = ds.images.slice(i, i + batch).map(load);
      const logits = (await ex.logits(stack(xs))).data;
      const C = logits.length / xs.length;
      xs.forEach((l, j) => { probs.push(probabilities(logits.subarray(j * C, (j + 1) * C), o.output)); truth.push(new Set(l.rec.labels)); });
      progress(xs.length, 'accuracy');
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
  },
};
