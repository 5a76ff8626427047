// The registry of `aeq eval`'s metrics: every MetricName has exactly one entry (the type checks it).
import type { Metric } from '../metric.js';
import type { MetricName } from '../types.js';
import { pointing } from './pointing.js';
import { gridpg, outsideInside, energy } from './class-means.js';
import { insertion, deletion } from './curves.js';
import { sanity } from './sanity.js';
import { accuracy } from './accuracy.js';

export const REGISTRY: Record<MetricName, Metric> = {
  pointing, gridpg, 'outside-inside': outsideInside, energy, insertion, deletion, sanity, accuracy,
};

export { averagePrecision } from './accuracy.js';
