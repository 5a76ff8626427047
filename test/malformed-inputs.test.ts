// A corpus of malformed images and .npy files: truncated, lying headers, decompression bombs, odd
// bit depths and colour types. Each is decoded (success) or refused with a typed error — never an
// internal one — quickly and without allocating what its header claims.
import { describe, it, expect, beforeAll } from 'vitest';
import { deflateSync } from 'node:zlib';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import jpeg from 'jpeg-js';
import { decodeImage, declaredSize, MAX_IMAGE_PIXELS } from '../src/io/image.js';
import { parseNpy, encodeNpy } from '../src/io/npy.js';
import { AeqError, BudgetError } from '../src/errors.js';
import { PNG_SIGNATURE, ihdr, pngChunk } from './helpers/png.js';
import { aeq, errorLines } from './helpers/cli.js';

type Result = { kind: 'ok' | 'typed' | 'internal'; error?: string; message?: string; ms: number };

function attempt(f: () => unknown): Result {
  const t0 = performance.now();
  try {
    f();
    return { kind: 'ok', ms: performance.now() - t0 };
  } catch (e) {
    const err = e as Error;
    return { kind: e instanceof AeqError ? 'typed' : 'internal', error: err.name, message: err.message, ms: performance.now() - t0 };
  }
}

// ---------------------------------------------------------------------------------------------
// PNG

const IEND = pngChunk('IEND', Buffer.alloc(0));

/** A PNG of w×h whose scanlines are `bytesPerRow` bytes each (filter byte added), IDAT deflated. */
function png(w: number, h: number, bitDepth: number, colorType: number, bytesPerRow: number, o: { plte?: number; interlace?: number; rows?: number } = {}): Buffer {
  const rows = o.rows ?? h;
  const raw = Buffer.alloc(rows * (bytesPerRow + 1));
  for (let y = 0; y < rows; y++) for (let x = 0; x < bytesPerRow; x++) raw[y * (bytesPerRow + 1) + 1 + x] = (x * 7 + y * 13) & 0xff;
  const chunks = [PNG_SIGNATURE, ihdr(w, h, bitDepth, colorType, o.interlace ?? 0)];
  if (o.plte) chunks.push(pngChunk('PLTE', Buffer.alloc(o.plte * 3, 0x80)));
  chunks.push(pngChunk('IDAT', deflateSync(raw)), IEND);
  return Buffer.concat(chunks);
}

const validPngs: Record<string, Buffer> = {
  'rgb8': png(8, 6, 8, 2, 24),
  'rgba8': png(8, 6, 8, 6, 32),
  'rgb16': png(8, 6, 16, 2, 48),
  'rgba16': png(5, 3, 16, 6, 40),
  'grey1': png(9, 4, 1, 0, 2),
  'grey2': png(9, 4, 2, 0, 3),
  'grey4': png(9, 4, 4, 0, 5),
  'grey8': png(9, 4, 8, 0, 9),
  'grey16': png(9, 4, 16, 0, 18),
  'grey-alpha8': png(4, 4, 8, 4, 8),
  'palette1': png(10, 3, 1, 3, 2, { plte: 2 }),
  'palette4': png(10, 3, 4, 3, 5, { plte: 16 }),
  'palette8': png(10, 3, 8, 3, 10, { plte: 256 }),
};

function malformedPngs(): Record<string, { bytes: Buffer; budget?: boolean }> {
  const base = validPngs.rgb8;
  const out: Record<string, { bytes: Buffer; budget?: boolean }> = {};
  for (const k of [8, 12, 16, 20, 29, 33, 40, base.length - 20, base.length - 12, base.length - 1]) out[`truncated at ${k}`] = { bytes: base.subarray(0, k) };
  out['IHDR lies: 100×100, data for 8×6'] = { bytes: Buffer.concat([PNG_SIGNATURE, ihdr(100, 100), base.subarray(33)]) };
  out['IHDR lies: 30000×30000 (74-byte bomb)'] = { bytes: Buffer.concat([PNG_SIGNATURE, ihdr(30000, 30000), pngChunk('IDAT', deflateSync(Buffer.alloc(4))), IEND]), budget: true };
  out['IHDR 2^31×2'] = { bytes: Buffer.concat([PNG_SIGNATURE, ihdr(2 ** 31, 2), base.subarray(33)]), budget: true };
  out['IHDR 0×0'] = { bytes: Buffer.concat([PNG_SIGNATURE, ihdr(0, 0), base.subarray(33)]) };
  out['bit depth 3'] = { bytes: png(8, 6, 3, 2, 9) };
  out['colour type 5'] = { bytes: png(8, 6, 8, 5, 24) };
  out['colour type 7'] = { bytes: png(8, 6, 8, 7, 24) };
  out['palette of 16 bits'] = { bytes: png(8, 6, 16, 3, 16, { plte: 4 }) };
  out['RGB of 4 bits'] = { bytes: png(8, 6, 4, 2, 12) };
  out['palette without PLTE'] = { bytes: png(10, 3, 8, 3, 10) };
  out['interlace flag 2'] = { bytes: png(8, 6, 8, 2, 24, { interlace: 2 }) };
  out['interlace flag on non-interlaced data'] = { bytes: png(8, 6, 8, 2, 24, { interlace: 1 }) };
  out['too few rows'] = { bytes: png(8, 6, 8, 2, 24, { rows: 2 }) };
  out['too many rows'] = { bytes: png(8, 6, 8, 2, 24, { rows: 60 }) };
  const badCrc = Buffer.from(base);
  badCrc[29] ^= 0xff;
  out['IHDR CRC mismatch'] = { bytes: badCrc };
  out['no IEND'] = { bytes: base.subarray(0, base.length - 12) };
  out['IDAT not deflate'] = { bytes: Buffer.concat([PNG_SIGNATURE, ihdr(8, 6), pngChunk('IDAT', Buffer.from('not zlib at all')), IEND]) };
  // Decompression bombs: a tiny file that inflates to far more than the header's image.
  out['bomb: 100×100 header, IDAT inflating to 64 MiB'] = { bytes: Buffer.concat([PNG_SIGNATURE, ihdr(100, 100), pngChunk('IDAT', deflateSync(Buffer.alloc(64 * 2 ** 20), { level: 9 })), IEND]) };
  out['bomb: 20000×20000 zeros'] = { bytes: Buffer.concat([PNG_SIGNATURE, ihdr(20000, 20000), pngChunk('IDAT', deflateSync(Buffer.alloc(2 ** 20))), IEND]), budget: true };
  out['chunk length 2^31'] = { bytes: Buffer.concat([PNG_SIGNATURE, ihdr(8, 6), Buffer.from([0x7f, 0xff, 0xff, 0xff, 0x49, 0x44, 0x41, 0x54, 1, 2, 3])]) };
  out['only the signature'] = { bytes: PNG_SIGNATURE };
  out['IHDR is not first'] = { bytes: Buffer.concat([PNG_SIGNATURE, pngChunk('tEXt', Buffer.from('a\0b')), ihdr(30000, 30000), IEND]) };
  return out;
}

// ---------------------------------------------------------------------------------------------
// JPEG

function validJpeg(w = 16, h = 12): Buffer {
  const data = Buffer.alloc(w * h * 4);
  for (let i = 0; i < data.length; i++) data[i] = (i * 31) & 0xff;
  return Buffer.from(jpeg.encode({ data, width: w, height: h }, 80).data);
}

/** The offset of the first SOF0 marker's height field. */
function sofOffset(b: Buffer): number {
  for (let i = 2; i < b.length - 1; i++) if (b[i] === 0xff && b[i + 1] === 0xc0) return i + 5;
  throw new Error('no SOF0');
}

function malformedJpegs(): Record<string, { bytes: Buffer; budget?: boolean }> {
  const base = validJpeg();
  const sof = sofOffset(base);
  const out: Record<string, { bytes: Buffer; budget?: boolean }> = {};
  for (const k of [3, 4, 10, sof, sof + 4, Math.floor(base.length / 2), base.length - 2]) out[`truncated at ${k}`] = { bytes: base.subarray(0, k) };
  const huge = Buffer.from(base);
  huge.writeUInt16BE(65535, sof);
  huge.writeUInt16BE(65535, sof + 2);
  out['SOF declares 65535×65535'] = { bytes: huge, budget: true };
  const zero = Buffer.from(base);
  zero.writeUInt16BE(0, sof + 2);
  out['SOF declares width 0'] = { bytes: zero };
  const lie = Buffer.from(base);
  lie.writeUInt16BE(1500, sof);
  lie.writeUInt16BE(1500, sof + 2);
  out['SOF lies: 1500×1500, data for 16×12'] = { bytes: lie };
  const arith = Buffer.from(base);
  arith[sof - 4] = 0xc9;
  out['arithmetic coding (SOF9)'] = { bytes: arith };
  out['junk after SOI'] = { bytes: Buffer.concat([Buffer.from([0xff, 0xd8, 0xff]), Buffer.from('junk junk junk junk')]) };
  const longSeg = Buffer.from(base);
  longSeg.writeUInt16BE(0xffff, 4);
  out['segment length past the end'] = { bytes: longSeg };
  const comps = Buffer.from(base);
  comps[sof + 4] = 0;
  out['zero components'] = { bytes: comps };
  return out;
}

// ---------------------------------------------------------------------------------------------
// .npy

function npyWithHeader(header: string, body: Uint8Array, major = 1): Buffer {
  const pre = major === 1 ? 10 : 12;
  let h = header;
  h += ' '.repeat((64 - ((pre + h.length + 1) % 64)) % 64) + '\n';
  const out = Buffer.alloc(pre + h.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, 0]);
  if (major === 1) out.writeUInt16LE(h.length, 8);
  else out.writeUInt32LE(Buffer.byteLength(h, major === 3 ? 'utf8' : 'latin1'), 8);
  out.write(h, pre, major === 3 ? 'utf8' : 'latin1');
  return Buffer.concat([out, body]);
}

const f4 = (n: number) => new Uint8Array(new Float32Array(n).fill(1.5).buffer);
const hdr = (shape: string, descr = '<f4', fortran = 'False') => `{'descr': '${descr}', 'fortran_order': ${fortran}, 'shape': ${shape}, }`;

const validNpys: Record<string, { bytes: Buffer; shape: number[] }> = {
  'f4 1×3×2×2': { bytes: Buffer.from(encodeNpy([1, 3, 2, 2], new Float32Array(12))), shape: [1, 3, 2, 2] },
  'scalar ()': { bytes: npyWithHeader(hdr('()'), f4(1)), shape: [] },
  'zero size (0, 3)': { bytes: npyWithHeader(hdr('(0, 3)'), new Uint8Array(0)), shape: [0, 3] },
  'trailing comma (3,)': { bytes: npyWithHeader(hdr('(3,)'), f4(3)), shape: [3] },
  'v2 header': { bytes: npyWithHeader(hdr('(2, 2)'), f4(4), 2), shape: [2, 2] },
  'v3 utf-8 header': { bytes: npyWithHeader(hdr('(2,)'), f4(2), 3), shape: [2] },
  'u1': { bytes: npyWithHeader(hdr('(4,)', '|u1'), new Uint8Array(4)), shape: [4] },
  'f8': { bytes: npyWithHeader(hdr('(2,)', '<f8'), new Uint8Array(16)), shape: [2] },
};

function malformedNpys(): Record<string, Buffer> {
  const ok = validNpys['f4 1×3×2×2'].bytes;
  const out: Record<string, Buffer> = {
    'negative dimension': npyWithHeader(hdr('(-1, 3)'), f4(3)),
    'non-integer dimension': npyWithHeader(hdr('(2.5, 2)'), f4(5)),
    'None dimension': npyWithHeader(hdr('(None, 2)'), f4(2)),
    'huge dimensions (10^10 × 10^10)': npyWithHeader(hdr('(10000000000, 10000000000)'), f4(4)),
    '2^31 elements declared, 16 bytes given': npyWithHeader(hdr('(2147483648,)'), f4(4)),
    'dimension 1e400': npyWithHeader(hdr('(1e400,)'), f4(1)),
    'no shape': npyWithHeader(`{'descr': '<f4', 'fortran_order': False, }`, f4(1)),
    'no descr': npyWithHeader(`{'fortran_order': False, 'shape': (1,), }`, f4(1)),
    'big-endian >f4': npyWithHeader(hdr('(2,)', '>f4'), f4(2)),
    'complex <c8': npyWithHeader(hdr('(2,)', '<c8'), f4(4)),
    'object dtype': npyWithHeader(hdr('(2,)', '|O'), f4(2)),
    'fortran order': npyWithHeader(hdr('(2, 2)', '<f4', 'True'), f4(4)),
    'truncated data': npyWithHeader(hdr('(100,)'), f4(10)),
    'header length past the end': (() => { const b = Buffer.from(ok); b.writeUInt16LE(60000, 8); return b; })(),
    'version 4': (() => { const b = Buffer.from(ok); b[6] = 4; return b; })(),
    'bad magic': (() => { const b = Buffer.from(ok); b[1] = 0x41; return b; })(),
    'only the magic': ok.subarray(0, 8),
    'empty file': Buffer.alloc(0),
    'v2 header length 2^32-1': (() => { const b = npyWithHeader(hdr('(2,)'), f4(2), 2); b.writeUInt32LE(0xffffffff, 8); return b; })(),
  };
  return out;
}

// ---------------------------------------------------------------------------------------------

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'aeq-malformed-'));
  return () => rmSync(dir, { recursive: true, force: true });
});

describe('malformed images', () => {
  it('valid PNGs of every bit depth and colour type decode', () => {
    for (const [name, bytes] of Object.entries(validPngs)) {
      const r = attempt(() => decodeImage(bytes, name));
      expect(r, name).toMatchObject({ kind: 'ok' });
    }
    const img = decodeImage(validPngs.palette8, 'p8');
    expect([img.width, img.height, img.rgb.length]).toEqual([10, 3, 90]);
  });

  it('malformed PNGs: decoded or refused with a typed error, fast; bombs refused before decoding', () => {
    for (const [name, c] of Object.entries(malformedPngs())) {
      const r = attempt(() => decodeImage(c.bytes, name));
      expect(r.kind, `${name}: ${r.error} ${r.message}`).not.toBe('internal');
      expect(r.ms, name).toBeLessThan(3000);
      if (c.budget) expect(r.error, `${name}: ${r.message}`).toBe('BudgetError');
    }
  });

  it('JPEGs: a valid one decodes; malformed ones are refused with a typed error', () => {
    expect(attempt(() => decodeImage(validJpeg(), 'ok.jpg'))).toMatchObject({ kind: 'ok' });
    expect(declaredSize(validJpeg(16, 12))).toEqual({ width: 16, height: 12 });
    for (const [name, c] of Object.entries(malformedJpegs())) {
      const r = attempt(() => decodeImage(c.bytes, name));
      expect(r.kind, `${name}: ${r.error} ${r.message}`).not.toBe('internal');
      expect(r.ms, name).toBeLessThan(3000);
      if (c.budget) expect(r.error, `${name}: ${r.message}`).toBe('BudgetError');
    }
  });

  it('the pixel budget is configurable and checked against the declared size', () => {
    expect(() => decodeImage(validPngs.rgb8, 'small', 47)).toThrow(BudgetError);
    expect(() => decodeImage(validPngs.rgb8, 'small', 48)).not.toThrow();
    expect(MAX_IMAGE_PIXELS).toBe(89_478_485);
  });

  it('through aeq explain: one line, exit 1', () => {
    writeFileSync(join(dir, 'cut.png'), validPngs.rgb8.subarray(0, 40));
    const jb = malformedJpegs()['SOF declares 65535×65535'].bytes;
    writeFileSync(join(dir, 'huge.jpg'), jb);
    for (const [f, re] of [['cut.png', /cut\.png: cannot decode PNG image/], ['huge.jpg', /huge\.jpg: the image declares 65535×65535/]] as const) {
      const r = aeq(['explain', 'aeq-resnet', join(dir, f), '--backend', 'cpu', '--out', join(dir, 'o')]);
      expect(r.code, r.stderr).toBe(1);
      expect(errorLines(r)).toHaveLength(1);
      expect(errorLines(r)[0]).toMatch(re);
    }
  });
});

describe('malformed .npy files', () => {
  it('valid variants parse', () => {
    for (const [name, c] of Object.entries(validNpys)) expect(parseNpy(c.bytes, name).shape, name).toEqual(c.shape);
  });

  it('malformed ones are refused with a typed error before allocating', () => {
    for (const [name, bytes] of Object.entries(malformedNpys())) {
      const r = attempt(() => parseNpy(bytes, name));
      expect(r.kind, `${name}: ${r.error} ${r.message}`).toBe('typed');
      expect(r.error, name).toBe('InputError');
      expect(r.ms, name).toBeLessThan(1000);
    }
  });
});
