import { describe, it, expect } from 'vitest';
import { encodeNpy, parseNpy } from '../src/io/npy.js';

function npy(descr: string, shape: string, body: Uint8Array, major = 1): Uint8Array {
  let h = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  const pre = major === 1 ? 10 : 12;
  h += ' '.repeat((64 - ((pre + h.length + 1) % 64)) % 64) + '\n';
  const out = new Uint8Array(pre + h.length + body.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, 0]);
  const dv = new DataView(out.buffer);
  if (major === 1) dv.setUint16(8, h.length, true); else dv.setUint32(8, h.length, true);
  out.set(new TextEncoder().encode(h), pre);
  out.set(body, pre + h.length);
  return out;
}

describe('.npy', () => {
  it('round-trips float32 v1 with 64-byte aligned header', () => {
    const data = Float32Array.from([1.5, -2, 3.25, 0, 1e-8, 7]);
    const bytes = encodeNpy([2, 3], data);
    expect((bytes.length - data.length * 4) % 64).toBe(0);
    const a = parseNpy(bytes);
    expect(a.shape).toEqual([2, 3]);
    expect(Array.from(a.data)).toEqual(Array.from(data));
    expect(parseNpy(encodeNpy([4], new Float32Array(4))).shape).toEqual([4]);
    expect(parseNpy(encodeNpy([], new Float32Array(1))).shape).toEqual([]);
  });

  it('reads f8, i8, u1, f2 and v2/v3 headers, converting to float32', () => {
    const f8 = new Float64Array([0.5, -1.25]);
    expect(Array.from(parseNpy(npy('<f8', '(2,)', new Uint8Array(f8.buffer))).data)).toEqual([0.5, -1.25]);
    const i8 = new BigInt64Array([3n, -4n]);
    expect(Array.from(parseNpy(npy('<i8', '(1, 2)', new Uint8Array(i8.buffer)), 'x').data)).toEqual([3, -4]);
    expect(Array.from(parseNpy(npy('|u1', '(3,)', Uint8Array.from([0, 128, 255]), 2)).data)).toEqual([0, 128, 255]);
    expect(Array.from(parseNpy(npy('<f2', '(2,)', new Uint8Array(new Uint16Array([0x3c00, 0xc000]).buffer), 3)).data)).toEqual([1, -2]);
  });

  it('rejects what it cannot read, naming the file', () => {
    expect(() => parseNpy(npy('>f4', '(1,)', new Uint8Array(4)), 'big.npy')).toThrow(/big\.npy: unsupported dtype '>f4'/);
    expect(() => parseNpy(npy('<f4', '(4,)', new Uint8Array(8)), 't.npy')).toThrow(/t\.npy: truncated data/);
    expect(() => parseNpy(new TextEncoder().encode('hello world!'), 'h.npy')).toThrow(/not a \.npy file/);
    const fortran = new TextDecoder('latin1').decode(npy('<f4', '(1,)', new Uint8Array(4))).replace('False', 'True ');
    expect(() => parseNpy(Uint8Array.from(fortran, (c) => c.charCodeAt(0)), 'f.npy')).toThrow(/Fortran/);
  });
});
