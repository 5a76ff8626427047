// `npm run fuzz -- --count N --seed S [--out DIR] [--jobs J] [--timeout MS]`: mutated models run in
// worker processes (a crash or a hang kills only the worker, and is recorded), outcomes are
// counted, and each distinct failure is minimised (mutation steps removed while it still fails the
// same way) and written to DIR as a reproducer: the model (.onnx), with the folder its external
// data may point into, and a .json with the seed, the steps and the outcome.
import { fork, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildCorpus, caseBytes, makeCase, prepareWorkDir, runModelBytes, signature, type Outcome, type Seed } from './harness.js';
import type { MutationStep } from './mutate.js';

interface Job { index: number; steps?: MutationStep[] }
interface Reply { index: number; outcome: Outcome }

const MiB = 2 ** 20;
const HERE = fileURLToPath(import.meta.url);

function packageRoot(): string {
  // dist/fuzz.js or src/fuzz/cli.ts: the nearest folder above with models/ and package.json.
  let d = dirname(HERE);
  while (!(existsSync(join(d, 'package.json')) && existsSync(join(d, 'models'))) && dirname(d) !== d) d = dirname(d);
  return d;
}

// ---------------------------------------------------------------------------------------------
// Worker: builds the corpus once, then runs the cases it is sent.

function worker(runSeed: number, budget: number, large: boolean, base: string): void {
  // Under the parent's folder: the parent removes it, even for workers it had to kill.
  const dir = mkdtempSync(join(base, 'w-'));
  const corpus = buildCorpus(dir, packageRoot(), { large });
  process.on('message', async (j: Job) => {
    const c = makeCase(corpus, runSeed, j.index);
    const { bytes } = caseBytes(c, j.steps ?? c.steps);
    const outcome = await runModelBytes(bytes, dir, { budget, hangMs: Infinity });
    process.send!({ index: j.index, outcome } satisfies Reply);
  });
  process.on('disconnect', () => {
    rmSync(dir, { recursive: true, force: true });
    process.exit(0);
  });
  process.send!({ ready: true });
}

// ---------------------------------------------------------------------------------------------
// Parent: a pool of workers with per-case timeouts.

class Pool {
  private idle: ChildProcess[] = [];
  private waiting: ((w: ChildProcess) => void)[] = [];
  private all = new Set<ChildProcess>();

  constructor(private args: string[], private jobs: number) {}

  async start(): Promise<void> {
    await Promise.all(Array.from({ length: this.jobs }, () => this.spawn()));
  }

  private spawn(): Promise<void> {
    return new Promise((ok) => {
      const w = fork(HERE, ['--worker', ...this.args], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], execArgv: ['--max-old-space-size=4096'] });
      w.stderr?.resume();
      this.all.add(w);
      w.once('message', () => {
        this.release(w);
        ok();
      });
    });
  }

  private release(w: ChildProcess): void {
    const next = this.waiting.shift();
    if (next) next(w);
    else this.idle.push(w);
  }

  private acquire(): Promise<ChildProcess> {
    const w = this.idle.pop();
    return w ? Promise.resolve(w) : new Promise((ok) => this.waiting.push(ok));
  }

  /** Run one job; a worker that dies or overruns is replaced and the case recorded as crash / hang. */
  async run(job: Job, timeoutMs: number): Promise<Outcome> {
    const w = await this.acquire();
    const t0 = performance.now();
    return new Promise<Outcome>((ok) => {
      let done = false;
      const finish = (o: Outcome, dead: boolean) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        w.off('message', onMsg);
        w.off('exit', onExit);
        if (dead) {
          this.all.delete(w);
          void this.spawn();
        } else {
          this.release(w);
        }
        ok(o);
      };
      const onMsg = (m: Reply) => finish(m.outcome, false);
      const onExit = (code: number | null, sig: string | null) =>
        finish({ kind: 'crash', error: sig ?? `exit ${code}`, message: `the worker process died (${sig ?? `exit code ${code}`})`, ran: false, ms: performance.now() - t0 }, true);
      const timer = setTimeout(() => {
        w.off('exit', onExit);
        w.kill('SIGKILL');
        finish({ kind: 'hang', error: 'timeout', message: `no result after ${timeoutMs} ms`, ran: false, ms: timeoutMs }, true);
      }, timeoutMs);
      w.on('message', onMsg);
      w.once('exit', onExit);
      w.send(job);
    });
  }

  close(): void {
    for (const w of this.all) w.disconnect();
  }
}

const FAILURES = new Set(['internal', 'hang', 'over-budget', 'crash']);
/** Same failure for minimisation: outcome kind and error class. */
const sameFailure = (a: Outcome, b: Outcome) => a.kind === b.kind && a.error === b.error;

async function main(argv: string[]): Promise<number> {
  const { values: v } = parseArgs({
    args: argv,
    options: {
      count: { type: 'string', default: '1000' }, seed: { type: 'string', default: '1' }, out: { type: 'string', default: 'out/fuzz' },
      jobs: { type: 'string' }, timeout: { type: 'string', default: '30000' }, budget: { type: 'string', default: '256' },
      'no-large': { type: 'boolean' }, worker: { type: 'boolean' }, workdir: { type: 'string' },
    },
    allowPositionals: false,
  });
  const count = Number(v.count), runSeed = Number(v.seed), timeoutMs = Number(v.timeout), budget = Number(v.budget) * MiB;
  const large = !v['no-large'];
  if (v.worker) {
    worker(runSeed, budget, large, v.workdir ?? tmpdir());
    return -1;
  }
  if (![count, runSeed, timeoutMs, budget].every((x) => Number.isFinite(x) && x >= 0)) {
    process.stderr.write('usage: npm run fuzz -- --count N --seed S [--out DIR] [--jobs J] [--timeout MS] [--budget MiB] [--no-large]\n');
    return 2;
  }
  const jobs = Number(v.jobs ?? Math.max(1, Math.min(2, cpus().length)));
  const outDir = v.out as string;
  const base = mkdtempSync(join(tmpdir(), 'aeq-fuzz-'));
  const pool = new Pool(['--seed', String(runSeed), '--budget', String(v.budget), '--workdir', base, ...(large ? [] : ['--no-large'])], jobs);
  await pool.start();

  const t0 = performance.now();
  const counts: Record<string, number> = {};
  const typed: Record<string, number> = {};
  let ran = 0, nonFinite = 0, explained = 0;
  const failures = new Map<string, { index: number; outcome: Outcome }>();
  let next = 0, finished = 0;
  const lane = async () => {
    while (next < count) {
      const index = next++;
      const o = await pool.run({ index }, timeoutMs);
      counts[o.kind] = (counts[o.kind] ?? 0) + 1;
      if (o.kind === 'typed') typed[o.error!] = (typed[o.error!] ?? 0) + 1;
      if (o.ran) ran++;
      if (o.explained) explained++;
      if (o.ran && o.finite === false) nonFinite++;
      if (FAILURES.has(o.kind)) {
        const sig = signature(o);
        if (!failures.has(sig)) failures.set(sig, { index, outcome: o });
      }
      if (++finished % 500 === 0 || finished === count) {
        process.stderr.write(`fuzz: ${finished}/${count} (${((performance.now() - t0) / 1000).toFixed(0)} s) ${JSON.stringify(counts)}\n`);
      }
    }
  };
  await Promise.all(Array.from({ length: jobs }, lane));
  const seconds = (performance.now() - t0) / 1000;

  // Reproducers: minimise each distinct failure by dropping mutation steps while it still fails alike.
  const corpusDir = mkdtempSync(join(base, 'p-'));
  const corpus: Seed[] = buildCorpus(corpusDir, packageRoot(), { large });
  if (failures.size) {
    // The reproducers' folder holds what external-data locations may point at, as the workers' did.
    mkdirSync(outDir, { recursive: true });
    prepareWorkDir(outDir);
    copyFileSync(join(corpusDir, 'tiny.weights'), join(outDir, 'tiny.weights'));
  }
  let k = 0;
  for (const [sig, f] of failures) {
    const c = makeCase(corpus, runSeed, f.index);
    let steps = c.steps;
    for (let i = steps.length - 1; i >= 0 && steps.length > 1; i--) {
      const fewer = steps.filter((_, j) => j !== i);
      const o = await pool.run({ index: f.index, steps: fewer }, timeoutMs);
      if (sameFailure(o, f.outcome)) steps = fewer;
    }
    const { bytes, log } = caseBytes(c, steps);
    const name = `${f.outcome.kind}-${String(++k).padStart(3, '0')}`;
    writeFileSync(join(outDir, `${name}.onnx`), bytes);
    writeFileSync(join(outDir, `${name}.json`), JSON.stringify({
      signature: sig, runSeed, index: f.index, seedModel: c.seed.name, steps, mutations: log, outcome: f.outcome,
      reproduce: `aeq info ${join(outDir, `${name}.onnx`)}  # or: npm run fuzz -- --seed ${runSeed} --count ${f.index + 1}`,
    }, null, 1) + '\n');
  }
  pool.close();
  await new Promise((ok) => setTimeout(ok, 200));
  rmSync(base, { recursive: true, force: true });

  const summary = { count, seed: runSeed, jobs, seconds: Math.round(seconds), outcomes: counts, typed, ranOnCpu: ran, explainedOnCpu: explained, nonFiniteOutputs: nonFinite, distinctFailures: failures.size };
  process.stdout.write(JSON.stringify(summary, null, 1) + '\n');
  if (failures.size) {
    writeFileSync(join(outDir, 'summary.json'), JSON.stringify(summary, null, 1) + '\n');
    process.stderr.write(`fuzz: ${failures.size} distinct failure(s); reproducers in ${outDir}/\n`);
  }
  return failures.size ? 1 : 0;
}

const code = await main(process.argv.slice(2));
if (code >= 0) process.exitCode = code;
