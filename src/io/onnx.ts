// ONNX model loading through protobufjs and the official onnx.proto schema (vendored, Apache-2.0).
import protobuf from 'protobufjs';
import { readFileSync, existsSync, statSync, realpathSync, openSync, readSync, closeSync } from 'node:fs';
import { dirname, resolve, sep, isAbsolute } from 'node:path';
import onnxProto from './onnx.proto';
import { ModelLoadError, printable } from '../errors.js';
import { halfToFloat, type Const, type DType } from '../graph/tensor.js';
import type { AttrValue, Graph, Model, Node, ValueInfo } from '../graph/ir.js';

/** The newest opset of the default domain aeq knows (ONNX 1.19); later ones are refused. */
export const MAX_OPSET = 24;

let modelType: protobuf.Type | null = null;
function ModelProto(): protobuf.Type {
  modelType ??= protobuf.parse(onnxProto, { keepCase: true }).root.lookupType('onnx.ModelProto');
  return modelType;
}

/** The protobufjs type of onnx.ModelProto (the fuzzer decodes, mutates and re-encodes models with it). */
export const modelProtoType = ModelProto;

const DTYPES: Record<number, DType> = {
  1: 'float32', 2: 'uint8', 3: 'int8', 4: 'uint16', 5: 'int16', 6: 'int32', 7: 'int64', 8: 'string',
  9: 'bool', 10: 'float16', 11: 'float64', 12: 'uint32', 13: 'uint64',
};

export function dtypeOf(code: number, where: string): DType {
  const d = DTYPES[code];
  if (!d) throw new ModelLoadError(`${where}: unsupported tensor element type ${code} (bfloat16, complex and float8 are not supported)`);
  return d;
}

type Long = { low: number; high: number; unsigned?: boolean; toNumber?: () => number };
const num = (v: number | Long | string): number =>
  typeof v === 'number' ? v : typeof v === 'string' ? Number(v) : v.toNumber ? v.toNumber() : v.high * 4294967296 + (v.low >>> 0);

function decodeRaw(dtype: DType, bytes: Uint8Array, count: number, where: string): Float32Array | Float64Array {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const size: Record<string, number> = { float32: 4, float64: 8, float16: 2, int64: 8, uint64: 8, int32: 4, uint32: 4, int16: 2, uint16: 2, int8: 1, uint8: 1, bool: 1 };
  const sz = size[dtype];
  if (sz === undefined) throw new ModelLoadError(`${where}: raw data of type ${dtype} is not supported`);
  if (bytes.byteLength !== count * sz) {
    throw new ModelLoadError(`${where}: holds ${bytes.byteLength} bytes of ${dtype} data, expected ${count * sz} for its shape`);
  }
  if (dtype === 'float32') {
    const out = new Float32Array(count);
    for (let i = 0; i < count; i++) out[i] = dv.getFloat32(i * 4, true);
    return out;
  }
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    const o = i * sz;
    switch (dtype) {
      case 'float64': out[i] = dv.getFloat64(o, true); break;
      case 'float16': out[i] = halfToFloat(dv.getUint16(o, true)); break;
      case 'int64': out[i] = Number(dv.getBigInt64(o, true)); break;
      case 'uint64': out[i] = Number(dv.getBigUint64(o, true)); break;
      case 'int32': out[i] = dv.getInt32(o, true); break;
      case 'uint32': out[i] = dv.getUint32(o, true); break;
      case 'int16': out[i] = dv.getInt16(o, true); break;
      case 'uint16': out[i] = dv.getUint16(o, true); break;
      case 'int8': out[i] = dv.getInt8(o); break;
      default: out[i] = dv.getUint8(o); break;
    }
  }
  return out;
}

export interface TensorProtoLike {
  name?: string;
  dims?: (number | Long)[];
  data_type?: number;
  raw_data?: Uint8Array;
  float_data?: number[];
  int32_data?: number[];
  int64_data?: (number | Long)[];
  double_data?: number[];
  uint64_data?: (number | Long)[];
  data_location?: number;
  external_data?: { key: string; value: string }[];
}

/** Decode a TensorProto. `baseDir` is the model's folder, for external data (null forbids it). */
export function tensorFromProto(t: TensorProtoLike, baseDir: string | null, where: string): Const {
  const dims = (t.dims ?? []).map(num);
  if (dims.some((d) => !Number.isSafeInteger(d) || d < 0)) {
    throw new ModelLoadError(`${where}: invalid dimensions [${dims.join(', ')}] (must be non-negative integers)`);
  }
  const dtype = dtypeOf(t.data_type ?? 0, where);
  const count = dims.reduce((a, b) => a * b, 1);
  if (dtype === 'string') throw new ModelLoadError(`${where}: string tensors are not supported`);
  if (t.data_location === 1) {
    return { dtype, dims, data: decodeRaw(dtype, readExternal(t, baseDir, where), count, where) };
  }
  if (t.raw_data && t.raw_data.length > 0) return { dtype, dims, data: decodeRaw(dtype, t.raw_data, count, where) };
  let values: number[];
  if (dtype === 'float32' && t.float_data?.length) values = t.float_data;
  else if (dtype === 'float64' && t.double_data?.length) values = t.double_data;
  else if ((dtype === 'int64') && t.int64_data?.length) values = t.int64_data.map(num);
  else if ((dtype === 'uint64' || dtype === 'uint32') && t.uint64_data?.length) values = t.uint64_data.map(num);
  else if (dtype === 'float16' && t.int32_data?.length) values = t.int32_data.map(halfToFloat);
  else values = t.int32_data ?? [];
  if (values.length !== count) {
    throw new ModelLoadError(`${where}: holds ${values.length} values, expected ${count} for shape [${dims.join('×')}]`);
  }
  return { dtype, dims, data: dtype === 'float32' ? Float32Array.from(values) : Float64Array.from(values) };
}

function readExternal(t: TensorProtoLike, baseDir: string | null, where: string): Uint8Array {
  const kv = new Map((t.external_data ?? []).map((e) => [e.key, e.value]));
  const location = kv.get('location');
  if (!location) throw new ModelLoadError(`${where}: external data without a 'location'`);
  if (baseDir === null) throw new ModelLoadError(`${where}: external data '${location}' cannot be resolved (model not loaded from a file)`);
  const root = realpathSync(baseDir);
  const file = resolve(root, location);
  if (isAbsolute(location) || !(file + sep).startsWith(root + sep) || file === root) {
    throw new ModelLoadError(`${where}: external data path '${location}' escapes the model's folder ${root}`);
  }
  if (!existsSync(file)) throw new ModelLoadError(`${where}: external data file '${location}' not found in ${root}`);
  const real = realpathSync(file);
  if (!real.startsWith(root + sep)) throw new ModelLoadError(`${where}: external data path '${location}' escapes the model's folder ${root}`);
  const st = statSync(real);
  if (!st.isFile()) throw new ModelLoadError(`${where}: external data '${location}' is ${st.isDirectory() ? 'a directory' : 'not a regular file'}, not a data file`);
  const intOf = (k: string, dflt: number) => {
    const raw = kv.get(k);
    const v = raw === undefined ? dflt : /^\s*\d+\s*$/.test(raw) ? Number(raw) : NaN;
    if (!Number.isSafeInteger(v) || v < 0) throw new ModelLoadError(`${where}: external data '${location}': ${k} '${raw}' is not a non-negative integer`);
    return v;
  };
  const size = st.size;
  const offset = intOf('offset', 0);
  const length = kv.has('length') ? intOf('length', 0) : size - offset;
  if (length < 0 || offset + length > size) {
    throw new ModelLoadError(`${where}: external data '${location}' is ${size} bytes; offset ${offset} + length ${length} is out of range`);
  }
  // Read only the tensor's bytes (the file may be much larger than the tensor).
  const out = new Uint8Array(length);
  const fd = openSync(real, 'r');
  try {
    let done = 0;
    while (done < length) {
      const n = readSync(fd, out, done, length - done, offset + done);
      if (n <= 0) throw new ModelLoadError(`${where}: external data '${location}' ended early (read ${done} of ${length} bytes)`);
      done += n;
    }
  } finally {
    closeSync(fd);
  }
  return out;
}

interface AttrProto {
  name: string; type?: number; f?: number; i?: number | Long; s?: Uint8Array; t?: TensorProtoLike; g?: unknown;
  floats?: number[]; ints?: (number | Long)[]; strings?: Uint8Array[]; tensors?: TensorProtoLike[]; ref_attr_name?: string;
}

/** Non-finite floats (NaN, ±Infinity) in weights or attributes are refused when the model loads. */
function firstNonFinite(values: ArrayLike<number>): number {
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i])) return i;
  return -1;
}

function checkFiniteConst(c: Const, what: string): Const {
  if (c.dtype !== 'float32' && c.dtype !== 'float64' && c.dtype !== 'float16') return c;
  const i = firstNonFinite(c.data);
  if (i >= 0) {
    throw new ModelLoadError(`${what} holds ${c.data[i]} at element ${i} of ${c.data.length}; non-finite weights and constants are refused (they make every backend's result undefined)`);
  }
  return c;
}

function attrValue(a: AttrProto, where: string, baseDir: string | null): AttrValue {
  const v = attrValueRaw(a, where, baseDir);
  const what = `${where} attribute '${a.name}'`;
  if (typeof v === 'number' && !Number.isFinite(v)) throw new ModelLoadError(`${what} is ${v}; non-finite attributes are refused`);
  if (Array.isArray(v)) {
    v.forEach((x, k) => {
      if (typeof x === 'number' && !Number.isFinite(x)) throw new ModelLoadError(`${what} holds ${x} at index ${k}; non-finite attributes are refused`);
      if (typeof x === 'object') checkFiniteConst(x, `${what}[${k}]`);
    });
  } else if (typeof v === 'object' && 'dims' in v) {
    checkFiniteConst(v, what);
  }
  return v;
}

function attrValueRaw(a: AttrProto, where: string, baseDir: string | null): AttrValue {
  const dec = new TextDecoder();
  switch (a.type) {
    case 1: return a.f ?? 0;
    case 2: return num(a.i ?? 0);
    case 3: return dec.decode(a.s ?? new Uint8Array());
    case 4: return tensorFromProto(a.t ?? {}, baseDir, `${where} attribute '${a.name}'`);
    case 5: return { graph: a.name };
    case 6: return a.floats ?? [];
    case 7: return (a.ints ?? []).map(num);
    case 8: return (a.strings ?? []).map((s) => dec.decode(s));
    case 9: return (a.tensors ?? []).map((t) => tensorFromProto(t, baseDir, `${where} attribute '${a.name}'`));
    default:
      // Files written before the `type` field existed: infer from which field is set.
      if (a.ints?.length) return a.ints.map(num);
      if (a.floats?.length) return a.floats;
      if (a.t) return tensorFromProto(a.t, baseDir, `${where} attribute '${a.name}'`);
      if (a.s?.length) return dec.decode(a.s);
      if (a.i !== undefined) return num(a.i);
      if (a.f !== undefined) return a.f;
      return [];
  }
}

interface ValueInfoProto { name: string; type?: { tensor_type?: { elem_type?: number; shape?: { dim?: { dim_value?: number | Long; dim_param?: string }[] } } } }

function valueInfo(v: ValueInfoProto, where: string): ValueInfo {
  const tt = v.type?.tensor_type;
  const dtype = tt?.elem_type ? dtypeOf(tt.elem_type, `${where} '${v.name}'`) : 'float32';
  const shape = tt?.shape ? (tt.shape.dim ?? []).map((d) => (d.dim_value !== undefined && d.dim_value !== null && num(d.dim_value) > 0 ? num(d.dim_value) : d.dim_param || null)) : null;
  return { name: v.name, dtype, shape };
}

/** Parse ONNX bytes. `source` names the file in errors; `baseDir` resolves external data. */
export function parseModel(bytes: Uint8Array, source: string, baseDir: string | null): Model {
  if (bytes.length === 0) throw new ModelLoadError(`${source}: empty file, not an ONNX model`);
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  let m: any;
  try {
    m = ModelProto().toObject(ModelProto().decode(bytes), { longs: Number, bytes: Uint8Array as unknown as undefined, defaults: false, arrays: true });
  } catch (e) {
    const msg = (e as Error).message;
    const hint = /index out of range/.test(msg) ? 'the file is truncated or not an ONNX model' : 'not a valid ONNX protobuf';
    throw new ModelLoadError(`${source}: ${hint} (${msg})`);
  }
  if (!m.graph || !m.ir_version || !(m.graph.node?.length >= 0)) {
    throw new ModelLoadError(`${source}: not an ONNX model (no graph or IR version found)`);
  }
  const irVersion = num(m.ir_version);
  const opsets: { domain?: string; version?: number }[] = m.opset_import ?? [];
  const defs = opsets.filter((o) => !o.domain || o.domain === 'ai.onnx');
  if (defs.length > 1) throw new ModelLoadError(`${source}: the default ONNX domain is imported ${defs.length} times (opsets ${defs.map((d) => num(d.version ?? 0)).join(', ')})`);
  const def = defs[0];
  let opset: number;
  if (!def) {
    // IR versions before 3 had no opset_import (opset 1 implied); since then it is required.
    if (irVersion >= 3) throw new ModelLoadError(`${source}: no opset_import for the default ONNX domain (required since IR version 3)`);
    opset = 1;
  } else {
    opset = num(def.version ?? 0);
    if (!Number.isSafeInteger(opset) || opset < 1 || opset > MAX_OPSET) {
      throw new ModelLoadError(`${source}: opset version ${opset} of the default ONNX domain is not valid (aeq reads opsets 1–${MAX_OPSET})`);
    }
  }
  const g = m.graph;
  const initializers = new Map<string, Const>();
  for (const t of g.initializer ?? []) {
    const name: string = t.name ?? '';
    if (!name) throw new ModelLoadError(`${source}: an initializer has no name`);
    if (initializers.has(name)) throw new ModelLoadError(`${source}: two initializers are named '${name}'`);
    initializers.set(name, checkFiniteConst(tensorFromProto(t, baseDir, `${source}: initializer '${name}'`), `${source}: initializer '${name}'`));
  }
  const nodes: Node[] = (g.node ?? []).map((n: { name?: string; op_type: string; domain?: string; input?: string[]; output?: string[]; attribute?: AttrProto[] }, i: number) => {
    const name = n.name || `${n.op_type}_${i}`;
    const attrs = new Map<string, AttrValue>();
    for (const a of n.attribute ?? []) attrs.set(a.name, attrValue(a, `${source}: node '${name}'`, baseDir));
    return { name, opType: n.op_type, domain: n.domain ?? '', inputs: n.input ?? [], outputs: n.output ?? [], attrs };
  });
  // Single assignment: every tensor has one producer (a node, a graph input or an initializer).
  const writer = new Map<string, string>();
  for (const i of initializers.keys()) writer.set(i, `initializer '${i}'`);
  for (const v of (g.input ?? []) as ValueInfoProto[]) if (!initializers.has(v.name)) writer.set(v.name, `graph input '${v.name}'`);
  for (const n of nodes) {
    for (const o of n.outputs) {
      if (!o) continue;
      const prev = writer.get(o);
      if (prev) throw new ModelLoadError(`${source}: ${n.opType} node '${n.name}' writes '${o}', which ${prev.startsWith('node') ? 'is already written by ' : 'is also '}${prev}`);
      writer.set(o, `node '${n.name}'`);
    }
  }
  if (!(g.output ?? []).length) throw new ModelLoadError(`${source}: the graph declares no outputs`);
  const vi = new Map<string, ValueInfo>();
  for (const v of g.value_info ?? []) vi.set(v.name, valueInfo(v, source));
  const graph: Graph = {
    name: g.name ?? '',
    nodes,
    inputs: (g.input ?? []).filter((v: ValueInfoProto) => !initializers.has(v.name)).map((v: ValueInfoProto) => valueInfo(v, `${source}: input`)),
    outputs: (g.output ?? []).map((v: ValueInfoProto) => valueInfo(v, `${source}: output`)),
    initializers,
    valueInfo: vi,
  };
  return { source, irVersion, opset, producer: `${m.producer_name ?? ''} ${m.producer_version ?? ''}`.trim(), graph };
}

export function loadModel(path: string): Model {
  if (!existsSync(path)) throw new ModelLoadError(`${path}: no such file`);
  if (statSync(path).isDirectory()) throw new ModelLoadError(`${path}: is a directory, not an ONNX file`);
  return parseModel(new Uint8Array(readFileSync(path)), path, dirname(resolve(path)));
}

/** Decode a standalone TensorProto file (the conformance tests' input_*.pb / output_*.pb). */
export function loadTensorProto(path: string): Const & { name: string } {
  const T = ModelProto().root.lookupType('onnx.TensorProto');
  const obj = T.toObject(T.decode(readFileSync(path)), { longs: Number, bytes: Uint8Array as unknown as undefined, arrays: true }) as TensorProtoLike;
  return { ...tensorFromProto(obj, dirname(path), path), name: obj.name ?? '' };
}
