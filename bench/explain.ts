// Attribution benchmark: images/s per method (default AE and Grad-CAM), WebGPU vs the CPU reference in one run;
// GPU dispatches and readbacks per image, peak pooled buffer memory, and the AE backward's FLOPs
// per conv layer as a multiple of the layer's forward FLOPs. Prints figures; never passes or fails.
//   node tools/build.mjs && node dist/bench/explain.js [--quick] [--methods=ae,gradcam,ig:16,…|all] [--no-cpu] [--reps=N]
import { readFileSync, existsSync } from 'node:fs';
import { Explainer, type ExplainOptions } from '../src/explain/explainer.js';
import { parseMethods, ALL_METHODS } from '../src/eval/methods.js';
import { methodTag } from '../src/cli/output.js';
import { vgg16, resnet50 } from '../tools/onnx-builder.js';
import { attributionPlan } from '../src/planner/backward.js';
import { aeConvFlops } from '../src/ops/conv/rules.js';
import { firstConvs } from '../src/planner/topology.js';
import type { ConvParams } from '../src/ops/conv/forward.js';

const quick = process.argv.includes('--quick');
// --no-cpu: the WebGPU column only (the CPU reference takes minutes per image for the multi-pass methods).
const noCpu = process.argv.includes('--no-cpu');
// --reps=N: timed repetitions per row (default 3; 1 for the 224-pixel models).
const repsArg = process.argv.find((a) => a.startsWith('--reps='));
// --only a,b: run just the models whose names contain one of these (case-insensitive).
const flopsOnly = process.argv.includes('--flops-only');
const onlyArg = process.argv.find((a) => a.startsWith('--only='));
const only = onlyArg ? onlyArg.slice(7).toLowerCase().split(',') : undefined;
// --settings=8x3,1x1: run just these batch × targets settings.
const settingsArg = process.argv.find((a) => a.startsWith('--settings='));
const settings = settingsArg ? settingsArg.slice(11).split(',') : undefined;
// --methods=LIST: the methods as aeq eval spells them (default ae,gradcam; all = every method).
const methodsArg = process.argv.find((a) => a.startsWith('--methods='))?.slice(10) ?? 'ae,gradcam';
const methods = methodsArg === 'all' ? ALL_METHODS : parseMethods(methodsArg);
const FIXTURE_DIRS = ['../../../shared/fixtures/models/', '../../shared/fixtures/models/'].map((p) => new URL(p, import.meta.url).pathname);
const fixture = (f: string) => {
  for (const d of FIXTURE_DIRS) if (existsSync(d + f)) return new Uint8Array(readFileSync(d + f));
  return undefined;
};

interface Case { name: string; bytes: Uint8Array; size: number; batches: number[]; cpu: (n: number, t: number) => boolean; big?: boolean }
const cases: Case[] = [];
const sq = fixture('squeezenet1_0_deepcompression.onnx');
if (sq) cases.push({ name: 'SqueezeNet 1.0', bytes: sq, size: 227, batches: [1, 8], cpu: (n, t) => n === 1 && t === 1 });
const r20 = fixture('resnet20_cifar10.onnx');
if (r20) cases.push({ name: 'ResNet-20 CIFAR', bytes: r20, size: 32, batches: [1], cpu: () => true });
const mb = fixture('mobilenet_v1_0.25_128_quant.float.onnx');
if (mb) cases.push({ name: 'MobileNetV1 0.25', bytes: mb, size: 128, batches: [1, 8], cpu: (n) => n === 1 });
cases.push({ name: 'VGG-16', bytes: vgg16({ seed: 1 }), size: 224, batches: quick ? [1] : [1, 8], cpu: () => false, big: true });
cases.push({ name: 'ResNet-50', bytes: resnet50({ seed: 1 }), size: 224, batches: quick ? [1] : [1, 8], cpu: () => false, big: true });

function input(n: number, size: number) {
  const data = new Float32Array(n * 3 * size * size);
  let s = 99;
  for (let i = 0; i < data.length; i++) { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; data[i] = s / 2 ** 32 - 0.5; }
  return { shape: [n, 3, size, size], data };
}

async function median(fn: () => Promise<unknown>, reps: number, warm = true): Promise<number> {
  if (warm) await fn();
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) { const t0 = performance.now(); await fn(); ts.push(performance.now() - t0); }
  ts.sort((a, b) => a - b);
  return ts[Math.floor(ts.length / 2)];
}

async function once(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

const rows = ['| model | batch N | targets T | method | webgpu img·target/s | cpu img·target/s | dispatches / img·target | readbacks / batch | peak GPU buffers MiB |', '|---|---:|---:|---|---:|---:|---:|---:|---:|'];
const flopRows = ['| model | conv layer | kernel | forward GFLOP | AE backward GFLOP | ratio |', '|---|---|---|---:|---:|---:|'];
let adapter = '';
for (const c of cases.filter((k) => !only || only.some((o) => k.name.toLowerCase().includes(o)))) {
  const gpu = await Explainer.create(c.bytes, { backend: 'webgpu' });
  const cpu = await Explainer.create(c.bytes, { backend: 'cpu' });
  const g = gpu.session.gpu!;
  adapter = g.adapterName;
  for (const n of flopsOnly ? [] : c.batches) {
    for (const t of [1, 3]) {
      if (settings && !settings.includes(`${n}x${t}`)) continue;
      // 224-pixel models at N·T = 24 exceed lavapipe's 128 MiB storage binding in the first layers;
      // the explainer splits such batches into passes by itself.
      for (const spec of methods) {
        const x = input(n, c.size);
        const o: ExplainOptions = { ...spec.options, target: t === 1 ? 'top' : { top: t } };
        const method = methodTag(o);
        // Warm-up (pipelines, weights) on one input; big models are then timed once per setting.
        await gpu.explain(input(1, c.size), { ...o, target: 'top' });
        const reps = repsArg ? Math.max(1, Number(repsArg.slice(7))) : c.big ? 1 : 3;
        const d0 = g.stats.dispatches, r0 = g.stats.readbacks;
        g.stats.peakBytes = 0;
        const tg = await median(() => gpu.explain(x, o), reps, false);
        const per = (g.stats.dispatches - d0) / reps / (n * t);
        const rb = (g.stats.readbacks - r0) / reps;
        const tc = c.cpu(n, t) && !noCpu ? await once(() => cpu.explain(x, o)) : NaN;
        const rate = (ms: number) => (Number.isFinite(ms) ? ((n * t) / (ms / 1000)).toFixed(2) : 'skipped');
        const row = `| ${c.name} | ${n} | ${t} | ${method} | ${rate(tg)} | ${rate(tc)} | ${per.toFixed(0)} | ${rb.toFixed(0)} | ${(g.stats.peakBytes / 2 ** 20).toFixed(0)} |`;
        rows.push(row);
        process.stderr.write(row + '\n');
      }
    }
  }
  // AE backward cost per conv layer on the attribution walk, batch 1.
  const { plan, layer } = gpu.layerFor([1, 3, c.size, c.size]);
  let fwdTotal = 0, aeTotal = 0;
  const first = firstConvs(plan);
  for (const s of attributionPlan(plan, layer).steps) {
    if (s.node.opType !== 'Conv') continue;
    const p = s.params as ConvParams;
    const f = first.has(s) ? aeConvFlops(p, 1, 'zb') : aeConvFlops(p, 1);
    fwdTotal += f.forward;
    aeTotal += f.ae;
    if (c.name === 'VGG-16' || c.name === 'ResNet-50') {
      flopRows.push(`| ${c.name} | ${s.node.name} | ${p.kh}×${p.kw}/${p.sh} ${p.c}→${p.k} | ${(f.forward / 1e9).toFixed(3)} | ${(f.ae / 1e9).toFixed(3)} | ${(f.ae / f.forward).toFixed(2)}× |`);
    }
  }
  flopRows.push(`| ${c.name} | **all convs on the walk** | | ${(fwdTotal / 1e9).toFixed(3)} | ${(aeTotal / 1e9).toFixed(3)} | ${(aeTotal / fwdTotal).toFixed(2)}× |`);
  gpu.dispose();
  cpu.dispose();
}
process.stdout.write(`\nadapter: ${adapter}\n\n${rows.join('\n')}\n\n${flopRows.join('\n')}\n`);
