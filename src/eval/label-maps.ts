// The shared pass of the label-map metrics: every image explained by every method for each of its
// ground-truth labels. Each batch of images is decoded once and explained by every method in turn.
import type { Explanation } from '../explain/explainer.js';
import { map2d } from './metrics/index.js';
import type { MethodSpec } from './methods.js';
import { mapAt, stack, type Loaded } from './images.js';
import { probabilities, predictedLabels } from './probabilities.js';
import type { EvalEnv, ExplainedImage } from './metric.js';

/** Visits each (method, explained image); returns the targets explained per method. */
export async function explainLabelMaps(
  env: EvalEnv, methods: MethodSpec[], visit: (method: number, img: ExplainedImage) => Promise<void>,
): Promise<number[]> {
  const targets = methods.map(() => 0);
  // Images with the same number of labels share a batch (explain takes T targets per input).
  const order = [...env.o.dataset.images].sort((a, b) => a.labels.length - b.labels.length);
  for (let i = 0; i < order.length;) {
    const T = order[i].labels.length;
    let j = i;
    while (j < order.length && j - i < env.batch && order[j].labels.length === T) j++;
    const xs = order.slice(i, j).map(env.load);
    i = j;
    if (T === 0) { env.progress(xs.length * methods.length); continue; }
    const x = stack(xs);
    for (const [mi, method] of methods.entries()) {
      const r = await env.ex.explain(x, { ...method.options, target: { perInput: xs.map((l) => l.rec.labels) } });
      for (const [n, l] of xs.entries()) {
        targets[mi] += T;
        await visit(mi, explainedImage(env, r, xs.length, n, T, l));
      }
      env.progress(xs.length, method.label);
    }
  }
  return targets;
}

/** Image n of an explained batch of `count` images with T targets each. */
function explainedImage(env: EvalEnv, r: Explanation, count: number, n: number, T: number, image: Loaded): ExplainedImage {
  const { o, ex, H, W } = env;
  const C = r.logits.data.length / count;
  const p = probabilities(r.logits.data.subarray(n * C, (n + 1) * C), o.output);
  return {
    image,
    maps: image.truths.map((t, k) => mapAt(r.heatmaps, n * T + k, image.rec)),
    predicted: predictedLabels(p, o.output),
    inputMap(k) {
      const [, h, w] = r.heatmaps.shape;
      return map2d(r.heatmaps.data.slice((n * T + k) * h * w, (n * T + k + 1) * h * w), h, w);
    },
    classify: (label) => async (b, m) => {
      const lg = (await ex.logits({ shape: [m, 3, H, W], data: b })).data;
      return Array.from({ length: m }, (_, q) => probabilities(lg.subarray(q * C, (q + 1) * C), o.output)[label]);
    },
  };
}
