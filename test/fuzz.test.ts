// The in-suite fuzz run: a fixed seed set of 500 mutated models (30 % byte-level, 70 %
// structure-aware) through loading, planning, the memory budget and a CPU run, in-process. Every
// outcome must be a success or a typed error: no crash, no internal error, no hang, no allocation
// over budget. `npm run fuzz -- --count N --seed S` runs more and writes minimal reproducers.
import { describe, it, expect, beforeAll } from 'vitest';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { buildCorpus, caseBytes, makeCase, runModelBytes, signature, type Outcome, type Seed } from '../src/fuzz/harness.js';
import { OnnxBuilder } from '../tools/onnx-builder.js';
import { mulberry32, planMutations, applyMutations, decodeModel } from '../src/fuzz/mutate.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const COUNT = 500;
const SEED = 1;
let dir: string;
let corpus: Seed[];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'aeq-fuzz-'));
  corpus = buildCorpus(dir, ROOT);
  return () => rmSync(dir, { recursive: true, force: true });
});

describe('fuzzer', () => {
  it('is deterministic: the same seed gives the same mutated bytes', () => {
    expect(mulberry32(5)()).toBe(mulberry32(5)());
    for (let i = 0; i < 20; i++) {
      const a = makeCase(corpus, 7, i), b = makeCase(corpus, 7, i);
      expect(a.seed.name).toBe(b.seed.name);
      expect(Buffer.from(caseBytes(a).bytes).equals(Buffer.from(caseBytes(b).bytes))).toBe(true);
    }
    expect(planMutations(3)).toEqual(planMutations(3));
    // Structure-aware mutations re-encode a model that still decodes.
    const s = corpus.find((c) => c.name === 'tiny-cnn')!;
    const m = applyMutations(s.bytes, s.decoded as () => never, [{ kind: 'structural', name: 'dim', seed: 1 }]);
    expect(decodeModel(m.bytes).graph.node.length).toBeGreaterThan(0);
  });

  it.runIf(existsSync('/proc/self/clear_refs'))('the over-budget detector sees allocations beyond the budget', async () => {
    // A ConstantOfShape of 2^24 elements folds at plan time (128 MiB as float64): fresh pages the
    // peak-RSS counter sees, far over a 1 MiB budget with no slack.
    const b = new OnnxBuilder({ seed: 1, opset: 13 });
    const x = b.input('x', [1]);
    const [c] = b.node('ConstantOfShape', [b.initializer('shape', [1], [2 ** 24], 'int64')], {}, [[2 ** 24]]);
    b.output(b.node('Add', [x, c], {}, [[2 ** 24]])[0], 'y');
    const o = await runModelBytes(b.toBytes(), dir, { budget: 2 ** 20, slack: 0 });
    expect(o.kind, o.message).toBe('over-budget');
    expect(o.peakGrowth).toBeGreaterThan(100 * 2 ** 20);
    const vgg = corpus.find((s) => s.name === 'aeq-vgg')!;
    expect((await runModelBytes(vgg.bytes, dir, { budget: 256 * 2 ** 20 })).kind).toBe('ok');
  });

  it('every seed model, unmutated, loads, plans and (when small) runs and explains', async () => {
    for (const s of corpus) {
      const o = await runModelBytes(s.bytes, dir);
      expect(o, s.name).toMatchObject({ kind: 'ok' });
      if (['tiny-cnn', 'tiny-res', 'tiny-ext', 'densenet_tiny'].includes(s.name)) expect(o.explained, s.name).toBe(true);
    }
  });

  it(`${COUNT} seeded mutations: every outcome is a success or a typed error`, async () => {
    const t0 = performance.now();
    const counts: Record<string, number> = {};
    const bad: string[] = [];
    let ran = 0, explained = 0;
    for (let i = 0; i < COUNT; i++) {
      const c = makeCase(corpus, SEED, i);
      const { bytes, log } = caseBytes(c);
      const o: Outcome = await runModelBytes(bytes, dir, { budget: 256 * 2 ** 20 });
      const key = o.kind === 'typed' ? `typed:${o.error}` : o.kind;
      counts[key] = (counts[key] ?? 0) + 1;
      if (o.ran) ran++;
      if (o.explained) explained++;
      if (o.kind !== 'ok' && o.kind !== 'typed') bad.push(`case ${i} (${c.seed.name}; ${log.join('; ')}): ${signature(o)}\n${o.stack ?? ''}`);
    }
    const s = (performance.now() - t0) / 1000;
    console.log(`fuzz: ${COUNT} cases in ${s.toFixed(1)} s, ${ran} ran on the CPU (${explained} also explained): ${JSON.stringify(counts)}`);
    expect(bad, bad.slice(0, 5).join('\n\n')).toEqual([]);
    // The mutations must not be so destructive that nothing gets through to planning and running.
    expect(counts.ok ?? 0).toBeGreaterThan(COUNT * 0.1);
    expect(ran).toBeGreaterThan(COUNT * 0.1);
    expect(explained).toBeGreaterThan(COUNT * 0.02);
  });
});
