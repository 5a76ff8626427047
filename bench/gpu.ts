// The GPU-machine benchmark (issue 9 item 7), one command for a lent GPU (tools/device/bench-gpu.sh):
//   1. conv kernels per VGG-16 / ResNet-50 shape, both kernel variants: ms, GFLOP/s and the fraction
//      of the adapter's fp32 peak (from PEAKS by adapter name, else measured with a large tiled GEMM);
//   2. forward and AE throughput at batch 1, 16, 64 for VGG-16, ResNet-50 (full size, random
//      weights) and three torchvision topologies (test/fixtures/arch), both variants, with the host
//      µs per dispatch;
//   1b. the strided layers' backward passes per shape, both variants (bench/strided.ts): the input
//      gradient and the AE conv rule, whose transposed passes the tiled kernel runs per output phase;
//   3. `aeq verify` on every fixture model under both variants (child processes, AEQ_KERNELS), run
//      first, in parallel (it is CPU-bound), before anything is timed.
// Writes the markdown tables for bench/RESULTS.md to --out (and stdout). A time budget (--budget
// seconds, default 420) skips what would not fit, saying so in the tables. --quick: tiny shapes,
// one small model at batch 1–2, two fixtures: checks the plumbing on lavapipe in about a minute.
// --only strided: section 1b alone; --batches 1,16: its batch sizes (software adapters: 1).
//   node tools/build.mjs --bench && node dist/bench/gpu.js [--quick] [--only strided] [--batches 1,16] [--out FILE] [--cli dist/cli.js]
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { getGpu, type Gpu } from '../src/kernels/gpu/runtime.js';
import { convForwardGpu, prepareConv } from '../src/ops/conv/forward.js';
import { matmulGpu, type MatmulParams } from '../src/ops/dense/forward.js';
import { kernelChoiceOverride, kernelVariant, type KernelVariant } from '../src/kernels/gpu/kernel-choice.js';
import { Explainer } from '../src/explain/explainer.js';
import { logitTensor } from '../src/explain/pipeline.js';
import { explainFlops } from '../src/planner/flops.js';
import { vgg16, resnet50 } from '../tools/onnx-builder.js';
import type { Node } from '../src/graph/ir.js';
import { LAYERS, type Layer } from './layers.js';
import { stridedPasses } from './strided.js';

const argv = process.argv.slice(2);
const opt = (name: string): string | undefined => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : argv.find((a) => a.startsWith(`${name}=`))?.slice(name.length + 1);
};
const quick = argv.includes('--quick');
const only = opt('--only');
if (only !== undefined && only !== 'strided') throw new Error(`--only takes 'strided', got '${only}'`);
const outFile = opt('--out') ?? 'bench-gpu.md';
const budgetS = Number(opt('--budget') ?? 420);
const t0 = performance.now();
const left = () => budgetS - (performance.now() - t0) / 1000;
const VARIANTS: KernelVariant[] = ['tiled', 'shuffle'];

// Repo root: the bundle runs from dist/bench/ or .devkit/dist/bench/, tsx-style runs from bench/.
const here = dirname(new URL(import.meta.url).pathname);
const root = [join(here, '..', '..'), join(here, '..', '..', '..'), join(here, '..')].find((d) => existsSync(join(d, 'test/fixtures/arch')))
  ?? process.cwd();
// A runnable CLI entry (the kit's aeq.mjs, or bin/aeq.mjs over this checkout's dist/).
const cli = opt('--cli') ?? [join(root, '.devkit/dist/aeq.mjs'), join(root, 'bin/aeq.mjs')].find(existsSync);

/** fp32 (non-tensor-core) peaks of known adapters, TFLOP/s, from the vendors' datasheets; first match wins. */
const PEAKS: [RegExp, number][] = [
  [/H200/i, 67], [/H100.*PCIe/i, 51], [/H100/i, 67], [/A100/i, 19.5], [/L40S/i, 91.6], [/L4\b/i, 30.3],
  [/RTX 4090/i, 82.6], [/A10\b/i, 31.2], [/T4\b/i, 8.1], [/V100/i, 15.7],
];

const md: string[] = [];
const say = (line = '') => {
  md.push(line);
  process.stdout.write(line + '\n');
};
const table = (head: string[], right = 1) => {
  say(`| ${head.join(' | ')} |`);
  say(`|${head.map((_, i) => (i < right ? '---' : '---:')).join('|')}|`);
};
const row = (cells: (string | number)[]) => say(`| ${cells.join(' | ')} |`);

async function timeIt(g: Gpu, fn: () => void | Promise<unknown>, minReps: number, maxMs: number): Promise<number> {
  await fn();
  await g.sync();
  const ts: number[] = [];
  const start = performance.now();
  while (ts.length < minReps || (performance.now() - start < maxMs && ts.length < 20)) {
    const t = performance.now();
    await fn();
    await g.sync();
    ts.push(performance.now() - t);
    if (performance.now() - start > 4 * maxMs) break;
  }
  ts.sort((a, b) => a - b);
  return ts[ts.length >> 1];
}

const rnd = (n: number) => {
  const a = new Float32Array(n);
  let s = 12345;
  for (let i = 0; i < n; i++) { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; a[i] = s / 2 ** 32 - 0.5; }
  return a;
};

// ---------------------------------------------------------------- peak

async function gemmTflops(g: Gpu, n: number): Promise<number> {
  const p: MatmulParams = {
    opType: 'MatMul', name: 'peak', M: n, N: n, K: n, batch: [], aBatchStrides: [], bBatchStrides: [],
    sam: n, sak: 1, sbk: n, sbn: 1, hasC: false, scm: 0, scn: 0, alpha: 1, beta: 0,
  };
  const a = g.upload(rnd(n * n), [n, n]), b = g.upload(rnd(n * n), [n, n]), y = g.alloc([n, n]);
  // The faster of the two variants: the measured peak is what this adapter's best GEMM reaches.
  let best = Infinity;
  for (const v of VARIANTS) {
    kernelChoiceOverride.force = v;
    best = Math.min(best, await timeIt(g, () => matmulGpu(g, p, [a, b], [y]), 3, 500));
  }
  kernelChoiceOverride.force = null;
  [a, b, y].forEach((t) => g.release(t));
  return (2 * n ** 3) / best / 1e9;
}

// ---------------------------------------------------------------- 1. conv kernels

const convNode = (l: Layer): Node => ({
  name: l.name, opType: 'Conv', domain: '', inputs: ['x', 'w', 'b'], outputs: ['y'],
  attrs: new Map<string, number[]>([['strides', [l.stride, l.stride]], ['pads', [l.pad, l.pad, l.pad, l.pad]]]),
});

async function convKernels(g: Gpu, peak: number): Promise<void> {
  const layers = quick
    ? LAYERS.filter((_, i) => i % 4 === 0).map((l) => ({ ...l, c: Math.min(l.c, 16), k: Math.min(l.k, 32), hw: Math.min(l.hw, 20) }))
    : LAYERS;
  const batches = quick ? [1] : [1, 16];
  say('### Conv kernels per shape (forward, with bias)');
  say();
  table(['shape', 'batch', ...VARIANTS.flatMap((v) => [`${v} ms`, `${v} GFLOP/s`, `${v} % of peak`])], 2);
  for (const l of layers) {
    for (const n of batches) {
      const label = `${l.name}: ${l.c}→${l.k} ${l.hw}² k${l.kernel} s${l.stride}`;
      if (left() < 60) { row([label, n, ...VARIANTS.flatMap(() => ['skipped (time budget)', '', ''])]); continue; }
      const xs = [n, l.c, l.hw, l.hw], ws = [l.k, l.c, l.kernel, l.kernel];
      const { params: p, shape } = prepareConv(convNode(l), xs, ws, [l.k]);
      const x = g.upload(rnd(xs.reduce((a, b) => a * b)), xs), w = g.upload(rnd(ws.reduce((a, b) => a * b)), ws);
      const b = g.upload(rnd(l.k), [l.k]), y = g.alloc(shape);
      const flops = 2 * p.n * p.k * p.oh * p.ow * p.c * p.kh * p.kw;
      const cells: string[] = [];
      for (const v of VARIANTS) {
        kernelChoiceOverride.force = v;
        const ms = await timeIt(g, () => convForwardGpu(g, p, x, w, y, b), 3, quick ? 50 : 300);
        const gf = flops / ms / 1e6;
        cells.push(ms.toFixed(3), gf.toFixed(1), ((100 * gf) / (peak * 1000)).toFixed(1));
      }
      kernelChoiceOverride.force = null;
      row([label, n, ...cells]);
      [x, w, b, y].forEach((t) => g.release(t));
    }
  }
  say();
}

// ---------------------------------------------------------------- 2. models

interface ModelCase { name: string; bytes: () => Uint8Array }

function modelCases(): ModelCase[] {
  const arch = (f: string): ModelCase => ({ name: `${f} (torchvision topology, test/fixtures/arch)`, bytes: () => new Uint8Array(readFileSync(join(root, 'test/fixtures/arch', `${f}.onnx`))) });
  if (quick) return [arch('resnet18')];
  return [
    { name: 'VGG-16 (224², random weights)', bytes: () => vgg16({ seed: 1 }) },
    { name: 'ResNet-50 (224², random weights)', bytes: () => resnet50({ seed: 1 }) },
    arch('resnet18'), arch('mobilenet_v2'), arch('densenet121'),
  ];
}

async function models(): Promise<void> {
  const batches = quick ? [1, 2] : [1, 16, 64];
  say('### Forward and AE throughput');
  say();
  table(['model', 'method', 'batch', 'kernels', 'ms/img', 'img/s', 'GFLOP/img', 'TFLOP/s', 'dispatches/img', 'host µs/dispatch'], 4);
  for (const mc of modelCases()) {
    if (left() < 90) { row([mc.name, 'all', 'all', 'all', 'skipped (time budget)', '', '', '', '', '']); continue; }
    const ex = await Explainer.create(mc.bytes(), { backend: 'webgpu' });
    const g = ex.session.gpu!;
    const name = ex.session.inputNames[0];
    for (const method of ['forward', 'ae'] as const) {
      for (const batch of batches) {
        const shape = ex.inputShape(batch);
        const x = { shape, data: rnd(shape.reduce((a, b) => a * b, 1)) };
        const gflop = method === 'forward'
          ? explainFlops(ex.session.plan({ [name]: shape }), 'forward') / batch / 1e9
          : (() => { const { plan, layer } = ex.layerFor(shape); return explainFlops(plan, 'ae', layer, logitTensor(plan)) / batch / 1e9; })();
        for (const v of VARIANTS) {
          if (left() < 45) { row([mc.name, method, batch, v, 'skipped (time budget)', '', '', '', '', '']); continue; }
          kernelChoiceOverride.force = v;
          const once = () => (method === 'forward' ? ex.session.run({ [name]: x }) : ex.explain(x, { method }));
          try {
            await once();
            const d0 = g.stats.dispatches, h0 = g.stats.hostMs;
            const ts: number[] = [];
            const start = performance.now();
            while (ts.length < (quick ? 1 : 3) && (ts.length === 0 || performance.now() - start < 8000)) {
              const t = performance.now();
              await once();
              ts.push(performance.now() - t);
            }
            ts.sort((a, b) => a - b);
            const ms = ts[ts.length >> 1] / batch;
            const d = g.stats.dispatches - d0;
            row([mc.name, method, batch, v, ms.toFixed(2), (1000 / ms).toFixed(1), gflop.toPrecision(3), (gflop / ms).toPrecision(3),
              (d / ts.length / batch).toFixed(0), d ? (((g.stats.hostMs - h0) * 1000) / d).toFixed(1) : 'n/a']);
          } catch (e) {
            row([mc.name, method, batch, v, `failed: ${(e as Error).message.split('\n')[0]}`, '', '', '', '', '']);
          }
        }
        kernelChoiceOverride.force = null;
      }
    }
    ex.dispose();
  }
  say();
}

// ---------------------------------------------------------------- 3. aeq verify

function fixtures(): string[] {
  const list = (d: string) => (existsSync(join(root, d)) ? readdirSync(join(root, d)).filter((f) => f.endsWith('.onnx')).sort().map((f) => join(d, f)) : []);
  const all = [...list('shared/fixtures/models'), ...list('../shared/fixtures/models'), ...list('test/fixtures'), ...list('test/fixtures/arch'), ...list('models')];
  return quick ? all.filter((f) => /tiny_se|resnet20/.test(f)).slice(0, 2) : all;
}

function verifyOne(model: string, variant: KernelVariant, deadline: number): Promise<{ code: number | null; summary: string; s: number }> {
  return new Promise((resolve) => {
    const t = performance.now();
    const child = spawn(process.execPath, [cli!, 'verify', join(root, model), '--tol', '1e-4'], {
      env: { ...process.env, AEQ_KERNELS: variant, AEQ_REQUIRE_GPU: '1' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), Math.max(1, Math.min(150 * 1000, deadline - performance.now())));
    child.on('close', (code) => {
      clearTimeout(timer);
      const lines = out.trim().split('\n');
      const summary = lines.reverse().find((l) => /within tolerance|rror/.test(l)) ?? (code === null ? 'timed out' : lines[0] ?? '');
      resolve({ code, summary: summary.replace(/\|/g, '/'), s: (performance.now() - t) / 1000 });
    });
  });
}

async function verifyAll(): Promise<void> {
  say('### aeq verify on every fixture (GPU vs CPU reference, tol 1e-4)');
  say();
  if (!cli) { say(`no CLI build found (run node tools/build.mjs); verify skipped`); say(); return; }
  table(['model', 'kernels', 'exit', 'result', 's'], 2);
  const jobs = fixtures().flatMap((m) => VARIANTS.map((v) => [m, v] as const));
  // Verify is CPU-bound (the reference backend): several at once on the machine's cores.
  const width = quick ? 1 : 8;
  // Verify runs first and gets 40 % of the budget; runs still going then are cut off ('timed out').
  const deadline = performance.now() + 0.4 * budgetS * 1000;
  const results: string[][] = [];
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < jobs.length) {
      const [m, v] = jobs[next++];
      if (performance.now() > deadline - 5000) { results.push([m, v, '', 'skipped (time budget)', '']); continue; }
      const r = await verifyOne(m, v, deadline);
      results.push([m, v, String(r.code), r.summary, r.s.toFixed(0)]);
    }
  }));
  results.sort((a, b) => (a[0] + a[1]).localeCompare(b[0] + b[1])).forEach((r) => row(r));
  say();
}

// ---------------------------------------------------------------- main

const g = await getGpu();
const named = PEAKS.find(([re]) => re.test(g.adapterName));
let peak: number, peakNote: string;
if (only !== undefined) {
  // The strided section reports GFLOP/s only: no peak to measure.
  peak = 0;
  peakNote = 'not measured (--only)';
} else if (named) {
  peak = named[1];
  peakNote = `${peak} TFLOP/s (datasheet fp32 peak for '${named[0].source}')`;
} else {
  const n = quick ? 256 : 4096;
  peak = await gemmTflops(g, n);
  peakNote = `${peak.toPrecision(3)} TFLOP/s (not in the table: measured, the faster variant's ${n}³ GEMM, so a lower bound of the peak)`;
}
say(`## GPU benchmark${quick ? ' (--quick: tiny sizes, plumbing only)' : ''}`);
say();
say(`- adapter: ${g.adapterName}; default kernels here: ${kernelVariant(g.adapterName)}`);
say(`- fp32 peak used for '% of peak': ${peakNote}`);
say(`- date: ${new Date().toISOString()}; command: node dist/bench/gpu.js ${argv.join(' ')}`);
say();
if (only === undefined) {
  await verifyAll();
  await convKernels(g, peak);
}
const batchList = opt('--batches')?.split(',').map(Number);
await stridedPasses(g, { quick, batches: batchList, variants: VARIANTS, left, out: { say, table, row } });
if (only === undefined) await models();
say(`total ${((performance.now() - t0) / 1000).toFixed(0)} s`);
writeFileSync(outFile, md.join('\n') + '\n');
process.exit(0);
