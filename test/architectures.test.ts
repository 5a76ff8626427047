// Every torchvision classifier of issue 10 (test/fixtures/arch, made by tools/make_arch_fixtures.py),
// through the library and through the CLI (`aeq run`, `aeq explain`):
// the forward pass matches onnxruntime on both backends (max |logit diff| ≤ 1e-3 · max(1, |logits|)),
// `aeq info` finds no unsupported operator, the default layer is the one spec §1.3b names, and AE
// and Grad-CAM are finite, non-zero and equal on both backends (relative L2 ≤ 1e-4 on a shared
// forward pass: the rules' exact-zero tests and max-pool arg-max are discontinuous in activations).
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Session } from '../src/runtime/session.js';
import { Explainer, type ExplainOptions, type Explanation } from '../src/explain/explainer.js';
import { loadModel } from '../src/io/onnx.js';
import { unsupportedOps } from '../src/planner/plan.js';
import { runOrt } from './helpers/ort.js';
import { FIXTURES } from './helpers/shared.js';
import { diff, randn, rng } from './helpers/ops.js';
import { aeqInProcess } from './helpers/cli.js';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { encodeNpy, readNpy } from '../src/io/npy.js';

const ARCH = join(FIXTURES, 'arch');
const manifest = JSON.parse(readFileSync(join(ARCH, 'manifest.json'), 'utf8')) as { models: Record<string, { input: number[] }> };
const LONG = 600_000;

/** The default layer of each model as exported: the ONNX tensor spec §1.3b names (see the manifest). */
const DEFAULT_LAYER: Record<string, RegExp> = {
  alexnet: /^\/features\/features\.11\/Relu_output_0$/,
  vgg11_bn: /^\/features\/features\.27\/Relu_output_0$/,
  resnet18: /^\/layer4\/layer4\.1\/relu_1\/Relu_output_0$/,
  resnext50: /^\/layer4\/layer4\.2\/relu_2\/Relu_output_0$/,
  wide_resnet50: /^\/layer4\/layer4\.2\/relu_2\/Relu_output_0$/,
  densenet121: /^\/Relu_output_0$/,
  inception_v3: /^\/Mixed_7c\/Concat_output_0$/,
  googlenet: /^\/inception5b\/Concat_output_0$/,
  squeezenet1_1: /^\/features\/features\.12\/Concat_output_0$/,
  mobilenet_v2: /^\/features\/features\.18\/features\.18\.2\/Clip_output_0$/,
  mobilenet_v3_small: /^\/features\/features\.12\/features\.12\.2\/Mul_output_0$/,
  shufflenet_v2: /^\/conv5\/conv5\.2\/Relu_output_0$/,
  mnasnet: /^\/layers\/layers\.16\/Relu_output_0$/,
  convnext_tiny: /^\/features\/features\.7\/features\.7\.2\/Add_output_0$/,
  efficientnet_b0: /^\/features\/features\.8\/features\.8\.2\/Mul_output_0$/,
  regnet_y_400mf: /^\/trunk_output\/block4\/block4-\d+\/activation\/Relu_output_0$/,
  tiny_se: /^\/se\/Mul_output_0$/,
  tiny_layernorm: /^\/Add_output_0$/,
};

const finite = (x: Float32Array) => x.every(Number.isFinite);
const nonZero = (x: Float32Array) => x.some((v) => v !== 0);

function expectAgree(g: Explanation, c: Explanation, what: string): void {
  expect(g.targets).toEqual(c.targets);
  expect(g.layer).toBe(c.layer);
  for (const [a, b, k] of [[g.heatmaps, c.heatmaps, 'heatmap'], [g.attribution, c.attribution, 'attribution']] as const) {
    if (!a || !b) continue;
    expect(finite(a.data) && finite(b.data), `${what}: ${k} finite`).toBe(true);
    expect(nonZero(b.data), `${what}: ${k} non-zero`).toBe(true);
    expect(diff(a.data, b.data).relL2, `${what}: ${k} GPU vs CPU rel L2`).toBeLessThanOrEqual(1e-4);
  }
}

describe.each(Object.keys(manifest.models))('architecture %s', { timeout: LONG }, (name) => {
  const path = join(ARCH, `${name}.onnx`);
  const shape = manifest.models[name].input;
  const input = () => randn([2, ...shape.slice(1)], rng(name.length * 7 + 1));

  it('aeq info: no unsupported operator', () => {
    expect(unsupportedOps(loadModel(path))).toEqual([]);
  });

  it('forward matches onnxruntime on the CPU reference and on WebGPU, batch 2', async () => {
    const x = input();
    const ref = await runOrt(path, { input: x });
    const want = Object.values(ref)[0];
    const scale = Math.max(1, want.data.reduce((m, v) => Math.max(m, Math.abs(v)), 0));
    for (const backend of ['cpu', 'webgpu'] as const) {
      const s = await Session.create(path, { backend });
      try {
        const got = Object.values(await s.run({ input: x }))[0];
        expect(got.shape).toEqual(want.shape);
        let worst = 0;
        for (let i = 0; i < got.data.length; i++) worst = Math.max(worst, Math.abs(got.data[i] - want.data[i]));
        expect(worst, `${backend}: max |logit diff|`).toBeLessThanOrEqual(1e-3 * scale);
      } finally {
        s.dispose();
      }
    }
  });

  it('through the CLI: aeq run matches onnxruntime; aeq explain writes finite, non-zero AE and Grad-CAM maps (WebGPU)', async () => {
    const dir = mkdtempSync(join(tmpdir(), `aeq-arch-${name}-`));
    const x = input();
    writeFileSync(join(dir, 'x.npy'), encodeNpy(x.shape, x.data));
    const run = await aeqInProcess(['run', path, '--input', `input=${join(dir, 'x.npy')}`, '--out', join(dir, 'run'), '--backend', 'cpu']);
    expect(run.code, run.stderr).toBe(0);
    const want = Object.values(await runOrt(path, { input: x }))[0];
    const got = readNpy(join(dir, 'run', 'logits.npy'));
    const scale = Math.max(1, want.data.reduce((m, v) => Math.max(m, Math.abs(v)), 0));
    expect(got.shape).toEqual(want.shape);
    got.data.forEach((v, i) => expect(Math.abs(v - want.data[i])).toBeLessThanOrEqual(1e-3 * scale));
    for (const method of ['ae', 'gradcam']) {
      const out = join(dir, method);
      const r = await aeqInProcess(['explain', path, join(dir, 'x.npy'), '--method', method, '--backend', 'webgpu', '--save-npy', '--out', out]);
      expect(r.code, r.stderr).toBe(0);
      const maps = readdirSync(out).filter((f) => f.endsWith('.heatmap.npy'));
      expect(maps.length).toBe(2);
      for (const f of maps) {
        const m = readNpy(join(out, f)).data;
        expect(finite(m) && nonZero(m), `${method} ${f}`).toBe(true);
      }
    }
  });

  it('AE (top-2, ratio 2 and 1) and Grad-CAM: default layer of §1.3b, finite, non-zero, GPU = CPU on a shared forward pass', async () => {
    const gpu = await Explainer.create(path, { backend: 'webgpu' });
    const cpu = await Explainer.create(path, { backend: 'cpu' });
    const x = input();
    const runs: [string, ExplainOptions][] = [
      ['ae r2 top-2', { method: 'ae', target: { top: 2 }, ratio: 2 }],
      ['ae r1', { method: 'ae', ratio: 1 }],
      ['gradcam', { method: 'gradcam' }],
    ];
    for (const [what, o] of runs) {
      const forward = await gpu.forwardValues(x, o);
      const g = await gpu.explain(x, o);
      const c = await cpu.explain(x, { ...o, forward });
      expect(c.layer).toMatch(DEFAULT_LAYER[name]);
      expectAgree(g, c, `${name} ${what}`);
    }
  });
});
