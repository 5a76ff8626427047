// GPU Conv forward throughput on the main VGG-16 and ResNet-50 layer shapes at batch 1.
// Run: node tools/build.mjs && node dist/bench/conv.js [filter]
import { getGpu } from '../src/kernels/gpu/runtime.js';
import { convForwardGpu, prepareConv } from '../src/ops/conv/forward.js';
import type { Node } from '../src/graph/ir.js';
import { LAYERS, type Layer } from './layers.js';

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
