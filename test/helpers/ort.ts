// onnxruntime-node (CPU execution provider) as the reference implementation for model-level tests.
import * as ort from 'onnxruntime-node';

export interface OrtTensor { shape: number[]; data: Float32Array }

/** Run a model (file path or bytes) once on float32 feeds; every output comes back as float32. */
export async function runOrt(model: string | Uint8Array, feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>> {
  const opts: ort.InferenceSession.SessionOptions = { executionProviders: ['cpu'], graphOptimizationLevel: 'all' };
  const session = typeof model === 'string' ? await ort.InferenceSession.create(model, opts) : await ort.InferenceSession.create(model, opts);
  try {
    const inputs: Record<string, ort.Tensor> = {};
    for (const [name, t] of Object.entries(feeds)) inputs[name] = new ort.Tensor('float32', t.data, t.shape);
    const outs = await session.run(inputs);
    const result: Record<string, OrtTensor> = {};
    for (const [name, t] of Object.entries(outs)) {
      result[name] = { shape: [...t.dims], data: t.data instanceof Float32Array ? t.data : Float32Array.from(t.data as ArrayLike<number>) };
    }
    return result;
  } finally {
    await session.release();
  }
}
