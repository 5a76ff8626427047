// The reference-library fixtures of test/fixtures/baselines (tools/make_*_refs.py): the folder, the
// shared input and targets, .npy loading, and one Explainer per (model, backend) for a test file.
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { afterAll } from 'vitest';
import { Explainer } from '../../src/explain/explainer.js';
import { readNpy } from '../../src/io/npy.js';
import type { CpuTensor } from '../../src/ops/op.js';
import { FIXTURES } from './shared.js';

export const DIR = join(FIXTURES, 'baselines');
export const manifest = JSON.parse(readFileSync(join(DIR, 'manifest.json'), 'utf8'));
export const TARGETS: number[] = manifest.targets;

export const npy = (f: string): CpuTensor => {
  const a = readNpy(join(DIR, f));
  return { shape: a.shape, data: a.data };
};

/** An explainer cache for one test file, disposed after its tests. */
export function explainerCache(): (model: string, backend: 'cpu' | 'webgpu') => Promise<Explainer> {
  const made = new Map<string, Explainer>();
  afterAll(() => made.forEach((e) => e.dispose()));
  return async (model, backend) => {
    const k = `${model}/${backend}`;
    let e = made.get(k);
    if (!e) made.set(k, (e = await Explainer.create(join(DIR, `${model}.onnx`), { backend })));
    return e;
  };
}
