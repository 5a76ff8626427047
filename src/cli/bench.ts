// `aeq bench <model.onnx>`: time the forward pass (and optionally an explanation) of one model on
// random inputs, per backend. Prints figures; the full tables live in bench/ (see bench/RESULTS.md).
import { Explainer } from '../explain/explainer.js';
import { resolveModelPath } from '../models.js';
import { parse, positiveIntOpt, bytesOpt, usageError, type CommandSpec } from './args.js';
import { OptionError, InputError } from '../errors.js';
import type { BackendName } from '../runtime/session.js';

export const BENCH: CommandSpec = {
  name: 'bench',
  usage: `usage: aeq bench <model.onnx> [--batch N] [--method forward|ae|gradcam] [--backend B]… [--reps R]
times one model on random input: the median of --reps runs after a warm-up, per backend
  <model.onnx>                  an .onnx file or a bundled model (aeq-vgg, aeq-resnet)
  --batch N                     inputs per pass (default 1)
  --method forward|ae|gradcam   what to time (default forward)
  --backend webgpu|cpu          a backend to time; repeat for several (default webgpu and cpu)
  --reps R                      timed runs after the warm-up (default 5)
  --max-memory SIZE             memory budget of one pass (e.g. 512M, 4G; default half the available memory)
  -h, --help                    this text`,
  options: {
    batch: { type: 'string' }, backend: { type: 'string', multiple: true }, reps: { type: 'string' },
    method: { type: 'string', default: 'forward' }, 'max-memory': { type: 'string' },
  },
};

export async function benchCommand(argv: string[]): Promise<number> {
  const { values: v, positionals } = parse(argv, BENCH);
  if (positionals.length !== 1) throw usageError(BENCH);
  const batch = positiveIntOpt(v.batch as string | undefined, '--batch', 1);
  const reps = positiveIntOpt(v.reps as string | undefined, '--reps', 5);
  const maxMemory = bytesOpt(v['max-memory'] as string | undefined, '--max-memory');
  const method = v.method as string;
  if (!['forward', 'ae', 'gradcam'].includes(method)) throw new OptionError(`--method must be forward, ae or gradcam, got '${method}'`);
  const backends = ((v.backend as string[] | undefined) ?? ['webgpu', 'cpu']) as BackendName[];
  for (const backend of backends) {
    const ex = await Explainer.create(resolveModelPath(positionals[0]), { backend, maxMemory });
    const shape = ex.inputShape(batch);
    if (shape.some((d) => !Number.isFinite(d))) throw new InputError(`${positionals[0]}: dynamic input size; cannot make a random input`);
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1)).map((_, i) => Math.sin(i * 12.9898) * 0.5);
    const x = { shape, data };
    const name = ex.session.inputNames[0];
    const once = () => (method === 'forward' ? ex.session.run({ [name]: x }) : ex.explain(x, { method: method as 'ae' | 'gradcam' }));
    const t0 = performance.now();
    await once();
    const first = performance.now() - t0;
    const ts: number[] = [];
    for (let i = 0; i < reps; i++) {
      const t = performance.now();
      await once();
      ts.push(performance.now() - t);
    }
    ts.sort((a, b) => a - b);
    const med = ts[Math.floor(ts.length / 2)] ?? first;
    const dev = ex.session.gpu ? ` (${ex.session.gpu.adapterName})` : '';
    process.stdout.write(`${backend}${dev}: ${method} batch ${batch}: median ${med.toFixed(1)} ms (${(med / batch).toFixed(1)} ms/image) over ${reps} runs; first run ${first.toFixed(0)} ms\n`);
    ex.dispose();
  }
  return 0;
}
