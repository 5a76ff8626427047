// Planning: bind input shapes, infer every shape, fold constant shape arithmetic, and produce the
// static list of kernel steps with tensor lifetimes. Runs before any buffer is allocated, so an
// oversized or inconsistent graph is refused without touching the device.
import { AeqError, BudgetError, InputError, ShapeError, UnsupportedOperatorError, printable } from '../errors.js';
import { MAX_FOLD_TOTAL, foldLimit } from '../graph/limits.js';
import type { Model, Node } from '../graph/ir.js';
import { MAX_ELEMENTS, numel, fmtShape, isFloatDType, type Const, type DType, type Shape } from '../graph/tensor.js';
import { topoSort } from '../graph/toposort.js';
import { opFor } from '../ops/table.js';

export type { Plan, Step } from '../ops/op.js';
import type { Plan, Step } from '../ops/op.js';

/** Every node whose operator aeq does not support, listed up front. */
export function unsupportedOps(model: Model): { opType: string; node: string }[] {
  return model.graph.nodes
    .filter((n) => !opFor(n.opType, n.domain))
    .map((n) => ({ opType: n.domain && n.domain !== 'ai.onnx' ? `${n.domain}.${n.opType}` : n.opType, node: n.name }));
}

/** Check a declared shape never exceeds what the engine can index, before anything is allocated. */
export function checkSize(name: string, shape: readonly number[], where: string): void {
  const n = shape.reduce((a, b) => a * b, 1);
  if (n > MAX_ELEMENTS) {
    throw new ShapeError(`${where}: tensor '${name}' of shape ${fmtShape(shape)} has ${n} elements, more than the 2^31-1 this engine supports`);
  }
}

/** Resolve the input shapes: user-given shapes checked against the declared ones, or declared static shapes. */
export function bindInputs(model: Model, given: Record<string, Shape>): Record<string, Shape> {
  const src = model.source;
  const out: Record<string, Shape> = {};
  const names = new Set(model.graph.inputs.map((i) => i.name));
  for (const k of Object.keys(given)) {
    if (!names.has(k)) throw new InputError(`${src}: the model has no input named '${k}' (inputs: ${[...names].join(', ')})`);
  }
  for (const inp of model.graph.inputs) {
    if (!isFloatDType(inp.dtype)) {
      throw new InputError(`${src}: input '${inp.name}' has element type ${inp.dtype}; only floating-point inputs run at run time; bind it as a constant (aeq run does so for an integer .npy; Session.create(model, { constants }) or bindConstants)`);
    }
    const decl = inp.shape;
    const g = given[inp.name];
    if (!g) {
      if (!decl || decl.some((d) => typeof d !== 'number')) {
        throw new InputError(`${src}: input '${inp.name}' has a dynamic shape ${fmtShape((decl ?? ['?']).map((d) => d ?? '?'))}; give its shape`);
      }
      checkSize(inp.name, decl as number[], src);
      out[inp.name] = decl as number[];
      continue;
    }
    if (decl) {
      if (decl.length !== g.length) {
        throw new InputError(`${src}: input '${inp.name}' expects rank ${decl.length} ${fmtShape(decl.map((d) => d ?? '?'))}, got rank ${g.length} ${fmtShape(g)}`);
      }
      decl.forEach((d, i) => {
        if (typeof d === 'number' && d !== g[i]) {
          throw new InputError(`${src}: input '${inp.name}' expects shape ${fmtShape(decl.map((x) => x ?? '?'))}, got ${fmtShape(g)} (dimension ${i} must be ${d})`);
        }
      });
    }
    if (g.some((d) => !Number.isInteger(d) || d < 0)) throw new InputError(`${src}: input '${inp.name}' has an invalid shape ${fmtShape(g)}`);
    checkSize(inp.name, g, src);
    out[inp.name] = g;
  }
  return out;
}

export function planGraph(model: Model, given: Record<string, Shape>): Plan {
  const src = model.source;
  const bad = unsupportedOps(model);
  if (bad.length) throw new UnsupportedOperatorError(bad);
  const inputShapes = bindInputs(model, given);
  const g = model.graph;
  const shapes = new Map<string, Shape>();
  const dtypes = new Map<string, DType>();
  const consts = new Map<string, Const>();
  for (const [name, c] of g.initializers) {
    checkSize(name, c.dims, src);
    consts.set(name, c);
    shapes.set(name, c.dims);
    dtypes.set(name, c.dtype);
  }
  const producer = new Map<string, number>();
  for (const [name, s] of Object.entries(inputShapes)) {
    shapes.set(name, s);
    dtypes.set(name, 'float32');
    consts.delete(name);
    producer.set(name, -1);
  }
  const steps: Step[] = [];
  const foldedNodes: Node[] = [];
  const weights = new Set<string>();
  // Folding budget: elements newly allocated by folding, beyond the model's own constant data.
  let foldedTotal = 0;
  let own = 0;
  for (const c of g.initializers.values()) own += c.data.length;
  for (const n of g.nodes) for (const a of n.attrs.values()) if (typeof a === 'object' && a !== null && 'dims' in a) own += a.data.length;
  const foldTotal = MAX_FOLD_TOTAL + own;
  const foldBudget = (node: Node, n: number) => new BudgetError(`${src}: ${node.opType} node '${printable(node.name)}': constants folded at plan time would hold ${n} elements, more than the folding budget of ${foldTotal} (${MAX_FOLD_TOTAL} beyond the model's own constants)`);
  for (const node of topoSort(g, src)) {
    const spec = opFor(node.opType, node.domain)!;
    const inShapes = node.inputs.map((t) => (t ? shapes.get(t) : undefined));
    const inConsts = node.inputs.map((t) => (t ? consts.get(t) : undefined));
    let prep;
    try {
      prep = spec.prepare({ node, opset: model.opset, shapes: inShapes, consts: inConsts, dtypes: node.inputs.map((t) => (t ? dtypes.get(t) : undefined)) });
    } catch (e) {
      const msg = (e as Error).message;
      const named = msg.includes(`'${node.name}'`) ? msg : `${node.opType} node '${node.name}': ${msg}`;
      throw e instanceof AeqError ? Object.assign(e, { message: `${src}: ${named}` }) : new ShapeError(`${src}: ${named}`);
    }
    prep.shapes.forEach((s, i) => {
      const o = node.outputs[i];
      if (!o) return;
      // A shape computed from the model's data (Expand's shape input, Reshape, ConstantOfShape…)
      // must be a list of non-negative integers, whatever the operator's prepare accepted.
      if (!Array.isArray(s) || s.some((d) => !Number.isSafeInteger(d) || d < 0)) {
        throw new ShapeError(`${src}: ${node.opType} node '${node.name}': output '${o}' would have the invalid shape ${fmtShape(Array.isArray(s) ? s : [String(s)])} (dimensions must be non-negative integers)`);
      }
      checkSize(o, s, `${src}: ${node.opType} node '${node.name}'`);
      shapes.set(o, s);
      dtypes.set(o, prep.folded?.[i]?.dtype ?? prep.dtypes?.[i] ?? 'float32');
    });
    if (prep.folded) {
      // Only new arrays count: Constant and views (Reshape, Squeeze…) hand on data already held.
      const held = new Set<unknown>(inConsts.map((c) => c?.data));
      for (const a of node.attrs.values()) if (typeof a === 'object' && a !== null && 'dims' in a) held.add(a.data);
      for (const c of prep.folded) if (!held.has(c.data)) foldedTotal += c.data.length;
      if (foldedTotal > foldTotal) throw foldBudget(node, foldedTotal);
      prep.folded.forEach((c, i) => node.outputs[i] && consts.set(node.outputs[i], c));
      foldedNodes.push(node);
      continue;
    }
    const statics = new Set(prep.staticInputs ?? []);
    const inputs = node.inputs.map((t, i) => (t && !statics.has(i) ? t : undefined));
    for (const t of inputs) {
      if (!t) continue;
      const c = consts.get(t);
      if (c) {
        // Integer and bool constants read by kernels (exponents, conditions, indices) travel as
        // float32, which is exact only below 2^24.
        if (!isFloatDType(c.dtype)) {
          const big = c.data.find((v) => Math.abs(v) > 2 ** 24);
          if (big !== undefined) {
            throw new ShapeError(`${src}: ${node.opType} node '${node.name}' reads the ${c.dtype} constant '${t}' at run time; its value ${big} cannot be represented exactly in float32`);
          }
        }
      } else if (!producer.has(t)) {
        throw new ShapeError(`${src}: ${node.opType} node '${node.name}' reads '${t}' before it is computed`);
      }
    }
    // A node whose runtime inputs are all constants is evaluated now on the CPU reference.
    // Folding allocates its outputs now: only within the folding budget, otherwise the node runs
    // as an ordinary step (under the run's memory budget).
    const foldSize = prep.alias !== undefined ? 0 : prep.shapes.reduce((a, sh) => a + numel(sh), 0);
    const largestIn = Math.max(0, ...inputs.map((t) => (t ? consts.get(t)?.data.length ?? 0 : 0)));
    if (inputs.every((t) => !t || consts.has(t)) && inputs.some((t) => t) &&
        foldSize <= foldLimit(largestIn) && foldedTotal + foldSize <= foldTotal) {
      foldedTotal += foldSize;
      const vals = inputs.map((t) => (t ? { shape: shapes.get(t)!, data: Float32Array.from(consts.get(t)!.data) } : undefined));
      const outs = prep.alias !== undefined ? [vals[prep.alias]!.data] : spec.cpu(prep.params, vals, prep.shapes);
      outs.forEach((data, i) => node.outputs[i] && consts.set(node.outputs[i], { dtype: 'float32', dims: prep.shapes[i], data }));
      foldedNodes.push(node);
      continue;
    }
    node.outputs.forEach((o) => o && producer.set(o, steps.length));
    steps.push({ node, spec, params: prep.params, outShapes: prep.shapes, inputs, alias: prep.alias });
  }
  for (const s of steps) for (const t of s.inputs) if (t && consts.has(t)) weights.add(t);
  const outputs = g.outputs.map((o) => {
    const s = shapes.get(o.name);
    if (!s) throw new ShapeError(`${src}: graph output '${o.name}' is never computed`);
    return { name: o.name, shape: s };
  });
  return {
    model,
    inputs: Object.entries(inputShapes).map(([name, shape]) => ({ name, shape })),
    outputs, steps, shapes, consts, weights, producer, foldedNodes,
  };
}

/** The element count of every runtime tensor in the plan. */
export function planBytes(plan: Plan): number {
  let n = 0;
  for (const s of plan.steps) for (const sh of s.outShapes) n += numel(sh) * 4;
  return n;
}
