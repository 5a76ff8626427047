// `aeq info <model.onnx>`: what the model is and whether aeq can run it.
import { loadModel } from '../io/onnx.js';
import { planGraph, unsupportedOps } from '../planner/plan.js';
import { defaultLayer } from '../planner/layers.js';
import { fmtShape, numel, isFloatDType } from '../graph/tensor.js';
import { resolveModelPath } from '../models.js';
import { parse, usageError, type CommandSpec } from './args.js';
import { UnsupportedOperatorError, printable } from '../errors.js';
import { estimateForward, fmtBytes } from '../planner/budget.js';

export const INFO: CommandSpec = {
  name: 'info',
  usage: `usage: aeq info <model.onnx>
prints inputs/outputs with shapes, opset, an operator histogram, the parameter count, every
unsupported operator with its node names (exit code 1 if any), the default attribution layer and
the estimated memory of a forward pass at batch 1
  <model.onnx>   an .onnx file or a bundled model (aeq-vgg, aeq-resnet)
  --batch N      accepted and ignored: the report is at batch 1
  -h, --help     this text`,
  options: { batch: { type: 'string' } },
};

export async function infoCommand(argv: string[]): Promise<number> {
  const { positionals } = parse(argv, INFO);
  if (positionals.length !== 1) throw usageError(INFO);
  const model = loadModel(resolveModelPath(positionals[0]));
  const g = model.graph;
  const lines: string[] = [];
  lines.push(`model     ${model.source}`);
  lines.push(`producer  ${model.producer || '?'} · IR v${model.irVersion} · opset ${model.opset}`);
  for (const i of g.inputs) lines.push(`input     ${i.name} ${i.dtype} ${fmtShape((i.shape ?? ['?']).map((d) => d ?? '?'))}`);
  for (const o of g.outputs) lines.push(`output    ${o.name} ${o.dtype} ${fmtShape((o.shape ?? ['?']).map((d) => d ?? '?'))}`);
  let params = 0;
  for (const c of g.initializers.values()) if (isFloatDType(c.dtype)) params += numel(c.dims);
  lines.push(`params    ${params.toLocaleString('en-US')}`);
  const hist = new Map<string, number>();
  for (const n of g.nodes) hist.set(n.opType, (hist.get(n.opType) ?? 0) + 1);
  lines.push(`ops       ${[...hist].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k}×${v}`).join(' ')}`);
  const bad = unsupportedOps(model);
  if (bad.length) {
    const byOp = new Map<string, string[]>();
    for (const b of bad) byOp.set(b.opType, [...(byOp.get(b.opType) ?? []), b.node]);
    lines.push(`unsupported ${byOp.size} operator type(s), ${bad.length} node(s):`);
    for (const [op, nodes] of byOp) {
      const shown = nodes.slice(0, 4).map((n) => `'${printable(n)}'`).join(', ');
      lines.push(`  ${printable(op)} ×${nodes.length}: ${shown}${nodes.length > 4 ? `, … (${nodes.length - 4} more)` : ''}`);
    }
    process.stdout.write(lines.map(printable).join('\n') + '\n');
    // The report is on stdout; the failure also gets its one `aeq:` line on stderr (exit 1).
    throw new UnsupportedOperatorError(bad);
  }
  lines.push('unsupported none');
  // Plan at batch 1 (symbolic dims bound to 1) to report shapes and the default layer.
  const shapes = Object.fromEntries(g.inputs.map((i) => [i.name, (i.shape ?? []).map((d) => (typeof d === 'number' ? d : 1))]));
  try {
    const plan = planGraph(model, shapes);
    lines.push(`kernels   ${plan.steps.length} steps (${plan.foldedNodes.length} nodes folded at plan time)`);
    for (const o of plan.outputs) lines.push(`out shape ${o.name} ${fmtShape(o.shape)} at batch 1`);
    const layer = defaultLayer(plan);
    lines.push(`layer     ${layer ? `${layer} ${fmtShape(plan.shapes.get(layer)!)} (default attribution layer)` : 'none found (give --layer)'}`);
    const e = estimateForward(plan);
    lines.push(`memory    ${fmtBytes(e.bytes)} for a forward pass at batch 1 (weights ${fmtBytes(e.weights)}, activations at the peak ${fmtBytes(e.activations)})`);
  } catch (e) {
    lines.push(`plan      failed: ${printable((e as Error).message)}`);
    process.stdout.write(lines.map(printable).join('\n') + '\n');
    throw e;
  }
  process.stdout.write(lines.map(printable).join('\n') + '\n');
  return 0;
}
