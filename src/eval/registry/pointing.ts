// The pointing game (Zhang et al.): does each label's map peak inside its region, at 0 px and
// at the tolerance; over all targets and over the difficult subset; with its precision/recall.
import { PointingGame } from '../metrics/index.js';
import type { MethodMetric } from '../metric.js';

export const pointing: MethodMetric = {
  name: 'pointing',
  scope: 'method',
  needs: { labelMaps: true },
  start({ tolerance: tol }) {
    const pg = new PointingGame([0, tol]);
    return {
      add({ image, maps, predicted }) {
        pg.add({ targets: image.truths.map((t, k) => ({ label: t.label, map: maps[k], region: t.region, difficult: t.difficult })), predicted });
      },
      report({ scores }) {
        for (const s of ['L', 'P'] as const) {
          scores[`PG-${s}`] = pg.summary(s, 'full', 0).accuracy;
          scores[`PG-${s} tol${tol}`] = pg.summary(s, 'full', tol).accuracy;
          scores[`PG-${s} difficult tol${tol}`] = pg.summary(s, 'difficult', tol).accuracy;
        }
        scores.PR = pg.summary('L', 'full', 0).pr;
      },
    };
  },
};
