// The reference arrays of the LRP, CAM and excitation-backprop methods (issue 11; Zennit 0.5.1,
// pytorch-grad-cam, TorchRay v1.0.0: tools/make_{lrp,cam,eb}_refs.py, conventions in
// test/fixtures/baselines/REFERENCES.md) are what the method tests compare against: every array that
// references.json names loads with aeq's .npy reader, has the recorded shape, N·T rows, finite and not
// all zero; the recorded relevance sums are those of the arrays; the layers named are tensors of the
// ONNX graphs, and the CAM layer is aeq's default layer.
import { describe, it, expect } from 'vitest';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { readNpy } from '../src/io/npy.js';
import { loadModel } from '../src/io/onnx.js';
import { planGraph } from '../src/planner/plan.js';
import { defaultLayer } from '../src/planner/layers.js';
import { FIXTURES } from './helpers/shared.js';

const DIR = join(FIXTURES, 'baselines');
const refs = JSON.parse(readFileSync(join(DIR, 'references.json'), 'utf8'));
const base = JSON.parse(readFileSync(join(DIR, 'manifest.json'), 'utf8'));
const ROWS = base.shape[0] * base.targets.length;
const MODELS = ['vgg', 'resnet'];
/** LRP also has the resnet with BatchNormalization unfolded (Zennit with its BN-merge canonizer). */
const LRP_MODELS = [...MODELS, 'resnet-bn'];

/** Every { file, shape } entry under a library's models (and weights/scores/terms files). */
function files(lib: string): { model: string; file: string; shape?: number[] }[] {
  const out: { model: string; file: string; shape?: number[] }[] = [];
  const walk = (model: string, v: unknown): void => {
    if (!v || typeof v !== 'object') return;
    const o = v as Record<string, unknown>;
    if (typeof o.file === 'string') out.push({ model, file: o.file, shape: o.shape as number[] | undefined });
    if (typeof o.weights === 'string') out.push({ model, file: o.weights, shape: o.weights_shape as number[] | undefined });
    if (typeof o.scores === 'string') out.push({ model, file: o.scores });
    if (typeof o.terms === 'string') out.push({ model, file: o.terms, shape: o.terms_shape as number[] | undefined });
    for (const w of Object.values(o)) walk(model, w);
  };
  for (const m of lib === 'lrp' ? LRP_MODELS : MODELS) walk(m, refs[lib].models[m]);
  return out;
}

function plan(model: string) {
  const m = loadModel(join(DIR, `${model}.onnx`));
  return planGraph(m, { input: [1, 3, 32, 32] });
}

describe('reference arrays of the LRP, CAM and EB methods', () => {
  for (const lib of ['lrp', 'cam', 'eb']) {
    it(`${lib}: every array loads, has its shape, ${ROWS} rows, finite, not all zero`, () => {
      const list = files(lib);
      expect(list.length).toBeGreaterThan(4);
      for (const { file, shape } of list) {
        const a = readNpy(join(DIR, file));
        if (shape) expect(a.shape, file).toEqual(shape);
        expect(a.shape[0], file).toBe(ROWS);
        let max = 0;
        for (const v of a.data) {
          expect(Number.isFinite(v), file).toBe(true);
          max = Math.max(max, Math.abs(v));
        }
        expect(max, file).toBeGreaterThan(0);
      }
    });
  }

  it('lrp: the recorded input sums are the arrays\' row sums; every Conv/Gemm node of the graph has its sums', () => {
    expect(Object.keys(refs.lrp.models)).toEqual(LRP_MODELS);
    for (const model of LRP_MODELS) {
      const m = loadModel(join(DIR, `${model}.onnx`));
      const nodes = m.graph.nodes.filter((n) => n.opType === 'Conv' || n.opType === 'Gemm').map((n) => n.name);
      for (const [name, c] of Object.entries<any>(refs.lrp.models[model].composites)) {
        expect(Object.keys(c.layer_input_sums), `${model} ${name}`).toEqual(expect.arrayContaining(nodes));
        const a = readNpy(join(DIR, c.file));
        const per = a.data.length / ROWS;
        for (let r = 0; r < ROWS; r++) {
          let s = 0;
          for (let i = r * per; i < (r + 1) * per; i++) s += a.data[i];
          expect(s).toBeCloseTo(c.input_sum[r], 4);
        }
      }
    }
  });

  it('the CAM layer is aeq\'s default layer; the EB layers are tensors of the graphs', () => {
    for (const model of MODELS) {
      const p = plan(model);
      expect(defaultLayer(p)).toBe(refs.cam.models[model].layer);
      for (const k of ['saliency_layer', 'contrast_layer']) expect(p.shapes.has(refs.eb.models[model][k]), k).toBe(true);
    }
  });
});
