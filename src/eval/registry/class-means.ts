// Metrics scored per target and averaged per class, then over classes: GridPG, outside/inside
// and energy PG. They differ only in the per-target score, so one factory makes all three.
import { ClassMeans, energyPointingGame, gridPointingGame, outsideInsideRatio, type Map2D } from '../metrics/index.js';
import type { LabelTruth } from '../ground-truth.js';
import type { Loaded } from '../images.js';
import type { MethodMetric, MetricNeeds } from '../metric.js';
import type { MetricName } from '../types.js';

/** A target's score, or undefined where the metric does not apply to it. */
type TargetScore = (map: Map2D, truth: LabelTruth, image: Loaded) => number | undefined;

function classMeanMetric(name: MetricName, key: string, score: TargetScore, needs: MetricNeeds = {}): MethodMetric {
  return {
    name,
    scope: 'method',
    needs: { labelMaps: true, ...needs },
    start() {
      const means = new ClassMeans();
      return {
        add({ image, maps }) {
          image.truths.forEach((t, k) => {
            const v = score(maps[k], t, image);
            if (v !== undefined) means.add(t.label, v);
          });
        },
        report({ scores }) {
          scores[key] = means.meanOverClasses();
        },
      };
    },
  };
}

export const gridpg = classMeanMetric('gridpg', 'GridPG', (map, t, { rec }) =>
  rec.grid && t.cell !== undefined ? gridPointingGame(map, t.cell, { rows: rec.grid.rows, cols: rec.grid.cols }) : undefined,
{ mosaics: true });

export const outsideInside = classMeanMetric('outside-inside', 'outside/inside', (map, t) => outsideInsideRatio(map, t.region));

export const energy = classMeanMetric('energy', 'energy PG', (map, t) => energyPointingGame(map, t.region));
