// Apply one backward rule to one step of a real (small) model on both backends.
import type { Rule, RuleCtx, AeOptions } from '../../src/ops/rule.js';
import { DEFAULT_AE, applyRule, cpuRuleBackend, gpuRuleBackend } from '../../src/ops/rule.js';
import { parseModel } from '../../src/io/onnx.js';
import { planGraph, type Plan, type Step } from '../../src/planner/plan.js';
import { runCpu } from '../../src/runtime/executor.js';
import type { CpuTensor } from '../../src/ops/op.js';
import { getGpu, type GpuTensor } from '../../src/kernels/gpu/runtime.js';
import type { OnnxBuilder } from '../../tools/onnx-builder.js';

export interface RuleCase {
  plan: Plan;
  /** Every forward value (activations and constants) on the host. */
  values: Map<string, CpuTensor>;
}

/** Plan a builder model for the given input and run it forward on the CPU, keeping everything. */
export function forwardCase(b: OnnxBuilder, input: CpuTensor, inputName = 'input'): RuleCase {
  const model = parseModel(b.toBytes(), 'rule-test', null);
  const plan = planGraph(model, { [inputName]: input.shape });
  const values = runCpu(plan, { [inputName]: input }, { keep: 'all' });
  values.set(inputName, input);
  for (const [k, c] of plan.consts) if (!values.has(k)) values.set(k, { shape: c.dims, data: Float32Array.from(c.data) });
  return { plan, values };
}

export function stepOf(plan: Plan, opType: string, nth = 0): Step {
  const s = plan.steps.filter((x) => x.node.opType === opType)[nth];
  if (!s) throw new Error(`no ${opType} step #${nth}`);
  return s;
}

export interface ApplyOptions {
  opts?: Partial<AeOptions>;
  firstConv?: boolean;
  mainOperand?: number;
  batch?: number;
  /** Which output the signal is at (multi-output ops). */
  signalOf?: number;
  /** A fork's pending signal at input 0, for rules that accumulate (RuleCtx.acc; copied, not consumed). */
  acc?: CpuTensor;
}

function ctxFor<T>(c: RuleCase, step: Step, get: (name: string) => T, o: ApplyOptions, acc?: T): RuleCtx<T> {
  const modelInput = c.plan.inputs[0].name;
  return {
    plan: c.plan, step,
    input: (i) => (step.inputs[i] ? get(step.inputs[i]!) : undefined),
    output: (i = 0) => get(step.node.outputs[i]),
    modelInput: () => get(modelInput),
    firstConv: o.firstConv ?? false,
    mainOperand: o.mainOperand,
    opts: { ...DEFAULT_AE, ...o.opts },
    batch: o.batch ?? c.plan.inputs[0].shape[0],
    signalOf: o.signalOf,
    acc,
  };
}

export function applyCpu(rule: Rule, c: RuleCase, step: Step, r: CpuTensor, o: ApplyOptions = {}): (CpuTensor | undefined)[] {
  const acc = o.acc && { shape: o.acc.shape, data: o.acc.data.slice() };
  return applyRule(rule, ctxFor(c, step, (n) => c.values.get(n)!, o, acc), { shape: r.shape, data: r.data.slice() }, cpuRuleBackend());
}

export async function applyGpu(rule: Rule, c: RuleCase, step: Step, r: CpuTensor, o: ApplyOptions = {}): Promise<(CpuTensor | undefined)[]> {
  const g = await getGpu();
  const dev = new Map<string, GpuTensor>();
  const get = (n: string): GpuTensor => {
    let t = dev.get(n);
    if (!t) {
      const v = c.values.get(n)!;
      dev.set(n, (t = g.upload(v.data, v.shape, n)));
    }
    return t;
  };
  const rd = g.upload(r.data, r.shape, 'relevance');
  const acc = o.acc && g.upload(o.acc.data, o.acc.shape, 'acc');
  const outs = applyRule(rule, ctxFor(c, step, get, o, acc), rd, gpuRuleBackend(g));
  const res: (CpuTensor | undefined)[] = [];
  for (const t of outs) res.push(t ? { shape: t.shape, data: await g.read(t) } : undefined);
  const seen = new Set<GPUBuffer>();
  for (const t of [...outs, rd, ...dev.values(), acc]) if (t && !seen.has(t.buffer)) { seen.add(t.buffer); g.release(t); }
  return res;
}
