// LRP against Zennit 0.5.1 and excitation backprop against TorchRay v1.0.0 (arrays from
// tools/make_lrp_refs.py / make_eb_refs.py on branch i11-refs, notes in
// test/fixtures/baselines/REFERENCES.md): the VGG-style and ResNet-style baseline nets (BN folded),
// 2 inputs × targets [1, 4], both backends. LRP: every composite, relative L2 ≤ 1e-3 at the input.
// EB and cEB: the maps at the layer (vgg: the default layers, resnet: TorchRay's layer1 / GAP
// analogue given explicitly), Pearson ≥ 0.99 and relative L2 ≤ 1e-3.
import { describe, it, expect, afterAll } from 'vitest';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { Explainer, type ExplainOptions } from '../src/explain/explainer.js';
import { readNpy } from '../src/io/npy.js';
import type { CpuTensor } from '../src/ops/op.js';
import { COMPOSITES } from '../src/ops/shared/composites.js';
import { FIXTURES } from './helpers/shared.js';
import { diff } from './helpers/ops.js';

const DIR = join(FIXTURES, 'baselines');
const manifest = JSON.parse(readFileSync(join(DIR, 'manifest.json'), 'utf8'));
const refs = JSON.parse(readFileSync(join(DIR, 'references.json'), 'utf8'));
const TARGETS: number[] = manifest.targets;
const TOL = 1e-3;
const npy = (f: string): CpuTensor => {
  const a = readNpy(join(DIR, f));
  return { shape: a.shape, data: a.data };
};
const x = npy('x.npy');

function pearson(a: Float32Array, b: Float32Array): number {
  const n = a.length;
  const ma = a.reduce((s, v) => s + v, 0) / n, mb = b.reduce((s, v) => s + v, 0) / n;
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < n; i++) {
    ab += (a[i] - ma) * (b[i] - mb);
    aa += (a[i] - ma) ** 2;
    bb += (b[i] - mb) ** 2;
  }
  return ab / Math.sqrt(aa * bb);
}

const explainers = new Map<string, Explainer>();
async function explainer(model: string, backend: 'cpu' | 'webgpu'): Promise<Explainer> {
  const k = `${model}/${backend}`;
  let e = explainers.get(k);
  if (!e) explainers.set(k, (e = await Explainer.create(join(DIR, `${model}.onnx`), { backend })));
  return e;
}
afterAll(() => explainers.forEach((e) => e.dispose()));

describe('LRP composites = Zennit 0.5.1', () => {
  for (const model of ['vgg', 'resnet']) {
    for (const backend of ['cpu', 'webgpu'] as const) {
      it.each(COMPOSITES)(`${model} · ${backend} · %s`, async (composite) => {
        const e = await explainer(model, backend);
        const r = await e.explain(x, { method: 'lrp', composite, target: TARGETS });
        const ref = npy(`${model}.lrp-${composite}.npy`);
        expect(r.targets).toEqual([TARGETS, TARGETS]);
        expect(r.attribution!.shape).toEqual(ref.shape);
        const d = diff(r.attribution!.data, ref.data);
        expect(d.relL2, `rel. L2 ${d.relL2}`).toBeLessThanOrEqual(TOL);
      });
    }
  }
});

describe('excitation backprop = TorchRay v1.0.0', () => {
  for (const model of ['vgg', 'resnet']) {
    const m = refs.eb.models[model];
    // vgg: the defaults must find TorchRay's layers; resnet has no VGG structure and names them.
    const layers: ExplainOptions = model === 'vgg' ? {} : { layer: m.saliency_layer };
    for (const backend of ['cpu', 'webgpu'] as const) {
      it.each(['eb', 'ceb'] as const)(`${model} · ${backend} · %s`, async (method) => {
        const e = await explainer(model, backend);
        const o: ExplainOptions = { method, target: TARGETS, ...layers, ...(method === 'ceb' && model !== 'vgg' ? { contrastLayer: m.contrast_layer } : {}) };
        const r = await e.explain(x, o);
        expect(r.layer).toBe(m.saliency_layer);
        const ref = npy(`${model}.${method}.npy`);
        expect(r.layerMap!.shape).toEqual(ref.shape);
        const p = pearson(r.layerMap!.data, ref.data), d = diff(r.layerMap!.data, ref.data);
        expect(p, `Pearson ${p}, rel. L2 ${d.relL2}`).toBeGreaterThanOrEqual(0.99);
        expect(d.relL2, `rel. L2 ${d.relL2}`).toBeLessThanOrEqual(TOL);
        expect(r.heatmaps.shape).toEqual([4, 32, 32]);
      });
    }
  }
});
