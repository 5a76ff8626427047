// Dispatch-overhead benchmark: `aeq bench --json` for forward, AE and Grad-CAM on the shared models
// (../shared/fixtures, when present) and the bundled ones, for one or more builds of the CLI in one
// run, interleaved per model, printed as a markdown table. Never passes or fails.
//   node tools/build.mjs && node bench/dispatch.mjs [label=path/to/cli.js]… [--reps R]
// A label ending in -fast runs that build with AEQ_FAST=1. Without labels it times this checkout's dist/cli.js. To compare against an older build, copy
// that build's dist/ (with models/ beside it) elsewhere and pass before=/that/dist/cli.js.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const repsArg = args.find((a) => a.startsWith('--reps='));
const reps = repsArg ? repsArg.slice(7) : '3';
const builds = args.filter((a) => a.includes('=') && !a.startsWith('--')).map((a) => a.split('='));
if (builds.length === 0) builds.push(['this', root + 'dist/cli.js']);
const fx = root + '../shared/fixtures/models/';
const models = [
  ['SqueezeNet 1.0', fx + 'squeezenet1_0_deepcompression.onnx', '1,8'],
  ['ResNet-20 CIFAR', fx + 'resnet20_cifar10.onnx', '1'],
  ['MobileNetV1 0.25', fx + 'mobilenet_v1_0.25_128_quant.float.onnx', '1,8'],
  ['aeq-vgg', 'aeq-vgg', '1'],
  ['aeq-resnet', 'aeq-resnet', '1'],
].filter(([, p]) => !p.endsWith('.onnx') || existsSync(p));

const rows = new Map(); // model|method|batch → { build → row }
for (const [name, path, batches] of models) {
  for (const [label, cli] of builds) {
    const r = spawnSync(process.execPath, ['-e', `import(${JSON.stringify(cli)}).then(async (m) => { process.exitCode = await m.main(process.argv.slice(1)); })`,
      'bench', path, '--json', '--method', 'forward,ae,gradcam', '--batch', batches, '--reps', reps], { encoding: 'utf8', env: { ...process.env, ...(label.endsWith('-fast') ? { AEQ_FAST: '1' } : {}) } });
    if (r.status !== 0) { process.stderr.write(`${label} ${name}: exit ${r.status}\n${r.stderr}\n`); continue; }
    for (const line of r.stdout.split('\n').filter((l) => l.startsWith('{'))) {
      const o = JSON.parse(line);
      const k = `${name}|${o.method}|${o.batch}`;
      if (!rows.has(k)) rows.set(k, {});
      rows.get(k)[label] = o;
      process.stderr.write(`${label} ${name} ${o.method} b${o.batch}: ${o.ms_per_image.toFixed(1)} ms/img, ${o.dispatches_per_image} dispatches/img, ${o.host_us_per_dispatch?.toFixed(1)} µs/dispatch\n`);
    }
  }
}
const labels = builds.map(([l]) => l);
const cols = (f) => labels.map((l) => `${f} ${l}`);
const head = ['model', 'method', 'batch', 'GFLOP/img', ...cols('ms/img'), ...cols('dispatches/img'), ...cols('submits/img'), ...cols('host µs/dispatch'), ...cols('host ms/img')];
const out = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i < 2 ? '---' : '---:')).join('|')}|`];
const fmt = (v, d) => (v === undefined || v === null ? 'n/a' : v.toFixed(d));
for (const [k, by] of rows) {
  const [model, method, batch] = k.split('|');
  const any = Object.values(by)[0];
  const get = (f, d) => labels.map((l) => fmt(by[l]?.[f], d));
  out.push(`| ${[model, method, batch, fmt(any.gflop_per_image, 3), ...get('ms_per_image', 1), ...get('dispatches_per_image', 0), ...get('submits_per_image', 1), ...get('host_us_per_dispatch', 1), ...get('host_ms_per_image', 2)].join(' | ')} |`);
}
process.stdout.write(`\nadapter: ${Object.values([...rows.values()][0] ?? {})[0]?.adapter ?? 'n/a'}\n\n${out.join('\n')}\n`);
