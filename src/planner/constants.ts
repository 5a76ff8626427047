// Graph inputs bound as plan-time constants. aeq streams only float tensors at run time; an
// integer or bool input (Reshape's shape, Squeeze's axes, Pad's pads, Slice's starts/ends, Tile's
// repeats…) is given its values before planning, as if the model held them as an initializer, so
// that the planner folds and consumes it like any other constant. A model bound this way is a new
// model: a Session made from it caches plans for those values only.
import { InputError } from '../errors.js';
import type { Model } from '../graph/ir.js';
import { fmtShape, isFloatDType, numel, type Const } from '../graph/tensor.js';
import { checkSize } from './plan.js';

/** A constant's values: integers are held as float64 (exact to 2^53). */
export interface ConstantValue {
  shape: number[];
  data: ArrayLike<number>;
}

/** The graph inputs that must be bound as constants: every non-floating-point input. */
export function constantInputs(model: Model): string[] {
  return model.graph.inputs.filter((i) => !isFloatDType(i.dtype)).map((i) => i.name);
}

/**
 * The model with the named graph inputs turned into initializers holding the given values (of the
 * input's declared element type). Values are checked against the declared shape, and integer and
 * bool inputs must hold integers (bool: 0 or 1).
 */
export function bindConstants(model: Model, constants: Record<string, ConstantValue>): Model {
  const src = model.source;
  const g = model.graph;
  const names = Object.keys(constants);
  if (names.length === 0) return model;
  const byName = new Map(g.inputs.map((i) => [i.name, i]));
  const initializers = new Map(g.initializers);
  for (const name of names) {
    const inp = byName.get(name);
    if (!inp) throw new InputError(`${src}: the model has no input named '${name}' (inputs: ${g.inputs.map((i) => i.name).join(', ')})`);
    const { shape, data } = constants[name];
    if (shape.some((d) => !Number.isSafeInteger(d) || d < 0)) throw new InputError(`${src}: constant input '${name}' has an invalid shape ${fmtShape(shape)}`);
    checkSize(name, shape, src);
    if (data.length !== numel(shape)) throw new InputError(`${src}: constant input '${name}' has ${data.length} values for shape ${fmtShape(shape)}`);
    const decl = inp.shape;
    if (decl && (decl.length !== shape.length || decl.some((d, i) => typeof d === 'number' && d !== shape[i]))) {
      throw new InputError(`${src}: input '${name}' expects shape ${fmtShape(decl.map((d) => d ?? '?'))}, got ${fmtShape(shape)}`);
    }
    const float = isFloatDType(inp.dtype);
    for (let i = 0; i < data.length; i++) {
      const v = data[i];
      const ok = float ? Number.isFinite(v) : inp.dtype === 'bool' ? v === 0 || v === 1 : Number.isInteger(v);
      if (!ok) throw new InputError(`${src}: input '${name}' (${inp.dtype}) holds ${v} at element ${i}`);
    }
    const c: Const = inp.dtype === 'float32'
      ? { dtype: 'float32', dims: [...shape], data: Float32Array.from(data) }
      : { dtype: inp.dtype, dims: [...shape], data: Float64Array.from(data) };
    initializers.set(name, c);
  }
  const bound = new Set(names);
  return { ...model, graph: { ...g, inputs: g.inputs.filter((i) => !bound.has(i.name)), initializers } };
}
