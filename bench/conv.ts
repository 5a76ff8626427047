// GPU Conv forward throughput on the main VGG-16 and ResNet-50 layer shapes at batch 1.
// Run: node tools/build.mjs && node dist/bench/conv.js [filter]
import { getGpu } from '../src/kernels/gpu/runtime.js';
import { convForwardGpu, prepareConv } from '../src/ops/conv/forward.js';
import type { Node } from '../src/graph/ir.js';

interface Layer { name: string; c: number; hw: number; k: number; kernel: number; stride: number; pad: number }

const LAYERS: Layer[] = [
  { name: 'vgg conv1_2', c: 64, hw: 224, k: 64, kernel: 3, stride: 1, pad: 1 },
  { name: 'vgg conv2_2', c: 128, hw: 112, k: 128, kernel: 3, stride: 1, pad: 1 },
  { name: 'vgg conv3_2', c: 256, hw: 56, k: 256, kernel: 3, stride: 1, pad: 1 },
  { name: 'vgg conv4_2', c: 512, hw: 28, k: 512, kernel: 3, stride: 1, pad: 1 },
  { name: 'vgg conv5_2', c: 512, hw: 14, k: 512, kernel: 3, stride: 1, pad: 1 },
  { name: 'resnet conv1 7x7/2', c: 3, hw: 224, k: 64, kernel: 7, stride: 2, pad: 3 },
  { name: 'resnet 1x1 64→256', c: 64, hw: 56, k: 256, kernel: 1, stride: 1, pad: 0 },
  { name: 'resnet 3x3 64', c: 64, hw: 56, k: 64, kernel: 3, stride: 1, pad: 1 },
  { name: 'resnet 1x1 256→128 /2', c: 256, hw: 56, k: 128, kernel: 1, stride: 2, pad: 0 },
  { name: 'resnet 3x3 128', c: 128, hw: 28, k: 128, kernel: 3, stride: 1, pad: 1 },
  { name: 'resnet 3x3 256', c: 256, hw: 14, k: 256, kernel: 3, stride: 1, pad: 1 },
  { name: 'resnet 1x1 1024→256', c: 1024, hw: 14, k: 256, kernel: 1, stride: 1, pad: 0 },
  { name: 'resnet 3x3 512', c: 512, hw: 7, k: 512, kernel: 3, stride: 1, pad: 1 },
  { name: 'resnet 1x1 512→2048', c: 512, hw: 7, k: 2048, kernel: 1, stride: 1, pad: 0 },
];

const node = (l: Layer): Node => ({
  name: l.name, opType: 'Conv', domain: '', inputs: ['x', 'w', 'b'], outputs: ['y'],
  attrs: new Map<string, number[]>([['strides', [l.stride, l.stride]], ['pads', [l.pad, l.pad, l.pad, l.pad]]]),
});

const filter = process.argv[2];
const reps = Number(process.env.REPS ?? 5);
const g = await getGpu();
console.log(`adapter: ${g.adapterName}; subgroups: ${g.device.features.has('subgroups')}; median and best of ${reps} runs after warm-up`);
// On a shared machine the best run is the steadier figure: other processes only ever slow a run down.
console.log(['shape'.padEnd(52), 'ms'.padStart(9), 'GFLOP/s'.padStart(9), 'best ms'.padStart(9), 'GFLOP/s'.padStart(9), 'first(ms)'.padStart(10)].join(' '));
for (const l of LAYERS) {
  if (filter && !l.name.includes(filter)) continue;
  const xs = [1, l.c, l.hw, l.hw], ws = [l.k, l.c, l.kernel, l.kernel];
  const { params: p, shape } = prepareConv(node(l), xs, ws, [l.k]);
  const rnd = (n: number) => Float32Array.from({ length: n }, () => Math.random() - 0.5);
  const x = g.upload(rnd(xs.reduce((a, b) => a * b)), xs);
  const w = g.upload(rnd(ws.reduce((a, b) => a * b)), ws);
  const b = g.upload(rnd(l.k), [l.k]);
  const y = g.alloc(shape);
  let t = performance.now();
  convForwardGpu(g, p, x, w, y, b);
  await g.sync();
  const first = performance.now() - t;
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    t = performance.now();
    convForwardGpu(g, p, x, w, y, b);
    await g.sync();
    times.push(performance.now() - t);
  }
  times.sort((a, b2) => a - b2);
  const ms = times[times.length >> 1];
  const flops = 2 * p.n * p.k * p.oh * p.ow * (p.c / p.group) * p.kh * p.kw;
  const label = `${l.name}: ${l.c}→${l.k} ${l.hw}² k${l.kernel} s${l.stride}`;
  const best = times[0];
  console.log([label.padEnd(52), ms.toFixed(2).padStart(9), (flops / ms / 1e6).toFixed(1).padStart(9),
    best.toFixed(2).padStart(9), (flops / best / 1e6).toFixed(1).padStart(9), first.toFixed(0).padStart(10)].join(' '));
  [x, w, b, y].forEach((tt) => g.release(tt));
}
process.exit(0);
