// Forward-pass benchmark: ms/image for aeq on WebGPU, aeq's CPU reference and onnxruntime-node
// (CPU EP), in one run, on the shared pretrained models and full-size VGG-16 / ResNet-50.
// Prints figures; never passes or fails on time.
//   node tools/build.mjs && node dist/bench/forward.js [--quick] [--cpu-all]
import { readFileSync, existsSync } from 'node:fs';
import { Session } from '../src/runtime/session.js';
import { vgg16, resnet50 } from '../tools/onnx-builder.js';
import { planGraph } from '../src/planner/plan.js';
import { parseModel } from '../src/io/onnx.js';
import { planFlops } from '../src/planner/flops.js';

const args = new Set(process.argv.slice(2));
const quick = args.has('--quick');
const cpuAll = args.has('--cpu-all');
// --no-cpu: skip the CPU reference (a full-size model takes a minute there); for quick GPU-only runs.
const noCpu = args.has('--no-cpu');
// ../shared/fixtures beside the checkout, seen from dist/bench/ (bundled) or bench/ (sources).
const FIXTURE_DIRS = ['../../../shared/fixtures/models/', '../../shared/fixtures/models/'].map((p) => new URL(p, import.meta.url).pathname);

interface Case { name: string; bytes: Uint8Array; size: number; batches: number[]; big: boolean }

function fixture(file: string): Uint8Array | undefined {
  for (const dir of FIXTURE_DIRS) {
    if (existsSync(dir + file)) return new Uint8Array(readFileSync(dir + file));
  }
  return undefined;
}

function cases(): Case[] {
  const out: Case[] = [];
  const sq = fixture('squeezenet1_0_deepcompression.onnx');
  if (sq) out.push({ name: 'SqueezeNet 1.0', bytes: sq, size: 227, batches: [1, 8], big: false });
  const r20 = fixture('resnet20_cifar10.onnx');
  if (r20) out.push({ name: 'ResNet-20 CIFAR', bytes: r20, size: 32, batches: [1], big: false });
  const mb = fixture('mobilenet_v1_0.25_128_quant.float.onnx');
  if (mb) out.push({ name: 'MobileNetV1 0.25', bytes: mb, size: 128, batches: [1, 8], big: false });
  if (!sq) process.stderr.write('note: ../shared/fixtures not found; shared models skipped\n');
  out.push({ name: 'VGG-16', bytes: vgg16({ seed: 1 }), size: 224, batches: quick ? [1] : [1, 8], big: true });
  out.push({ name: 'ResNet-50', bytes: resnet50({ seed: 1 }), size: 224, batches: quick ? [1] : [1, 8], big: true });
  return out;
}

function input(n: number, size: number): Float32Array {
  const d = new Float32Array(n * 3 * size * size);
  let s = 12345;
  for (let i = 0; i < d.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    d[i] = s / 2 ** 32 - 0.5;
  }
  return d;
}

async function time(fn: () => Promise<unknown>, reps: number): Promise<number> {
  await fn(); // warm-up: pipelines, weight upload, allocations
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await fn();
    ts.push(performance.now() - t0);
  }
  ts.sort((a, b) => a - b);
  return ts[Math.floor(ts.length / 2)];
}

function flops(bytes: Uint8Array, shape: number[]): number {
  const model = parseModel(bytes, 'bench', null);
  return planFlops(planGraph(model, { [model.graph.inputs[0].name]: shape }));
}

// onnxruntime-node is a dev dependency: without it (e.g. a GPU machine given only the bundle) the
// onnxruntime column reads n/a.
const ort = await import('onnxruntime-node').catch(() => undefined);
const rows: string[] = [];
const head = '| model | batch | GFLOP/img | aeq webgpu ms/img | aeq cpu ms/img | onnxruntime ms/img | webgpu vs ort | webgpu GFLOP/s |';
rows.push(head, '|---|---:|---:|---:|---:|---:|---:|---:|');
let adapter = '';
for (const c of cases()) {
  const gpu = await Session.create(c.bytes, { backend: 'webgpu' });
  adapter = gpu.gpu!.adapterName;
  const cpu = await Session.create(c.bytes, { backend: 'cpu' });
  const ortS = ort ? await ort.InferenceSession.create(c.bytes, { executionProviders: ['cpu'], graphOptimizationLevel: 'all' }) : undefined;
  const name = gpu.inputNames[0];
  for (const n of c.batches) {
    const shape = [n, 3, c.size, c.size];
    const data = input(n, c.size);
    const gf = flops(c.bytes, shape) / n / 1e9;
    const reps = c.big ? 3 : 5;
    const tg = await time(() => gpu.run({ [name]: { shape, data } }), reps);
    const runCpu = !noCpu && (!c.big || n === 1 || cpuAll);
    const tc = runCpu ? await time(() => cpu.run({ [name]: { shape, data } }), 1) : NaN;
    const to = ort && ortS ? await time(() => ortS.run({ [name]: new ort.Tensor('float32', data, shape) }), reps) : NaN;
    const f = (ms: number) => (Number.isFinite(ms) ? (ms / n).toFixed(1) : 'skipped');
    const row = `| ${c.name} | ${n} | ${gf.toFixed(2)} | ${f(tg)} | ${f(tc)} | ${f(to)} | ${Number.isFinite(to) ? `${(to / tg).toFixed(2)}×` : 'n/a'} | ${((gf * n) / (tg / 1000)).toFixed(1)} |`;
    rows.push(row);
    process.stderr.write(row + '\n');
  }
  gpu.dispose();
  cpu.dispose();
  await ortS?.release();
}
process.stdout.write(`\nadapter: ${adapter}\n\n${rows.join('\n')}\n`);
