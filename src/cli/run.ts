// `aeq run <model.onnx> --input [name=]file.npy … --out DIR`: forward pass, every output to .npy.
import { join } from 'node:path';
import { Session, type BackendName } from '../runtime/session.js';
import { readNpy, writeNpy } from '../io/npy.js';
import { loadModel } from '../io/onnx.js';
import { constantInputs, type ConstantValue } from '../planner/constants.js';
import { ensureDir } from '../io/atomic.js';
import { resolveModelPath } from '../models.js';
import { estimateForward } from '../planner/budget.js';
import { numel } from '../graph/tensor.js';
import { parse, bytesOpt, usageError, type CommandSpec } from './args.js';
import { UsageError, InputError } from '../errors.js';
import type { CpuTensor } from '../ops/op.js';

/** Output names become file names: anything outside [A-Za-z0-9._-] is replaced by '_'. */
export function safeFileName(name: string): string {
  const s = name.replace(/[^A-Za-z0-9._-]/g, '_');
  return s === '' || s === '.' || s === '..' ? `_${s}` : s;
}

export const RUN: CommandSpec = {
  name: 'run',
  usage: `usage: aeq run <model.onnx> --input [name=]file.npy … --out DIR [options]
runs the forward pass and writes every graph output to DIR/<output name>.npy (float32)
  <model.onnx>                an .onnx file or a bundled model (aeq-vgg, aeq-resnet)
  -i, --input [name=]FILE     an input .npy, once per graph input (without name=, in the model's
                              input order); integer/bool inputs are bound as plan-time constants
  -o, --out DIR               output folder (created)
  --backend webgpu|cpu|auto   the backend (default auto: WebGPU when there is an adapter)
  --max-memory SIZE           memory budget of one pass (e.g. 512M, 4G; default half the available memory)
  -h, --help                  this text`,
  options: {
    input: { type: 'string', multiple: true, short: 'i' },
    backend: { type: 'string', default: 'auto' },
    out: { type: 'string', short: 'o' },
    'max-memory': { type: 'string' },
  },
};

export async function runCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, RUN);
  if (positionals.length !== 1) throw usageError(RUN);
  const outDir = values.out as string | undefined;
  if (!outDir) throw new UsageError('run: --out DIR is required');
  const maxMemory = bytesOpt(values['max-memory'] as string | undefined, '--max-memory');
  // Integer and bool inputs are bound as plan-time constants; float inputs stream at run time.
  const model = loadModel(resolveModelPath(positionals[0]));
  const names = model.graph.inputs.map((i) => i.name);
  const constNames = new Set(constantInputs(model));
  const feeds: Record<string, CpuTensor> = {};
  const constants: Record<string, ConstantValue> = {};
  const given = (values.input as string[] | undefined) ?? [];
  if (given.length === 0 && names.length > 0) throw new UsageError(`run: give --input for ${names.map((n) => `'${n}'`).join(', ')}`);
  for (const [k, spec] of given.entries()) {
    const eq = spec.indexOf('=');
    const name = eq > 0 && !spec.slice(0, eq).includes('/') ? spec.slice(0, eq) : names[k];
    const file = eq > 0 && !spec.slice(0, eq).includes('/') ? spec.slice(eq + 1) : spec;
    if (name === undefined) throw new InputError(`run: more --input files than the model has inputs (${names.length})`);
    if (!names.includes(name)) throw new InputError(`run: the model has no input named '${name}' (inputs: ${names.join(', ')})`);
    const a = readNpy(file);
    if (constNames.has(name)) {
      const dtype = model.graph.inputs.find((i) => i.name === name)!.dtype;
      if (!a.ints) throw new InputError(`${file}: input '${name}' is ${dtype}; give an integer or bool .npy, not '${a.dtype}'`);
      if (a.ints.clamped) {
        process.stderr.write(`note: ${file}: ${a.ints.clamped} value(s) of input '${name}' beyond ±2^53 clamped to ±2^53 (INT64_MAX as "to the end" keeps its meaning)\n`);
      }
      constants[name] = { shape: a.shape, data: a.ints.data };
      continue;
    }
    const bad = a.data.findIndex((x) => !Number.isFinite(x));
    if (bad >= 0) throw new InputError(`${file}: input '${name}' holds ${a.data[bad]} at element ${bad}; non-finite inputs are refused`);
    feeds[name] = { shape: a.shape, data: a.data };
  }
  for (const n of names) if (!feeds[n] && !constants[n]) throw new InputError(`run: missing --input for '${n}'`);
  const session = await Session.create(model, { backend: values.backend as BackendName | 'auto', maxMemory, constants });
  ensureDir(outDir);
  // The budget before anything runs: the forward pass plus the host copies of the outputs (their
  // readback and .npy encoding).
  const plan = session.plan(Object.fromEntries(Object.entries(feeds).map(([k, f]) => [k, f.shape])));
  const e = estimateForward(plan);
  const outBytes = plan.outputs.reduce((a, o) => a + numel(o.shape) * 4, 0);
  session.checkMemory({ ...e, bytes: e.bytes + outBytes, activations: e.activations + outBytes }, 'the forward pass and its .npy outputs');
  const outs = await session.run(feeds);
  const used = new Set<string>();
  for (const [name, t] of Object.entries(outs)) {
    // Two output names that sanitise alike ('a/b', 'a_b') get distinct files.
    let stem = safeFileName(name);
    while (used.has(stem.toLowerCase())) stem = `${stem}_`;
    used.add(stem.toLowerCase());
    const file = join(outDir, `${stem}.npy`);
    writeNpy(file, t.shape, t.data);
    process.stdout.write(`${file}  [${t.shape.join('×')}]\n`);
  }
  process.stderr.write(`backend: ${session.backend}${session.gpu ? ` (${session.gpu.adapterName})` : ''}\n`);
  return 0;
}
