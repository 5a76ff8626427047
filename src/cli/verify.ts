// `aeq verify <model.onnx> [inputs…]`: forward, gradient and AE on both backends, compared tensor
// by tensor. Users run it to trust a new model on a new driver; exit code 1 above tolerance.
import { Explainer, type ExplainOptions, type TraceEntry } from '../explain/explainer.js';
import { runCpu } from '../runtime/executor.js';
import { readImage, preprocess } from '../io/image.js';
import { readNpy } from '../io/npy.js';
import { bundledModel, resolveModelPath } from '../models.js';
import { parse, numberOpt, positiveIntOpt, bytesOpt, usageError, type CommandSpec } from './args.js';
import { fmtShape } from '../graph/tensor.js';
import { estimateForward } from '../planner/budget.js';
import { OptionError, InputError } from '../errors.js';
import { parseMethods } from '../eval/methods.js';
import { methodTag } from './output.js';
import type { CpuTensor } from '../ops/op.js';

export function compare(a: Float32Array, b: Float32Array): { maxAbs: number; relL2: number } {
  let m = 0, num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - b[i];
    if (!Number.isFinite(a[i]) || !Number.isFinite(b[i])) return { maxAbs: Infinity, relL2: Infinity };
    m = Math.max(m, Math.abs(d));
    num += d * d;
    den += b[i] * b[i];
  }
  return { maxAbs: m, relL2: den > 0 ? Math.sqrt(num / den) : num > 0 ? Infinity : 0 };
}

function seededInput(shape: number[], seed = 7): CpuTensor {
  let s = seed >>> 0;
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = (s / 4294967296) * 2 - 1;
  }
  return { shape, data };
}

export const VERIFY: CommandSpec = {
  name: 'verify',
  usage: `usage: aeq verify <model.onnx> [image|tensor.npy …] [--tol 1e-4] [options]
runs the forward pass and explanations on both backends and prints the GPU-vs-CPU difference per
tensor; exit code 1 above the tolerance
  <model.onnx>                 an .onnx file or a bundled model (aeq-vgg, aeq-resnet)
  [image|tensor.npy …]         the input (default a seeded random tensor)
  --tol T                      tolerance on the relative L2 difference (default 1e-4)
  --shared-forward             run the CPU backward on the GPU's forward activations
  --method M[,M…]              the explanations compared, as aeq eval spells them (default gradcam,ae;
                               e.g. ae:1,gradient,ig:8,smoothgrad:4); per method its traced signals,
                               heatmap and input attribution
  --ratio R                    AE's degree of evidence for --method ae (default 2)
  --target top|N               the class explained (default top)
  --layer NAME                 the layer attribution starts from (default: see aeq info)
  --residual main|proportional how AE splits relevance at residual Adds (default main)
  --preset P                   image preprocessing (imagenet, imagenet-direct, caffe-bgr, inception, cifar)
  --batch B                    inputs per pass (default 1)
  --max-memory SIZE            memory budget of one pass (e.g. 512M, 4G; default half the available memory)
  -h, --help                   this text`,
  options: {
    ratio: { type: 'string' }, target: { type: 'string' }, layer: { type: 'string' }, residual: { type: 'string' },
    tol: { type: 'string' }, preset: { type: 'string' }, batch: { type: 'string' }, 'shared-forward': { type: 'boolean' },
    'max-memory': { type: 'string' }, method: { type: 'string' },
  },
};

export async function verifyCommand(argv: string[]): Promise<number> {
  const { values: v, positionals } = parse(argv, VERIFY);
  if (positionals.length < 1) throw usageError(VERIFY);
  const [modelArg, ...inputs] = positionals;
  const modelPath = resolveModelPath(modelArg);
  const tol = numberOpt(v.tol as string | undefined, '--tol', 1e-4);
  if (!(tol >= 0)) throw new OptionError(`--tol must be ≥ 0, got '${v.tol}'`);
  const batch = positiveIntOpt(v.batch as string | undefined, '--batch', 1);
  const maxMemory = bytesOpt(v['max-memory'] as string | undefined, '--max-memory');
  const ratio = numberOpt(v.ratio as string | undefined, '--ratio', 2);
  const methods = parseMethods((v.method as string | undefined) ?? 'gradcam,ae');
  const target = v.target === undefined ? 'top' : numberOpt(v.target as string, '--target', 0);
  if (target !== 'top' && !(Number.isInteger(target) && target >= 0)) throw new OptionError(`--target must be 'top' or a class index, got '${v.target}'`);
  const gpu = await Explainer.create(modelPath, { backend: 'webgpu', maxMemory });
  const cpu = await Explainer.create(modelPath, { backend: 'cpu', maxMemory });
  const shape = gpu.inputShape(batch);
  let input: CpuTensor;
  if (inputs.length === 0) {
    if (shape.some((d) => !Number.isFinite(d))) throw new InputError(`${modelPath}: dynamic input size; give an input file`);
    input = seededInput(shape);
  } else if (inputs[0].endsWith('.npy')) {
    const a = readNpy(inputs[0]);
    input = { shape: a.shape.length === 3 ? [1, ...a.shape] : a.shape, data: a.data };
  } else {
    const b = preprocess(inputs.map((p) => readImage(p)), { preset: (v.preset ?? bundledModel(modelArg)?.preset) as never, size: [shape[2], shape[3]] });
    input = { shape: b.shape, data: b.data };
  }
  const rows: [string, string, string, number, number][] = [];

  // Forward: every tensor of the plan.
  const { plan } = gpu.layerFor(input.shape, v.layer as string | undefined);
  const name = gpu.session.inputNames[0];
  gpu.session.checkMemory(estimateForward(plan, { keep: 'all' }), 'verify (every tensor of the forward pass kept)');
  const ref = runCpu(plan, { [name]: input }, { keep: 'all' });
  const dev = gpu.session.runOnGpu(plan, { [name]: input }, { keep: 'all' });
  for (const s of plan.steps) {
    const o = s.node.outputs[0];
    const a = dev.results.get(o), b = ref.get(o);
    if (!a || !b) continue;
    const d = compare(await gpu.session.gpu!.read(a), b.data);
    rows.push(['forward', o, fmtShape(b.shape), d.maxAbs, d.relL2]);
  }
  gpu.session.releaseAll(dev.results, dev.inputs);

  const base: ExplainOptions = {
    target, layer: v.layer as string | undefined, trace: true,
    ratio, residual: v.residual as ExplainOptions['residual'],
  };
  // A signal traced by several methods (the gradient walk to AE's layer is Grad-CAM's too) is listed once.
  const listed = new Set<string>();
  for (const spec of methods) {
    // --ratio applies to AE specs that give none (`ae`); `ae:1.5` keeps its own.
    const o: ExplainOptions = { ...base, ...spec.options, ratio: spec.options.method === 'ae' && v.ratio !== undefined ? ratio : spec.options.ratio };
    const tag = methodTag(o);
    // --shared-forward: the CPU backward runs on the GPU's forward activations, isolating the
    // backward kernels from forward rounding (which can flip exact-zero and arg-max decisions).
    const forward = v['shared-forward'] ? await gpu.forwardValues(input, o) : undefined;
    const [g, c] = [await gpu.explain(input, o), await cpu.explain(input, { ...o, forward })];
    const byName = new Map<string, TraceEntry>((c.trace ?? []).map((e) => [`${e.walk}:${e.name}`, e]));
    for (const e of g.trace ?? []) {
      const key = `${o.method === 'ae' || o.method === 'gradcam' ? '' : tag + '/'}${e.walk}`;
      const r = byName.get(`${e.walk}:${e.name}`);
      if (!r || listed.has(`${key}:${e.name}`)) continue;
      listed.add(`${key}:${e.name}`);
      const d = compare(e.value.data, r.value.data);
      rows.push([key, e.name, fmtShape(r.value.shape), d.maxAbs, d.relL2]);
    }
    const d = compare(g.heatmaps.data, c.heatmaps.data);
    rows.push([tag, 'heatmap', fmtShape(c.heatmaps.shape), d.maxAbs, d.relL2]);
    if (g.attribution && c.attribution) {
      const a = compare(g.attribution.data, c.attribution.data);
      rows.push([tag, 'attribution', fmtShape(c.attribution.shape), a.maxAbs, a.relL2]);
    }
  }
  const w = Math.min(60, Math.max(...rows.map((r) => r[1].length)));
  process.stdout.write(`verify ${modelPath} on ${gpu.session.gpu!.adapterName}: GPU vs CPU, tolerance relative L2 ≤ ${tol}\n`);
  const pw = Math.max(9, ...rows.map((r) => r[0].length + 2));
  process.stdout.write(`${'pass'.padEnd(pw)}${'tensor'.padEnd(w + 2)}${'shape'.padEnd(18)}${'max |Δ|'.padStart(11)}${'rel L2'.padStart(11)}\n`);
  let bad = 0;
  for (const [walk, t, sh, m, r] of rows) {
    const ok = r <= tol;
    if (!ok) bad++;
    process.stdout.write(`${walk.padEnd(pw)}${(t.length > w ? '…' + t.slice(-w + 1) : t).padEnd(w + 2)}${sh.padEnd(18)}${m.toExponential(2).padStart(11)}${r.toExponential(2).padStart(11)}${ok ? '' : '  FAIL'}\n`);
  }
  process.stdout.write(`${rows.length - bad}/${rows.length} tensors within tolerance\n`);
  gpu.dispose();
  cpu.dispose();
  if (bad) throw new InputError(`verify: ${bad} tensor(s) differ between GPU and CPU beyond relative L2 ${tol}`);
  return 0;
}
