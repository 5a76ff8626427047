// The bundled models load, run on both backends, and reach their documented accuracy on a fixed
// held-out split: the first 64 images of the procedural benchmark at seed 7 (training used seeds
// 1000–1007; tools/train_log.txt). The documented figures are in models/README.md.
import { describe, expect, it, beforeAll } from 'vitest';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundledModels } from '../src/models.js';
import { generateDataset, readDataset } from '../src/data/index.js';
import { evaluate } from '../src/eval/evaluate.js';
import { loadModel } from '../src/io/onnx.js';

// Held-out mAP / top-1 on these 64 images, measured with this engine (models/README.md); a regression
// in any kernel on the path shows up here as a drop.
const DOCUMENTED: Record<string, { mAP: number; top1: number }> = {
  'aeq-vgg': { mAP: 0.99, top1: 1 },
  'aeq-resnet': { mAP: 0.995, top1: 1 },
};

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'aeq-heldout-'));
  generateDataset({ seed: 7, count: 64, dir });
  return () => rmSync(dir, { recursive: true, force: true });
});

describe('bundled models', () => {
  it('are listed with their files, preset and classes, each ≤ 5 MB', () => {
    const models = bundledModels();
    expect([...models.keys()].sort()).toEqual(['aeq-resnet', 'aeq-vgg']);
    for (const m of models.values()) {
      expect(statSync(m.path).size).toBeLessThanOrEqual(5_000_000);
      expect(m.preset).toBe('imagenet-direct');
      expect(m.output).toBe('sigmoid');
      expect(m.classes).toHaveLength(10);
      const ops = new Set(loadModel(m.path).graph.nodes.map((n) => n.opType));
      expect(ops.has('Sigmoid')).toBe(true);
      if (m.name === 'aeq-resnet') expect(ops.has('BatchNormalization')).toBe(true);
    }
  });

  for (const name of ['aeq-vgg', 'aeq-resnet']) {
    it(`${name} reaches its documented accuracy on the fixed held-out split`, async () => {
      const m = bundledModels().get(name)!;
      const r = await evaluate({
        model: loadModel(m.path), backend: 'auto', dataset: readDataset(dir),
        methods: [], metrics: ['accuracy'], preprocess: { preset: m.preset }, output: m.output, batch: 16,
      });
      expect(r.images).toBe(64);
      console.log(`${name}: held-out (64) mAP ${r.accuracy!.mAP.toFixed(4)} top-1 ${r.accuracy!.top1.toFixed(4)} exact ${r.accuracy!.exactMatch.toFixed(4)}`);
      expect(r.accuracy!.mAP).toBeGreaterThanOrEqual(DOCUMENTED[name].mAP);
      expect(r.accuracy!.top1).toBeGreaterThanOrEqual(DOCUMENTED[name].top1);
    }, 300_000);
  }
});
