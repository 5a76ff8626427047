// LRP against Zennit 0.5.1 and excitation backprop against TorchRay v1.0.0 (arrays from
// tools/make_lrp_refs.py / make_eb_refs.py on branch i11-refs, notes in
// test/fixtures/baselines/REFERENCES.md): the VGG-style and ResNet-style baseline nets (BN folded),
// and the ResNet-style net with BN unfolded (resnet-bn: Zennit with its BN-merge canonizer, aeq with
// src/graph/canonize.ts), 2 inputs × targets [1, 4], both backends. LRP: every composite, relative
// L2 ≤ 1e-3 at the input.
// EB and cEB: the maps at the layer (vgg: the default layers, resnet: TorchRay's layer1 / GAP
// analogue given explicitly), Pearson ≥ 0.99 and relative L2 ≤ 1e-3.
import { describe, it, expect } from 'vitest';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import type { ExplainOptions } from '../src/explain/explainer.js';
import { COMPOSITES } from '../src/ops/shared/composites.js';
import { DIR, TARGETS, manifest, npy, explainerCache } from './helpers/baselines.js';
import { pearson } from '../src/eval/metrics/sanity.js';
import { diff } from './helpers/ops.js';

const refs = JSON.parse(readFileSync(join(DIR, 'references.json'), 'utf8'));
const TOL = 1e-3;
const x = npy('x.npy');


const explainer = explainerCache();

describe('LRP composites = Zennit 0.5.1', () => {
  for (const model of ['vgg', 'resnet', 'resnet-bn']) {
    for (const backend of ['cpu', 'webgpu'] as const) {
      it.each(COMPOSITES)(`${model} · ${backend} · %s`, async (composite) => {
        const e = await explainer(model, backend);
        const r = await e.explain(x, { method: 'lrp', composite, target: TARGETS });
        const ref = npy(`${model}.lrp-${composite}.npy`);
        expect(r.targets).toEqual([TARGETS, TARGETS]);
        expect(r.attribution!.shape).toEqual(ref.shape);
        const d = diff(r.attribution!.data, ref.data);
        if (process.env.AEQ_PRINT_REL_L2) process.stdout.write(`rel-l2 ${model} ${backend} ${composite} ${d.relL2}\n`);
        expect(d.relL2, `rel. L2 ${d.relL2}`).toBeLessThanOrEqual(TOL);
      });
    }
  }
});

describe('resnet-bn: the BN-merged graph LRP explains', () => {
  it.each(['cpu', 'webgpu'] as const)('%s: its logits, and the unmerged graph\'s, equal the exporting torch module\'s (manifest.json resnet, relative 1e-5); no BN is left', async (backend) => {
    const e = await explainer('resnet-bn', backend);
    const want = Float32Array.from((manifest.models.resnet.logits as number[][]).flat());
    expect(e.session.bnMerged.merged.length).toBe(6);
    expect(e.session.bnMerged.kept).toEqual([]);
    for (const variant of [{ mergeBatchNorm: true }, {}]) {
      const got = (await e.session.run({ input: x }, { variant }))[e.session.outputNames[0]];
      expect(diff(got.data, want).relL2, JSON.stringify(variant)).toBeLessThanOrEqual(1e-5);
    }
    expect(e.session.plan({ input: x.shape }, { mergeBatchNorm: true }).steps.some((s) => s.node.opType === 'BatchNormalization')).toBe(false);
  });
});

describe('excitation backprop = TorchRay v1.0.0', () => {
  for (const model of ['vgg', 'resnet']) {
    const m = refs.eb.models[model];
    // vgg: the defaults must find TorchRay's layers; resnet has no VGG structure and names its saliency
    // layer, but its default contrast layer is TorchRay's ResNet setting (the pool before the fc layer).
    const layers: ExplainOptions = model === 'vgg' ? {} : { layer: m.saliency_layer };
    for (const backend of ['cpu', 'webgpu'] as const) {
      it.each(['eb', 'ceb'] as const)(`${model} · ${backend} · %s`, async (method) => {
        const e = await explainer(model, backend);
        const o: ExplainOptions = { method, target: TARGETS, ...layers };
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
