// A seeded ONNX mutator. Structure-aware mutations decode the model with protobufjs and change
// what a hostile file would: dimensions, element types, attributes, names, edges, external-data
// locations, opsets, outputs, weights, and inserted hostile nodes; byte-level mutations damage the
// encoded bytes. A case is a seed model plus a list of mutations, each with its own sub-seed, so
// any subset can be replayed (the minimiser in cli.ts relies on it).
import { modelProtoType } from '../io/onnx.js';
import { mulberry32, type Rng } from '../rng.js';

export { mulberry32, type Rng };

export const pick = <T>(r: Rng, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
const int = (r: Rng, lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));

/** Hash two integers into a 32-bit seed. */
export function mix(a: number, b: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(b + 0x7f4a7c15, 0xc2b2ae35);
  h ^= h >>> 16;
  h = Math.imul(h, 0x27d4eb2f);
  return (h ^ (h >>> 15)) >>> 0;
}

// ---------------------------------------------------------------------------------------------
// The decoded model as plain objects (protobufjs toObject with longs as numbers, bytes as Uint8Array).

/* eslint-disable @typescript-eslint/no-explicit-any */
type Obj = any;
const pickObj = (r: Rng, xs: Obj[]): Obj => xs[Math.floor(r() * xs.length)];

export function decodeModel(bytes: Uint8Array): Obj {
  const T = modelProtoType();
  return T.toObject(T.decode(bytes), { longs: Number, defaults: false, arrays: true });
}

export function encodeModel(obj: Obj): Uint8Array {
  const T = modelProtoType();
  return T.encode(T.fromObject(obj)).finish();
}

const HOSTILE_DIMS = [0, -1, -3, 1, 2, 3, 7, 64, 30000, 1e9, 2 ** 31 - 1, 2 ** 31, 2 ** 40];
const HOSTILE_INTS = [-1, 0, 1, 2, 3, -(2 ** 31), 2 ** 31 - 1, 2 ** 40, 1e9, 7];
const HOSTILE_FLOATS = [NaN, Infinity, -Infinity, -1, 0, 1e30, -1e30, 1e-30, 0.5, 3.4e38];
const NAMES = ['', 'x', 'input', 'logits', '\u0007bell\n', '../escape', 'a/b', '\u0000', 'é', 'x'.repeat(300), 'undefined', '__proto__', 'constructor'];
const OP_TYPES = ['Conv', 'Relu', 'MaxPool', 'AveragePool', 'GlobalAveragePool', 'BatchNormalization', 'Gemm', 'MatMul', 'Add', 'Mul', 'Concat',
  'Reshape', 'Flatten', 'Transpose', 'Softmax', 'Sigmoid', 'Expand', 'Tile', 'Range', 'ConstantOfShape', 'Shape', 'Gather', 'Slice', 'Pad',
  'Squeeze', 'Unsqueeze', 'Identity', 'Clip', 'Constant', 'Cast', 'Resize', 'LSTM', 'FancyWarp', '', 'Loop', 'If'];
const ATTR_NAMES = ['kernel_shape', 'pads', 'strides', 'dilations', 'group', 'axis', 'axes', 'perm', 'epsilon', 'alpha', 'beta', 'transA', 'transB',
  'ceil_mode', 'auto_pad', 'value', 'mode', 'keepdims', 'to', 'count_include_pad', 'momentum', 'min', 'max'];
const EXT_LOCATIONS = ['weights.bin', '../weights.bin', '/etc/hostname', '.', 'subdir', 'missing.bin', '', 'link-out', 'subdir/../weights.bin',
  'weights.bin\u0000.txt', 'link-in'];

function allTensors(g: Obj): string[] {
  const s = new Set<string>();
  for (const v of g.input ?? []) s.add(v.name);
  for (const t of g.initializer ?? []) s.add(t.name);
  for (const n of g.node ?? []) for (const o of [...(n.input ?? []), ...(n.output ?? [])]) s.add(o);
  return [...s];
}

function valueInfos(g: Obj): Obj[] {
  return [...(g.input ?? []), ...(g.output ?? []), ...(g.value_info ?? [])];
}

function constTensor(name: string, dims: number[], values: number[], dtype: 'int64' | 'float32'): Obj {
  const raw = dtype === 'int64'
    ? new Uint8Array(BigInt64Array.from(values.map((v) => BigInt(Math.trunc(v)))).buffer)
    : new Uint8Array(Float32Array.from(values).buffer);
  return { name, dims, data_type: dtype === 'int64' ? 7 : 1, raw_data: raw };
}

type Mutation = (m: Obj, r: Rng) => string | null;

/** Structure-aware mutations: each returns a description, or null when it does not apply. */
export const STRUCTURAL: Record<string, Mutation> = {
  dim(m, r) {
    const g = m.graph;
    if (r() < 0.5) {
      const vis = valueInfos(g).filter((v) => v.type?.tensor_type?.shape?.dim?.length);
      if (!vis.length) return null;
      const v = pickObj(r, vis);
      const dims = v.type.tensor_type.shape.dim;
      const k = int(r, 0, dims.length - 1);
      if (r() < 0.2) dims[k] = { dim_param: pick(r, ['N', '', 'batch']) };
      else dims[k] = { dim_value: pick(r, HOSTILE_DIMS) };
      return `dim ${v.name}[${k}] = ${JSON.stringify(dims[k])}`;
    }
    const inits = (g.initializer ?? []).filter((t: Obj) => t.dims?.length);
    if (!inits.length) return null;
    const t = pickObj(r, inits);
    const k = int(r, 0, t.dims.length - 1);
    t.dims[k] = pick(r, HOSTILE_DIMS);
    return `initializer dim ${t.name}[${k}] = ${t.dims[k]}`;
  },
  dtype(m, r) {
    const g = m.graph;
    const code = pick(r, [0, 1, 2, 3, 6, 7, 8, 9, 10, 11, 14, 16, 17, 100]);
    if (r() < 0.5 && g.initializer?.length) {
      const t = pick(r, g.initializer as Obj[]);
      t.data_type = code;
      return `initializer ${t.name} data_type = ${code}`;
    }
    const vis = valueInfos(g).filter((v) => v.type?.tensor_type);
    if (!vis.length) return null;
    const v = pickObj(r, vis);
    v.type.tensor_type.elem_type = code;
    return `value ${v.name} elem_type = ${code}`;
  },
  attrValue(m, r) {
    const nodes = (m.graph.node ?? []).filter((n: Obj) => n.attribute?.length);
    if (!nodes.length) return null;
    const n = pickObj(r, nodes);
    const a = pick(r, n.attribute as Obj[]);
    if (a.f !== undefined || a.type === 1) a.f = pick(r, HOSTILE_FLOATS);
    else if (a.i !== undefined || a.type === 2) a.i = pick(r, HOSTILE_INTS);
    else if (a.ints || a.type === 7) {
      const xs: number[] = a.ints ?? [];
      const how = int(r, 0, 3);
      if (how === 0 && xs.length) xs[int(r, 0, xs.length - 1)] = pick(r, HOSTILE_INTS);
      else if (how === 1) xs.pop();
      else if (how === 2) xs.push(pick(r, HOSTILE_INTS));
      else xs.length = 0;
      a.ints = xs;
    } else if (a.floats || a.type === 6) {
      const xs: number[] = a.floats ?? [];
      if (xs.length) xs[int(r, 0, xs.length - 1)] = pick(r, HOSTILE_FLOATS);
      else xs.push(pick(r, HOSTILE_FLOATS));
      a.floats = xs;
    } else if (a.s || a.type === 3) a.s = new TextEncoder().encode(pick(r, ['SAME_UPPER', 'VALID', 'NOTSET', 'bogus', '', 'nearest']));
    else if (a.t) a.t.dims = (a.t.dims ?? []).map(() => pick(r, HOSTILE_DIMS));
    else return null;
    return `node ${n.name} attribute ${a.name} mutated`;
  },
  attrDrop(m, r) {
    const nodes = (m.graph.node ?? []).filter((n: Obj) => n.attribute?.length);
    if (!nodes.length) return null;
    const n = pickObj(r, nodes);
    const k = int(r, 0, n.attribute.length - 1);
    const [a] = n.attribute.splice(k, 1);
    return `node ${n.name} attribute ${a.name} dropped`;
  },
  attrType(m, r) {
    const nodes = (m.graph.node ?? []).filter((n: Obj) => n.attribute?.length);
    if (!nodes.length) return null;
    const a = pick(r, pickObj(r, nodes).attribute as Obj[]);
    a.type = pick(r, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 99]);
    return `attribute ${a.name} type = ${a.type}`;
  },
  attrAdd(m, r) {
    const nodes = m.graph.node ?? [];
    if (!nodes.length) return null;
    const n = pick(r, nodes as Obj[]);
    const name = pick(r, ATTR_NAMES);
    const kind = int(r, 0, 3);
    const a: Obj = { name };
    if (kind === 0) Object.assign(a, { type: 2, i: pick(r, HOSTILE_INTS) });
    else if (kind === 1) Object.assign(a, { type: 7, ints: Array.from({ length: int(r, 0, 5) }, () => pick(r, HOSTILE_INTS)) });
    else if (kind === 2) Object.assign(a, { type: 1, f: pick(r, HOSTILE_FLOATS) });
    else Object.assign(a, { type: 3, s: new TextEncoder().encode(pick(r, ['SAME_LOWER', 'VALID', 'x'])) });
    n.attribute = [...(n.attribute ?? []).filter((x: Obj) => x.name !== name), a];
    return `node ${n.name} attribute ${name} set`;
  },
  rename(m, r) {
    const nodes = m.graph.node ?? [];
    if (!nodes.length) return null;
    const n = pick(r, nodes as Obj[]);
    const name = pick(r, [...NAMES, ...allTensors(m.graph)]);
    const which = int(r, 0, 2);
    if (which === 0) n.name = name;
    else if (which === 1 && n.output?.length) n.output[int(r, 0, n.output.length - 1)] = name;
    else if (n.input?.length) n.input[int(r, 0, n.input.length - 1)] = name;
    else return null;
    return `node ${JSON.stringify(n.name)} ${['name', 'output', 'input'][which]} renamed to ${JSON.stringify(name)}`;
  },
  edge(m, r) {
    const nodes = (m.graph.node ?? []).filter((n: Obj) => n.input?.length);
    if (!nodes.length) return null;
    const n = pickObj(r, nodes);
    const names = allTensors(m.graph);
    const k = int(r, 0, n.input.length - 1);
    const how = int(r, 0, 3);
    if (how === 0) n.input[k] = pick(r, names);
    else if (how === 1) n.input.splice(k, 1);
    else if (how === 2) n.input.push(pick(r, names));
    else n.input[k] = '';
    return `node ${n.name} input ${k} rewired (${how})`;
  },
  dupWriter(m, r) {
    const nodes = (m.graph.node ?? []).filter((n: Obj) => n.output?.length);
    if (nodes.length < 2) return null;
    const a = pickObj(r, nodes), b = pickObj(r, nodes);
    if (a === b) return null;
    b.output[0] = a.output[0];
    return `node ${b.name} also writes ${a.output[0]}`;
  },
  dropNode(m, r) {
    const nodes = m.graph.node ?? [];
    if (!nodes.length) return null;
    const [n] = nodes.splice(int(r, 0, nodes.length - 1), 1);
    return `node ${n.name} removed`;
  },
  shuffleNodes(m, r) {
    const nodes = m.graph.node ?? [];
    for (let i = nodes.length - 1; i > 0; i--) {
      const j = int(r, 0, i);
      [nodes[i], nodes[j]] = [nodes[j], nodes[i]];
    }
    return 'nodes shuffled';
  },
  opType(m, r) {
    const nodes = m.graph.node ?? [];
    if (!nodes.length) return null;
    const n = pick(r, nodes as Obj[]);
    if (r() < 0.15) n.domain = pick(r, ['com.microsoft', 'ai.onnx', 'ai.onnx.ml', '']);
    else n.op_type = pick(r, OP_TYPES);
    return `node ${n.name} op ${n.domain ?? ''}.${n.op_type}`;
  },
  opset(m, r) {
    const how = int(r, 0, 3);
    if (how === 0) m.opset_import = [];
    else if (how === 1) m.opset_import = [...(m.opset_import ?? []), { domain: '', version: 13 }];
    else m.opset_import = [{ domain: '', version: pick(r, [-3, 0, 1, 5, 7, 9, 11, 13, 17, 21, 99, 2 ** 31]) }];
    return `opset_import = ${JSON.stringify(m.opset_import)}`;
  },
  irVersion(m, r) {
    m.ir_version = pick(r, [0, 1, 2, 3, 4, 7, 10, 99, -1]);
    return `ir_version = ${m.ir_version}`;
  },
  outputs(m, r) {
    const g = m.graph;
    const how = int(r, 0, 3);
    if (how === 0) g.output = [];
    else if (how === 1) g.output = [...(g.output ?? []), { name: pick(r, ['nowhere', ...NAMES]) }];
    else if (how === 2 && g.input?.length) g.output = [{ name: g.input[0].name }];
    else g.output = [...(g.output ?? []), ...(g.output ?? [])];
    return `outputs mutated (${how})`;
  },
  external(m, r) {
    const inits = m.graph.initializer ?? [];
    if (!inits.length) return null;
    const t = pick(r, inits as Obj[]);
    const loc = pick(r, EXT_LOCATIONS);
    const kv: Obj[] = [{ key: 'location', value: loc }];
    if (r() < 0.6) kv.push({ key: 'offset', value: String(pick(r, [0, 64, -1, 4095, 4096, 1e12, 1.5, 'abc'])) });
    if (r() < 0.6) kv.push({ key: 'length', value: String(pick(r, [0, 4, 16, 64, -8, 4096, 2 ** 40, 'x'])) });
    t.data_location = 1;
    t.external_data = kv;
    if (r() < 0.7) delete t.raw_data;
    return `initializer ${t.name} external ${JSON.stringify(kv)}`;
  },
  weights(m, r) {
    const inits = (m.graph.initializer ?? []).filter((t: Obj) => t.raw_data?.length);
    if (!inits.length) return null;
    const t = pickObj(r, inits);
    const raw = new Uint8Array(t.raw_data);
    const how = int(r, 0, 3);
    if (how === 0 && t.data_type === 1 && raw.length >= 4) {
      const f = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
      f.setFloat32(4 * int(r, 0, raw.length / 4 - 1), pick(r, HOSTILE_FLOATS), true);
      t.raw_data = raw;
    } else if (how === 1) t.raw_data = raw.subarray(0, int(r, 0, raw.length));
    else if (how === 2) t.raw_data = new Uint8Array([...raw, ...new Uint8Array(int(r, 1, 9))]);
    else {
      if (t.data_type === 1) {
        const f = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength - (raw.byteLength % 4)));
        f.fill(pick(r, [1e38, -1e38, 1e20, 0]));
        t.raw_data = new Uint8Array(f.buffer);
      } else t.raw_data = raw.fill(0xff);
    }
    return `initializer ${t.name} data mutated (${how})`;
  },
  hostileNode(m, r) {
    const g = m.graph;
    const x = g.input?.[0]?.name ?? 'input';
    const id = `fz${int(r, 0, 1e6)}`;
    g.initializer ??= [];
    g.node ??= [];
    const out = `${id}_y`;
    const kind = int(r, 0, 6);
    if (kind === 0) {
      g.initializer.push(constTensor(`${id}_s`, [], [0], 'int64'), constTensor(`${id}_l`, [], [pick(r, [2e9, 1e7, 3e9, 100])], 'int64'), constTensor(`${id}_d`, [], [pick(r, [1, 0, -1])], 'int64'));
      g.node.push({ op_type: 'Range', name: `${id}_range`, input: [`${id}_s`, `${id}_l`, `${id}_d`], output: [out] });
    } else if (kind === 1) {
      g.initializer.push(constTensor(`${id}_shape`, [pick(r, [1, 2])], pick(r, [[2 ** 31 - 1], [65536, 65536], [-1, 3], [1e6]]), 'int64'));
      g.node.push({ op_type: 'ConstantOfShape', name: `${id}_cos`, input: [`${id}_shape`], output: [out] });
    } else if (kind === 2) {
      const shape = pick(r, [[-2, -3], [2.1e9], [1, 3, 30000, 30000], [1, 1 << 20, 1 << 11], [0, 3], [2, 3, 8, 8]]);
      g.initializer.push(constTensor(`${id}_shape`, [shape.length], shape, 'int64'));
      g.node.push({ op_type: 'Expand', name: `${id}_expand`, input: [r() < 0.5 ? x : `${id}_shape`, `${id}_shape`], output: [out] });
    } else if (kind === 3) {
      g.initializer.push(constTensor(`${id}_rep`, [4], pick(r, [[1, 1, 1, 1], [1, 1, 30000, 30000], [-1, 1, 1, 1], [1, 1, 2, 2]]), 'int64'));
      g.node.push({ op_type: 'Tile', name: `${id}_tile`, input: r() < 0.3 ? [x] : [x, `${id}_rep`], output: [out] });
    } else if (kind === 4) {
      g.initializer.push(constTensor(`${id}_shape`, [2], pick(r, [[-1, -1], [0, -1], [7, -1], [1, 0]]), 'int64'));
      g.node.push({ op_type: 'Reshape', name: `${id}_reshape`, input: [x, `${id}_shape`], output: [out] });
    } else if (kind === 5) {
      g.node.push({ op_type: 'MaxPool', name: `${id}\u0001pool\n`, input: [x], output: [out], attribute: r() < 0.5 ? [] : [{ name: 'kernel_shape', type: 7, ints: [pick(r, [0, -1, 3, 99999])] }] });
    } else {
      g.initializer.push(constTensor(`${id}_pads`, [8], pick(r, [[0, 0, 1e6, 1e6, 0, 0, 1e6, 1e6], [0, 0, -9, -9, 0, 0, 0, 0], [0, 0, 1, 1, 0, 0, 1, 1]]), 'int64'));
      g.node.push({ op_type: 'Pad', name: `${id}_pad`, input: [x, `${id}_pads`], output: [out] });
    }
    g.output = [...(r() < 0.5 ? [] : g.output ?? []), { name: out }];
    return `hostile node ${g.node[g.node.length - 1].op_type} → ${out}`;
  },
  valueInfo(m, r) {
    const g = m.graph;
    if (r() < 0.5) g.value_info = [];
    else g.value_info = [...(g.value_info ?? []), { name: pick(r, allTensors(g)), type: { tensor_type: { elem_type: pick(r, [1, 7, 99]), shape: { dim: [{ dim_value: -5 }] } } } }];
    return 'value_info mutated';
  },
};

/** Byte-level mutations of the encoded model. */
export const BYTES: Record<string, (b: Uint8Array, r: Rng) => Uint8Array> = {
  flip(b, r) {
    const c = new Uint8Array(b);
    for (let k = int(r, 1, 8); k > 0 && c.length; k--) c[int(r, 0, c.length - 1)] ^= 1 << int(r, 0, 7);
    return c;
  },
  set(b, r) {
    const c = new Uint8Array(b);
    for (let k = int(r, 1, 4); k > 0 && c.length; k--) c[int(r, 0, c.length - 1)] = pick(r, [0, 0xff, 0x7f, 0x80, 0x08, 0x12]);
    return c;
  },
  truncate(b, r) {
    return new Uint8Array(b.subarray(0, int(r, 0, b.length)));
  },
  insert(b, r) {
    const at = int(r, 0, b.length);
    const junk = Uint8Array.from({ length: int(r, 1, 16) }, () => int(r, 0, 255));
    return new Uint8Array([...b.subarray(0, at), ...junk, ...b.subarray(at)]);
  },
  remove(b, r) {
    const at = int(r, 0, b.length);
    return new Uint8Array([...b.subarray(0, at), ...b.subarray(Math.min(b.length, at + int(r, 1, 64)))]);
  },
  duplicate(b, r) {
    const at = int(r, 0, b.length);
    const len = int(r, 1, 256);
    return new Uint8Array([...b.subarray(0, at), ...b.subarray(at, at + len), ...b.subarray(at)]);
  },
  varint(b, r) {
    // A length or tag varint pushed to its maximum: hostile lengths.
    const c = new Uint8Array(b);
    const at = int(r, 0, Math.max(0, c.length - 5));
    c.set([0xff, 0xff, 0xff, 0xff, 0x0f].slice(0, c.length - at), at);
    return c;
  },
};

export interface MutationStep {
  kind: 'structural' | 'bytes';
  name: string;
  seed: number;
}

/** The mutation plan of case `caseSeed`: 30 % byte-level (1–3 steps), 70 % structural (1–3 steps). */
export function planMutations(caseSeed: number): MutationStep[] {
  const r = mulberry32(caseSeed);
  const bytes = r() < 0.3;
  const n = int(r, 1, 3);
  const names = Object.keys(bytes ? BYTES : STRUCTURAL);
  return Array.from({ length: n }, (_, i) => ({ kind: bytes ? 'bytes' : 'structural', name: pick(r, names), seed: mix(caseSeed, i + 1) }));
}

/** Apply mutation steps to a seed model's bytes (`decoded`: its decoded form, cloned here). */
export function applyMutations(seed: Uint8Array, decoded: () => Obj, steps: MutationStep[]): { bytes: Uint8Array; log: string[] } {
  const log: string[] = [];
  if (!steps.length) return { bytes: seed, log };
  if (steps[0].kind === 'bytes') {
    // A copy: Node Buffers' slice() is a view, and the seed must stay intact.
    let b: Uint8Array = new Uint8Array(seed);
    for (const s of steps) {
      b = BYTES[s.name](b, mulberry32(s.seed));
      log.push(`bytes:${s.name}`);
    }
    return { bytes: b, log };
  }
  const m = decoded();
  for (const s of steps) {
    let d: string | null;
    try {
      d = STRUCTURAL[s.name](m, mulberry32(s.seed));
    } catch (e) {
      d = `(${s.name} failed: ${(e as Error).message})`;
    }
    log.push(`${s.name}: ${d ?? 'n/a'}`);
  }
  let bytes: Uint8Array;
  try {
    bytes = encodeModel(m);
  } catch (e) {
    // protobufjs refuses some values (e.g. a non-integer in an int64 field): keep the seed's bytes.
    log.push(`(encode failed: ${(e as Error).message}; seed bytes used)`);
    bytes = seed;
  }
  return { bytes, log };
}
