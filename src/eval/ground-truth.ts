// Ground-truth regions of a dataset image per class: the union of the mask pixels of that class's
// objects (mask images), or of their boxes (datasets without masks), at the image's resolution.
import { type Dataset, type ImageRecord, loadMask } from '../data/format.js';
import type { Region } from './metrics/types.js';

export interface LabelTruth {
  label: number;
  region: Region;
  /** Every object of the class is in the paper's difficult subset (under 1/4 of the image). */
  difficult: boolean;
  /** GridPG: the cell holding the class, when the image is a mosaic. */
  cell?: number;
}

export function labelTruths(ds: Dataset, rec: ImageRecord): LabelTruth[] {
  const mask = rec.objects.length && rec.objects.every((o) => o.maskValue !== null) ? loadMask(ds, rec) : null;
  return rec.labels.map((label) => {
    const objs = rec.objects.filter((o) => o.class === label);
    let region: Region;
    if (mask && objs.length) {
      const values = new Set(objs.map((o) => o.maskValue));
      const m = new Uint8Array(mask.length);
      for (let i = 0; i < mask.length; i++) if (values.has(mask[i])) m[i] = 1;
      region = { mask: m };
    } else {
      // Classification-only images (no objects) count the whole image as the region.
      const boxes = objs.length ? objs.map((o) => o.box) : [[0, 0, rec.width, rec.height] as const];
      region = { boxes: boxes.map(([x0, y0, x1, y1]) => ({ x0, y0, x1, y1 })) };
    }
    const cell = rec.grid ? rec.grid.cells.indexOf(label) : -1;
    return { label, region, difficult: objs.length > 0 && objs.every((o) => o.difficult), ...(cell >= 0 ? { cell } : {}) };
  });
}
