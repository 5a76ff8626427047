// Tensors as the IR sees them. Everything that flows at run time is float32; integer tensors only
// exist as constants (shapes, axes, indices), which are folded before the graph runs.

export type DType = 'float32' | 'float64' | 'float16' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'uint16' | 'uint32' | 'uint64' | 'bool' | 'string';

/** A constant tensor known when the graph is planned. Integer data is held as float64 (exact to 2^53). */
export interface Const {
  dtype: DType;
  dims: number[];
  data: Float32Array | Float64Array;
}

export type Shape = number[];

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

export function isFloatDType(d: DType): boolean {
  return d === 'float32' || d === 'float64' || d === 'float16';
}

export function constOf(dtype: DType, dims: number[], values: ArrayLike<number>): Const {
  const data = dtype === 'float32' ? Float32Array.from(values) : Float64Array.from(values);
  return { dtype, dims, data };
}

export function scalarValue(c: Const): number {
  if (c.data.length !== 1) throw new Error(`expected a scalar, got shape [${c.dims.join(',')}]`);
  return c.data[0];
}

export function fmtShape(s: readonly (number | string)[]): string {
  return `[${s.join('×')}]`;
}

/** Largest element count we allow for a single tensor: indices are 32-bit on the GPU. */
export const MAX_ELEMENTS = 2 ** 31 - 1;

/** IEEE half-precision bits to a number. */
export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}
