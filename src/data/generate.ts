// Writes a whole benchmark folder: `count` images, each from its own sub-seed, so any image can be
// regenerated alone (renderScene(imageSeed(seed, i), size)) and the folder is byte-identical for
// the same settings.
import { CLASS_NAMES } from './classes.js';
import { type Annotations, DatasetWriter } from './format.js';
import { renderMosaic } from './mosaic.js';
import { hashInts } from '../rng.js';
import { renderScene, resolveSize, type Size } from './scene.js';
import { OptionError } from '../errors.js';

export interface GenerateOptions {
  seed: number;
  count: number;
  /** Image side (or [width, height]); default 224. Mosaics use size / 2 per cell. */
  size?: Size;
  dir: string;
  /** 'scenes' (1–3 objects, default) or 'mosaics' (GridPG 2×2 of distinct classes). */
  kind?: 'scenes' | 'mosaics';
  /** Fraction of scenes with a watermark overlay (default 0.2; mosaic cells get none). */
  watermarkRate?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface GenerateResult {
  dir: string;
  count: number;
  seconds: number;
  annotations: Annotations;
}

/** Sub-seed of image i of a dataset. */
export const imageSeed = (seed: number, i: number): number => hashInts(seed, i);

export function generateDataset(o: GenerateOptions): GenerateResult {
  if (!Number.isInteger(o.seed)) throw new OptionError(`seed must be an integer, got ${o.seed}`);
  if (!Number.isInteger(o.count) || o.count < 1) throw new OptionError(`count must be a positive integer, got ${o.count}`);
  const kind = o.kind ?? 'scenes';
  if (kind !== 'scenes' && kind !== 'mosaics') throw new OptionError(`kind must be 'scenes' or 'mosaics', got '${String(kind)}'`);
  const [W, H] = resolveSize(o.size ?? 224);
  if (kind === 'mosaics' && (W % 2 || H % 2)) throw new OptionError(`mosaic size must be even (2×2 cells), got ${W}×${H}`);
  const watermarkRate = o.watermarkRate ?? 0.2;
  const t0 = performance.now();
  const w = new DatasetWriter(o.dir, [...CLASS_NAMES], {
    name: 'aeq procedural benchmark', kind, seed: o.seed, count: o.count, width: W, height: H,
    ...(kind === 'scenes' ? { watermarkRate } : {}),
  });
  const prefix = kind === 'scenes' ? 'scene' : 'mosaic';
  const digits = Math.max(5, String(o.count - 1).length);
  for (let i = 0; i < o.count; i++) {
    const s = imageSeed(o.seed, i);
    const img = kind === 'scenes' ? renderScene(s, [W, H], { watermarkRate }) : renderMosaic(s, [W / 2, H / 2]);
    w.add(`${prefix}${String(i).padStart(digits, '0')}`, img);
    o.onProgress?.(i + 1, o.count);
  }
  const annotations = w.finish();
  return { dir: w.dir, count: o.count, seconds: (performance.now() - t0) / 1000, annotations };
}
