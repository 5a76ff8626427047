// The strided convolution layers' backward passes per shape, both kernel variants (issue 9): the
// gradient's input gradient and the AE rule (general and zB) of ResNet-50's stride-2 layers, whose
// transposed passes the tiled kernel runs as one GEMM per output phase (src/ops/conv/transposed.ts)
// and the shuffle variant as a gather per input pixel. One section of bench/gpu.ts (the GPU-machine
// benchmark); alone: node dist/bench/gpu.js --only strided [--quick].
import type { Gpu, GpuTensor } from '../src/kernels/gpu/runtime.js';
import { kernelChoiceOverride, type KernelVariant } from '../src/kernels/gpu/kernel-choice.js';
import { convInputGradGpu } from '../src/ops/conv/input-grad.js';
import * as conv from '../src/ops/conv/rules.js';
import type { ConvParams } from '../src/ops/conv/params.js';
import { applyRule, DEFAULT_AE, gpuRuleBackend, type RuleCtx } from '../src/ops/rule.js';
import { parseModel } from '../src/io/onnx.js';
import { planGraph } from '../src/planner/plan.js';
import { OnnxBuilder } from '../tools/onnx-builder.js';
import type { Layer } from './layers.js';

/** ResNet-50 (v1.5) stride-2 layers: the bottleneck 3×3s and the downsampling 1×1s, and the stem. */
export const STRIDED: Layer[] = [
  { name: 'resnet 3x3 128 /2', c: 128, hw: 56, k: 128, kernel: 3, stride: 2, pad: 1 },
  { name: 'resnet 3x3 256 /2', c: 256, hw: 28, k: 256, kernel: 3, stride: 2, pad: 1 },
  { name: 'resnet 3x3 512 /2', c: 512, hw: 14, k: 512, kernel: 3, stride: 2, pad: 1 },
  { name: 'resnet 1x1 256→512 /2', c: 256, hw: 56, k: 512, kernel: 1, stride: 2, pad: 0 },
  { name: 'resnet 1x1 1024→2048 /2', c: 1024, hw: 14, k: 2048, kernel: 1, stride: 2, pad: 0 },
  // 3 input channels: the transposed side stays on the gather kernel in both variants (fewer
  // than 8 channels a group); the zB rule's forward side is tiled.
  { name: 'resnet conv1 7x7/2 (zB)', c: 3, hw: 224, k: 64, kernel: 7, stride: 2, pad: 3 },
];

export interface Out { table(head: string[], right?: number): void; row(cells: (string | number)[]): void; say(line?: string): void }

const rnd = (n: number) => {
  const a = new Float32Array(n);
  let s = 777;
  for (let i = 0; i < n; i++) { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; a[i] = s / 2 ** 32 - 0.5; }
  return a;
};

async function median(g: Gpu, fn: () => void, reps: number): Promise<number> {
  fn();
  await g.sync();
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    fn();
    await g.sync();
    ts.push(performance.now() - t);
  }
  ts.sort((a, b) => a - b);
  return ts[ts.length >> 1];
}

/** One Conv as a planned model, so the AE rule sees the step and plan it sees in a walk. */
function convStep(l: Layer, n: number) {
  const b = new OnnxBuilder({ seed: 3 });
  b.input('x', [n, l.c, l.hw, l.hw]);
  b.output(b.conv('x', l.k, l.kernel, { stride: l.stride, pad: l.pad }));
  const plan = planGraph(parseModel(b.toBytes(), 'strided-bench', null), { x: [n, l.c, l.hw, l.hw] });
  const step = plan.steps.find((s) => s.node.opType === 'Conv')!;
  return { plan, step, p: step.params as ConvParams, w: plan.consts.get(step.inputs[1]!) };
}

/** The table: per layer and batch, ms and GFLOP/s of each pass under each variant. */
export async function stridedPasses(g: Gpu, o: { quick: boolean; batches?: number[]; variants: KernelVariant[]; left: () => number; out: Out }): Promise<void> {
  const { say, table, row } = o.out;
  const layers = o.quick
    ? STRIDED.map((l) => ({ ...l, c: Math.min(l.c, 16), k: Math.min(l.k, 32), hw: Math.min(l.hw, 20) }))
    : STRIDED;
  const batches = o.batches ?? (o.quick ? [1] : [1, 16]);
  const reps = o.quick ? 1 : 3;
  say('### Strided layers: the input gradient and the AE conv rule (general, zB), both kernel variants');
  say();
  table(['shape', 'batch', 'pass', ...o.variants.flatMap((v) => [`${v} ms`, `${v} GFLOP/s`])], 3);
  for (const l of layers) {
    for (const n of batches) {
      const label = `${l.name}: ${l.c}→${l.k} ${l.hw}² k${l.kernel} s${l.stride}`;
      if (o.left() < 60) { row([label, n, 'all', ...o.variants.flatMap(() => ['skipped (time budget)', ''])]); continue; }
      const { plan, step, p, w: wc } = convStep(l, n);
      const x = g.upload(rnd(n * l.c * l.hw * l.hw), [n, l.c, l.hw, l.hw], 'x');
      const w = g.upload(Float32Array.from(wc!.data as ArrayLike<number>), wc!.dims, 'w');
      const outShape = [n, p.k, p.oh, p.ow];
      const r = g.upload(rnd(outShape.reduce((a, b) => a * b)), outShape, 'r');
      const macs = n * p.k * p.oh * p.ow * (p.c / p.group) * p.kh * p.kw;
      const ctx = (firstConv: boolean): RuleCtx<GpuTensor> => ({
        plan, step, input: (i) => (i === 0 ? x : i === 1 ? w : undefined),
        output: () => { throw new Error('not used'); }, modelInput: () => x, firstConv, opts: DEFAULT_AE, batch: n,
      });
      const be = gpuRuleBackend(g);
      const rule = (firstConv: boolean) => () => {
        for (const t of applyRule(conv.ae.Conv, ctx(firstConv), r, be)) if (t) g.release(t);
      };
      const passes: [string, () => void, number][] = [
        ['input gradient', () => {
          const dx = g.alloc(x.shape, 'dx');
          convInputGradGpu(g, p, r, w, dx);
          g.release(dx);
        }, 2 * macs],
        ...(l.c > 3 ? [['AE general', rule(false), conv.aeConvFlops(p, n).ae] as [string, () => void, number]] : []),
        ['AE zB', rule(true), conv.aeConvFlops(p, n, 'zb').ae],
      ];
      for (const [pass, fn, flops] of passes) {
        const cells: string[] = [];
        for (const v of o.variants) {
          kernelChoiceOverride.force = v;
          const ms = await median(g, fn, reps);
          cells.push(ms.toFixed(2), (flops / ms / 1e6).toFixed(2));
        }
        kernelChoiceOverride.force = null;
        row([label, n, pass, ...cells]);
      }
      [x, w, r].forEach((t) => g.release(t));
    }
  }
  say();
}
