// Excitation backprop's default layers (src/planner/excitation.ts) on the architectures TorchRay's
// benchmark sets them for: VGG-16 (saliency pool4 = features.23, contrast relu7) and ResNet-50
// (saliency layer3, contrast avgpool), plus the shared ResNet-20 and SqueezeNet.
import { describe, it, expect } from 'vitest';
import { vgg16Graph, resnet50Graph } from '../tools/onnx-builder.js';
import { Session } from '../src/runtime/session.js';
import { ebContrastLayer, ebSaliencyLayer } from '../src/planner/excitation.js';
import type { Plan } from '../src/planner/plan.js';
import { shared } from './helpers/shared.js';

async function planOf(bytes: Uint8Array | string, shape: number[]): Promise<Plan> {
  const s = await Session.create(bytes, { backend: 'cpu' });
  try {
    return s.plan({ [s.inputNames[0]]: shape });
  } finally {
    s.dispose();
  }
}
const consumers = (plan: Plan, t: string) => plan.steps.filter((s) => s.inputs.includes(t)).map((s) => s.node.name);
const producer = (plan: Plan, t: string) => plan.steps[plan.producer.get(t)!].node;

describe('EB / cEB default layers', () => {
  // The builder names VGG's convs by their place in the layer list without the ReLUs: its
  // features.14 is torchvision's features.24, the first conv after pool4.
  it("VGG-16: pool4 (feeding conv5_1) and relu7 (feeding classifier.6)", async () => {
    const plan = await planOf(vgg16Graph({ widthDiv: 16 }).toBytes(), [1, 3, 224, 224]);
    const l = ebSaliencyLayer(plan)!;
    expect(producer(plan, l).opType).toBe('MaxPool');
    expect(consumers(plan, l)).toEqual(['features.14']);
    const k = ebContrastLayer(plan)!;
    expect(producer(plan, k).opType).toBe('Relu');
    expect(consumers(plan, k)).toEqual(['classifier.6']);
  });
  it('ResNet-50: layer3 (feeding layer4.0) and the global pool (feeding fc through Flatten)', async () => {
    const plan = await planOf(resnet50Graph({ widthDiv: 16 }).toBytes(), [1, 3, 224, 224]);
    const l = ebSaliencyLayer(plan)!;
    expect(plan.shapes.get(l)).toEqual([1, 64, 14, 14]);
    expect(consumers(plan, l).sort()).toEqual(['layer4.0.conv1', 'layer4.0.downsample.0']);
    expect(producer(plan, ebContrastLayer(plan)!).opType).toBe('GlobalAveragePool');
  });
  it('ResNet-20 (CIFAR): the second stage output; SqueezeNet: the max-pool before fire9', async () => {
    const r20 = await planOf(shared('models/resnet20_cifar10.onnx'), [1, 3, 32, 32]);
    const l = ebSaliencyLayer(r20)!;
    expect(r20.shapes.get(l)!.slice(2)).toEqual([16, 16]);
    expect(consumers(r20, l).length).toBe(2); // the last stage's first block and its shortcut
    const sq = await planOf(shared('models/squeezenet1_0_deepcompression.onnx'), [1, 3, 227, 227]);
    const ls = ebSaliencyLayer(sq)!;
    expect(producer(sq, ls).opType).toBe('MaxPool');
    expect(sq.shapes.get(ls)!.slice(2)).toEqual([13, 13]);
  });
});
