// TensorProto decoding in every storage form ONNX writers use, and the loader's graph handling.
import { describe, it, expect } from 'vitest';
import { tensorFromProto, parseModel } from '../src/io/onnx.js';
import { OnnxBuilder } from '../tools/onnx-builder.js';

const le = (arr: Float32Array | Float64Array | BigInt64Array | Int32Array) => new Uint8Array(arr.buffer);

describe('TensorProto storage forms', () => {
  it('raw_data for float32, float64, int64, int32, uint8, bool, float16', () => {
    expect(Array.from(tensorFromProto({ dims: [2], data_type: 1, raw_data: le(Float32Array.from([1.5, -2])) }, null, 't').data)).toEqual([1.5, -2]);
    expect(Array.from(tensorFromProto({ dims: [2], data_type: 11, raw_data: le(Float64Array.from([0.25, 3])) }, null, 't').data)).toEqual([0.25, 3]);
    const i64 = tensorFromProto({ dims: [3], data_type: 7, raw_data: le(BigInt64Array.from([1n, -5n, 9007199254740991n])) }, null, 't');
    expect(i64.dtype).toBe('int64');
    expect(Array.from(i64.data)).toEqual([1, -5, 9007199254740991]);
    expect(Array.from(tensorFromProto({ dims: [2], data_type: 6, raw_data: le(Int32Array.from([7, -8])) }, null, 't').data)).toEqual([7, -8]);
    expect(Array.from(tensorFromProto({ dims: [3], data_type: 2, raw_data: Uint8Array.from([0, 128, 255]) }, null, 't').data)).toEqual([0, 128, 255]);
    expect(Array.from(tensorFromProto({ dims: [2], data_type: 9, raw_data: Uint8Array.from([1, 0]) }, null, 't').data)).toEqual([1, 0]);
    expect(Array.from(tensorFromProto({ dims: [2], data_type: 10, raw_data: new Uint8Array(new Uint16Array([0x3c00, 0xc400]).buffer) }, null, 't').data)).toEqual([1, -4]);
  });

  it('typed fields: float_data, double_data, int32_data, int64_data (numbers and Long objects)', () => {
    expect(Array.from(tensorFromProto({ dims: [2, 1], data_type: 1, float_data: [0.5, 2] }, null, 't').data)).toEqual([0.5, 2]);
    expect(Array.from(tensorFromProto({ dims: [1], data_type: 11, double_data: [1e-3] }, null, 't').data)).toEqual([1e-3]);
    expect(Array.from(tensorFromProto({ dims: [2], data_type: 6, int32_data: [3, -1] }, null, 't').data)).toEqual([3, -1]);
    expect(Array.from(tensorFromProto({ dims: [2], data_type: 3, int32_data: [-128, 127] }, null, 't').data)).toEqual([-128, 127]);
    const long = { low: 0xffffffff, high: -1, toNumber: () => -1 };
    expect(Array.from(tensorFromProto({ dims: [2], data_type: 7, int64_data: [42, long] }, null, 't').data)).toEqual([42, -1]);
    expect(tensorFromProto({ dims: [], data_type: 1, float_data: [3] }, null, 't').dims).toEqual([]);
  });

  it('errors name the tensor and what is wrong', () => {
    expect(() => tensorFromProto({ dims: [3], data_type: 1, float_data: [1, 2] }, null, 'init w')).toThrow(/init w: holds 2 values, expected 3/);
    expect(() => tensorFromProto({ dims: [2], data_type: 1, raw_data: new Uint8Array(7) }, null, 'init w')).toThrow(/holds 7 bytes of float32 data, expected 8/);
    expect(() => tensorFromProto({ dims: [1], data_type: 16, raw_data: new Uint8Array(2) }, null, 'init b')).toThrow(/bfloat16/);
    expect(() => tensorFromProto({ dims: [1], data_type: 1, data_location: 1, external_data: [{ key: 'location', value: 'w.bin' }] }, null, 'init e')).toThrow(/cannot be resolved/);
  });
});

describe('graphs', () => {
  it('graph inputs that are also initializers (old exports) are weights, not inputs; empty node names get op_index names', () => {
    const b = new OnnxBuilder({ seed: 1 });
    const x = b.input('input', [1, 2, 4, 4]);
    const w = b.initializer('w', [2, 2, 1, 1], [1, 0, 0, 1]);
    b.input('w', [2, 2, 1, 1]); // old exporters list initializers among the inputs
    const [y] = b.node('Conv', [x, w], {}, [[1, 2, 4, 4]], '');
    b.output(y, 'out');
    const m = parseModel(b.toBytes(), 'old.onnx', null);
    expect(m.graph.inputs.map((i) => i.name)).toEqual(['input']);
    expect(m.graph.initializers.has('w')).toBe(true);
    expect(m.graph.nodes[0].name).toBe('Conv_0');
  });
});
