// NumPy .npy files: read v1–v3 headers (little-endian f4/f8/f2/i4/i8/u1/i1/b1, C order), write v1
// (float32 by default; integer and bool dtypes for tests and tools).
import { readFileSync } from 'node:fs';
import { InputError } from '../errors.js';
import { writeFileAtomic } from './atomic.js';
import { MAX_ELEMENTS } from '../graph/tensor.js';
import { halfToFloat } from '../graph/tensor.js';

export interface NpyArray {
  shape: number[];
  /** Values converted to float32. */
  data: Float32Array;
  dtype: string;
  /**
   * Integer and bool dtypes only: the values exactly (int64 read as BigInt). Beyond ±2^53, where a
   * float64 stops being exact, a value is clamped to ±2^53 (ONNX spells "to the end" INT64_MAX,
   * e.g. Slice's ends: any value past every dimension means the same); `clamped` counts them.
   */
  ints?: { data: Float64Array; clamped: number };
}

/** The largest magnitude an integer input keeps exactly (float64's 2^53). */
export const INT_EXACT = 2 ** 53;

const INT_DESCRS = new Set(['<i8', '<i4', '<u4', '<i2', '<u2', '|u1', '|i1', '|b1']);

export function parseNpy(buf: Uint8Array, name = '<npy>'): NpyArray {
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];
  if (buf.length < 10 || magic.some((b, i) => buf[i] !== b)) throw new InputError(`${name}: not a .npy file (bad magic)`);
  const major = buf[6];
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let headerLen: number, start: number;
  if (major === 1) { headerLen = dv.getUint16(8, true); start = 10; }
  else if (major === 2 || major === 3) { headerLen = dv.getUint32(8, true); start = 12; }
  else throw new InputError(`${name}: unsupported .npy version ${major}`);
  if (start + headerLen > buf.length) throw new InputError(`${name}: truncated .npy header`);
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(buf.subarray(start, start + headerLen));
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeTxt = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || !fortran || shapeTxt === undefined) throw new InputError(`${name}: malformed .npy header`);
  if (fortran === 'True') throw new InputError(`${name}: Fortran-ordered arrays are not supported; save with np.ascontiguousarray`);
  const dimTxt = shapeTxt.split(',').map((s) => s.trim()).filter((s) => s.length);
  const bad = dimTxt.find((s) => !/^\d+L?$/.test(s));
  if (bad !== undefined) throw new InputError(`${name}: invalid dimension '${bad}' in the .npy shape (${shapeTxt.trim()}); dimensions are non-negative integers`);
  const shape = dimTxt.map((s) => Number(s.replace(/L$/, '')));
  const count = shape.reduce((a, b) => a * b, 1);
  if (!Number.isSafeInteger(count) || count > MAX_ELEMENTS) {
    throw new InputError(`${name}: the .npy shape (${shape.join(', ')}) has ${count} elements, more than the 2^31-1 this engine supports`);
  }
  const kinds: Record<string, [number, (o: number) => number]> = {
    '<f4': [4, (o) => dv.getFloat32(o, true)], '<f8': [8, (o) => dv.getFloat64(o, true)],
    '<i4': [4, (o) => dv.getInt32(o, true)], '<i8': [8, (o) => Number(dv.getBigInt64(o, true))],
    '<u4': [4, (o) => dv.getUint32(o, true)], '<i2': [2, (o) => dv.getInt16(o, true)], '<u2': [2, (o) => dv.getUint16(o, true)],
    '|u1': [1, (o) => dv.getUint8(o)], '|i1': [1, (o) => dv.getInt8(o)], '|b1': [1, (o) => dv.getUint8(o)],
    '<f2': [2, (o) => halfToFloat(dv.getUint16(o, true))],
  };
  const k = kinds[descr] ?? kinds[descr.replace('=', '<')];
  if (!k) throw new InputError(`${name}: unsupported dtype '${descr}' (supported: little-endian f2/f4/f8, i1/i2/i4/i8, u1/u2/u4, bool)`);
  const body = start + headerLen;
  if (buf.length - body < count * k[0]) throw new InputError(`${name}: truncated data (${buf.length - body} bytes for ${count} × ${descr})`);
  const data = new Float32Array(count);
  for (let i = 0; i < count; i++) data[i] = k[1](body + i * k[0]);
  const norm = kinds[descr] ? descr : descr.replace('=', '<');
  if (!INT_DESCRS.has(norm)) return { shape, data, dtype: descr };
  const ints = new Float64Array(count);
  let clamped = 0;
  for (let i = 0; i < count; i++) {
    const o = body + i * k[0];
    if (norm === '<i8') {
      const b = dv.getBigInt64(o, true);
      const lim = BigInt(INT_EXACT);
      if (b > lim || b < -lim) { clamped++; ints[i] = b > 0n ? INT_EXACT : -INT_EXACT; }
      else ints[i] = Number(b);
    } else {
      ints[i] = norm === '|b1' ? (dv.getUint8(o) ? 1 : 0) : k[1](o);
    }
  }
  return { shape, data, dtype: descr, ints: { data: ints, clamped } };
}

export function readNpy(path: string): NpyArray {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    throw new InputError(`${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return parseNpy(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength), path);
}

/** The dtypes encodeNpy writes. */
export type NpyDescr = '<f4' | '<f8' | '<i8' | '<i4' | '<i2' | '|i1' | '|u1' | '|b1';

const INT64_MAX = 2n ** 63n - 1n;

/** Writers per dtype; integers are rounded, and int64 values past its range saturate (2^63 → INT64_MAX). */
const WRITERS: Record<NpyDescr, [number, (dv: DataView, o: number, v: number) => void]> = {
  '<f4': [4, (dv, o, v) => dv.setFloat32(o, v, true)],
  '<f8': [8, (dv, o, v) => dv.setFloat64(o, v, true)],
  '<i8': [8, (dv, o, v) => {
    const b = BigInt(Math.round(v));
    dv.setBigInt64(o, b > INT64_MAX ? INT64_MAX : b < -INT64_MAX - 1n ? -INT64_MAX - 1n : b, true);
  }],
  '<i4': [4, (dv, o, v) => dv.setInt32(o, Math.round(v), true)],
  '<i2': [2, (dv, o, v) => dv.setInt16(o, Math.round(v), true)],
  '|i1': [1, (dv, o, v) => dv.setInt8(o, Math.round(v))],
  '|u1': [1, (dv, o, v) => dv.setUint8(o, Math.round(v))],
  '|b1': [1, (dv, o, v) => dv.setUint8(o, v ? 1 : 0)],
};

export function encodeNpy(shape: readonly number[], data: ArrayLike<number>, descr: NpyDescr = '<f4'): Uint8Array {
  const w = WRITERS[descr];
  if (!w) throw new Error(`internal: encodeNpy cannot write dtype '${descr}'`);
  const shp = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shp}, }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const out = new Uint8Array(10 + header.length + data.length * w[0]);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  const dv = new DataView(out.buffer, 10 + header.length);
  for (let i = 0; i < data.length; i++) w[1](dv, i * w[0], data[i]);
  return out;
}

export function writeNpy(path: string, shape: readonly number[], data: Float32Array): void {
  writeFileAtomic(path, encodeNpy(shape, data));
}
