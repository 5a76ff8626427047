// The graph IR as loaded from ONNX: nodes with resolved attributes, initializers as constants.
import type { Const, DType } from './tensor.js';

export type AttrValue = number | string | number[] | string[] | Const | Const[] | { graph: string };

export interface Node {
  /** ONNX node name, or `<OpType>_<index>` when the file leaves it empty. */
  name: string;
  opType: string;
  domain: string;
  /** Input tensor names; '' marks an omitted optional input. */
  inputs: string[];
  outputs: string[];
  attrs: Map<string, AttrValue>;
}

export interface ValueInfo {
  name: string;
  dtype: DType;
  /** Static dims are numbers; symbolic (dim_param) or unknown dims are strings / null. */
  shape: (number | string | null)[] | null;
}

export interface Graph {
  name: string;
  nodes: Node[];
  /** Real inputs: the graph inputs that are not initializers. */
  inputs: ValueInfo[];
  outputs: ValueInfo[];
  initializers: Map<string, Const>;
  valueInfo: Map<string, ValueInfo>;
}

export interface Model {
  /** Where it was loaded from, for messages. */
  source: string;
  irVersion: number;
  /** Opset of the default ('' / ai.onnx) domain. */
  opset: number;
  producer: string;
  graph: Graph;
}

// Attribute accessors that name the node in their errors.
export function attrInt(n: Node, key: string, dflt?: number): number {
  const v = n.attrs.get(key);
  if (v === undefined) {
    if (dflt === undefined) throw new Error(`${n.opType} node '${n.name}': missing attribute '${key}'`);
    return dflt;
  }
  if (typeof v !== 'number') throw new Error(`${n.opType} node '${n.name}': attribute '${key}' must be a number`);
  return v;
}
export const attrFloat = attrInt;

export function attrInts(n: Node, key: string, dflt?: number[]): number[] | undefined {
  const v = n.attrs.get(key);
  if (v === undefined) return dflt;
  if (typeof v === 'number') return [v];
  if (!Array.isArray(v) || (v.length > 0 && typeof v[0] !== 'number')) {
    throw new Error(`${n.opType} node '${n.name}': attribute '${key}' must be a list of numbers`);
  }
  return v as number[];
}

export function attrString(n: Node, key: string, dflt?: string): string | undefined {
  const v = n.attrs.get(key);
  if (v === undefined) return dflt;
  if (typeof v !== 'string') throw new Error(`${n.opType} node '${n.name}': attribute '${key}' must be a string`);
  return v;
}

export function attrTensor(n: Node, key: string): Const | undefined {
  const v = n.attrs.get(key);
  if (v === undefined) return undefined;
  if (typeof v !== 'object' || Array.isArray(v) || !('dims' in v)) {
    throw new Error(`${n.opType} node '${n.name}': attribute '${key}' must be a tensor`);
  }
  return v;
}
