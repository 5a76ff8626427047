// Dataset images as the model sees them, and maps brought back to each image's resolution.
import type { CpuTensor } from '../ops/op.js';
import { cpuAttr } from '../ops/shared/attribution.js';
import { preprocess, type PreprocessOptions } from '../io/image.js';
import { type Dataset, type ImageRecord, loadImage } from '../data/format.js';
import { labelTruths, type LabelTruth } from './ground-truth.js';
import { map2d, type Map2D } from './metrics/index.js';

export interface Loaded {
  rec: ImageRecord;
  /** The preprocessed 1×C×H×W input. */
  x: CpuTensor;
  truths: LabelTruth[];
}

/** Decodes and preprocesses one record, with its ground truth. */
export function imageLoader(ds: Dataset, pre: PreprocessOptions): (rec: ImageRecord) => Loaded {
  return (rec) => {
    const img = loadImage(ds, rec);
    const b = preprocess([{ ...img, source: rec.id }], pre);
    return { rec, x: { shape: b.shape, data: b.data }, truths: labelTruths(ds, rec) };
  };
}

/** The images as one N×C×H×W batch. */
export function stack(xs: Loaded[]): CpuTensor {
  const per = xs[0].x.data.length;
  const data = new Float32Array(xs.length * per);
  xs.forEach((l, i) => data.set(l.x.data, i * per));
  return { shape: [xs.length, ...xs[0].x.shape.slice(1)], data };
}

/** Map k of (N·T)×H×W heatmaps at the record's resolution (scores are taken against its annotation). */
export function mapAt(heat: CpuTensor, k: number, rec: ImageRecord): Map2D {
  const [, h, w] = heat.shape;
  const plane = { shape: [1, 1, h, w], data: heat.data.slice(k * h * w, (k + 1) * h * w) };
  const m = h === rec.height && w === rec.width ? plane : cpuAttr.resizeBilinear(plane, rec.height, rec.width);
  return map2d(m.data, rec.height, rec.width);
}
