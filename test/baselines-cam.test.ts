// The CAM family against pytorch-grad-cam (tools/make_cam_refs.py, commit
// 084273b3f30b54ad0c64cf8020a4337d979a66e0; test/fixtures/baselines/REFERENCES.md): Grad-CAM++,
// Score-CAM and LayerCAM maps at the layer (aeq's default layer, before the library's min-max
// scaling, which aeq does not apply) and their channel weights, FullGrad's returned map at the
// input's resolution, on the VGG-style and ResNet-style nets, 2 inputs × targets [1, 4], both
// backends. Conventions agree everywhere, so every array is held to relative L2 ≤ 1e-3 (and the
// maps to Pearson ≥ 0.99 as well); the heatmaps are the layer maps upsampled bilinearly with
// align_corners = false.
import { describe, it, expect } from 'vitest';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import type { ExplainOptions } from '../src/explain/explainer.js';
import { cpuAttr } from '../src/ops/shared/attribution.js';
import { biasTerms } from '../src/explain/fullgrad.js';
import { DIR, TARGETS, npy, explainerCache } from './helpers/baselines.js';
import { pearson } from '../src/eval/metrics/sanity.js';
import { diff } from './helpers/ops.js';

const refs = JSON.parse(readFileSync(join(DIR, 'references.json'), 'utf8')).cam;
const TOL = 1e-3;
const x = npy('x.npy');


/** Per row of K: v − mean(v) (softmax weights' logs are the scores up to a constant per row). */
function centred(v: Float32Array | Float64Array, k: number): Float64Array {
  const out = new Float64Array(v.length);
  for (let r = 0; r < v.length / k; r++) {
    let m = 0;
    for (let j = 0; j < k; j++) m += v[r * k + j] / k;
    for (let j = 0; j < k; j++) out[r * k + j] = v[r * k + j] - m;
  }
  return out;
}

const relL2 = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) { num += (a[i] - b[i]) ** 2; den += b[i] ** 2; }
  return Math.sqrt(num / den);
};

const explainer = explainerCache();

/** aeq's method, the reference's file stem, and whether it has channel weights. */
const CAMS: [ExplainOptions['method'], string, boolean][] = [['gradcam++', 'gradcampp', true], ['scorecam', 'scorecam', true], ['layercam', 'layercam', false]];

describe('CAM family = pytorch-grad-cam', () => {
  for (const model of ['vgg', 'resnet']) {
    for (const backend of ['cpu', 'webgpu'] as const) {
      it.each(CAMS)(`${model} · ${backend} · %s at the layer`, async (method, stem, weighted) => {
        const e = await explainer(model, backend);
        const r = await e.explain(x, { method, target: TARGETS });
        const ref = npy(`${model}.${stem}.npy`);
        expect(r.layer).toBe(refs.models[model].layer);
        expect(r.layerMap!.shape).toEqual(ref.shape);
        const rel = diff(r.layerMap!.data, ref.data).relL2;
        const rho = pearson(r.layerMap!.data, ref.data);
        if (process.env.AEQ_REPORT) console.log(`${model} ${backend} ${method}: rel. L2 ${rel.toExponential(2)}, Pearson ${rho.toFixed(7)}`);
        expect(rel, `${model} ${backend} ${method}: rel. L2 ${rel}, Pearson ${rho}`).toBeLessThanOrEqual(TOL);
        expect(rho).toBeGreaterThanOrEqual(0.99);
        // The heatmap: the map upsampled bilinearly (align_corners = false), not min-max scaled.
        const [b, h, w] = ref.shape;
        const up = cpuAttr.resizeBilinear({ shape: [b, 1, h, w], data: ref.data }, 32, 32);
        expect(diff(r.heatmaps.data, up.data).relL2).toBeLessThanOrEqual(TOL);
        if (!weighted) return;
        const want = npy(`${model}.${stem}-weights.npy`);
        expect(r.channelWeights!.shape).toEqual(want.shape);
        const wrel = diff(r.channelWeights!.data, want.data).relL2;
        if (process.env.AEQ_REPORT) console.log(`${model} ${backend} ${method} weights: rel. L2 ${wrel.toExponential(2)}`);
        expect(wrel).toBeLessThanOrEqual(TOL);
      });

      it(`${model} · ${backend} · scorecam's scores: log w − mean = score − mean, per row`, async () => {
        // The weights are near uniform on these nets (scores within ~3e-3 of each other): compare
        // what the softmax keeps of the scores, their differences, instead.
        const e = await explainer(model, backend);
        const r = await e.explain(x, { method: 'scorecam', target: TARGETS });
        const scores = npy(`${model}.scorecam-scores.npy`);
        const k = scores.shape[1];
        const mine = centred(Float64Array.from(r.channelWeights!.data, Math.log), k);
        const srel = relL2(mine, centred(scores.data, k));
        if (process.env.AEQ_REPORT) console.log(`${model} ${backend} scorecam centred scores: rel. L2 ${srel.toExponential(2)}`);
        expect(srel).toBeLessThanOrEqual(TOL);
      });

      it(`${model} · ${backend} · fullgrad at the input`, async () => {
        const e = await explainer(model, backend);
        const r = await e.explain(x, { method: 'fullgrad', target: TARGETS });
        const ref = npy(`${model}.fullgrad.npy`);
        expect(r.heatmaps.shape).toEqual(ref.shape);
        const rel = diff(r.heatmaps.data, ref.data).relL2;
        if (process.env.AEQ_REPORT) console.log(`${model} ${backend} fullgrad: rel. L2 ${rel.toExponential(2)}, Pearson ${pearson(r.heatmaps.data, ref.data).toFixed(7)}`);
        expect(rel, `${model} ${backend} fullgrad: rel. L2 ${rel}, Pearson ${pearson(r.heatmaps.data, ref.data)}`).toBeLessThanOrEqual(TOL);
        // The layers whose biases count: the library's, in its order (every Conv here; no Gemm).
        const plan = e.session.plan({ [e.session.inputNames[0]]: x.shape });
        const layers = biasTerms(plan).map((t) => plan.steps[plan.producer.get(t.output)!].node.name);
        expect(['input', ...layers]).toEqual(refs.models[model].fullgrad.terms_order);
      });
    }
  }
});
