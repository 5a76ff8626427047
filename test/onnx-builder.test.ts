// The test-model writer must produce files our loader and onnxruntime both read the same way.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OnnxBuilder, floatAttr, resnet50Graph, vgg16Graph } from '../tools/onnx-builder.js';
import { loadModel, parseModel } from '../src/io/onnx.js';
import type { Model } from '../src/graph/ir.js';
import { runOrt } from './helpers/ort.js';

function small(): OnnxBuilder {
  const b = new OnnxBuilder({ seed: 7, name: 'small' });
  const x = b.input('input', ['batch', 3, 9, 9]);
  const c = b.relu(b.bn(b.conv(x, 5, 3, { stride: 2, pad: 1, name: 'c1' }), { name: 'b1' }));
  const d = b.conv(c, 5, 1, { bias: false, name: 'c2' });
  const s = b.concat([b.add(c, d), b.maxPool(c, 3, { stride: 1, pad: 1, ceil: true })]);
  const y = b.gemm(b.flatten(b.globalAvgPool(s)), 4, { name: 'fc' });
  b.node('LeakyRelu', [y], { alpha: floatAttr(0.5) }, [b.shape(y)], 'leaky');
  b.output('leaky_out0', 'logits');
  return b;
}

function initializerBytes(m: Model): number {
  let n = 0;
  for (const t of m.graph.initializers.values()) n += t.data.length;
  return n;
}

describe('onnx-builder', () => {
  it('round-trips nodes, attributes, shapes and weights through parseModel', () => {
    const bytes = small().toBytes();
    const m = parseModel(bytes, 'small.onnx', null);
    expect(m.opset).toBe(13);
    expect(m.graph.inputs).toEqual([{ name: 'input', dtype: 'float32', shape: ['batch', 3, 9, 9] }]);
    expect(m.graph.outputs).toEqual([{ name: 'logits', dtype: 'float32', shape: ['batch', 4] }]);
    expect(m.graph.nodes.map((n) => n.opType)).toEqual([
      'Conv', 'BatchNormalization', 'Relu', 'Conv', 'Add', 'MaxPool', 'Concat', 'GlobalAveragePool', 'Flatten', 'Gemm', 'LeakyRelu',
    ]);
    const conv = m.graph.nodes[0];
    expect(conv.inputs).toEqual(['input', 'c1.weight', 'c1.bias']);
    expect(conv.attrs.get('strides')).toEqual([2, 2]);
    expect(conv.attrs.get('pads')).toEqual([1, 1, 1, 1]);
    expect(conv.attrs.get('group')).toBe(1);
    expect(m.graph.nodes[1].attrs.get('epsilon')).toBeCloseTo(1e-5, 10);
    expect(m.graph.nodes[5].attrs.get('ceil_mode')).toBe(1);
    expect(m.graph.nodes[10].attrs.get('alpha')).toBe(0.5);
    expect(m.graph.nodes[10].outputs).toEqual(['logits']);
    const w = m.graph.initializers.get('c1.weight')!;
    const wd = Array.from(w.data);
    expect(w.dims).toEqual([5, 3, 3, 3]);
    // He-uniform: std sqrt(2 / 27) and zero mean within sampling error.
    const mean = wd.reduce((a, v) => a + v, 0) / wd.length;
    const std = Math.sqrt(wd.reduce((a, v) => a + (v - mean) ** 2, 0) / wd.length);
    expect(Math.abs(mean)).toBeLessThan(0.1);
    expect(std).toBeGreaterThan(0.2);
    expect(std).toBeLessThan(0.35);
    // BN running variance must be positive and not all ones.
    const v = m.graph.initializers.get('b1.running_var')!.data;
    expect(Math.min(...v)).toBeGreaterThan(0.5);
    expect(new Set(v).size).toBe(v.length);
  });

  it('is deterministic per seed and differs across seeds', () => {
    expect(Buffer.from(small().toBytes()).equals(Buffer.from(small().toBytes()))).toBe(true);
    const a = vgg16Graph({ widthDiv: 16, seed: 1 }).toBytes();
    const b = vgg16Graph({ widthDiv: 16, seed: 2 }).toBytes();
    expect(a.length).toBe(b.length);
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(false);
  });

  it('writes external data that loadModel and onnxruntime read back identically', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'aeq-builder-'));
    try {
      const b = small();
      b.save(join(dir, 'inline.onnx'));
      b.save(join(dir, 'ext.onnx'), { externalData: 'ext.weights', minBytes: 64 });
      const [inlineSize, extSize, dataSize] = ['inline.onnx', 'ext.onnx', 'ext.weights'].map((f) => statSync(join(dir, f)).size);
      // Only tensors of ≥ 64 B go out: c1.weight (540 B), c2.weight (100 B), fc.weight (160 B).
      expect(extSize).toBeLessThan(inlineSize - 600);
      expect(dataSize).toBeGreaterThan(600);
      const inline = loadModel(join(dir, 'inline.onnx'));
      const ext = loadModel(join(dir, 'ext.onnx'));
      expect([...ext.graph.initializers.keys()]).toEqual([...inline.graph.initializers.keys()]);
      for (const [name, t] of inline.graph.initializers) {
        expect(ext.graph.initializers.get(name)!.dims).toEqual(t.dims);
        expect(Array.from(ext.graph.initializers.get(name)!.data)).toEqual(Array.from(t.data));
      }
      const data = new Float32Array(2 * 3 * 9 * 9).map((_, i) => Math.sin(i));
      const feeds = { input: { shape: [2, 3, 9, 9], data } };
      const y1 = await runOrt(join(dir, 'inline.onnx'), feeds);
      const y2 = await runOrt(join(dir, 'ext.onnx'), feeds);
      expect(y1.logits.shape).toEqual([2, 4]);
      expect(Array.from(y2.logits.data)).toEqual(Array.from(y1.logits.data));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('builds full-size ResNet-50 with torchvision layout and parameter count', async () => {
    const m = parseModel(resnet50Graph().toBytes(), 'resnet50', null);
    const count = (op: string) => m.graph.nodes.filter((n) => n.opType === op).length;
    expect([count('Conv'), count('BatchNormalization'), count('Add'), count('Relu'), count('Gemm')]).toEqual([53, 53, 16, 49, 1]);
    // torchvision resnet50 has 25,557,032 parameters; BN running stats add 2 × 26,560.
    expect(initializerBytes(m)).toBe(25_557_032 + 2 * 26_560);
    expect(m.graph.outputs[0].shape).toEqual(['batch', 1000]);
  });

  // Encoding and parsing 553 MB of VGG-16 weights takes ~20 s here, so the full size is checked on
  // the builder and the file round trip uses width / 4 (same layer list, same init scaling).
  it('builds full-size VGG-16 with torchvision layout and parameter count', () => {
    const full = vgg16Graph();
    expect(full.numInitializerElements).toBe(138_357_544);
    const count = (op: string) => full.opTypes.filter((o) => o === op).length;
    expect([count('Conv'), count('Relu'), count('MaxPool'), count('AveragePool'), count('Gemm')]).toEqual([13, 15, 5, 1, 3]);
    const m = parseModel(vgg16Graph({ widthDiv: 4 }).toBytes(), 'vgg16_w4', null);
    expect(m.graph.nodes.map((n) => n.opType)).toEqual(full.opTypes);
    expect(m.graph.initializers.get('classifier.0.weight')!.dims).toEqual([1024, 128 * 7 * 7]);
  });

  it('keeps activations O(1) through the nets (onnxruntime, batch 1)', async () => {
    const data = new Float32Array(3 * 224 * 224).map((_, i) => Math.sin(i * 0.37));
    for (const bytes of [resnet50Graph().toBytes(), vgg16Graph({ widthDiv: 4 }).toBytes()]) {
      const y = (await runOrt(bytes, { input: { shape: [1, 3, 224, 224], data } })).logits.data;
      const max = y.reduce((a, v) => Math.max(a, Math.abs(v)), 0);
      expect(max).toBeGreaterThan(0.05);
      expect(max).toBeLessThan(100);
    }
  });
});
