// The CAM family end to end on the baseline fixture models (test/fixtures/baselines): the WebGPU
// backend equals the CPU reference for every method; Score-CAM's maps equal a recomputation from
// the model's own logits on masks built here from torch's formulas, whatever the chunking (GPU
// binding limit, memory budget, a fixed batch of 1); FullGrad treats an unfolded BatchNormalization
// as the conv it folds into; options, output tags and spellings. (The maps against
// pytorch-grad-cam's own arrays: test/baselines-cam.test.ts.)
import { describe, it, expect, afterAll } from 'vitest';
import { join } from 'node:path';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { Explainer, type ExplainOptions } from '../src/explain/explainer.js';
import { readNpy } from '../src/io/npy.js';
import type { CpuTensor } from '../src/ops/op.js';
import { OnnxBuilder } from '../tools/onnx-builder.js';
import { FIXTURES } from './helpers/shared.js';
import { aeqInProcess } from './helpers/cli.js';
import { methodTag } from '../src/cli/output.js';
import { parseMethod } from '../src/eval/methods.js';
import { diff, rng } from './helpers/ops.js';

const DIR = join(FIXTURES, 'baselines');
const TARGETS = [1, 4];
const a = readNpy(join(DIR, 'x.npy'));
const x: CpuTensor = { shape: a.shape, data: a.data };

const explainers = new Map<string, Explainer>();
async function explainer(model: string, backend: 'cpu' | 'webgpu'): Promise<Explainer> {
  const k = `${model}/${backend}`;
  let e = explainers.get(k);
  if (!e) explainers.set(k, (e = await Explainer.create(join(DIR, `${model}.onnx`), { backend })));
  return e;
}
afterAll(() => explainers.forEach((e) => e.dispose()));

const METHODS: ExplainOptions[] = [
  { method: 'gradcam++' }, { method: 'layercam' }, { method: 'scorecam' }, { method: 'scorecam', score: 'softmax-gain' }, { method: 'fullgrad' },
];

describe('CAM family: WebGPU = CPU', () => {
  for (const model of ['vgg', 'resnet']) {
    it.each(METHODS.map((o) => [`${o.method}${o.score ? `/${o.score}` : ''}`, o] as const))(`${model} · %s`, async (_, o) => {
      const cpu = await (await explainer(model, 'cpu')).explain(x, { ...o, target: TARGETS });
      const gpu = await (await explainer(model, 'webgpu')).explain(x, { ...o, target: TARGETS });
      expect(cpu.heatmaps.shape).toEqual([4, 32, 32]);
      expect(cpu.attribution).toBeUndefined();
      expect(cpu.targets).toEqual([TARGETS, TARGETS]);
      expect(cpu.heatmaps.data.some((v) => v > 0)).toBe(true);
      expect(cpu.heatmaps.data.every((v) => v >= 0)).toBe(true);
      expect(diff(gpu.heatmaps.data, cpu.heatmaps.data).relL2).toBeLessThan(2e-5);
      if (o.method === 'fullgrad') {
        expect(cpu.layerMap).toBeUndefined();
        // Min-max normalised per map: each spans [0, 1).
        for (let b = 0; b < 4; b++) {
          const m = cpu.heatmaps.data.subarray(b * 1024, (b + 1) * 1024);
          expect(Math.min(...m)).toBe(0);
          expect(Math.max(...m)).toBeCloseTo(1, 5);
        }
      } else {
        expect(diff(gpu.layerMap!.data, cpu.layerMap!.data).relL2).toBeLessThan(2e-5);
        expect(cpu.layerMap!.shape[0]).toBe(4);
      }
    });
  }
});

/** Score-CAM recomputed here: torch's align-corners upsampling and min-max in float64, the model's logits on the masked inputs. */
async function scoreCamByHand(
  e: Explainer, input: CpuTensor, o: ExplainOptions, targets = TARGETS,
  logitsOf: (t: CpuTensor) => Promise<CpuTensor> = (t) => e.logits(t),
): Promise<Float32Array> {
  const [n, c, hh, ww] = input.shape;
  const { layer } = e.layerFor(input.shape, o.layer);
  const act = (await e.forwardValues(input, { method: 'scorecam', layer: o.layer }))[layer];
  const [, k, h, w] = act.shape;
  const per = c * hh * ww;
  const out = new Float32Array(n * targets.length * h * w);
  const zero = o.score === 'softmax-gain' ? (await logitsOf({ shape: [1, c, hh, ww], data: new Float32Array(per) })).data : undefined;
  const softmax = (row: Float32Array | Float64Array) => {
    const mx = Math.max(...row);
    const ex = Array.from(row, (v) => Math.exp(v - mx));
    const z = ex.reduce((s, v) => s + v, 0);
    return ex.map((v) => v / z);
  };
  for (let s = 0; s < n; s++) {
    const masked = new Float32Array(k * per);
    for (let q = 0; q < k; q++) {
      const plane = act.data.subarray((s * k + q) * h * w, (s * k + q + 1) * h * w);
      const u = new Float64Array(hh * ww);
      for (let oy = 0; oy < hh; oy++) for (let ox = 0; ox < ww; ox++) {
        const sy = oy * (h - 1) / (hh - 1), sx = ox * (w - 1) / (ww - 1);
        const y0 = Math.floor(sy), x0 = Math.floor(sx), y1 = Math.min(y0 + 1, h - 1), x1 = Math.min(x0 + 1, w - 1);
        const fy = sy - y0, fx = sx - x0;
        u[oy * ww + ox] = (1 - fy) * ((1 - fx) * plane[y0 * w + x0] + fx * plane[y0 * w + x1]) + fy * ((1 - fx) * plane[y1 * w + x0] + fx * plane[y1 * w + x1]);
      }
      const lo = Math.min(...u), hi = Math.max(...u);
      for (let ch = 0; ch < c; ch++) for (let p = 0; p < hh * ww; p++) masked[q * per + ch * hh * ww + p] = input.data[s * per + ch * hh * ww + p] * ((u[p] - lo) / (hi - lo + 1e-8));
    }
    const logits = (await logitsOf({ shape: [k, c, hh, ww], data: masked })).data;
    const classes = logits.length / k;
    targets.forEach((cls, j) => {
      const row = (q: number) => logits.subarray(q * classes, (q + 1) * classes);
      const wts = zero
        ? Array.from({ length: k }, (_, q) => softmax(row(q))[cls] - softmax(zero)[cls])
        : softmax(Float64Array.from({ length: k }, (_, q) => logits[q * classes + cls]));
      for (let p = 0; p < h * w; p++) {
        let acc = 0;
        for (let q = 0; q < k; q++) acc += wts[q] * act.data[(s * k + q) * h * w + p];
        out[(s * targets.length + j) * h * w + p] = Math.max(acc, 0);
      }
    });
  }
  return out;
}

describe('Score-CAM = its definition, recomputed from the model', () => {
  for (const backend of ['cpu', 'webgpu'] as const) {
    for (const score of ['logit', 'softmax-gain'] as const) {
      it(`resnet · ${backend} · ${score}`, async () => {
        const e = await explainer('resnet', backend);
        const o: ExplainOptions = { method: 'scorecam', score, target: TARGETS };
        const r = await e.explain(x, o);
        const want = await scoreCamByHand(e, x, o);
        expect(diff(r.layerMap!.data, want).relL2).toBeLessThan(1e-5);
      });
    }
  }

  it('webgpu: masked inputs split into passes by the binding limit, same maps', async () => {
    const e = await explainer('vgg', 'webgpu');
    const o: ExplainOptions = { method: 'scorecam', target: TARGETS };
    const whole = await e.explain(x, o);
    e.bindingBudget = 1;
    try {
      expect(e.scoreChunk(x.shape, 16)).toBe(1);
      const split = await e.explain(x, o);
      expect(diff(split.layerMap!.data, whole.layerMap!.data).relL2).toBeLessThan(1e-6);
    } finally {
      e.bindingBudget = undefined;
    }
  });

  it('cpu: masked inputs in chunks that fit the memory budget, same maps', async () => {
    const e = await Explainer.create(join(DIR, 'vgg.onnx'), { backend: 'cpu' });
    try {
      const o: ExplainOptions = { method: 'scorecam', target: TARGETS };
      const whole = await e.explain(x, o);
      const k = whole.layerMap ? (await e.forwardValues(x, { method: 'scorecam' }))[whole.layer].shape[1] : 0;
      expect(e.scoreChunk(x.shape, k)).toBe(k);
      let limit = 2 ** 16;
      for (e.session.maxMemory = limit; e.scoreChunk(x.shape, k) <= 1; e.session.maxMemory = limit *= 2);
      const chunk = e.scoreChunk(x.shape, k);
      expect(chunk).toBeGreaterThan(1);
      expect(chunk).toBeLessThan(k);
      const split = await e.explain(x, o);
      expect(e.scoreChunk(x.shape, k)).toBeLessThan(k);
      expect(diff(split.layerMap!.data, whole.layerMap!.data).maxAbs).toBe(0);
    } finally {
      e.dispose();
    }
  });
});

/**
 * A fixed batch of B (default 1): x (B×2×5×6) → Conv 3×3 (3 channels, bias) → ReLU → a 1×1 conv to 4 channels
 * → ReLU → GAP → Gemm (3 classes). The 1×1 conv has a bias ('none'), or no bias and an inference
 * BatchNormalization after it ('unfolded'), or that BN folded into it ('folded').
 */
function fixedNet(bn: 'none' | 'unfolded' | 'folded', batch = 1): { bytes: Uint8Array; layer: string } {
  const b = new OnnxBuilder({ seed: 5, opset: 13 });
  const r = rng(9);
  const draw = (n: number, lo: number, hi: number) => Float32Array.from({ length: n }, () => lo + (hi - lo) * r());
  const inp = b.input('x', [batch, 2, 5, 6]);
  const h1 = b.relu(b.conv(inp, 3, 3, { pad: 1, name: 'c1' }));
  const [w, bias, scale, beta, mean, vr] = [draw(12, -1, 1), draw(4, -0.3, 0.3), draw(4, 0.5, 1.5), draw(4, -0.3, 0.3), draw(4, -0.2, 0.2), draw(4, 0.5, 1.5)];
  const conv = (wt: Float32Array, bs?: Float32Array) => b.node('Conv', [h1, b.initializer('c2.weight', [4, 3, 1, 1], wt), ...(bs ? [b.initializer('c2.bias', [4], bs)] : [])], { kernel_shape: [1, 1] }, [[batch, 4, 5, 6]], 'c2')[0];
  let h2: string;
  if (bn === 'none') h2 = conv(w, bias);
  else if (bn === 'unfolded') {
    const ins = [conv(w), ...([['scale', scale], ['B', beta], ['mean', mean], ['var', vr]] as const).map(([n, v]) => b.initializer(`bn.${n}`, [4], v))];
    h2 = b.node('BatchNormalization', ins, { epsilon: 1e-5 }, [[batch, 4, 5, 6]], 'bn')[0];
  } else {
    const f = Float32Array.from(scale, (sc, c) => sc / Math.sqrt(vr[c] + Math.fround(1e-5)));
    h2 = conv(Float32Array.from(w, (v, i) => v * f[Math.floor(i / 3)]), Float32Array.from(beta, (v, c) => v - mean[c] * f[c]));
  }
  const layer = b.relu(h2);
  b.output(b.gemm(b.flatten(b.globalAvgPool(layer)), 3));
  return { bytes: b.toBytes(), layer };
}

describe('models with a fixed batch', () => {
  const image = (n: number): CpuTensor => ({ shape: [n, 2, 5, 6], data: Float32Array.from({ length: n * 60 }, (_, i) => Math.sin(i * 0.7) + 0.2) });
  const input = image(1);
  for (const backend of ['cpu', 'webgpu'] as const) {
    it(`${backend}: a batch of 3: Score-CAM's 4 masked inputs per input run as 3 + 1 padded with copies of the last, as defined`, async () => {
      const { bytes, layer } = fixedNet('none', 3);
      const e = await Explainer.create(bytes, { backend });
      const input = image(3);
      try {
        expect(e.scoreChunk(input.shape, 4)).toBe(3);
        for (const score of ['logit', 'softmax-gain'] as const) {
          const r = await e.explain(input, { method: 'scorecam', score, layer, target: [0, 2] });
          expect(r.layerMap!.shape).toEqual([6, 5, 6]);
          const want = await scoreCamByHandFixed(e, input, { method: 'scorecam', score, layer }, [0, 2]);
          expect(diff(r.layerMap!.data, want).relL2).toBeLessThan(1e-5);
        }
      } finally {
        e.dispose();
      }
    });

    it(`${backend}: FullGrad counts an inference BatchNormalization's bias as the conv it folds into would`, async () => {
      const unfolded = await Explainer.create(fixedNet('unfolded').bytes, { backend });
      const folded = await Explainer.create(fixedNet('folded').bytes, { backend });
      try {
        const o: ExplainOptions = { method: 'fullgrad', target: [0, 2] };
        const ru = await unfolded.explain(input, o);
        const rf = await folded.explain(input, o);
        expect(diff(ru.logits.data, rf.logits.data).relL2).toBeLessThan(1e-5);
        expect(diff(ru.heatmaps.data, rf.heatmaps.data).relL2).toBeLessThan(1e-4);
        expect(ru.heatmaps.shape).toEqual([2, 5, 6]);
      } finally {
        unfolded.dispose();
        folded.dispose();
      }
    });
  }
});

/** scoreCamByHand for a net with a fixed batch B: the masked inputs run B at a time, the last group padded with zeros. */
function scoreCamByHandFixed(e: Explainer, input: CpuTensor, o: ExplainOptions, targets: number[]): Promise<Float32Array> {
  const batch = e.fixedBatch!;
  const inGroups = async (t: CpuTensor): Promise<CpuTensor> => {
    const per = t.data.length / t.shape[0];
    const rows: Float32Array[] = [];
    for (let i = 0; i < t.shape[0]; i += batch) {
      const group = new Float32Array(batch * per);
      group.set(t.data.subarray(i * per, Math.min(i + batch, t.shape[0]) * per));
      const l = (await e.logits({ shape: [batch, ...t.shape.slice(1)], data: group })).data;
      const classes = l.length / batch;
      for (let j = 0; j < batch && i + j < t.shape[0]; j++) rows.push(l.slice(j * classes, (j + 1) * classes));
    }
    const data = new Float32Array(rows.reduce((n, r) => n + r.length, 0));
    rows.forEach((r, i) => data.set(r, i * r.length));
    return { shape: [t.shape[0], data.length / t.shape[0]], data };
  };
  return scoreCamByHand(e, input, o, targets, inGroups);
}

describe('options and spellings', () => {
  it('score: only with scorecam, only logit or softmax-gain', async () => {
    const e = await explainer('vgg', 'cpu');
    await expect(e.explain(x, { method: 'gradcam++', score: 'logit' })).rejects.toThrow(/score applies to scorecam only/);
    await expect(e.explain(x, { method: 'scorecam', score: 'probability' as never })).rejects.toThrow(/score must be 'logit' or 'softmax-gain'/);
    await expect(e.explain(x, { method: 'scorecam', trace: true })).rejects.toThrow(/not supported with scorecam/);
  });

  it('output tags and aeq eval spellings', () => {
    expect(methodTag({ method: 'gradcam++' })).toBe('gradcam++');
    expect(methodTag({ method: 'layercam' })).toBe('layercam');
    expect(methodTag({ method: 'fullgrad' })).toBe('fullgrad');
    expect(methodTag({ method: 'scorecam' })).toBe('scorecam');
    expect(methodTag({ method: 'scorecam', score: 'softmax-gain' })).toBe('scorecam-softmax-gain');
    expect(parseMethod('gradcam++').options).toEqual({ method: 'gradcam++' });
    expect(parseMethod('layercam').options).toEqual({ method: 'layercam' });
    expect(parseMethod('fullgrad').options).toEqual({ method: 'fullgrad' });
    expect(parseMethod('scorecam').options).toEqual({ method: 'scorecam' });
    expect(parseMethod('scorecam:softmax-gain').options).toEqual({ method: 'scorecam', score: 'softmax-gain' });
    expect(() => parseMethod('scorecam:bogus')).toThrow(/logit or softmax-gain/);
    expect(() => parseMethod('layercam:2')).toThrow(/takes no parameters/);
  });

  it('aeq explain --method …: tagged files, --score and --layer checked', async () => {
    const out = mkdtempSync(join(tmpdir(), 'aeq-cam-'));
    try {
      const base = ['explain', join(DIR, 'resnet.onnx'), join(DIR, 'x.npy'), '--target', '4', '--backend', 'cpu', '--save-npy', '--out', out];
      for (const extra of [['--method', 'gradcam++'], ['--method', 'layercam', '--layer', '/layer1/relu2/Relu_output_0'], ['--method', 'scorecam', '--score', 'softmax-gain'], ['--method', 'fullgrad']]) {
        const r = await aeqInProcess([...base, ...extra]);
        expect(r.code, r.stderr).toBe(0);
      }
      expect(readdirSync(out).filter((f) => f.startsWith('x-0__') && f.endsWith('.npy')).sort()).toEqual([
        'x-0__c4__fullgrad.heatmap.npy', 'x-0__c4__gradcam++.heatmap.npy', 'x-0__c4__gradcam++.layermap.npy',
        'x-0__c4__layercam.heatmap.npy', 'x-0__c4__layercam.layermap.npy',
        'x-0__c4__scorecam-softmax-gain.heatmap.npy', 'x-0__c4__scorecam-softmax-gain.layermap.npy',
      ]);
      expect(readNpy(join(out, 'x-0__c4__layercam.layermap.npy')).shape).toEqual([32, 32]); // layer1 keeps the input's 32²
      expect(readNpy(join(out, 'x-0__c4__layercam.heatmap.npy')).shape).toEqual([32, 32]);
      for (const [extra, why] of [[['--method', 'gradcam++', '--score', 'logit'], /--score applies to scorecam only/], [['--method', 'scorecam', '--score', 'prob'], /--score must be logit or softmax-gain/], [['--method', 'fullgrad', '--layer', 'x'], /--layer applies to ae, the CAM methods but fullgrad/]] as const) {
        const r = await aeqInProcess([...base, ...extra]);
        expect(r.code).not.toBe(0);
        expect(r.stderr).toMatch(why);
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
