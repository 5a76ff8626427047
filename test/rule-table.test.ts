// The generic rule test: every row of the operator table that has a backward rule, for every
// method, runs its CPU and GPU twins on the same plan over random instances (test/helpers/op-cases.ts)
// and must agree (relative L2 ≤ 1e-5), at one and at two targets per sample; every gradient rule
// also matches central finite differences (to 0.1 %) of the operator's own CPU forward. A rule that refuses a
// case must refuse it on both backends with the same message.
import { describe, it, expect } from 'vitest';
import { OnnxBuilder } from '../tools/onnx-builder.js';
import { casesFor, type OpCase } from './helpers/op-cases.js';
import { diff, rng } from './helpers/ops.js';
import { OPS, type MethodName } from '../src/ops/table.js';
import { DEFAULT_AE, applyRule, cpuRuleBackend, gpuRuleBackend, type Rule, type RuleCtx } from '../src/ops/rule.js';
import { parseModel } from '../src/io/onnx.js';
import { planGraph, type Plan, type Step } from '../src/planner/plan.js';
import { runCpu } from '../src/runtime/executor.js';
import { cpuAttr } from '../src/ops/shared/attribution.js';
import { getGpu, type GpuTensor } from '../src/kernels/gpu/runtime.js';
import { numel, type Shape } from '../src/graph/tensor.js';
import type { CpuTensor } from '../src/ops/op.js';
import { AeqError } from '../src/errors.js';

const GPU_TOL = 1e-5;
const FD_EPS = 1e-3;

/**
 * Inputs away from every kink the rules see: |x| ≥ 0.1 (ReLU, Clip at 0 and 1 never within 3e-3)
 * and distinct values at least 0.01 apart (no max-pool tie within a finite-difference step).
 */
function separated(shape: Shape, r: () => number): CpuTensor {
  const n = numel(shape);
  const perm = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [perm[i], perm[j]] = [perm[j], perm[i]];
  }
  const data = Float32Array.from(perm, (p) => (r() < 0.5 ? -1 : 1) * (0.1031 + 0.01 * p) / Math.max(1, n / 200));
  return { shape, data };
}

function uniform(shape: Shape, r: () => number): CpuTensor {
  return { shape, data: Float32Array.from({ length: numel(shape) }, () => r() * 2 - 1) };
}

interface Instance { plan: Plan; step: Step; values: Map<string, CpuTensor> }

/**
 * Methods defined on non-negative layer inputs only: excitation backprop divides by x∗W⁺ + 1e-20
 * (TorchRay: its layers read ReLU outputs); on signed inputs that denominator can vanish.
 */
const POSITIVE_METHODS = new Set<MethodName>(['eb']);

function instantiate(op: string, c: OpCase, seed: number, positive = !!c.positive): Instance {
  const b = new OnnxBuilder({ seed });
  for (const [name, shape] of Object.entries(c.inputs)) b.input(name, shape);
  b.output(c.build(b));
  const plan = planGraph(parseModel(b.toBytes(), `${op} case`, null), c.inputs);
  const r = rng(seed);
  const feeds = Object.fromEntries(Object.entries(c.inputs).map(([n, s]) => {
    const v = separated(s, r);
    if (positive) v.data.forEach((x, i) => (v.data[i] = Math.abs(x)));
    return [n, v];
  }));
  const values = runCpu(plan, feeds, { keep: 'all' });
  for (const [n, t] of Object.entries(feeds)) values.set(n, t);
  for (const [k, v] of plan.consts) if (!values.has(k)) values.set(k, { shape: v.dims, data: Float32Array.from(v.data) });
  const step = plan.steps.find((s) => s.node.opType === op);
  if (!step) throw new Error(`${c.name}: no ${op} step in the plan`);
  return { plan, step, values };
}

function ctxFor<T>(inst: Instance, c: OpCase, t: number, get: (name: string) => T): RuleCtx<T> {
  const { plan, step } = inst;
  return {
    plan, step,
    input: (i) => (step.inputs[i] ? get(step.inputs[i]!) : undefined),
    output: (i = 0) => get(step.node.outputs[i]),
    modelInput: () => get(plan.inputs[0].name),
    firstConv: !!c.firstConv,
    mainOperand: undefined,
    opts: DEFAULT_AE,
    batch: plan.inputs[0].shape[0] * t,
  };
}

/** Forward values at the backward batch: runtime tensors repeated T times per sample, constants as they are. */
function expanded(inst: Instance, t: number): (name: string) => CpuTensor {
  const cache = new Map<string, CpuTensor>();
  return (name) => {
    const v = inst.values.get(name)!;
    if (t === 1 || inst.plan.consts.has(name)) return v;
    let e = cache.get(name);
    if (!e) cache.set(name, (e = cpuAttr.expand(v, t)));
    return e;
  };
}

type Outcome = { ok: (CpuTensor | undefined)[] } | { error: string };

function runCpuRule(rule: Rule, inst: Instance, c: OpCase, t: number, r: CpuTensor): Outcome {
  try {
    return { ok: applyRule(rule, ctxFor(inst, c, t, expanded(inst, t)), { shape: r.shape, data: r.data.slice() }, cpuRuleBackend()) };
  } catch (e) {
    if (e instanceof AeqError) return { error: e.message };
    throw e;
  }
}

async function runGpuRule(rule: Rule, inst: Instance, c: OpCase, t: number, r: CpuTensor): Promise<Outcome> {
  const g = await getGpu();
  const host = expanded(inst, t);
  const dev = new Map<string, GpuTensor>();
  const get = (n: string): GpuTensor => {
    let d = dev.get(n);
    if (!d) {
      const v = host(n);
      dev.set(n, (d = g.upload(v.data, v.shape, n)));
    }
    return d;
  };
  const rd = g.upload(r.data, r.shape, 'signal');
  const free = (ts: (GpuTensor | undefined)[]) => {
    const seen = new Set<GPUBuffer>();
    for (const x of ts) if (x && !seen.has(x.buffer)) { seen.add(x.buffer); g.release(x); }
  };
  try {
    const outs = applyRule(rule, ctxFor(inst, c, t, get), rd, gpuRuleBackend(g));
    const res: (CpuTensor | undefined)[] = [];
    for (const o of outs) res.push(o ? { shape: o.shape, data: await g.read(o) } : undefined);
    free([...outs, rd, ...dev.values()]);
    return { ok: res };
  } catch (e) {
    free([rd, ...dev.values()]);
    if (e instanceof AeqError) return { error: e.message };
    throw e;
  }
}

/** ⟨dy, f(inputs with input k moved by s·v)⟩ in float64, f the step's CPU forward. */
function probe(inst: Instance, k: number, v: CpuTensor, s: number, dy: CpuTensor): number {
  const { step } = inst;
  const ins = step.inputs.map((n) => (n ? inst.values.get(n) : undefined));
  const xk = ins[k]!;
  ins[k] = { shape: xk.shape, data: Float32Array.from(xk.data, (x, i) => x + s * v.data[i]) };
  const y = step.spec.cpu(step.params, ins, step.outShapes)[0];
  let acc = 0;
  for (let i = 0; i < y.length; i++) acc += y[i] * dy.data[i];
  return acc;
}

const norm = (a: Float32Array) => Math.sqrt(a.reduce((s, x) => s + x * x, 0));

const withRules = Object.entries(OPS).filter(([, row]) => Object.keys(row.rules).length > 0);

describe('rule table: every row with a rule has generic cases', () => {
  it.each(withRules.map(([op]) => op))('%s', (op) => {
    expect(casesFor(op).length, `add cases for ${op} in test/helpers/op-cases.ts`).toBeGreaterThan(0);
  });
});

for (const [op, row] of withRules) {
  describe(`rule table: ${op} (${row.family})`, () => {
    // A Rule object shared by several methods (a pass-through, the gradient reused by the LRP
    // composites) is checked once, under the first method that has it.
    const checked = new Set<Rule>();
    for (const [method, rule] of Object.entries(row.rules) as [MethodName, Rule][]) {
      if (checked.has(rule)) continue;
      checked.add(rule);
      casesFor(op).forEach((c, ci) => {
        const seed = 101 + ci * 17 + op.length;
        it(`${method} · ${c.name}: GPU = CPU at T = 1${c.perSample === false ? '' : ' and 2'}`, async () => {
          const inst = instantiate(op, c, seed, !!c.positive || POSITIVE_METHODS.has(method));
          for (const t of c.perSample === false ? [1] : [1, 2]) {
            const outShape = inst.step.outShapes[0];
            const r = uniform([outShape[0] * t, ...outShape.slice(1)], rng(seed + t));
            const cpu = runCpuRule(rule, inst, c, t, r);
            const gpu = await runGpuRule(rule, inst, c, t, r);
            if ('error' in cpu) {
              expect(gpu).toEqual(cpu);
              continue;
            }
            expect('ok' in gpu, 'error' in gpu ? gpu.error : '').toBe(true);
            const g = (gpu as { ok: (CpuTensor | undefined)[] }).ok;
            expect(g.length).toBe(cpu.ok.length);
            cpu.ok.forEach((x, i) => {
              if (!x) return expect(g[i]).toBeUndefined();
              const name = inst.step.node.inputs[i];
              const s = inst.plan.shapes.get(name)!;
              expect(x.shape).toEqual(inst.plan.consts.has(name) ? s : [s[0] * t, ...s.slice(1)]);
              expect(g[i]!.shape).toEqual(x.shape);
              expect(diff(g[i]!.data, x.data).relL2).toBeLessThanOrEqual(GPU_TOL);
            });
          }
        });
        if (method === 'gradient' && !c.noFiniteDiff) {
          it(`gradient · ${c.name}: matches central finite differences`, () => {
            const inst = instantiate(op, c, seed);
            const r = rng(seed + 99);
            const dy = uniform(inst.step.outShapes[0], r);
            const res = runCpuRule(rule, inst, c, 1, dy);
            if ('error' in res) return;
            let checked = 0;
            res.ok.forEach((gk, k) => {
              const name = inst.step.node.inputs[k];
              if (!gk || !(name in c.inputs)) return;
              const v = uniform(gk.shape, r);
              const fd = (probe(inst, k, v, FD_EPS, dy) - probe(inst, k, v, -FD_EPS, dy)) / (2 * FD_EPS);
              let an = 0;
              for (let i = 0; i < v.data.length; i++) an += gk.data[i] * v.data[i];
              expect(Math.abs(fd - an), `input ${k}: fd ${fd} vs rule ${an}`).toBeLessThanOrEqual(1e-3 * Math.abs(an) + 1e-5 * norm(gk.data) * norm(v.data) + 1e-6);
              checked++;
            });
            expect(checked).toBeGreaterThan(0);
          });
        }
      });
    }
  });
}
