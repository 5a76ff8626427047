// `aeq bench <model.onnx>`: time the forward pass or an explanation of one model on random inputs,
// per backend, method and batch. Prints a line per setting, or with --json one JSON object per
// line (the fields are documented in BENCH's usage); the full tables live in bench/ (see
// bench/RESULTS.md).
import { Explainer, type ExplainOptions } from '../explain/explainer.js';
import { explainFlops } from '../planner/flops.js';
import { methodFlops } from '../explain/flops.js';
import { parseMethod } from '../eval/methods.js';
import { methodTag } from './output.js';
import { resolveModelPath } from '../models.js';
import { parse, positiveIntOpt, bytesOpt, usageError, type CommandSpec } from './args.js';
import { InputError } from '../errors.js';
import type { BackendName } from '../runtime/session.js';

export const BENCH: CommandSpec = {
  name: 'bench',
  usage: `usage: aeq bench <model.onnx> [--batch N]… [--method forward|METHOD]… [--backend B]… [--reps R] [--json]
times one model on random input: the median of --reps runs after a warm-up, per backend, method and batch
  <model.onnx>                  an .onnx file or a bundled model (aeq-vgg, aeq-resnet)
  --batch N                     inputs per pass (default 1); repeat or comma-separate for several
  --method forward|METHOD       what to time (default forward): the forward pass, or an explanation with
                                a method as aeq eval spells it (ae, ae:1.5, gradcam, ig:32, smoothgrad,
                                …; see aeq eval --help); repeat or comma-separate for several
  --backend webgpu|cpu          a backend to time (default webgpu only: the CPU reference takes minutes
                                per image on large models); repeat for several
  --reps R                      timed runs after the warm-up (default 5)
  --json                        one JSON object per (backend, method, batch) on stdout:
                                ms_per_image, images_per_s, first_ms, gflop_per_image (Conv/Gemm/MatMul
                                FLOPs, 2 per multiply-add: the forward pass, plus the gradient walk for
                                gradcam and ae, plus the AE walk for ae; the gradient family's passes
                                each a forward and a walk to the input), tflops (gflop_per_image /
                                ms_per_image), and on webgpu dispatches_per_image, submits_per_image,
                                host_us_per_dispatch (host time recording and submitting, queue waits
                                excluded, per dispatch), submit_us_per_dispatch (the part of it in
                                finish + submit), host_ms_per_image, bind_groups_made_per_image,
                                dispatches_by_kernel
  --max-memory SIZE             memory budget of one pass (e.g. 512M, 4G; default half the available memory)
  -h, --help                    this text`,
  options: {
    batch: { type: 'string', multiple: true }, backend: { type: 'string', multiple: true }, reps: { type: 'string' },
    method: { type: 'string', multiple: true }, 'max-memory': { type: 'string' }, json: { type: 'boolean' },
  },
};

const list = (v: string[] | undefined): string[] | undefined => v?.flatMap((s) => s.split(',')).filter((s) => s !== '');

export async function benchCommand(argv: string[]): Promise<number> {
  const { values: v, positionals } = parse(argv, BENCH);
  if (positionals.length !== 1) throw usageError(BENCH);
  const batches = (list(v.batch as string[] | undefined) ?? ['1']).map((b) => positiveIntOpt(b, '--batch', 1));
  const reps = positiveIntOpt(v.reps as string | undefined, '--reps', 5);
  const maxMemory = bytesOpt(v['max-memory'] as string | undefined, '--max-memory');
  const specs = list(v.method as string[] | undefined) ?? ['forward'];
  // Every spec is checked before any model loads: `forward`, or a method as aeq eval spells it.
  const methods = specs.map((m) => ({ spec: m, options: m === 'forward' ? undefined : parseMethod(m).options }));
  const backends = (list(v.backend as string[] | undefined) ?? ['webgpu']) as BackendName[];
  const json = !!v.json;
  for (const backend of backends) {
    const ex = await Explainer.create(resolveModelPath(positionals[0]), { backend, maxMemory });
    const g = ex.session.gpu;
    for (const { spec, options } of methods) {
      const tag = options ? methodTag(options) : 'forward';
      for (const batch of batches) {
        const shape = ex.inputShape(batch);
        if (shape.some((d) => !Number.isFinite(d))) throw new InputError(`${positionals[0]}: dynamic input size; cannot make a random input`);
        const data = new Float32Array(shape.reduce((a, b) => a * b, 1)).map((_, i) => Math.sin(i * 12.9898) * 0.5);
        const x = { shape, data };
        const name = ex.session.inputNames[0];
        const once = () => (options ? ex.explain(x, options) : ex.session.run({ [name]: x }));
        const t0 = performance.now();
        const warm = await once();
        const first = performance.now() - t0;
        const d0 = g?.stats.dispatches ?? 0, s0 = g?.stats.submits ?? 0, h0 = g?.stats.hostMs ?? 0;
        const q0 = g?.stats.submitMs ?? 0, b0 = g?.stats.bindGroupsMade ?? 0;
        const k0 = new Map(g?.stats.byKernel);
        const ts: number[] = [];
        for (let i = 0; i < reps; i++) {
          const t = performance.now();
          await once();
          ts.push(performance.now() - t);
        }
        ts.sort((a, b) => a - b);
        const med = ts[Math.floor(ts.length / 2)] ?? first;
        const perImage = med / batch;
        // The layer the method explained (the model input for the gradient family, LRP and FullGrad).
        const layer = options ? (warm as { layer: string }).layer : undefined;
        const gflop = flopsOf(ex, shape, options, layer) / batch / 1e9;
        if (json) {
          const runs = reps * batch;
          const row: Record<string, unknown> = {
            model: positionals[0], backend, adapter: g?.adapterName ?? null, fast: process.env.AEQ_FAST === '1', method: spec, tag, batch, reps,
            ms_per_image: perImage, images_per_s: 1000 / perImage, first_ms: first,
            gflop_per_image: gflop, tflops: gflop / perImage,
          };
          if (g) {
            const d = g.stats.dispatches - d0;
            Object.assign(row, {
              dispatches_per_image: d / runs,
              submits_per_image: (g.stats.submits - s0) / runs,
              host_us_per_dispatch: d ? ((g.stats.hostMs - h0) * 1000) / d : null,
              host_ms_per_image: (g.stats.hostMs - h0) / runs,
              submit_us_per_dispatch: d ? ((g.stats.submitMs - q0) * 1000) / d : null,
              bind_groups_made_per_image: (g.stats.bindGroupsMade - b0) / runs,
              dispatches_by_kernel: Object.fromEntries([...g.stats.byKernel]
                .map(([k, n]) => [k, (n - (k0.get(k) ?? 0)) / runs] as const)
                .filter(([, n]) => n > 0)
                .sort((a, b) => b[1] - a[1])),
            });
          }
          process.stdout.write(JSON.stringify(row) + '\n');
        } else {
          const dev = g ? ` (${g.adapterName})` : '';
          process.stdout.write(`${backend}${dev}: ${tag} batch ${batch}: median ${med.toFixed(1)} ms (${perImage.toFixed(1)} ms/image) over ${reps} runs; first run ${first.toFixed(0)} ms\n`);
        }
      }
    }
    ex.dispose();
  }
  return 0;
}

/** Forward or explanation FLOPs of one pass at this input shape (src/explain/flops.ts). */
function flopsOf(ex: Explainer, shape: number[], o: ExplainOptions | undefined, layer: string | undefined): number {
  const plan = ex.session.plan({ [ex.session.inputNames[0]]: shape });
  return o && layer ? methodFlops(plan, o, layer) : explainFlops(plan, 'forward');
}
