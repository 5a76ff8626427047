// Typed errors: each names what went wrong and where (file, node, operator, shape).

export class AeqError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** The file is missing, truncated or not an ONNX model, or an external data reference is bad. */
export class ModelLoadError extends AeqError {}
/** The graph uses operators this engine does not implement (listed by name and node). */
export class UnsupportedOperatorError extends AeqError {
  constructor(readonly ops: { opType: string; node: string }[]) {
    super(UnsupportedOperatorError.describe(ops));
  }

  static describe(ops: { opType: string; node: string }[]): string {
    const byOp = new Map<string, string[]>();
    for (const o of ops) byOp.set(o.opType, [...(byOp.get(o.opType) ?? []), o.node]);
    const parts = [...byOp].map(([op, nodes]) =>
      `${op} (${nodes.length > 1 ? 'nodes' : 'node'} ${nodes.slice(0, 3).map((n) => `'${n}'`).join(', ')}${nodes.length > 3 ? `, … ${nodes.length - 3} more` : ''})`);
    return `unsupported operator${byOp.size > 1 ? 's' : ''}: ${parts.join('; ')}`;
  }
}
/** Shapes do not fit an operator, or a tensor is larger than the engine can address. */
export class ShapeError extends AeqError {}
/** The caller's input does not match the model (name, rank, shape, dtype, file format). */
export class InputError extends AeqError {}
/** The WebGPU backend was required but is not available, or the device failed. */
export class GpuUnavailableError extends AeqError {}
/** Invalid option given to the API or CLI. */
export class OptionError extends AeqError {}
/**
 * The command line itself is malformed: an unknown option, a missing argument or option value, a
 * value of the wrong form. The CLI exits with code 2 for it (1 for every other typed error).
 */
export class UsageError extends OptionError {}
/**
 * The work would need more memory than the budget allows (plan-time estimate, constant folding,
 * image pixels); refused before anything that large is allocated.
 */
export class BudgetError extends AeqError {}

/** Control characters and other unprintables of a name from a file, escaped for one-line messages. */
export function printable(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\x00-\x1f\x7f-\x9f\u2028\u2029]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** Prefix a node's identity onto an error raised while handling it. */
export function nodeError(opType: string, name: string, msg: string): ShapeError {
  return new ShapeError(`${opType} node '${name}': ${msg}`);
}
