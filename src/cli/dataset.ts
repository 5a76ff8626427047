// `aeq dataset --out DIR [--count N] [--seed S] [--size 224|WxH] [--kind scenes|mosaics]`: writes the
// procedural ground-truth benchmark in the documented folder format (docs/dataset-format.md).
import { generateDataset } from '../data/index.js';
import { UsageError } from '../errors.js';
import { numberOpt, parse, type CommandSpec } from './args.js';
import { Progress } from './progress.js';

export function sizeOpt(v: string | undefined, dflt: number): number | [number, number] {
  if (v === undefined) return dflt;
  const m = /^(\d+)(?:[x×](\d+))?$/.exec(v.trim());
  if (!m) throw new UsageError(`--size must be N or WxH, got '${v}'`);
  return m[2] ? [Number(m[1]), Number(m[2])] : Number(m[1]);
}

export const DATASET: CommandSpec = {
  name: 'dataset',
  usage: `usage: aeq dataset --out DIR [--count N] [--seed S] [--size 224|WxH] [--kind scenes|mosaics] [--watermark-rate F]
writes the procedural ground-truth benchmark (docs/dataset-format.md), deterministic per seed
  -o, --out DIR              output folder (required)
  --count N                  number of images (default 200)
  --seed S                   random seed (default 1)
  --size 224|WxH             image size (default 224)
  --kind scenes|mosaics      scenes of objects, or 2×2 GridPG mosaics (default scenes)
  --watermark-rate F         fraction of images with a watermark (default 0.2)
  -h, --help                 this text`,
  options: {
    out: { type: 'string', short: 'o' },
    count: { type: 'string', default: '200' },
    seed: { type: 'string', default: '1' },
    size: { type: 'string' },
    kind: { type: 'string', default: 'scenes' },
    'watermark-rate': { type: 'string' },
  },
};

export async function datasetCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, DATASET);
  if (positionals.length) throw new UsageError(`dataset: unexpected argument '${positionals[0]}'`);
  const dir = values.out as string | undefined;
  if (!dir) throw new UsageError('dataset: --out DIR is required');
  const count = numberOpt(values.count as string, '--count', 200);
  const seed = numberOpt(values.seed as string, '--seed', 1);
  const kind = values.kind as 'scenes' | 'mosaics';
  const bar = new Progress(count, 'dataset');
  const r = generateDataset({
    seed, count, dir, kind,
    size: sizeOpt(values.size as string | undefined, 224),
    ...(values['watermark-rate'] !== undefined ? { watermarkRate: numberOpt(values['watermark-rate'] as string, '--watermark-rate', 0.2) } : {}),
    onProgress: (d) => { if (d % 25 === 0 || d === count) bar.update(d); },
  });
  bar.done();
  const splits = { train: 0, val: 0, test: 0 } as Record<string, number>;
  for (const im of r.annotations.images) splits[im.split]++;
  process.stdout.write(`${r.dir}: ${r.count} ${kind} (train ${splits.train}, val ${splits.val}, test ${splits.test}) in ${r.seconds.toFixed(1)} s\n`);
  return 0;
}
