// The fuzzing harness: the seed corpus (bundled models, test fixtures, tiny generated models, one
// with external data), the folder external-data mutations point into, and one case run in-process
// through loading, planning, the memory budget and a CPU run, classified by outcome.
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseModel } from '../io/onnx.js';
import { planGraph } from '../planner/plan.js';
import { enforce, estimateForward } from '../planner/budget.js';
import { runCpu } from '../runtime/executor.js';
import { numel } from '../graph/tensor.js';
import { AeqError } from '../errors.js';
import { Explainer } from '../explain/explainer.js';
import { OnnxBuilder, floatAttr } from '../../tools/onnx-builder.js';
import { applyMutations, decodeModel, planMutations, type MutationStep } from './mutate.js';

export interface Seed {
  name: string;
  bytes: Uint8Array;
  decoded: () => unknown;
}

export type OutcomeKind = 'ok' | 'typed' | 'internal' | 'hang' | 'over-budget' | 'crash';

export interface Outcome {
  kind: OutcomeKind;
  /** Error class (typed/internal) and message. */
  error?: string;
  message?: string;
  stack?: string;
  /** Whether the CPU run happened (small enough), and whether its outputs were all finite. */
  ran: boolean;
  /** Whether explanations ran (AE and Grad-CAM on the CPU) and were refused with a typed error or not. */
  explained?: boolean;
  finite?: boolean;
  ms: number;
  /** Peak resident memory growth during the case (bytes), where measurable. */
  peakGrowth?: number;
}

export interface HarnessOptions {
  /** Memory budget given to the planner's estimate (default 256 MiB). */
  budget?: number;
  /** Allowed growth of the process's peak RSS over the budget before a case counts as over budget. */
  slack?: number;
  /** CPU runs only for plans up to this many multiply-adds (estimated). */
  maxCost?: number;
  /** A case slower than this counts as a hang (in-process: measured after the fact). */
  hangMs?: number;
  /** After a successful CPU run of a model with one 4-D input, also explain it (AE and Grad-CAM, CPU). */
  explain?: boolean;
}

const MiB = 2 ** 20;

// ---------------------------------------------------------------------------------------------
// Seeds

function tinyModels(dir: string): { name: string; bytes: Uint8Array }[] {
  const out: { name: string; bytes: Uint8Array }[] = [];
  {
    const b = new OnnxBuilder({ seed: 1, opset: 13, name: 'tiny-cnn' });
    let x = b.input('input', ['batch', 3, 8, 8]);
    x = b.relu(b.bn(b.conv(x, 4, 3, { pad: 1, name: 'conv1' }), { name: 'bn1' }));
    x = b.maxPool(x, 2, { stride: 2 });
    x = b.flatten(b.globalAvgPool(b.conv(x, 6, 3, { pad: 1, name: 'conv2' })));
    b.output(b.softmax(b.gemm(x, 5)), 'probs');
    out.push({ name: 'tiny-cnn', bytes: b.toBytes() });
  }
  {
    const b = new OnnxBuilder({ seed: 2, opset: 17, name: 'tiny-res' });
    const x = b.input('input', [1, 4, 6, 6]);
    const y = b.relu(b.conv(x, 4, 3, { pad: 1 }));
    const s = b.add(b.conv(y, 4, 1), x);
    const c = b.concat([s, b.avgPool(s, 3, { stride: 1, pad: 1 })]);
    b.output(b.gemm(b.flatten(b.globalAvgPool(c)), 3), 'logits');
    out.push({ name: 'tiny-res', bytes: b.toBytes() });
  }
  {
    // Shape arithmetic folded at plan time: Shape → Gather → Concat → Reshape; Range, ConstantOfShape, Expand, Tile.
    const b = new OnnxBuilder({ seed: 3, opset: 13, name: 'tiny-shape' });
    const x = b.input('input', [1, 3, 4, 4]);
    const [shp] = b.node('Shape', [x], {}, [[4]]);
    const idx = b.initializer('idx0', [1], [0], 'int64');
    const [n] = b.node('Gather', [shp, idx], { axis: 0 }, [[1]]);
    const minus = b.initializer('minus1', [1], [-1], 'int64');
    const [target] = b.node('Concat', [n, minus], { axis: 0 }, [[2]]);
    const [flat] = b.node('Reshape', [x, target], {}, [[1, 48]]);
    const start = b.initializer('start', [], [0], 'int64');
    const limit = b.initializer('limit', [], [48], 'int64');
    const delta = b.initializer('delta', [], [1], 'int64');
    const [rng] = b.node('Range', [start, limit, delta], {}, [[48]]);
    const [rf] = b.node('Cast', [rng], { to: 1 }, [[48]]);
    const [sum] = b.node('Add', [flat, rf], {}, [[1, 48]]);
    const cshape = b.initializer('cshape', [2], [1, 48], 'int64');
    const [ones] = b.node('ConstantOfShape', [cshape], {}, [[1, 48]]);
    const [prod] = b.node('Mul', [sum, ones], {}, [[1, 48]]);
    const eshape = b.initializer('eshape', [2], [2, 48], 'int64');
    const [wide] = b.node('Expand', [prod, eshape], {}, [[2, 48]]);
    const reps = b.initializer('reps', [2], [1, 2], 'int64');
    const [tiled] = b.node('Tile', [wide, reps], {}, [[2, 96]]);
    b.output(b.node('Sigmoid', [tiled], {}, [[2, 96]])[0], 'out');
    out.push({ name: 'tiny-shape', bytes: b.toBytes() });
  }
  {
    const b = new OnnxBuilder({ seed: 4, opset: 11, name: 'tiny-mlp' });
    const x = b.input('input', ['n', 12]);
    const w = b.randomInit('w', [12, 7], 0.3);
    const [h] = b.node('MatMul', [x, w], {}, [['n', 7]]);
    const [c] = b.node('Clip', [h], {}, [['n', 7]]);
    const pads = b.initializer('pads', [4], [0, 1, 0, 1], 'int64');
    const [p] = b.node('Pad', [c, pads], {}, [['n', 9]]);
    const [t] = b.node('Transpose', [p], { perm: [1, 0] }, [[9, 'n']]);
    const [lr] = b.node('LeakyRelu', [t], { alpha: floatAttr(0.1) }, [[9, 'n']]);
    b.output(lr, 'y');
    out.push({ name: 'tiny-mlp', bytes: b.toBytes() });
  }
  {
    // External data: the weights live in tiny.weights beside the model (mutations move them).
    const b = new OnnxBuilder({ seed: 5, opset: 13, name: 'tiny-ext' });
    let x = b.input('input', [1, 3, 8, 8]);
    x = b.relu(b.conv(x, 4, 3, { pad: 1 }));
    x = b.conv(x, 4, 1);
    b.output(b.gemm(b.flatten(b.globalAvgPool(x)), 7), 'logits');
    const path = join(dir, 'tiny-ext.onnx');
    b.save(path, { externalData: 'tiny.weights', minBytes: 32 });
    out.push({ name: 'tiny-ext', bytes: new Uint8Array(readFileSync(path)) });
  }
  return out;
}

/** Prepare the case folder: what external-data locations may point at, inside and outside. */
export function prepareWorkDir(dir: string): void {
  mkdirSync(join(dir, 'subdir'), { recursive: true });
  writeFileSync(join(dir, 'weights.bin'), new Uint8Array(4096).map((_, i) => (i * 37) & 0xff));
  if (!existsSync(join(dir, 'link-out'))) symlinkSync('/tmp', join(dir, 'link-out'));
  if (!existsSync(join(dir, 'link-in'))) symlinkSync('weights.bin', join(dir, 'link-in'));
}

/** The seed corpus: tiny generated models, the test fixtures and the bundled models. */
export function buildCorpus(dir: string, root: string, o: { large?: boolean } = {}): Seed[] {
  prepareWorkDir(dir);
  const files = [
    ['densenet_tiny', join(root, 'test/fixtures/densenet_tiny.onnx')],
    ...(o.large === false ? [] : [
      ['aeq-resnet', join(root, 'models/aeq-resnet.onnx')],
      ['aeq-vgg', join(root, 'models/aeq-vgg.onnx')],
      ['resnet50_w8', join(root, 'test/fixtures/resnet50_w8.onnx')],
      ['vgg16_w8', join(root, 'test/fixtures/vgg16_w8.onnx')],
    ]),
  ].filter(([, p]) => existsSync(p)).map(([name, p]) => ({ name, bytes: new Uint8Array(readFileSync(p)) }));
  return [...tinyModels(dir), ...files].map((s) => {
    let cache: unknown;
    const bytes = new Uint8Array(s.bytes); // a private copy (a Buffer's slice() would be a view)
    return { name: s.name, bytes, decoded: () => structuredClone((cache ??= decodeModel(bytes))) };
  });
}

/** Which seed a case mutates: the tiny models twice as often as the large ones (they also run). */
export function seedFor(corpus: Seed[], caseSeed: number): Seed {
  const weights = corpus.map((s) => (s.name.startsWith('tiny') ? 4 : s.name === 'densenet_tiny' ? 2 : 1));
  const total = weights.reduce((a, b) => a + b, 0);
  let r = (caseSeed % 9973) / 9973 * total;
  for (let i = 0; i < corpus.length; i++) {
    r -= weights[i];
    if (r < 0) return corpus[i];
  }
  return corpus[corpus.length - 1];
}

// ---------------------------------------------------------------------------------------------
// Memory measurement: the kernel's peak-RSS counter, reset before each case (Linux).

function procStatus(): { rss: number; hwm: number } | null {
  try {
    const s = readFileSync('/proc/self/status', 'utf8');
    const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)?.[1] ?? NaN) * 1024;
    return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
  } catch {
    return null;
  }
}

function resetPeak(): boolean {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}

/** A rough multiply-add count of a plan: each output element times the per-output work of its weights. */
function planCost(plan: ReturnType<typeof planGraph>): number {
  let cost = 0;
  for (const s of plan.steps) {
    const out = s.outShapes.reduce((a, sh) => a + numel(sh), 0);
    let per = 1;
    for (const t of s.inputs) {
      if (!t) continue;
      const sh = plan.shapes.get(t) ?? [];
      const c = plan.consts.get(t);
      if (c && sh.length >= 2) per = Math.max(per, numel(sh) / Math.max(1, sh[0]));
      else if (!c && sh.length) per = Math.max(per, numel(sh) / Math.max(1, out));
    }
    cost += out * per;
  }
  return cost;
}

/**
 * Run one model (bytes) through load → plan → budget → CPU run (→ CPU explanations with AE and
 * Grad-CAM, for one 4-D input); never throws.
 */
export async function runModelBytes(bytes: Uint8Array, dir: string, o: HarnessOptions = {}): Promise<Outcome> {
  const budget = o.budget ?? 256 * MiB;
  const t0 = performance.now();
  const before = procStatus();
  const measured = before !== null && resetPeak();
  let ran = false, finite: boolean | undefined, explained: boolean | undefined;
  let result: Pick<Outcome, 'kind' | 'error' | 'message' | 'stack'>;
  try {
    const model = parseModel(bytes, join(dir, 'case.onnx'), dir);
    const shapes = Object.fromEntries(model.graph.inputs.map((i) => [i.name, (i.shape ?? []).map((d) => (typeof d === 'number' ? d : 1))]));
    const plan = planGraph(model, shapes);
    enforce(estimateForward(plan), budget, 'the forward pass', model.source);
    if (planCost(plan) <= (o.maxCost ?? 2e7)) {
      const feeds = Object.fromEntries(plan.inputs.map((i) => [i.name, { shape: i.shape, data: new Float32Array(numel(i.shape)).map((_, k) => Math.sin(k * 1.7)) }]));
      const outs = runCpu(plan, feeds);
      ran = true;
      finite = [...outs.values()].every((t) => t.data.every(Number.isFinite));
      if ((o.explain ?? true) && plan.inputs.length === 1 && plan.inputs[0].shape.length === 4) {
        explained = true;
        const ex = await Explainer.create(model, { backend: 'cpu', maxMemory: budget });
        const x = feeds[plan.inputs[0].name];
        for (const method of ['ae', 'gradcam'] as const) {
          try {
            await ex.explain(x, { method });
          } catch (e) {
            // Typed refusals (no default layer, no rule for an operator, overflow) are outcomes;
            // anything else is an internal error of the explanation.
            if (!(e instanceof AeqError)) throw e;
            explained = false;
          }
        }
      }
    }
    result = { kind: 'ok' };
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    result = err instanceof AeqError
      ? { kind: 'typed', error: err.name, message: err.message }
      : { kind: 'internal', error: err.name, message: err.message, stack: err.stack };
  }
  const ms = performance.now() - t0;
  const after = measured ? procStatus() : null;
  const peakGrowth = before && after ? Math.max(0, after.hwm - before.rss) : undefined;
  if (result.kind !== 'internal') {
    if (peakGrowth !== undefined && peakGrowth > budget + (o.slack ?? 256 * MiB)) {
      result = { kind: 'over-budget', error: result.error, message: `peak RSS grew by ${(peakGrowth / MiB).toFixed(0)} MiB (budget ${(budget / MiB).toFixed(0)} MiB); ${result.message ?? 'ok'}` };
    } else if (ms > (o.hangMs ?? 20_000)) {
      result = { kind: 'hang', error: result.error, message: `took ${(ms / 1000).toFixed(1)} s; ${result.message ?? 'ok'}` };
    }
  }
  return { ...result, ran, finite, explained, ms, peakGrowth };
}

export interface Case {
  index: number;
  caseSeed: number;
  seed: Seed;
  steps: MutationStep[];
}

/** Case `index` of a run seeded with `runSeed`: its seed model and mutation plan. */
export function makeCase(corpus: Seed[], runSeed: number, index: number): Case {
  const caseSeed = (Math.imul(runSeed + 1, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca6b)) >>> 0;
  return { index, caseSeed, seed: seedFor(corpus, caseSeed), steps: planMutations(caseSeed) };
}

export function caseBytes(c: Case, steps = c.steps): { bytes: Uint8Array; log: string[] } {
  return applyMutations(c.seed.bytes, c.seed.decoded as () => never, steps);
}

/** The signature that tells failures apart: outcome, error class and message with numbers and quoted names removed. */
export function signature(o: Outcome): string {
  const msg = (o.message ?? '').replace(/'[^']*'/g, "'…'").replace(/-?\d+(\.\d+)?(e[+-]?\d+)?/gi, 'N').slice(0, 160);
  const frame = o.stack?.split('\n').find((l) => l.includes('/src/'))?.replace(/:\d+:\d+\)?$/, '').trim() ?? '';
  return `${o.kind}|${o.error ?? ''}|${msg}|${frame}`;
}
