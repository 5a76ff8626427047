// Insertion and deletion (RISE): the target's probability as the map's most relevant input pixels
// are revealed on a blank canvas, or replaced by it; the curves live in the model's input space.
import { deletionCurve, insertionCurve, meanCurve, type Curve } from '../metrics/index.js';
import type { EvalEnv, MethodMetric, MethodReport } from '../metric.js';
import type { MetricName } from '../types.js';

type CurveOf = typeof insertionCurve;

function curveMetric(name: MetricName, curveOf: CurveOf, report: (mean: Curve, scores: MethodReport['scores']) => void): MethodMetric {
  return {
    name,
    scope: 'method',
    needs: { labelMaps: true, perturbedPasses: true },
    start({ H, W, blank }: EvalEnv) {
      const curves: Curve[] = [];
      // `blank` is there: the loop makes it for the metrics that need perturbed passes.
      const popts = { baseline: blank!, threshold: 0.5, batchSize: 21 };
      return {
        async add({ image, inputMap, classify }) {
          const input = { data: image.x.data, channels: 3, height: H, width: W };
          for (const [k, t] of image.truths.entries()) curves.push(await curveOf(input, inputMap(k), classify(t.label), popts));
        },
        report(out) {
          // No curve without a labelled image (the scores are then left out, not NaN).
          if (!curves.length) return;
          out.curves[name] = meanCurve(curves);
          report(out.curves[name], out.scores);
        },
      };
    },
  };
}

export const insertion = curveMetric('insertion', insertionCurve, (c, scores) => {
  scores['insertion AUC'] = c.auc;
  scores['insertion acc AUC'] = c.accuracyAuc ?? NaN;
});

export const deletion = curveMetric('deletion', deletionCurve, (c, scores) => {
  scores['deletion AUC'] = c.auc;
});
