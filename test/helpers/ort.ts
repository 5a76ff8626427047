// onnxruntime-node (CPU execution provider) as the reference implementation for model-level tests.
import * as ort from 'onnxruntime-node';
import protobuf from 'protobufjs';
import { readFileSync } from 'node:fs';
import onnxProto from '../../src/io/onnx.proto';

export interface OrtTensor { shape: number[]; data: Float32Array }

function toFloat32(t: ort.Tensor): Float32Array {
  const d = t.data;
  if (d instanceof Float32Array) return d;
  if (d instanceof BigInt64Array || d instanceof BigUint64Array) return Float32Array.from(d, Number);
  return Float32Array.from(d as ArrayLike<number>);
}

/** Run a model (file path or bytes) once on float32 feeds; every output comes back as float32. */
export async function runOrt(model: string | Uint8Array, feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>> {
  const opts: ort.InferenceSession.SessionOptions = { executionProviders: ['cpu'], graphOptimizationLevel: 'all' };
  const session = typeof model === 'string' ? await ort.InferenceSession.create(model, opts) : await ort.InferenceSession.create(model, opts);
  try {
    const inputs: Record<string, ort.Tensor> = {};
    for (const [name, t] of Object.entries(feeds)) inputs[name] = new ort.Tensor('float32', t.data, t.shape);
    const outs = await session.run(inputs);
    const result: Record<string, OrtTensor> = {};
    for (const [name, t] of Object.entries(outs)) result[name] = { shape: [...t.dims], data: toFloat32(t) };
    return result;
  } finally {
    await session.release();
  }
}

let modelType: protobuf.Type | null = null;

/**
 * Run with every node output promoted to a graph output (optimisations off, so nothing is fused
 * away): the reference for finding the first layer where the engine diverges. Models with
 * external data must be passed by path from their own folder; this variant is bytes-only.
 */
export async function runOrtAllOutputs(model: string | Uint8Array, feeds: Record<string, OrtTensor>): Promise<{ order: string[]; values: Record<string, OrtTensor> }> {
  modelType ??= protobuf.parse(onnxProto, { keepCase: true }).root.lookupType('onnx.ModelProto');
  const bytes = typeof model === 'string' ? new Uint8Array(readFileSync(model)) : model;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const m = modelType.decode(bytes) as any;
  const have = new Set<string>(m.graph.output.map((o: { name: string }) => o.name));
  const order: string[] = [];
  for (const n of m.graph.node) {
    for (const o of n.output as string[]) {
      if (!o) continue;
      order.push(o);
      // No declared type: onnxruntime takes the inferred one (some outputs are int64 shapes).
      if (!have.has(o)) m.graph.output.push({ name: o });
      have.add(o);
    }
  }
  const patched = modelType.encode(m).finish();
  const session = await ort.InferenceSession.create(patched, { executionProviders: ['cpu'], graphOptimizationLevel: 'disabled' });
  try {
    const inputs: Record<string, ort.Tensor> = {};
    for (const [name, t] of Object.entries(feeds)) inputs[name] = new ort.Tensor('float32', t.data, t.shape);
    const outs = await session.run(inputs);
    const values: Record<string, OrtTensor> = {};
    for (const [name, t] of Object.entries(outs)) values[name] = { shape: [...t.dims], data: toFloat32(t) };
    return { order, values };
  } finally {
    await session.release();
  }
}
