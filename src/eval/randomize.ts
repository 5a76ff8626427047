// Cascading weight randomisation (Adebayo et al. 2018): copies of a model whose top k parametrised
// layers (Conv, Gemm, MatMul with constant weights; last layer first) have their weights and biases
// replaced by seeded Gaussian noise of the original tensor's standard deviation, the way the
// sanity-check papers re-initialise a layer. BatchNormalization is left alone (its parameters
// are a normalisation, not a learned mapping, in that protocol).
import type { Model, Node } from '../graph/ir.js';
import type { Const } from '../graph/tensor.js';
import { topoSort } from '../graph/toposort.js';
import { opsWith } from '../ops/table.js';
import { mulberry32 } from '../rng.js';

const PARAM_OPS = opsWith('weighted');

/** Parametrised layers, from the output back to the input. */
export function parametrisedLayers(model: Model): Node[] {
  const init = model.graph.initializers;
  return topoSort(model.graph, model.source).filter((n) => PARAM_OPS.has(n.opType) && init.has(n.inputs[1] ?? '')).reverse();
}

function gaussianLike(c: Const, seed: number): Const {
  const src = c.data as Float32Array;
  let mean = 0, sq = 0;
  for (const v of src) mean += v;
  mean /= src.length || 1;
  for (const v of src) sq += (v - mean) ** 2;
  const std = Math.sqrt(sq / (src.length || 1)) || 1e-2;
  const rnd = mulberry32(seed);
  const out = new Float32Array(src.length);
  for (let i = 0; i < out.length; i += 2) {
    // Box–Muller, two normals per pair of uniforms.
    const u = Math.max(rnd(), 1e-12), v = rnd();
    const r = Math.sqrt(-2 * Math.log(u)) * std;
    out[i] = r * Math.cos(2 * Math.PI * v);
    if (i + 1 < out.length) out[i + 1] = r * Math.sin(2 * Math.PI * v);
  }
  return { ...c, data: out };
}

/** The model with its top `k` parametrised layers randomised (k = 0: the model itself). */
export function randomizeTop(model: Model, k: number, seed = 1): Model {
  if (k === 0) return model;
  const layers = parametrisedLayers(model).slice(0, k);
  const init = new Map(model.graph.initializers);
  layers.forEach((n, li) => {
    for (const [j, name] of n.inputs.slice(1).entries()) {
      const c = init.get(name);
      if (c && c.dtype === 'float32') init.set(name, gaussianLike(c, seed * 7919 + li * 31 + j));
    }
  });
  return { ...model, graph: { ...model.graph, initializers: init } };
}
