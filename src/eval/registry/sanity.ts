// The model-randomisation sanity check (Adebayo et al. 2018): each image's map by the original model
// vs by copies whose top k layers are randomised; Spearman/SSIM per step, averaged over images.
// It explains its own images (the original top class, kept fixed), not the label maps.
import { Explainer } from '../../explain/explainer.js';
import { sanityCheck, type Map2D, type SanityStep } from '../metrics/index.js';
import { randomizeTop, parametrisedLayers } from '../randomize.js';
import { mapAt, stack } from '../images.js';
import type { MethodSpec } from '../methods.js';
import type { EvalEnv, MethodMetric } from '../metric.js';
import { OptionError } from '../../errors.js';

export const sanity: MethodMetric = {
  name: 'sanity',
  scope: 'method',
  needs: {},
  start(env, method) {
    return {
      async report(out) {
        const steps = meanSanity(await sanityRuns(env, method));
        const last = steps[steps.length - 1];
        out.scores['sanity spearman (all randomised)'] = last.spearman;
        out.scores['sanity SSIM (all randomised)'] = last.ssim;
        out.sanity = steps;
      },
    };
  },
};

/** Per image: maps of the original and of each cascading-randomised model; Spearman/SSIM per step. */
async function sanityRuns({ o, ex, load }: EvalEnv, method: MethodSpec): Promise<SanityStep[][]> {
  const layers = parametrisedLayers(o.model);
  const steps = Math.min(o.sanitySteps ?? layers.length, layers.length);
  if (steps < 1) throw new OptionError(`${o.model.source}: no parametrised layers to randomise`);
  const xs = o.dataset.images.map(load);
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
