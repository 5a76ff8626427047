// Bad input: each case gives one clear error line naming the problem and a non-zero exit code.
import { describe, it, expect, beforeAll } from 'vitest';
import { mkdtempSync, writeFileSync, readFileSync, rmSync, mkdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { OnnxBuilder } from '../tools/onnx-builder.js';
import { encodeNpy } from '../src/io/npy.js';
import { aeq, errorLines } from './helpers/cli.js';
import { loadModel } from '../src/io/onnx.js';
import { Session } from '../src/runtime/session.js';
import { ModelLoadError, UnsupportedOperatorError, InputError, ShapeError } from '../src/errors.js';

let dir: string;

function tinyNet(shape: (number | string)[] = ['batch', 3, 8, 8]): OnnxBuilder {
  const b = new OnnxBuilder({ seed: 3, opset: 13 });
  let x = b.input('input', shape);
  x = b.conv(x, 4, 3, { pad: 1, name: 'conv1' });
  x = b.relu(x);
  x = b.globalAvgPool(x);
  x = b.flatten(x);
  b.output(b.gemm(x, 5), 'logits');
  return b;
}

function expectOneLine(r: ReturnType<typeof aeq>, pattern: RegExp): void {
  expect(r.code, r.stderr).not.toBe(0);
  const lines = errorLines(r);
  expect(lines.length, r.stderr).toBe(1);
  expect(lines[0]).toMatch(pattern);
  expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'aeq-errors-'));
  tinyNet().save(join(dir, 'tiny.onnx'));
  writeFileSync(join(dir, 'x.npy'), encodeNpy([1, 3, 8, 8], new Float32Array(192).fill(0.5)));
  return () => rmSync(dir, { recursive: true, force: true });
});

describe('model files', () => {
  it('truncated file', () => {
    const bytes = readFileSync(join(dir, 'tiny.onnx'));
    writeFileSync(join(dir, 'trunc.onnx'), bytes.subarray(0, Math.floor(bytes.length / 2)));
    expect(() => loadModel(join(dir, 'trunc.onnx'))).toThrow(ModelLoadError);
    expectOneLine(aeq(['info', join(dir, 'trunc.onnx')]), /trunc\.onnx: .*(truncated|not an ONNX)/);
  });

  it('not an ONNX file', () => {
    const png = '../shared/fixtures/images/bird_segmentation_mask.png';
    const f = existsSync(png) ? png : join(dir, 'x.npy');
    expect(() => loadModel(f)).toThrow(ModelLoadError);
    expectOneLine(aeq(['info', f]), /not (a valid )?(an )?ONNX/);
    writeFileSync(join(dir, 'text.onnx'), 'hello, this is not a model\n');
    expectOneLine(aeq(['info', join(dir, 'text.onnx')]), /text\.onnx: .*ONNX/);
    writeFileSync(join(dir, 'empty.onnx'), '');
    expectOneLine(aeq(['info', join(dir, 'empty.onnx')]), /empty file/);
    expectOneLine(aeq(['info', join(dir, 'missing.onnx')]), /missing\.onnx: no such file/);
  });

  it('unsupported operator names op and node, up front', async () => {
    const b = new OnnxBuilder({ seed: 1 });
    const x = b.input('input', [1, 3, 4, 4]);
    const [y] = b.node('FancyWarp', [x], {}, [[1, 3, 4, 4]], 'warp_node');
    b.output(b.relu(y), 'out');
    b.save(join(dir, 'unsup.onnx'));
    await expect(Session.create(join(dir, 'unsup.onnx'), { backend: 'cpu' })).rejects.toThrow(UnsupportedOperatorError);
    await expect(Session.create(join(dir, 'unsup.onnx'), { backend: 'cpu' })).rejects.toThrow(/FancyWarp \(node 'warp_node'\)/);
    const info = aeq(['info', join(dir, 'unsup.onnx')]);
    expect(info.code).toBe(1);
    expect(info.stdout).toMatch(/FancyWarp ×1: 'warp_node'/);
    expectOneLine(aeq(['run', join(dir, 'unsup.onnx'), '--input', join(dir, 'x.npy'), '--out', join(dir, 'o')]), /unsupported operator: FancyWarp \(node 'warp_node'\)/);
  });

  it('missing external data file', () => {
    const sub = join(dir, 'ext');
    mkdirSync(sub);
    tinyNet().save(join(sub, 'm.onnx'), { externalData: 'm.weights', minBytes: 64 });
    expect(loadModel(join(sub, 'm.onnx')).graph.initializers.size).toBeGreaterThan(0);
    rmSync(join(sub, 'm.weights'));
    expect(() => loadModel(join(sub, 'm.onnx'))).toThrow(/external data file 'm\.weights' not found/);
    expectOneLine(aeq(['info', join(sub, 'm.onnx')]), /external data file 'm\.weights' not found/);
  });

  it('external data path escaping the model folder', () => {
    const sub = join(dir, 'esc', 'inner');
    mkdirSync(sub, { recursive: true });
    tinyNet().save(join(sub, 'm.onnx'), { externalData: '../outside.bin', minBytes: 64 });
    expect(existsSync(join(dir, 'esc', 'outside.bin'))).toBe(true);
    expect(() => loadModel(join(sub, 'm.onnx'))).toThrow(/escapes the model's folder/);
    expectOneLine(aeq(['info', join(sub, 'm.onnx')]), /external data path '\.\.\/outside\.bin' escapes/);
  });

  it('a tensor of more than 2^31 elements is refused before allocation', async () => {
    tinyNet([1, 3, 26000, 26000]).save(join(dir, 'huge.onnx'));
    const s = await Session.create(join(dir, 'huge.onnx'), { backend: 'webgpu' });
    const t0 = Date.now();
    // The input fits (2.03e9 elements); the first convolution's output (4 channels) does not.
    expect(() => s.plan({ input: [1, 3, 26000, 26000] })).toThrow(ShapeError);
    expect(() => s.plan({ input: [1, 3, 26000, 26000] })).toThrow(/conv1.*2704000000 elements, more than the 2\^31-1/);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(s.gpu!.stats.peakBytes).toBe(0);
    tinyNet([1, 3, 40000, 40000]).save(join(dir, 'huge-input.onnx'));
    const s2 = await Session.create(join(dir, 'huge-input.onnx'), { backend: 'cpu' });
    expect(() => s2.plan({ input: [1, 3, 40000, 40000] })).toThrow(/'input' of shape \[1×3×40000×40000\] has 4800000000 elements/);
    const info = aeq(['info', join(dir, 'huge.onnx')]);
    expect(info.code).toBe(1);
    expect(info.stdout).toMatch(/more than the 2\^31-1/);
  });
});

describe('inputs', () => {
  it('wrong rank', async () => {
    writeFileSync(join(dir, 'r3.npy'), encodeNpy([3, 8, 8], new Float32Array(192)));
    const s = await Session.create(join(dir, 'tiny.onnx'), { backend: 'cpu' });
    await expect(s.run({ input: { shape: [3, 8, 8], data: new Float32Array(192) } })).rejects.toThrow(InputError);
    expectOneLine(aeq(['run', join(dir, 'tiny.onnx'), '--input', join(dir, 'r3.npy'), '--out', join(dir, 'o')]), /input 'input' expects rank 4 .*got rank 3/);
  });

  it('wrong shape', () => {
    writeFileSync(join(dir, 'c4.npy'), encodeNpy([1, 4, 8, 8], new Float32Array(256)));
    expectOneLine(aeq(['run', join(dir, 'tiny.onnx'), '--input', join(dir, 'c4.npy'), '--out', join(dir, 'o')]), /dimension 1 must be 3/);
  });

  it('unsupported dtype, bad npy, unknown input name', () => {
    const npy = encodeNpy([1, 3, 8, 8], new Float32Array(192));
    const hdr = Buffer.from(npy);
    hdr.write("'<c8'", hdr.indexOf("'<f4'"), 'latin1');
    writeFileSync(join(dir, 'c8.npy'), hdr);
    expectOneLine(aeq(['run', join(dir, 'tiny.onnx'), '--input', join(dir, 'c8.npy'), '--out', join(dir, 'o')]), /c8\.npy: unsupported dtype '<c8'/);
    writeFileSync(join(dir, 'bad.npy'), 'not numpy');
    expectOneLine(aeq(['run', join(dir, 'tiny.onnx'), '--input', join(dir, 'bad.npy'), '--out', join(dir, 'o')]), /bad\.npy: not a \.npy file/);
    expectOneLine(aeq(['run', join(dir, 'tiny.onnx'), '--input', `image=${join(dir, 'x.npy')}`, '--out', join(dir, 'o')]), /no input named 'image'/);
  });

  it('wrong data length through the API', async () => {
    const s = await Session.create(join(dir, 'tiny.onnx'), { backend: 'cpu' });
    await expect(s.run({ input: { shape: [1, 3, 8, 8], data: new Float32Array(10) } })).rejects.toThrow(/has 10 values, expected 192/);
  });

  it('usage errors', () => {
    expectOneLine(aeq(['run', join(dir, 'tiny.onnx'), '--bogus']), /unknown option '--bogus'/);
    expectOneLine(aeq(['run', join(dir, 'tiny.onnx'), '--input', join(dir, 'x.npy')]), /--out DIR is required/);
    const r = aeq(['frobnicate']);
    expect(r.code).toBe(2);
  });
});

describe('run writes outputs', () => {
  it('writes <output>.npy for both backends and they agree', async () => {
    for (const backend of ['cpu', 'webgpu']) {
      const r = aeq(['run', join(dir, 'tiny.onnx'), '--input', join(dir, 'x.npy'), '--backend', backend, '--out', join(dir, `out-${backend}`)]);
      expect(r.code, r.stderr).toBe(0);
      expect(existsSync(join(dir, `out-${backend}`, 'logits.npy'))).toBe(true);
    }
    const { readNpy } = await import('../src/io/npy.js');
    const a = readNpy(join(dir, 'out-cpu', 'logits.npy'));
    const b = readNpy(join(dir, 'out-webgpu', 'logits.npy'));
    expect(a.shape).toEqual([1, 5]);
    for (let i = 0; i < 5; i++) expect(Math.abs(a.data[i] - b.data[i])).toBeLessThan(1e-5);
  });
});
