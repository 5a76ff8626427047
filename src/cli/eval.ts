// `aeq eval <metrics> --model M --data DIR`: attribution quality on a dataset with ground truth
// (docs/dataset-format.md), the paper's measures (spec §5), one row per method.
import { writeFileAtomic } from '../io/atomic.js';
import { loadModel } from '../io/onnx.js';
import { readDataset, SPLITS, type Split } from '../data/format.js';
import { evaluate, resultTable, sanityTable, METRICS, type MetricName } from '../eval/evaluate.js';
import { parseMethods, ratioSweep, ablationGrid, type MethodSpec } from '../eval/methods.js';
import { formatTable, tableJson } from '../eval/metrics/index.js';
import { bundledModel, resolveModelPath } from '../models.js';
import { PRESETS, type PresetName } from '../io/image.js';
import { parse, numberOpt, positiveIntOpt, bytesOpt, usageError, type CommandSpec } from './args.js';
import { Progress } from './progress.js';
import { OptionError, UsageError } from '../errors.js';
import { RATIO_MIN, RATIO_MAX } from '../explain/explainer.js';
import type { BackendName } from '../runtime/session.js';

export const EVAL_USAGE = `usage: aeq eval <metric[,metric…]|all> --model M --data DIR [options]
metrics: ${METRICS.join(', ')}; all = every metric but sanity (gridpg only on mosaic data)
  --model M            a bundled model (aeq-vgg, aeq-resnet) or an .onnx file
  --data DIR           dataset folder (aeq dataset --out DIR; docs/dataset-format.md)
  --methods LIST       comma-separated: ae, ae:RATIO[:no-contrib:no-shift:no-activated:no-inactivated], gradcam
                       gradient, input-x-gradient, guided-bp, ig[:STEPS], smoothgrad[:SAMPLES][:sq][:seed=N][:noise=σ]
                       or all (every method at its defaults); default ae:1,ae:2,gradcam
  --sweep              AE at ratio 1.0, 1.1, …, 2.0 instead of --methods
  --ablation           the Table II grid of AE switches at --ratio instead of --methods
  --ratio R            AE's ratio for --ablation (default 2)
  --split S            all|train|val|test (default all)      --limit N   first N images
  --batch B            images per pass (default 8)           --tolerance PX   pointing-game tolerance (15)
  --sanity-steps K     layers randomised, top down (default all)
  --preset P --output sigmoid|softmax   for a model file (bundled models know theirs)
  --backend webgpu|cpu|auto   --json   --out FILE (JSON)
  --max-memory SIZE    memory budget of one pass (e.g. 512M, 4G; default half the available memory)
  -h, --help           this text`;

export const EVAL: CommandSpec = {
  name: 'eval',
  usage: EVAL_USAGE,
  options: {
    model: { type: 'string' }, data: { type: 'string' }, methods: { type: 'string' },
    sweep: { type: 'boolean' }, ablation: { type: 'boolean' }, ratio: { type: 'string' },
    split: { type: 'string', default: 'all' }, limit: { type: 'string' }, batch: { type: 'string' },
    tolerance: { type: 'string' }, 'sanity-steps': { type: 'string' }, preset: { type: 'string' },
    output: { type: 'string' }, backend: { type: 'string', default: 'auto' }, json: { type: 'boolean' }, out: { type: 'string' },
    'max-memory': { type: 'string' },
  },
};

function positiveInt(v: string, name: string): number {
  return positiveIntOpt(v, name, 1);
}

export async function evalCommand(argv: string[]): Promise<number> {
  const { values: v, positionals } = parse(argv, EVAL);
  if (positionals.length !== 1) throw usageError(EVAL);
  if (!v.model) throw new UsageError('eval: --model is required (a bundled model name or an .onnx file)');
  if (!v.data) throw new UsageError('eval: --data DIR is required (make one with: aeq dataset --out DIR)');
  const maxMemory = bytesOpt(v['max-memory'] as string | undefined, '--max-memory');

  const split = v.split as string;
  if (split !== 'all' && !SPLITS.includes(split as Split)) throw new OptionError(`--split must be all, ${SPLITS.join(', ')}; got '${split}'`);
  const ds = readDataset(v.data as string);
  let images = split === 'all' ? ds.images : ds.images.filter((r) => r.split === split);
  if (v.limit !== undefined) images = images.slice(0, positiveInt(v.limit as string, '--limit'));
  const dataset = { ...ds, images };

  let metrics: MetricName[];
  if (positionals[0] === 'all') {
    metrics = ['accuracy', 'pointing', 'outside-inside', 'energy', 'insertion', 'deletion'];
    if (images.some((r) => r.grid)) metrics.splice(1, 0, 'gridpg');
  } else {
    metrics = positionals[0].split(',').map((m) => m.trim()) as MetricName[];
    for (const m of metrics) if (!METRICS.includes(m)) throw new OptionError(`unknown metric '${m}' (use ${METRICS.join(', ')} or all)`);
  }

  let methods: MethodSpec[];
  if (v.sweep && v.ablation) throw new OptionError('--sweep and --ablation are separate runs; give one');
  if (v.sweep) methods = ratioSweep();
  else if (v.ablation) methods = ablationGrid(numberOpt(v.ratio as string | undefined, '--ratio', 2));
  else methods = parseMethods((v.methods as string | undefined) ?? 'ae:1,ae:2,gradcam');
  for (const m of methods) {
    const r = m.options.ratio;
    if (m.options.method === 'ae' && r !== undefined && !(r >= RATIO_MIN && r <= RATIO_MAX)) {
      throw new OptionError(`${m.label}: the ratio must be from ${RATIO_MIN} to ${RATIO_MAX}`);
    }
  }

  const bundled = bundledModel(v.model as string);
  const path = resolveModelPath(v.model as string);
  const preset = (v.preset as string | undefined) ?? bundled?.preset ?? 'imagenet';
  if (!(preset in PRESETS)) throw new OptionError(`unknown preset '${preset}' (use ${Object.keys(PRESETS).join(', ')})`);
  const output = (v.output as string | undefined) ?? bundled?.output ?? 'softmax';
  if (output !== 'sigmoid' && output !== 'softmax') throw new OptionError(`--output must be sigmoid or softmax, got '${output}'`);

  const bar = new Progress(1, 'eval', !v.json || process.stderr.isTTY);
  let lastLabel = '';
  const result = await evaluate({
    model: loadModel(path),
    backend: v.backend as BackendName | 'auto',
    dataset, methods, metrics,
    preprocess: { preset: preset as PresetName },
    output,
    batch: positiveIntOpt(v.batch as string | undefined, '--batch', 8),
    ...(maxMemory !== undefined ? { maxMemory } : {}),
    tolerance: numberOpt(v.tolerance as string | undefined, '--tolerance', 15),
    ...(v['sanity-steps'] !== undefined ? { sanitySteps: positiveInt(v['sanity-steps'] as string, '--sanity-steps') } : {}),
    onProgress: (done, total, what) => {
      bar.retarget(total, `eval ${what}`);
      if (what !== lastLabel || done === total || done % 8 === 0) bar.update(done);
      lastLabel = what;
    },
  });
  bar.done();

  const title = `${v.model} on ${v.data} (${result.images} images, ${result.targets} targets, ${result.backend}, ${result.seconds.toFixed(1)} s)`;
  const table = resultTable(result, title);
  const json = JSON.stringify({ model: v.model, data: v.data, metrics, ...result }, (_k, x) => (typeof x === 'number' && !Number.isFinite(x) ? (Number.isNaN(x) ? null : String(x)) : x), 1);
  if (v.out) writeFileAtomic(v.out as string, json + '\n');
  if (v.json) {
    process.stdout.write(json + '\n');
    return 0;
  }
  const out: string[] = [];
  if (result.accuracy) {
    const a = result.accuracy;
    out.push(`classification: mAP ${a.mAP.toFixed(4)}, top-1 ${a.top1.toFixed(4)}, exact match ${a.exactMatch.toFixed(4)} (${result.images} images)`);
  }
  if (result.methods.some((m) => Object.keys(m.scores).length)) out.push(formatTable(table));
  for (const m of result.methods) {
    const t = sanityTable(m);
    if (t) out.push(formatTable(t));
  }
  if (!result.methods.length && !result.accuracy) out.push(tableJson(table));
  process.stdout.write(out.join('\n\n') + '\n');
  return 0;
}
