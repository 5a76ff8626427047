// The evaluation engine (aeq eval): method specs, AP, ground truth from dataset folders, cascading
// randomisation, evaluate() end to end on the bundled ResNet over a few generated images (with one
// pointing-game result recomputed independently), and the CLI command. The metric functions
// themselves are covered by metrics.test.ts.
import { describe, it, expect, beforeAll, afterEach, vi } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseMethod, parseMethods, ratioSweep, ablationGrid } from '../src/eval/methods.js';
import { evaluate, averagePrecision, resultTable, type EvalOptions, type EvalResult } from '../src/eval/evaluate.js';
import { labelTruths } from '../src/eval/ground-truth.js';
import { randomizeTop, parametrisedLayers } from '../src/eval/randomize.js';
import { PointingGame, regionMask } from '../src/eval/metrics/index.js';
import { evalCommand } from '../src/cli/eval.js';
import { generateDataset, readDataset, loadMask, type Dataset, type ImageRecord } from '../src/data/index.js';
import { bundledModel } from '../src/models.js';
import { loadModel } from '../src/io/onnx.js';
import { loadImages } from '../src/io/image.js';
import { Explainer } from '../src/explain/explainer.js';
import { getGpu } from '../src/kernels/gpu/runtime.js';
import { InputError, OptionError } from '../src/errors.js';
import type { Model } from '../src/graph/ir.js';

const RESNET = bundledModel('aeq-resnet')!;
const LONG = 300_000; // lavapipe on two cores; the whole file takes well under this

let backend: 'webgpu' | 'cpu';
let scenes: Dataset, mosaics: Dataset, model: Model;
beforeAll(async () => {
  backend = await getGpu().then(() => 'webgpu' as const, () => 'cpu' as const);
  const root = mkdtempSync(join(tmpdir(), 'aeq-eval-'));
  generateDataset({ seed: 11, count: 4, dir: join(root, 'scenes') });
  generateDataset({ seed: 5, count: 2, dir: join(root, 'mosaics'), kind: 'mosaics' });
  scenes = readDataset(join(root, 'scenes'));
  mosaics = readDataset(join(root, 'mosaics'));
  model = loadModel(RESNET.path);
  return () => rmSync(root, { recursive: true, force: true });
});

afterEach(() => {
  vi.restoreAllMocks();
});

const only = (ds: Dataset, images: ImageRecord[]): Dataset => ({ ...ds, images });
/** The image with the fewest (or most) labels: cheap curves, or many pointing trials. */
const fewest = (ds: Dataset) => [...ds.images].sort((a, b) => a.labels.length - b.labels.length)[0];
const most = (ds: Dataset) => [...ds.images].sort((a, b) => b.labels.length - a.labels.length)[0];

function run(o: Partial<EvalOptions> & Pick<EvalOptions, 'dataset' | 'methods' | 'metrics'>): Promise<EvalResult> {
  return evaluate({ model, backend, preprocess: { preset: RESNET.preset }, output: RESNET.output, ...o });
}

function expectUnit(v: number, what: string): void {
  expect(v, what).toBeGreaterThanOrEqual(0);
  expect(v, what).toBeLessThanOrEqual(1);
}

function thrown(f: () => unknown): Error {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
}

async function rejected(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection');
}

describe('method specs', () => {
  it('parse ae, ae:RATIO:switches and gradcam', () => {
    const ae = parseMethod('ae');
    expect(ae.options.method).toBe('ae');
    expect(ae.options.ratio).toBe(2);
    expect(Object.values(ae.options.terms ?? {}).filter((v) => v === false)).toEqual([]);
    expect(ae.label).toBe('AE r=2');

    const ns = parseMethod('ae:1.5:no-shift');
    expect(ns.options.ratio).toBe(1.5);
    expect(ns.options.terms).toEqual({ shift: false });
    expect(ns.label).toMatch(/r=1\.5/);
    expect(ns.label).toMatch(/shift/i);
    expect(parseMethod(' ae:no-contrib:1 ').options).toEqual({ method: 'ae', ratio: 1, terms: { contrib: false } });

    expect(parseMethod('gradcam')).toEqual({ label: 'Grad-CAM', options: { method: 'gradcam' } });
    expect(parseMethods('gradcam, ae:1,,').map((m) => m.label)).toEqual(['Grad-CAM', 'AE r=1']);
  });

  it('reject unknown names, bad ratios and parameters of gradcam, naming the spec', () => {
    for (const [spec, why] of [['foo', /unknown method 'foo'/], ['ae:x', /'ae:x'.*'x'/], ['gradcam:2', /'gradcam:2'.*no parameters/], ['ae:', /'ae:'/], ['ae:2:no-foo', /'no-foo'/], ['ae:2:1.5', /two ratios/], ['ae:0x10', /'0x10'/]] as const) {
      const e = thrown(() => parseMethod(spec));
      expect(e, spec).toBeInstanceOf(OptionError);
      expect(e.message, spec).toMatch(why);
    }
    expect(thrown(() => parseMethods(' , ')).message).toMatch(/no methods/);
  });

  it('ratioSweep is AE at 1.0, 1.1, …, 2.0 with clean labels', () => {
    const s = ratioSweep();
    expect(s).toHaveLength(11);
    expect(s.map((m) => m.options.ratio)).toEqual([1, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7, 1.8, 1.9, 2]);
    expect(s.map((m) => m.label)).toEqual(['1', '1.1', '1.2', '1.3', '1.4', '1.5', '1.6', '1.7', '1.8', '1.9', '2'].map((r) => `AE r=${r}`));
  });

  it('ablationGrid starts all-on and has each single switch, all at the ratio', () => {
    const g = ablationGrid(1.5);
    expect(g).toHaveLength(9);
    expect(g[0].options).toEqual({ method: 'ae', ratio: 1.5, terms: {} });
    for (const t of ['contrib', 'shift', 'activated', 'inactivated']) {
      expect(g.some((m) => JSON.stringify(m.options.terms) === JSON.stringify({ [t]: false })), t).toBe(true);
    }
    expect(g.every((m) => m.options.method === 'ae' && m.options.ratio === 1.5)).toBe(true);
    expect(new Set(g.map((m) => m.label)).size).toBe(g.length);
    expect(ablationGrid()[0].options.ratio).toBe(2);
  });
});

describe('averagePrecision', () => {
  it('is 1 for a perfect ranking, the mean precision at each positive otherwise, NaN without positives', () => {
    expect(averagePrecision([0.9, 0.8, 0.3, 0.1], [true, true, false, false])).toBe(1);
    // Ranked: 0.9 (+), 0.8 (−), 0.7 (+), 0.6 (−), 0.5 (+) → precisions 1/1, 2/3, 3/5.
    expect(averagePrecision([0.5, 0.9, 0.7, 0.8, 0.6], [true, true, true, false, false])).toBeCloseTo((1 + 2 / 3 + 3 / 5) / 3, 12);
    expect(averagePrecision([0.1, 0.9], [true, false])).toBe(0.5);
    // Ties keep the input order.
    expect(averagePrecision([1, 1], [false, true])).toBe(0.5);
    expect(averagePrecision([1, 1], [true, false])).toBe(1);
    expect(averagePrecision([0.2, 0.4], [false, false])).toBeNaN();
  });
});

describe('labelTruths', () => {
  it('a scene: each label is the mask pixels of its objects, inside their boxes, with their difficult flag', () => {
    let checked = 0;
    for (const rec of scenes.images) {
      const mask = loadMask(scenes, rec)!;
      const truths = labelTruths(scenes, rec);
      expect(truths.map((t) => t.label)).toEqual(rec.labels);
      for (const t of truths) {
        const objs = rec.objects.filter((o) => o.class === t.label);
        const values = new Set(objs.map((o) => o.maskValue));
        expect('mask' in t.region).toBe(true);
        const m = regionMask(t.region, rec.height, rec.width);
        let n = 0, wrong = 0, outside = 0;
        for (let i = 0; i < m.length; i++) {
          if (m[i] !== (values.has(mask[i]) ? 1 : 0)) wrong++;
          if (!m[i]) continue;
          n++;
          const x = i % rec.width, y = Math.floor(i / rec.width);
          if (!objs.some((o) => x >= o.box[0] && x < o.box[2] && y >= o.box[1] && y < o.box[3])) outside++;
        }
        expect(wrong, `${rec.id} label ${t.label}: pixels differing from the mask file`).toBe(0);
        expect(outside, `${rec.id} label ${t.label}: region pixels outside the boxes`).toBe(0);
        expect(n).toBeGreaterThan(0);
        expect(t.difficult).toBe(objs.every((o) => o.difficult));
        expect(t.cell).toBeUndefined();
        checked++;
      }
    }
    expect(checked).toBe(scenes.images.reduce((a, r) => a + r.labels.length, 0));
  });

  it('a mosaic: cell = the label\'s index in grid.cells', () => {
    for (const rec of mosaics.images) {
      const truths = labelTruths(mosaics, rec);
      expect(truths).toHaveLength(4);
      for (const t of truths) expect(t.cell).toBe(rec.grid!.cells.indexOf(t.label));
      expect(truths.map((t) => t.cell).sort()).toEqual([0, 1, 2, 3]);
    }
  });

  it('falls back to boxes without masks, and to the whole image without objects', () => {
    const rec = scenes.images[0];
    const boxed = labelTruths(scenes, { ...rec, mask: null, objects: rec.objects.map((o) => ({ ...o, maskValue: null })) });
    const objs = rec.objects.filter((o) => o.class === rec.labels[0]);
    expect(boxed[0].region).toEqual({ boxes: objs.map(({ box: [x0, y0, x1, y1] }) => ({ x0, y0, x1, y1 })) });
    const whole = labelTruths(scenes, { ...rec, mask: null, objects: [] });
    expect(whole[0]).toEqual({ label: rec.labels[0], region: { boxes: [{ x0: 0, y0: 0, x1: rec.width, y1: rec.height }] }, difficult: false });
  });
});

describe('randomizeTop', () => {
  it('k = 0 is the model; k = 2 redraws exactly the last two layers\' parameters at the same scale, seeded', () => {
    expect(randomizeTop(model, 0)).toBe(model);
    const layers = parametrisedLayers(model);
    expect(layers.length).toBeGreaterThan(2);
    // Output → input: the classifier head first, the stem convolution (fed by the image) last.
    expect(['Gemm', 'MatMul']).toContain(layers[0].opType);
    expect(layers[layers.length - 1].opType).toBe('Conv');
    expect(layers[layers.length - 1].inputs[0]).toBe(model.graph.inputs[0].name);

    const r = randomizeTop(model, 2);
    const init = model.graph.initializers;
    const params = new Set(layers.slice(0, 2).flatMap((n) => n.inputs.slice(1).filter((x) => init.has(x))));
    expect(params.size).toBeGreaterThanOrEqual(2);
    expect([...r.graph.initializers.keys()]).toEqual([...init.keys()]);
    for (const [name, c] of init) {
      const d = r.graph.initializers.get(name)!;
      if (!params.has(name)) {
        expect(d, name).toBe(c);
        continue;
      }
      expect(d.dims).toEqual(c.dims);
      const a = c.data as Float32Array, b = d.data as Float32Array;
      expect(b.length).toBe(a.length);
      expect(b.some((v, i) => v !== a[i]), name).toBe(true);
    }
    // The weights (not the biases, which may be all zero) keep the original spread.
    const std = (x: Float32Array) => {
      const m = x.reduce((s, v) => s + v, 0) / x.length;
      return Math.sqrt(x.reduce((s, v) => s + (v - m) ** 2, 0) / x.length);
    };
    for (const n of layers.slice(0, 2)) {
      const a = init.get(n.inputs[1])!.data as Float32Array, b = r.graph.initializers.get(n.inputs[1])!.data as Float32Array;
      expect(std(b) / std(a), n.name).toBeGreaterThan(0.9);
      expect(std(b) / std(a), n.name).toBeLessThan(1.1);
    }
    // The original is untouched; the same seed gives the same weights, another seed others;
    // the cascade is nested (k = 1's top layer is k = 2's).
    expect(model.graph.initializers).toBe(init);
    const w = layers[1].inputs[1];
    expect(randomizeTop(model, 2).graph.initializers.get(w)!.data).toEqual(r.graph.initializers.get(w)!.data);
    expect(randomizeTop(model, 2, 2).graph.initializers.get(w)!.data).not.toEqual(r.graph.initializers.get(w)!.data);
    const top = layers[0].inputs[1];
    expect(randomizeTop(model, 1).graph.initializers.get(top)!.data).toEqual(r.graph.initializers.get(top)!.data);
    expect(randomizeTop(model, 1).graph.initializers.get(w)).toBe(init.get(w));
  });
});

describe('evaluate on aeq-resnet', { timeout: LONG }, () => {
  it('4 scenes, Grad-CAM and AE r=2: accuracy, pointing, energy, outside/inside in range; one trial per label', async () => {
    const add = vi.spyOn(PointingGame.prototype, 'add');
    const progress: [number, number, string][] = [];
    const r = await run({
      dataset: scenes, methods: parseMethods('gradcam,ae:2'), metrics: ['pointing', 'energy', 'outside-inside', 'accuracy'],
      batch: 4, onProgress: (d, t, w) => progress.push([d, t, w]),
    });
    const labels = scenes.images.reduce((a, rec) => a + rec.labels.length, 0);
    expect(r.images).toBe(4);
    expect(r.targets).toBe(labels);
    expect(r.backend).toMatch(backend === 'webgpu' ? /^webgpu/ : /^cpu$/);
    expectUnit(r.accuracy!.mAP, 'mAP');
    expect(r.accuracy!.mAP).toBeGreaterThanOrEqual(0.8);
    expectUnit(r.accuracy!.top1, 'top-1');
    expectUnit(r.accuracy!.exactMatch, 'exact match');
    expect(progress[progress.length - 1]).toEqual([12, 12, 'AE r=2']);

    expect(r.methods.map((m) => m.label)).toEqual(['Grad-CAM', 'AE r=2']);
    const anyDifficult = scenes.images.some((rec) => labelTruths(scenes, rec).some((t) => t.difficult));
    for (const m of r.methods) {
      const pg = Object.keys(m.scores).filter((k) => k.startsWith('PG-'));
      expect(pg.sort()).toEqual(['PG-L', 'PG-L difficult tol15', 'PG-L tol15', 'PG-P', 'PG-P difficult tol15', 'PG-P tol15']);
      for (const k of pg) {
        if (k.includes('difficult') && !anyDifficult) expect(m.scores[k], `${m.label} ${k}`).toBeNaN();
        else expectUnit(m.scores[k], `${m.label} ${k}`);
      }
      // A tolerance only adds hits.
      expect(m.scores['PG-L tol15']).toBeGreaterThanOrEqual(m.scores['PG-L']);
      expectUnit(m.scores.PR, `${m.label} PR`);
      expectUnit(m.scores['energy PG'], `${m.label} energy`);
      expect(m.scores['outside/inside'], `${m.label} outside/inside`).toBeGreaterThanOrEqual(0);
      expect(m.curves).toBeUndefined();
      expect(m.sanity).toBeUndefined();
    }
    // Each method scores every (image, label) pair once.
    expect(add.mock.calls.length).toBe(2 * 4);
    expect(add.mock.calls.reduce((a, [img]) => a + img.targets.length, 0)).toBe(2 * labels);

    const t = resultTable(r, 'x');
    expect(t.columns[0]).toBe('method');
    expect(t.rows.map((row) => row[0])).toEqual(['Grad-CAM', 'AE r=2']);
    expect(t.rows[1][t.columns.indexOf('PG-L')]).toBe(r.methods[1].scores['PG-L']);
  });

  it('one image: the pointing game equals hits recomputed from separate explains and the mask file', async () => {
    const rec = most(scenes);
    const add = vi.spyOn(PointingGame.prototype, 'add');
    const r = await run({ dataset: only(scenes, [rec]), methods: [parseMethod('gradcam')], metrics: ['pointing'] });
    expect(r.images).toBe(1);
    expect(r.accuracy).toBeUndefined();

    const x = loadImages([join(scenes.dir, rec.file)], { preset: 'imagenet-direct' });
    const mask = loadMask(scenes, rec)!;
    const ex = await Explainer.create(RESNET.path, { backend });
    const hit0: number[] = [], hit15: number[] = [];
    const argmax = (d: Float32Array) => {
      let at = 0;
      for (let i = 1; i < d.length; i++) if (d[i] > d[at]) at = i;
      return at;
    };
    expect(add.mock.calls).toHaveLength(1);
    try {
      for (const label of rec.labels) {
        const e = await ex.explain({ shape: x.shape, data: x.data }, { method: 'gradcam', target: label });
        const [, h, w] = e.heatmaps.shape;
        expect([h, w]).toEqual([rec.height, rec.width]);
        const at = argmax(e.heatmaps.data);
        const px = at % w, py = Math.floor(at / w);
        const values = new Set(rec.objects.filter((o) => o.class === label).map((o) => o.maskValue));
        const inside = (i: number) => values.has(mask[i]);
        hit0.push(inside(at) ? 1 : 0);
        // The map evaluate scored for this label points at the same place (label ↔ map order kept).
        const scored = add.mock.calls[0][0].targets.find((t) => t.label === label)!;
        expect(inside(argmax(scored.map.data)), `label ${label}`).toBe(inside(at));
        let near = false;
        for (let i = 0; i < h * w && !near; i++) near = inside(i) && (i % w - px) ** 2 + (Math.floor(i / w) - py) ** 2 < 15 ** 2;
        hit15.push(near ? 1 : 0);
      }
    } finally {
      ex.dispose();
    }
    // One image: every label is its own class, so the mean over classes is the mean over labels.
    const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
    expect(r.methods[0].scores['PG-L']).toBeCloseTo(mean(hit0), 12);
    expect(r.methods[0].scores['PG-L tol15']).toBeCloseTo(mean(hit15), 12);
  });

  it('GridPG on 2 mosaics is in [0, 1] per method; scenes-only data is an InputError', async () => {
    const r = await run({ dataset: mosaics, methods: parseMethods('gradcam,ae:2'), metrics: ['gridpg'] });
    expect(r.targets).toBe(8);
    for (const m of r.methods) {
      expect(Object.keys(m.scores)).toEqual(['GridPG']);
      expectUnit(m.scores.GridPG, `${m.label} GridPG`);
    }
    const e = await rejected(run({ dataset: scenes, methods: [parseMethod('gradcam')], metrics: ['gridpg'] }));
    expect(e).toBeInstanceOf(InputError);
    expect(e.message).toMatch(/gridpg needs mosaic/);
    const empty = await rejected(run({ dataset: only(scenes, []), methods: [parseMethod('gradcam')], metrics: ['pointing'] }));
    expect(empty).toBeInstanceOf(InputError);
  });

  it('insertion (20 steps) and deletion (21 steps) on one image, AUCs in [0, 1]', async () => {
    const rec = fewest(scenes);
    const r = await run({ dataset: only(scenes, [rec]), methods: [parseMethod('gradcam')], metrics: ['insertion', 'deletion'] });
    const m = r.methods[0];
    const { insertion, deletion } = m.curves!;
    expect(insertion.fractions).toHaveLength(20);
    expect(insertion.scores).toHaveLength(20);
    expect(deletion.fractions).toHaveLength(21);
    expect(deletion.scores).toHaveLength(21);
    expect(deletion.fractions[0]).toBe(0);
    expect(deletion.fractions[20]).toBe(1);
    for (const v of [...insertion.scores, ...deletion.scores]) expectUnit(v, 'curve score');
    expect(m.scores['insertion AUC']).toBe(insertion.auc);
    expect(m.scores['deletion AUC']).toBe(deletion.auc);
    expectUnit(m.scores['insertion AUC'], 'insertion AUC');
    expectUnit(m.scores['insertion acc AUC'], 'insertion acc AUC');
    expectUnit(m.scores['deletion AUC'], 'deletion AUC');
    // Nothing deleted: the model's own (confident) probability of a present label.
    expect(deletion.scores[0]).toBeGreaterThan(0.5);
  });

  it('sanity with 2 steps on one image: 2 steps, finite SSIM', async () => {
    const r = await run({ dataset: only(scenes, [fewest(scenes)]), methods: [parseMethod('gradcam')], metrics: ['sanity'], sanitySteps: 2 });
    const s = r.methods[0].sanity!;
    expect(s.map((st) => st.step)).toEqual([1, 2]);
    for (const st of s) {
      expect(Number.isFinite(st.ssim) && Number.isFinite(st.ssimAbs)).toBe(true);
      expect(Math.abs(st.ssim)).toBeLessThanOrEqual(1);
      // Spearman is undefined (NaN) when a randomised model's Grad-CAM map is constant.
      for (const v of [st.spearman, st.spearmanAbs]) if (!Number.isNaN(v)) expect(Math.abs(v)).toBeLessThanOrEqual(1);
    }
    expect(r.methods[0].scores['sanity SSIM (all randomised)']).toBe(s[1].ssim);
  });
});

describe('aeq eval (evalCommand)', { timeout: LONG }, () => {
  function capture(): { text: () => string } {
    const chunks: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation(((c: string | Uint8Array) => {
      chunks.push(typeof c === 'string' ? c : Buffer.from(c).toString());
      return true;
    }) as typeof process.stdout.write);
    return { text: () => chunks.join('') };
  }

  it('--json writes the result as JSON', async () => {
    const out = capture();
    const code = await evalCommand(['pointing', '--model', 'aeq-resnet', '--data', scenes.dir, '--methods', 'gradcam', '--json', '--limit', '2', '--backend', backend]);
    vi.restoreAllMocks();
    expect(code).toBe(0);
    const j = JSON.parse(out.text());
    expect(j.model).toBe('aeq-resnet');
    expect(j.metrics).toEqual(['pointing']);
    expect(j.images).toBe(2);
    expect(j.methods).toHaveLength(1);
    expect(j.methods[0].label).toBe('Grad-CAM');
    expectUnit(j.methods[0].scores['PG-L'], 'PG-L');
  });

  it('rejects bad options with a clear OptionError', async () => {
    const base = ['--model', 'aeq-resnet', '--data', scenes.dir];
    const cases: [string[], RegExp][] = [
      [['pointing,bogus', ...base], /unknown metric 'bogus'/],
      [['pointing', '--model', 'aeq-resnet'], /--data DIR is required/],
      [['pointing', '--data', scenes.dir], /--model is required/],
      [['pointing', ...base, '--sweep', '--ablation'], /--sweep and --ablation/],
      [['pointing', ...base, '--split', 'dev'], /--split must be all, train, val, test; got 'dev'/],
      [['pointing', ...base, '--methods', 'ae:x'], /'ae:x'/],
      [[...base], /usage: aeq eval/],
    ];
    for (const [argv, why] of cases) {
      const e = await rejected(evalCommand(argv));
      expect(e, argv.join(' ')).toBeInstanceOf(OptionError);
      expect(e.message, argv.join(' ')).toMatch(why);
    }
  });
});
