// A small ONNX writer for tests and benchmarks: a fluent builder over NCHW float32 graphs with
// seeded random weights, plus full-size torchvision VGG-16 / ResNet-50 topologies. Weights are
// He-scaled so activations stay O(1) through deep stacks, which keeps logits comparable across
// backends with absolute tolerances.
import protobuf from 'protobufjs';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import onnxProto from '../src/io/onnx.proto';

let modelType: protobuf.Type | null = null;
function ModelProto(): protobuf.Type {
  modelType ??= protobuf.parse(onnxProto, { keepCase: true }).root.lookupType('onnx.ModelProto');
  return modelType;
}

const FLOAT = 1;
const INT64 = 7;
// Attributes ONNX declares as float even when the value happens to be integral.
const FLOAT_ATTRS = new Set(['epsilon', 'momentum', 'alpha', 'beta', 'ratio', 'min', 'max']);

/** Force an attribute to be written as FLOAT / FLOATS. */
export const floatAttr = (v: number | number[]): { float: number | number[] } => ({ float: v });
export type AttrIn = number | number[] | string | { float: number | number[] };

export type Dim = number | string;

interface Tensor { name: string; dims: number[]; dtype: 'float32' | 'int64'; data: Float32Array | BigInt64Array }

export interface ConvOpts { stride?: number; pad?: number; group?: number; dilation?: number; bias?: boolean; name?: string }
export interface PoolOpts { stride?: number; pad?: number; ceil?: boolean; name?: string }
export interface SaveOpts {
  /** Write initializers of at least `minBytes` into this file (relative to the model's folder). */
  externalData?: string;
  minBytes?: number;
}

export class OnnxBuilder {
  private readonly nodes: { op_type: string; name: string; input: string[]; output: string[]; attribute: object[] }[] = [];
  private readonly inits: Tensor[] = [];
  private readonly inputs: { name: string; shape: Dim[] }[] = [];
  private readonly outputs: { name: string; shape: Dim[] }[] = [];
  private readonly shapes = new Map<string, Dim[]>();
  /** xorshift32 state: inlined in the fill loop, which must produce 138M values for VGG-16. */
  private state: number;
  private counter = 0;

  constructor(readonly opts: { seed?: number; opset?: number; name?: string } = {}) {
    // Scramble the seed so small seeds do not start in a low-entropy state (0 is a fixed point).
    this.state = (Math.imul((opts.seed ?? 1) ^ 0x5bd1e995, 0x9e3779b1) >>> 0) || 1;
  }

  shape(x: string): Dim[] {
    const s = this.shapes.get(x);
    if (!s) throw new Error(`onnx-builder: unknown tensor '${x}'`);
    return s;
  }

  private channels(x: string): number {
    const c = this.shape(x)[1];
    if (typeof c !== 'number') throw new Error(`onnx-builder: '${x}' has a symbolic channel dimension`);
    return c;
  }

  private fresh(prefix: string): string {
    return `${prefix}_${this.counter++}`;
  }

  /** Number of initializer elements (parameters plus BN running statistics). */
  get numInitializerElements(): number {
    return this.inits.reduce((a, t) => a + t.data.length, 0);
  }

  get opTypes(): string[] {
    return this.nodes.map((n) => n.op_type);
  }

  input(name: string, shape: Dim[]): string {
    this.inputs.push({ name, shape });
    this.shapes.set(name, shape);
    return name;
  }

  /** Mark `x` as a graph output, renaming it (no Identity node) when `name` differs. */
  output(x: string, name = x): string {
    if (name !== x) {
      const producer = this.nodes.find((n) => n.output.includes(x));
      if (!producer) throw new Error(`onnx-builder: '${x}' is not produced by a node`);
      producer.output = producer.output.map((o) => (o === x ? name : o));
      for (const n of this.nodes) n.input = n.input.map((i) => (i === x ? name : i));
      this.shapes.set(name, this.shape(x));
    }
    this.outputs.push({ name, shape: this.shape(name) });
    return name;
  }

  initializer(name: string, dims: number[], data: Float32Array | number[], dtype: 'float32' | 'int64' = 'float32'): string {
    const arr = dtype === 'int64' ? BigInt64Array.from(Array.from(data, (v) => BigInt(v))) : Float32Array.from(data);
    this.inits.push({ name, dims, dtype, data: arr });
    this.shapes.set(name, dims);
    return name;
  }

  /** Uniform weights with standard deviation `std` (uniform keeps generation fast for 100M values). */
  randomInit(name: string, dims: number[], std: number, mean = 0): string {
    const n = dims.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    const a = (std * Math.sqrt(3)) / 2147483648;
    let x = this.state;
    for (let i = 0; i < n; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      data[i] = mean + (x | 0) * a;
    }
    this.state = x;
    this.inits.push({ name, dims, dtype: 'float32', data });
    this.shapes.set(name, dims);
    return name;
  }

  /** Append a node with explicit output shapes (first output shape used for chaining). */
  node(op: string, inputs: string[], attrs: Record<string, AttrIn> = {}, outShapes: Dim[][] = [[]], name?: string): string[] {
    const nodeName = name ?? this.fresh(op);
    const outputs = outShapes.map((_, i) => `${nodeName}_out${i}`);
    outShapes.forEach((s, i) => this.shapes.set(outputs[i], s));
    this.nodes.push({ op_type: op, name: nodeName, input: inputs, output: outputs, attribute: Object.entries(attrs).map(([k, v]) => attrProto(k, v)) });
    return outputs;
  }

  conv(x: string, out: number, k: number, o: ConvOpts = {}): string {
    const [n, , h, w] = this.shape(x);
    const s = o.stride ?? 1, p = o.pad ?? 0, g = o.group ?? 1, d = o.dilation ?? 1;
    const name = o.name ?? this.fresh('conv');
    const fanIn = (this.channels(x) / g) * k * k;
    const wt = this.randomInit(`${name}.weight`, [out, this.channels(x) / g, k, k], Math.sqrt(2 / fanIn));
    const ins = [x, wt];
    if (o.bias ?? true) ins.push(this.randomInit(`${name}.bias`, [out], 0.03));
    const dim = (v: Dim) => (typeof v === 'number' ? Math.floor((v + 2 * p - d * (k - 1) - 1) / s) + 1 : v);
    return this.node('Conv', ins, { kernel_shape: [k, k], strides: [s, s], pads: [p, p, p, p], dilations: [d, d], group: g }, [[n, out, dim(h), dim(w)]], name)[0];
  }

  /** Inference BatchNormalization with non-trivial stats; `gamma` scales the learned scale. */
  bn(x: string, o: { gamma?: number; name?: string } = {}): string {
    const c = this.channels(x);
    const name = o.name ?? this.fresh('bn');
    const gm = o.gamma ?? 1;
    const scale = this.randomInit(`${name}.weight`, [c], 0.29 * gm, gm);
    const bias = this.randomInit(`${name}.bias`, [c], 0.1);
    const mean = this.randomInit(`${name}.running_mean`, [c], 0.1);
    const v = this.randomInit(`${name}.running_var`, [c], 0.2, 1);
    return this.node('BatchNormalization', [x, scale, bias, mean, v], { epsilon: 1e-5 }, [this.shape(x)], name)[0];
  }

  relu(x: string): string {
    return this.node('Relu', [x], {}, [this.shape(x)])[0];
  }

  private pool(op: string, x: string, k: number, o: PoolOpts, extra: Record<string, AttrIn> = {}): string {
    const [n, c, h, w] = this.shape(x);
    const s = o.stride ?? k, p = o.pad ?? 0;
    const r = o.ceil ? Math.ceil : Math.floor;
    const dim = (v: Dim) => (typeof v === 'number' ? r((v + 2 * p - k) / s) + 1 : v);
    const attrs: Record<string, AttrIn> = { kernel_shape: [k, k], strides: [s, s], pads: [p, p, p, p], ...extra };
    if (o.ceil) attrs.ceil_mode = 1;
    return this.node(op, [x], attrs, [[n, c, dim(h), dim(w)]], o.name)[0];
  }

  maxPool(x: string, k: number, o: PoolOpts = {}): string {
    return this.pool('MaxPool', x, k, o);
  }

  avgPool(x: string, k: number, o: PoolOpts & { countIncludePad?: boolean } = {}): string {
    return this.pool('AveragePool', x, k, o, o.countIncludePad ? { count_include_pad: 1 } : {});
  }

  globalAvgPool(x: string): string {
    const [n, c] = this.shape(x);
    return this.node('GlobalAveragePool', [x], {}, [[n, c, 1, 1]])[0];
  }

  flatten(x: string): string {
    const [n, ...rest] = this.shape(x);
    const f = rest.reduce<number>((a, b) => a * (b as number), 1);
    return this.node('Flatten', [x], { axis: 1 }, [[n, f]])[0];
  }

  /** Linear layer as torch exports it: Gemm with transB = 1. */
  gemm(x: string, out: number, o: { name?: string } = {}): string {
    const [n, fin] = this.shape(x) as [Dim, number];
    const name = o.name ?? this.fresh('fc');
    const w = this.randomInit(`${name}.weight`, [out, fin], Math.sqrt(2 / fin));
    const b = this.randomInit(`${name}.bias`, [out], 0.03);
    return this.node('Gemm', [x, w, b], { alpha: 1, beta: 1, transB: 1 }, [[n, out]], name)[0];
  }

  add(a: string, b: string): string {
    return this.node('Add', [a, b], {}, [this.shape(a)])[0];
  }

  concat(xs: string[], axis = 1): string {
    const s = [...this.shape(xs[0])];
    s[axis] = xs.reduce((acc, x) => acc + (this.shape(x)[axis] as number), 0);
    return this.node('Concat', xs, { axis }, [s])[0];
  }

  softmax(x: string, axis = -1): string {
    return this.node('Softmax', [x], { axis }, [this.shape(x)])[0];
  }

  private model(external?: { location: string; minBytes: number; chunks: Uint8Array[] }): object {
    let offset = 0;
    const initializer = this.inits.map((t) => {
      const raw = leBytes(t.data);
      const base = { name: t.name, dims: t.dims, data_type: t.dtype === 'float32' ? FLOAT : INT64 };
      if (!external || raw.byteLength < external.minBytes) return { ...base, raw_data: raw };
      // 64-byte alignment so a loader may map the data without copying.
      const pad = (64 - (offset % 64)) % 64;
      if (pad) external.chunks.push(new Uint8Array(pad));
      offset += pad;
      external.chunks.push(raw);
      const entry = { ...base, data_location: 1, external_data: [
        { key: 'location', value: external.location },
        { key: 'offset', value: String(offset) },
        { key: 'length', value: String(raw.byteLength) },
      ] };
      offset += raw.byteLength;
      return entry;
    });
    const vi = (v: { name: string; shape: Dim[] }) => ({
      name: v.name,
      type: { tensor_type: { elem_type: FLOAT, shape: { dim: v.shape.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d })) } } },
    });
    return {
      ir_version: 8,
      producer_name: 'aeq onnx-builder',
      opset_import: [{ domain: '', version: this.opts.opset ?? 13 }],
      graph: {
        name: this.opts.name ?? 'graph',
        node: this.nodes,
        initializer,
        input: this.inputs.map(vi),
        output: this.outputs.map(vi),
      },
    };
  }

  toBytes(): Uint8Array {
    const T = ModelProto();
    return T.encode(T.fromObject(this.model())).finish();
  }

  /** Write the model; with `externalData`, large initializers go to that file beside it. */
  save(path: string, o: SaveOpts = {}): void {
    if (!o.externalData) {
      writeFileSync(path, this.toBytes());
      return;
    }
    const chunks: Uint8Array[] = [];
    const T = ModelProto();
    const bytes = T.encode(T.fromObject(this.model({ location: o.externalData, minBytes: o.minBytes ?? 1024, chunks }))).finish();
    writeFileSync(path, bytes);
    writeFileSync(join(dirname(path), o.externalData), Buffer.concat(chunks));
  }
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** ONNX raw_data is little-endian; on little-endian hosts the typed array's bytes already are. */
function leBytes(data: Float32Array | BigInt64Array): Uint8Array {
  if (LITTLE_ENDIAN) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8Array(data.byteLength);
  const dv = new DataView(out.buffer);
  if (data instanceof Float32Array) for (let i = 0; i < data.length; i++) dv.setFloat32(i * 4, data[i], true);
  else for (let i = 0; i < data.length; i++) dv.setBigInt64(i * 8, data[i], true);
  return out;
}

function attrProto(name: string, v: AttrIn): object {
  if (typeof v === 'string') return { name, type: 3, s: new TextEncoder().encode(v) };
  if (typeof v === 'object' && !Array.isArray(v)) {
    return Array.isArray(v.float) ? { name, type: 6, floats: v.float } : { name, type: 1, f: v.float };
  }
  if (Array.isArray(v)) return FLOAT_ATTRS.has(name) ? { name, type: 6, floats: v } : { name, type: 7, ints: v };
  if (FLOAT_ATTRS.has(name) || !Number.isInteger(v)) return { name, type: 1, f: v };
  return { name, type: 2, i: v };
}

export interface NetOpts {
  seed?: number;
  /** Divide every width by this (1 = full size). */
  widthDiv?: number;
  classes?: number;
  size?: number;
  batch?: Dim;
}

/** torchvision VGG-16 ("D"): 13 conv3×3+ReLU, 5 max-pools, avg-pool to 7×7, classifier 4096-4096-classes. */
export function vgg16Graph(o: NetOpts = {}): OnnxBuilder {
  const div = o.widthDiv ?? 1, size = o.size ?? 224;
  const b = new OnnxBuilder({ seed: o.seed ?? 16, name: 'vgg16' });
  let x = b.input('input', [o.batch ?? 'batch', 3, size, size]);
  const cfg = [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512, 'M'] as const;
  cfg.forEach((v, i) => {
    x = v === 'M' ? b.maxPool(x, 2, { stride: 2 }) : b.relu(b.conv(x, v / div, 3, { pad: 1, name: `features.${i}` }));
  });
  // AdaptiveAvgPool2d(7): torch exports it as AveragePool with kernel H/7 when H is a multiple of 7.
  const h = b.shape(x)[2] as number;
  if (h % 7 !== 0) throw new Error(`vgg16Graph: feature map ${h}×${h} is not a multiple of 7 (input size ${size})`);
  x = b.avgPool(x, h / 7, { stride: h / 7 });
  x = b.flatten(x);
  x = b.relu(b.gemm(x, 4096 / div, { name: 'classifier.0' }));
  x = b.relu(b.gemm(x, 4096 / div, { name: 'classifier.3' }));
  x = b.gemm(x, o.classes ?? 1000, { name: 'classifier.6' });
  b.output(x, 'logits');
  return b;
}

/** torchvision ResNet-50 (v1.5: stride on the 3×3), Bottleneck stages 3-4-6-3, 1×1 downsample shortcuts. */
export function resnet50Graph(o: NetOpts = {}): OnnxBuilder {
  const div = o.widthDiv ?? 1, size = o.size ?? 224;
  const b = new OnnxBuilder({ seed: o.seed ?? 50, name: 'resnet50' });
  let x = b.input('input', [o.batch ?? 'batch', 3, size, size]);
  x = b.relu(b.bn(b.conv(x, 64 / div, 7, { stride: 2, pad: 3, bias: false, name: 'conv1' }), { name: 'bn1' }));
  x = b.maxPool(x, 3, { stride: 2, pad: 1 });
  const stages: [number, number, number][] = [[64, 3, 1], [128, 4, 2], [256, 6, 2], [512, 3, 2]];
  stages.forEach(([planes, blocks, stride], si) => {
    const p = planes / div;
    for (let bi = 0; bi < blocks; bi++) {
      const s = bi === 0 ? stride : 1;
      const pre = `layer${si + 1}.${bi}`;
      let y = b.relu(b.bn(b.conv(x, p, 1, { bias: false, name: `${pre}.conv1` }), { name: `${pre}.bn1` }));
      y = b.relu(b.bn(b.conv(y, p, 3, { stride: s, pad: 1, bias: false, name: `${pre}.conv2` }), { name: `${pre}.bn2` }));
      // A small last-BN scale keeps the residual stream from growing block after block.
      y = b.bn(b.conv(y, p * 4, 1, { bias: false, name: `${pre}.conv3` }), { gamma: 0.25, name: `${pre}.bn3` });
      const shortcut = bi === 0
        ? b.bn(b.conv(x, p * 4, 1, { stride: s, bias: false, name: `${pre}.downsample.0` }), { name: `${pre}.downsample.1` })
        : x;
      x = b.relu(b.add(y, shortcut));
    }
  });
  x = b.flatten(b.globalAvgPool(x));
  x = b.gemm(x, o.classes ?? 1000, { name: 'fc' });
  b.output(x, 'logits');
  return b;
}

export const vgg16 = (o: NetOpts = {}): Uint8Array => vgg16Graph(o).toBytes();
export const resnet50 = (o: NetOpts = {}): Uint8Array => resnet50Graph(o).toBytes();
