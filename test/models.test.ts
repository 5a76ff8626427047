// Whole models against onnxruntime (CPU EP) on both backends: the shared pretrained models on real
// photos (with their README's preprocessing and expected classes) and the committed random-weight
// fixtures at batch 1 and 4. Tolerance: max |logit difference| ≤ 1e-3 and the same top-5 order.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Session } from '../src/runtime/session.js';
import { loadImages, type PreprocessOptions } from '../src/io/image.js';
import { runOrt, runOrtAllOutputs, type OrtTensor } from './helpers/ort.js';
import { rng } from './helpers/ops.js';

const SHARED = join(__dirname, '..', '..', 'shared', 'fixtures');
const FIXTURES = join(__dirname, 'fixtures');
const TOL = 1e-3;
const BACKENDS = ['cpu', 'webgpu'] as const;

function shared(rel: string): string {
  if (!existsSync(SHARED)) {
    throw new Error(`shared fixtures folder ${SHARED} is missing: these tests need the real models and photos from ../shared/fixtures (see its README)`);
  }
  return join(SHARED, rel);
}

function labels(file: string): string[] {
  return readFileSync(shared(`labels/${file}`), 'utf8').split('\n').filter((l) => l.length > 0);
}

/** Indices of the k largest values of row `n`, largest first. */
function topk(t: OrtTensor, n: number, k = 5): number[] {
  const c = t.shape[t.shape.length - 1];
  const row = Array.from(t.data.subarray(n * c, (n + 1) * c));
  return row.map((v, i) => [v, i]).sort((a, b) => b[0] - a[0]).slice(0, k).map(([, i]) => i);
}

function maxAbsDiff(a: Float32Array, b: Float32Array): { max: number; at: number } {
  let max = 0, at = -1;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= max)) { max = d; at = i; } // NaN counts as the worst
  }
  return { max, at };
}

/**
 * Find the first node output (in graph order) where the engine and onnxruntime disagree by more
 * than the tolerance relative to the tensor's scale, to name the diverging op in a failure.
 */
async function diagnose(model: string | Uint8Array, backend: 'cpu' | 'webgpu', input: OrtTensor): Promise<string> {
  const ref = await runOrtAllOutputs(model, { input });
  const s = await Session.create(model, { backend });
  try {
    const got = await s.run({ [s.inputNames[0]]: input }, { keep: 'all' });
    const producer = new Map(s.model.graph.nodes.flatMap((n) => n.outputs.map((o) => [o, n] as const)));
    for (const name of ref.order) {
      const a = got[name], b = ref.values[name];
      if (!a || !b) continue;
      const node = producer.get(name)!;
      if (a.data.length !== b.data.length) return `first divergence: ${node.opType} node '${node.name}' output '${name}' has shape [${a.shape}], onnxruntime [${b.shape}]`;
      const scale = Math.max(1, b.data.reduce((m, v) => Math.max(m, Math.abs(v)), 0));
      const d = maxAbsDiff(a.data, b.data);
      if (d.max > TOL * scale) {
        return `first divergence: ${node.opType} node '${node.name}' output '${name}' [${b.shape}]: max |diff| ${d.max.toExponential(3)} at ${d.at} ` +
          `(engine ${a.data[d.at]}, onnxruntime ${b.data[d.at]}, tensor max |value| ${scale.toPrecision(4)})`;
      }
    }
    return 'no single intermediate tensor exceeds the tolerance (error accumulates, or kept tensors are missing)';
  } catch (e) {
    return `diagnosis failed: ${(e as Error).message}`;
  } finally {
    s.dispose();
  }
}

/** Run the engine and onnxruntime on the same feed; assert logits and top-5 agree. */
async function compare(model: string | Uint8Array, backend: 'cpu' | 'webgpu', input: OrtTensor, label: string): Promise<OrtTensor> {
  const ref = await runOrt(model, { input });
  const outName = Object.keys(ref)[0];
  const s = await Session.create(model, { backend });
  let got: OrtTensor;
  const t0 = performance.now();
  try {
    expect(s.inputNames).toEqual(['input']);
    expect(s.outputNames[0]).toBe(outName);
    const outs = await s.run({ [s.inputNames[0]]: input });
    got = outs[s.outputNames[0]];
  } finally {
    s.dispose();
  }
  const ms = performance.now() - t0;
  if (process.env.AEQ_TIMINGS) console.log(`${label}: ${ms.toFixed(0)} ms`);
  expect(got.shape, `${label}: output shape`).toEqual(ref[outName].shape);
  const d = maxAbsDiff(got.data, ref[outName].data);
  const tops = Array.from({ length: input.shape[0] }, (_, n) => [topk(got, n), topk(ref[outName], n)]);
  const ok = d.max <= TOL && tops.every(([a, b]) => a.join() === b.join());
  const why = ok ? '' : `; ${await diagnose(model, backend, input)}`;
  expect(d.max, `${label}: max |logit diff| at flat index ${d.at} (engine ${got.data[d.at]}, onnxruntime ${ref[outName].data[d.at]})${why}`).toBeLessThanOrEqual(TOL);
  tops.forEach(([a, b], n) => expect(a, `${label}: top-5 of batch item ${n}${why}`).toEqual(b));
  return got;
}

function batchOf(paths: string[], opts: PreprocessOptions): OrtTensor {
  const b = loadImages(paths.map((p) => shared(`images/${p}`)), opts);
  return { shape: b.shape, data: b.data };
}

interface PhotoCase {
  model: string;
  photos: string[];
  pre: PreprocessOptions;
  labels: string;
  /** Expected top-1 label per photo (line of the labels file, also checked by name). */
  expect: [number, string][];
  /** The model's input has a fixed batch of 1: run the photos one by one. */
  single?: boolean;
}

const PHOTO_CASES: PhotoCase[] = [
  {
    model: 'squeezenet1_0_deepcompression.onnx', photos: ['chelsea.png', 'coffee.png', 'parrot.jpg'],
    pre: { preset: 'caffe-bgr', size: 227 }, labels: 'imagenet_1000_torchvision.txt',
    expect: [[285, 'Egyptian cat'], [967, 'espresso'], [88, 'macaw']],
  },
  {
    model: 'resnet20_cifar10.onnx', photos: ['cat.png', 'bird.png'],
    pre: { preset: 'cifar', size: 32 }, labels: '', single: true,
    expect: [[3, 'cat'], [2, 'bird']],
  },
  {
    model: 'mobilenet_v1_0.25_128_quant.float.onnx', photos: ['parrot.jpg', 'coffee.png'],
    pre: { preset: 'inception', size: 128 }, labels: 'imagenet_1001_tf_with_background.txt',
    expect: [[89, 'macaw'], [968, 'espresso']],
  },
];

const CIFAR10 = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];

describe('shared pretrained models on photos vs onnxruntime', () => {
  for (const c of PHOTO_CASES) {
    for (const backend of BACKENDS) {
      it(`${c.model} on ${backend}`, async () => {
        const names = c.labels ? labels(c.labels) : CIFAR10;
        const groups = c.single ? c.photos.map((p) => [p]) : [c.photos];
        let photo = 0;
        for (const group of groups) {
          const got = await compare(shared(`models/${c.model}`), backend, batchOf(group, c.pre), `${c.model} ${backend} ${group.join(', ')}`);
          group.forEach((p, n) => {
            const [idx, name] = c.expect[photo++];
            expect(names[idx].split(',')[0], `label file line ${idx + 1}`).toBe(name);
            expect(topk(got, n, 1)[0], `${p} top-1 (want ${idx} ${name})`).toBe(idx);
          });
        }
      });
    }
  }
});

const FIXTURE_CASES: [string, number][] = [['vgg16_w8.onnx', 224], ['resnet50_w8.onnx', 224], ['densenet_tiny.onnx', 64]];

describe('random-weight torchvision fixtures vs onnxruntime', () => {
  for (const [file, size] of FIXTURE_CASES) {
    for (const batch of [1, 4]) {
      for (const backend of BACKENDS) {
        it(`${file} batch ${batch} on ${backend}`, async () => {
          const r = rng(1000 + batch + size);
          const data = new Float32Array(batch * 3 * size * size);
          // Roughly ImageNet-normalised pixel range.
          for (let i = 0; i < data.length; i++) data[i] = (r() * 2 - 1) * 2;
          await compare(join(FIXTURES, file), backend, { shape: [batch, 3, size, size], data }, `${file} b${batch} ${backend}`);
        });
      }
    }
  }
});
