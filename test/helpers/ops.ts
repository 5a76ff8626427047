// Shared test helpers: build a node, prepare it, run the CPU reference and the GPU kernel.
import type { AttrValue, Node } from '../../src/graph/ir.js';
import type { Const, Shape } from '../../src/graph/tensor.js';
import { numel } from '../../src/graph/tensor.js';
import type { CpuTensor, OpSpec, Prepared } from '../../src/ops/op.js';
import { getGpu, type Gpu } from '../../src/kernels/gpu/runtime.js';
import { mulberry32 } from '../../src/rng.js';

export function makeNode(opType: string, nInputs: number, attrs: Record<string, AttrValue> = {}, nOutputs = 1): Node {
  return {
    name: `${opType}_test`, opType, domain: '',
    inputs: Array.from({ length: nInputs }, (_, i) => `in${i}`),
    outputs: Array.from({ length: nOutputs }, (_, i) => `out${i}`),
    attrs: new Map(Object.entries(attrs)),
  };
}

/** Deterministic PRNG (the benchmark generator's mulberry32) so failures reproduce. */
export const rng = (seed: number): (() => number) => mulberry32(seed);

export function randn(shape: Shape, r: () => number, scale = 1): CpuTensor {
  const data = new Float32Array(numel(shape));
  for (let i = 0; i < data.length; i++) data[i] = (r() * 2 - 1) * scale;
  return { shape, data };
}

export interface OpInput {
  /** A runtime tensor, or a constant known at plan time (weights may be either). */
  tensor?: CpuTensor;
  konst?: Const;
  omitted?: boolean;
}

export function prepare(spec: OpSpec, node: Node, inputs: OpInput[], opset = 17): Prepared<unknown> {
  return spec.prepare({
    node, opset,
    shapes: inputs.map((i) => (i.omitted ? undefined : i.tensor?.shape ?? i.konst!.dims)),
    consts: inputs.map((i) => i.konst),
    dtypes: inputs.map((i) => (i.omitted ? undefined : i.konst?.dtype ?? 'float32')),
  });
}

function runtimeInputs(p: Prepared<unknown>, inputs: OpInput[]): (CpuTensor | undefined)[] {
  return inputs.map((inp, i) => {
    if (inp.omitted || p.staticInputs?.includes(i)) return undefined;
    if (inp.tensor) return inp.tensor;
    const k = inp.konst!;
    return { shape: k.dims, data: Float32Array.from(k.data) };
  });
}

export function runCpu(spec: OpSpec, node: Node, inputs: OpInput[], opset = 17): CpuTensor[] {
  const p = prepare(spec, node, inputs, opset);
  if (p.alias !== undefined) return [{ shape: p.shapes[0], data: runtimeInputs(p, inputs)[p.alias]!.data }];
  const outs = spec.cpu(p.params, runtimeInputs(p, inputs), p.shapes);
  return outs.map((data, i) => ({ shape: p.shapes[i], data }));
}

export async function runGpu(spec: OpSpec, node: Node, inputs: OpInput[], opset = 17): Promise<CpuTensor[]> {
  const g = await getGpu();
  const p = prepare(spec, node, inputs, opset);
  const ins = runtimeInputs(p, inputs).map((t) => (t ? g.upload(t.data, t.shape) : undefined));
  if (p.alias !== undefined) {
    const data = await g.read(ins[p.alias]!);
    return [{ shape: p.shapes[0], data }];
  }
  const outs = p.shapes.map((s) => g.alloc(s));
  // Poison outputs so an unwritten element shows up as NaN.
  outs.forEach((o) => g.write(o, new Float32Array(numel(o.shape)).fill(NaN)));
  spec.gpu(g, p.params, ins, outs);
  const res: CpuTensor[] = [];
  for (const o of outs) res.push({ shape: o.shape, data: await g.read(o) });
  ins.forEach((t) => t && g.release(t));
  outs.forEach((o) => g.release(o));
  return res;
}

/** max |a-b| and relative L2 ‖a-b‖/‖b‖; NaN anywhere gives Infinity. */
export function diff(a: Float32Array, b: Float32Array): { maxAbs: number; relL2: number } {
  if (a.length !== b.length) throw new Error(`length mismatch ${a.length} vs ${b.length}`);
  let m = 0, num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - b[i];
    if (!Number.isFinite(d)) return { maxAbs: Infinity, relL2: Infinity };
    m = Math.max(m, Math.abs(d));
    num += d * d;
    den += b[i] * b[i];
  }
  return { maxAbs: m, relL2: den > 0 ? Math.sqrt(num / den) : Math.sqrt(num) };
}

export async function gpu(): Promise<Gpu> {
  return getGpu();
}
