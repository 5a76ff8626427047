// NumPy .npy files: read v1–v3 headers (little-endian f4/f8/f2/i4/i8/u1/i1/b1, C order), write v1 float32.
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
}

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
  return { shape, data, dtype: descr };
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

export function encodeNpy(shape: readonly number[], data: Float32Array): Uint8Array {
  const shp = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': ${shp}, }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const out = new Uint8Array(10 + header.length + data.length * 4);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  const dv = new DataView(out.buffer, 10 + header.length);
  for (let i = 0; i < data.length; i++) dv.setFloat32(i * 4, data[i], true);
  return out;
}

export function writeNpy(path: string, shape: readonly number[], data: Float32Array): void {
  writeFileAtomic(path, encodeNpy(shape, data));
}
