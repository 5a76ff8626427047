// Zennit's MergeBatchNorm canonizer on the IR: LRP's rules are written for linear layers, so before
// an LRP walk every inference-form BatchNormalization whose input is the output of a Conv or Gemm
// that nothing else reads is folded into that layer's weights (per output channel c, with
// s = γ/√(σ² + ε): W' = W·s, b' = (b − μ)·s + β; in float64, stored as float32) and disappears
// from the graph. The merged layer keeps its node name and writes the BN's output tensor, so every
// later node, layer name and graph output is unchanged; its new weights get fresh initializer
// names, so a session holds both graphs' weights side by side. A BN that cannot be merged stays,
// with the reason `batchNormBlocker` gives (the LRP rule table refuses it by name with that reason).
import { attrFloat, attrInt, type Graph, type Model, type Node } from './ir.js';
import type { Const } from './tensor.js';

export interface BatchNormMerge {
  /** The BatchNormalization node merged away. */
  bn: string;
  /** The Conv or Gemm node that holds it now. */
  into: string;
}

export interface Canonized {
  model: Model;
  merged: BatchNormMerge[];
  /** BatchNormalization nodes left in the graph, and why. */
  kept: { node: string; why: string }[];
}

const quote = (n: Node) => `${n.opType} node '${n.name}'`;

/** The node writing each tensor, and how many node inputs or graph outputs read it. */
function index(g: Graph): { producer: Map<string, Node>; readers: Map<string, Node[]>; outputs: Set<string> } {
  const producer = new Map<string, Node>();
  const readers = new Map<string, Node[]>();
  for (const n of g.nodes) {
    for (const o of n.outputs) if (o) producer.set(o, n);
    for (const i of new Set(n.inputs)) if (i) readers.set(i, [...(readers.get(i) ?? []), n]);
  }
  return { producer, readers, outputs: new Set(g.outputs.map((o) => o.name)) };
}

/** The per-output-channel bias of a Gemm's C (scalar, [K], [1, K]) as K values, or undefined. */
function gemmBias(c: Const | undefined, k: number): Float64Array | undefined {
  if (!c) return new Float64Array(k);
  const d = c.dims.filter((v) => v !== 1);
  if (c.data.length === 1) return new Float64Array(k).fill(c.data[0]);
  if (d.length === 1 && d[0] === k && c.dims[c.dims.length - 1] === k) return Float64Array.from(c.data);
  return undefined;
}

/**
 * Why the BatchNormalization `bn` of graph `g` (opset `opset`) cannot be merged into the layer
 * producing its input, or undefined when it can.
 */
export function batchNormBlocker(g: Graph, bn: Node, opset: number, idx = index(g)): string | undefined {
  if (attrInt(bn, 'training_mode', 0) !== 0 || bn.outputs.slice(1).some((o) => o !== '')) return 'it is in training form (training_mode or the running-statistics outputs), not inference form';
  if (opset < 9 && attrInt(bn, 'spatial', 1) === 0) return 'it normalises per activation (spatial=0), not per channel';
  const params = bn.inputs.slice(1, 5);
  const consts = params.map((t) => (t ? g.initializers.get(t) : undefined));
  if (params.length < 4 || consts.some((c) => !c)) return 'its scale, bias, mean and variance are not all initializers';
  const x = bn.inputs[0];
  const prev = idx.producer.get(x);
  if (!prev) return `its input '${x}' is a graph input, not the output of a Conv or Gemm`;
  if (prev.opType !== 'Conv' && prev.opType !== 'Gemm') return `its input '${x}' comes from ${quote(prev)}, not from a Conv or Gemm`;
  const others = (idx.readers.get(x) ?? []).filter((n) => n !== bn);
  if (others.length) return `the output '${x}' of ${quote(prev)} is also read by ${quote(others[0])}${others.length > 1 ? ` and ${others.length - 1} more` : ''}, which must keep the unnormalised values`;
  if (idx.outputs.has(x)) return `the output '${x}' of ${quote(prev)} is also a graph output`;
  const w = g.initializers.get(prev.inputs[1]);
  const bias = prev.inputs[2] ? g.initializers.get(prev.inputs[2]) : undefined;
  if (!w || (prev.inputs[2] && !bias)) return `the weights of ${quote(prev)} are not initializers`;
  const k = consts[0]!.data.length;
  if (consts.some((c) => c!.data.length !== k)) return 'its scale, bias, mean and variance differ in length';
  if (prev.opType === 'Conv') {
    if (w.dims.length < 3 || w.dims[0] !== k || (bias && bias.data.length !== k)) return `the ${w.dims[0]} output channels of ${quote(prev)} do not match its ${k} channels`;
  } else {
    if (w.dims.length !== 2 || w.dims[attrInt(prev, 'transB', 0) ? 0 : 1] !== k) return `the ${quote(prev)} output width does not match its ${k} channels`;
    if (!gemmBias(bias, k)) return `the bias C of ${quote(prev)} has shape [${bias!.dims.join('×')}], not one value per output`;
  }
  return undefined;
}

/** A name not yet used in the graph. */
function fresh(taken: Set<string>, base: string): string {
  let name = base;
  for (let i = 2; taken.has(name); i++) name = `${base}#${i}`;
  taken.add(name);
  return name;
}

/** The graph with every mergeable BatchNormalization merged into its Conv or Gemm (see the header). */
export function mergeBatchNorms(model: Model): Canonized {
  const g = model.graph;
  const idx = index(g);
  const merged: BatchNormMerge[] = [];
  const kept: { node: string; why: string }[] = [];
  const replace = new Map<Node, Node>();
  const drop = new Set<Node>();
  const inits = new Map(g.initializers);
  const taken = new Set<string>([...inits.keys(), ...idx.producer.keys(), ...g.inputs.map((i) => i.name)]);
  for (const bn of g.nodes) {
    if (bn.opType !== 'BatchNormalization' || bn.domain !== '') continue;
    const why = batchNormBlocker(g, bn, model.opset, idx);
    if (why) {
      kept.push({ node: bn.name, why });
      continue;
    }
    const prev = idx.producer.get(bn.inputs[0])!;
    const [gamma, beta, mean, v] = bn.inputs.slice(1, 5).map((t) => g.initializers.get(t)!.data);
    const eps = Math.fround(attrFloat(bn, 'epsilon', 1e-5));
    const k = gamma.length;
    const s = Float64Array.from(gamma, (gc, c) => gc / Math.sqrt(v[c] + eps));
    const w = g.initializers.get(prev.inputs[1])!;
    const bias = prev.inputs[2] ? g.initializers.get(prev.inputs[2]) : undefined;
    const w2 = new Float32Array(w.data.length);
    let b2: Float32Array;
    const attrs = new Map(prev.attrs);
    if (prev.opType === 'Conv') {
      const per = w.data.length / k;
      for (let i = 0; i < w.data.length; i++) w2[i] = w.data[i] * s[Math.floor(i / per)];
      b2 = Float32Array.from(s, (sc, c) => ((bias ? bias.data[c] : 0) - mean[c]) * sc + beta[c]);
    } else {
      // Y = α·A·B + β_g·C: B's output columns (rows when transB) scaled, C' = (β_g·C − μ)·s + β with β_g = 1.
      const transB = attrInt(prev, 'transB', 0) !== 0;
      const cols = w.dims[1];
      for (let i = 0; i < w.data.length; i++) w2[i] = w.data[i] * s[transB ? Math.floor(i / cols) : i % cols];
      const betaG = attrFloat(prev, 'beta', 1);
      const c0 = gemmBias(bias, k)!;
      b2 = Float32Array.from(s, (sc, c) => (betaG * c0[c] - mean[c]) * sc + beta[c]);
      attrs.set('beta', 1);
    }
    const wName = fresh(taken, `${prev.inputs[1]}+${bn.name}`);
    const bName = fresh(taken, `${prev.inputs[2] || `${prev.name}.bias`}+${bn.name}`);
    inits.set(wName, { dtype: 'float32', dims: [...w.dims], data: w2 });
    inits.set(bName, { dtype: 'float32', dims: [k], data: b2 });
    replace.set(prev, { ...prev, attrs, inputs: [prev.inputs[0], wName, bName], outputs: [bn.outputs[0]] });
    drop.add(bn);
    merged.push({ bn: bn.name, into: prev.name });
  }
  if (!merged.length) return { model, merged, kept };
  const nodes = g.nodes.filter((n) => !drop.has(n)).map((n) => replace.get(n) ?? n);
  // Initializers no node reads any more (the layers' old weights, the BN parameters) are left out.
  const read = new Set(nodes.flatMap((n) => n.inputs));
  for (const [name] of inits) if (!read.has(name) && !g.outputs.some((o) => o.name === name)) inits.delete(name);
  const gone = new Set([...replace.keys()].map((n) => n.outputs[0]));
  const valueInfo = new Map([...g.valueInfo].filter(([name]) => !gone.has(name)));
  return { model: { ...model, graph: { ...g, nodes, initializers: inits, valueInfo } }, merged, kept };
}
