// `aeq explain <model.onnx> <inputs…>`: heatmaps (and overlays, and .npy arrays) per input and target.
import { readFileSync, existsSync, statSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { Explainer, RATIO_MIN, RATIO_MAX, type ExplainOptions, type Target } from '../explain/explainer.js';
import { METHODS } from '../explain/options.js';
import { isGradientMethod, type Method } from '../explain/pipeline.js';
import { CAM_METHODS, SCORE_MODES, type ScoreMode } from '../explain/cam.js';
import { readImage, preprocess, type PreprocessOptions, type PresetName, PRESETS, type RgbImage, type CropInfo } from '../io/image.js';
import { readNpy, writeNpy } from '../io/npy.js';
import { heatmapPng, overlayPng } from '../io/heatmap.js';
import { bundledModel, resolveModelPath } from '../models.js';
import { parse, numberOpt, positiveIntOpt, bytesOpt, usageError, type CommandSpec } from './args.js';
import { Progress } from './progress.js';
import { InputError, OptionError, UsageError } from '../errors.js';
import { writeFileAtomic, ensureDir } from '../io/atomic.js';
import { MAX_IMAGE_PIXELS } from '../io/image.js';
import { methodTag, outputBase } from './output.js';
import type { BackendName } from '../runtime/session.js';
import { safeFileName } from './run.js';

interface Item {
  stem: string;
  /** C×H×W of this input. */
  shape: number[];
  data: Float32Array;
  image?: RgbImage;
  crop?: CropInfo;
}

const OPTIONS = {
  method: { type: 'string', default: 'ae' },
  target: { type: 'string', default: 'top' },
  top: { type: 'string' },
  ratio: { type: 'string' },
  layer: { type: 'string' },
  residual: { type: 'string' },
  'no-shift': { type: 'boolean' },
  'no-contrib': { type: 'boolean' },
  'no-activated': { type: 'boolean' },
  'no-inactivated': { type: 'boolean' },
  steps: { type: 'string' },
  baseline: { type: 'string' },
  samples: { type: 'string' },
  noise: { type: 'string' },
  seed: { type: 'string' },
  magnitude: { type: 'boolean' },
  score: { type: 'string' },
  composite: { type: 'string' },
  low: { type: 'string' },
  high: { type: 'string' },
  'contrast-layer': { type: 'string' },
  backend: { type: 'string', default: 'auto' },
  batch: { type: 'string' },
  out: { type: 'string', short: 'o', default: 'out' },
  'save-npy': { type: 'boolean' },
  preset: { type: 'string' },
  mean: { type: 'string' },
  std: { type: 'string' },
  bgr: { type: 'boolean' },
  scale: { type: 'string' },
  labels: { type: 'string' },
  'max-memory': { type: 'string' },
} as const;

export const EXPLAIN: CommandSpec = {
  name: 'explain',
  usage: `usage: aeq explain <model.onnx> <image.png|image.jpg|tensor.npy>… [options]
explains each input's prediction: heatmaps (and overlays, and with --save-npy arrays) in --out DIR
  <model.onnx>                 an .onnx file or a bundled model (aeq-vgg, aeq-resnet)
  <inputs…>                    PNG/JPEG images, or preprocessed .npy tensors (N×C×H×W or C×H×W)
  --method M                   ae (Attribution Equilibrium, default), gradcam, the gradient family:
                               gradient, input-x-gradient, ig, smoothgrad, guided-bp; the CAM family:
                               gradcam++, scorecam, layercam, fullgrad; lrp (Zennit's composites);
                               eb, ceb (excitation backprop, TorchRay)
  --target top|N|N,M           explain the top-1 class (default), class N, or several classes
  --top K                      explain the K highest-scoring classes of each input
  --ratio R                    AE's degree of evidence, from 1 to 1000 (default 2)
  --layer NAME                 start from this 4-D tensor instead of the default layer (see aeq info;
                               ae and the CAM methods; fullgrad uses every conv/BN bias instead);
                               eb, ceb: the layer mapped (default: the input of the last stage)
  --residual main|proportional how AE splits relevance at residual Adds (default main)
  --no-contrib, --no-shift, --no-activated, --no-inactivated
                               AE ablation switches (paper Table II)
  --steps M                    ig: path points of the right Riemann sum (default 16)
  --baseline zero|FILE.npy     ig: the baseline x₀ (default zero; a C×H×W or N×C×H×W tensor)
  --samples S                  smoothgrad: noisy copies per input (default 16)
  --noise σ                    smoothgrad: the noise's standard deviation (default 0.15·(max x − min x))
  --seed N                     smoothgrad: the noise's seed (default 0)
  --magnitude                  smoothgrad: the mean of squared gradients (SmoothGrad²)
  --score logit|softmax-gain   scorecam: channel weights softmax_k(logit) (default, pytorch-grad-cam) or
                               the paper's p_c(x ⊙ mask_k) − p_c(0) (softmax probability gain)
  --composite NAME             lrp: epsilon-plus (default), epsilon-plus-flat, epsilon-gamma-box,
                               epsilon-alpha2-beta1
  --low X --high Y             lrp epsilon-gamma-box: the first convolution's ZBox bounds (default: each
                               input's own minimum and maximum)
  --contrast-layer NAME        ceb: where the contrast is subtracted (default: the input of the last Conv/Gemm)
  --preset P                   image preprocessing: imagenet (default), imagenet-direct, caffe-bgr, inception, cifar
  --mean a,b,c, --std a,b,c    override the preset's per-channel mean and standard deviation
  --bgr, --scale S             override the preset's channel order and pixel scale
  --labels FILE                class names, one per line, for the summaries
  --backend webgpu|cpu|auto    the backend (default auto: WebGPU when there is an adapter)
  --batch B                    inputs per forward/backward pass (default 4)
  -o, --out DIR                output folder (default out)
  --save-npy                   also write the heatmaps and attributions as .npy
  --max-memory SIZE            memory budget of one pass (e.g. 512M, 4G; default half the available memory)
  -h, --help                   this text`,
  options: OPTIONS as unknown as CommandSpec['options'],
};

function nonNegativeInt(s: string, name: string): number {
  const n = numberOpt(s, name, 0);
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new OptionError(`${name} must be an integer from 0 to ${0xffffffff}, got '${s}'`);
  return n;
}

function numList(v: string | undefined, name: string): number[] | undefined {
  if (v === undefined) return undefined;
  const xs = v.split(',').map((s) => numberOpt(s, name, NaN));
  if (xs.length !== 3) throw new OptionError(`${name} needs 3 comma-separated numbers, got '${v}'`);
  return xs;
}

function parseTarget(t: string, top: string | undefined): Target {
  if (top !== undefined) {
    return { top: positiveIntOpt(top, '--top', 1) };
  }
  if (t === 'top') return 'top';
  const xs = t.split(',').map((s) => {
    const n = Number(s);
    if (s.trim() === '' || !Number.isInteger(n)) throw new UsageError(`--target must be 'top', a class index or a comma-separated list, got '${t}'`);
    if (n < 0) throw new OptionError(`--target ${n}: class indices are non-negative`);
    return n;
  });
  return xs.length === 1 ? xs[0] : xs;
}

export async function explainCommand(argv: string[]): Promise<number> {
  const { values: v, positionals } = parse(argv, EXPLAIN);
  const str = (k: string) => v[k] as string | undefined;
  if (positionals.length < 2) throw usageError(EXPLAIN);
  const [modelArg, ...inputs] = positionals;
  // A bundled model by name brings its preprocessing and class names.
  const bundled = bundledModel(modelArg);
  const modelPath = resolveModelPath(modelArg);
  const method = str('method') as Method;
  if (!METHODS.includes(method)) throw new OptionError(`--method must be one of ${METHODS.join(', ')}, got '${method}'`);
  const gradients = isGradientMethod(method);
  const only = (names: string[], which: string, ok: boolean) => {
    for (const k of names) if (v[k] !== undefined && !ok) throw new OptionError(`--${k} applies to ${which} only, not --method ${method}`);
  };
  only(['steps', 'baseline'], 'ig', method === 'ig');
  only(['samples', 'noise', 'seed', 'magnitude'], 'smoothgrad', method === 'smoothgrad');
  only(['layer'], 'ae, the CAM methods but fullgrad, eb and ceb (the gradient family, fullgrad and lrp explain the model input)', !gradients && method !== 'fullgrad' && method !== 'lrp');
  only(['score'], 'scorecam', method === 'scorecam');
  const score = str('score');
  if (score !== undefined && !(SCORE_MODES as readonly string[]).includes(score)) throw new OptionError(`--score must be ${SCORE_MODES.join(' or ')}, got '${score}'`);
  only(['composite', 'low', 'high'], 'lrp', method === 'lrp');
  only(['contrast-layer'], 'ceb', method === 'ceb');
  const baselineArg = str('baseline');
  let baseline: ExplainOptions['baseline'];
  if (baselineArg !== undefined && baselineArg !== 'zero') {
    if (!existsSync(baselineArg)) throw new InputError(`--baseline ${baselineArg}: file not found (use zero or a .npy tensor)`);
    const b = readNpy(baselineArg);
    baseline = { shape: b.shape, data: b.data };
  }
  const opts: ExplainOptions = {
    method,
    ...(method === 'ig' ? { steps: positiveIntOpt(str('steps'), '--steps', 16), baseline } : {}),
    ...(method === 'smoothgrad' ? {
      samples: positiveIntOpt(str('samples'), '--samples', 16),
      noise: str('noise') !== undefined ? numberOpt(str('noise'), '--noise', 0) : undefined,
      seed: str('seed') !== undefined ? nonNegativeInt(str('seed')!, '--seed') : undefined,
      magnitude: !!v.magnitude,
    } : {}),
    ...(score !== undefined ? { score: score as ScoreMode } : {}),
    ...(method === 'lrp' ? {
      composite: str('composite') as ExplainOptions['composite'],
      low: str('low') !== undefined ? numberOpt(str('low'), '--low', 0) : undefined,
      high: str('high') !== undefined ? numberOpt(str('high'), '--high', 0) : undefined,
    } : {}),
    ...(method === 'ceb' ? { contrastLayer: str('contrast-layer') } : {}),
    target: parseTarget(str('target')!, str('top')),
    ratio: numberOpt(str('ratio'), '--ratio', 2),
    layer: str('layer'),
    residual: str('residual') as ExplainOptions['residual'],
    terms: { shift: !v['no-shift'], contrib: !v['no-contrib'], activated: !v['no-activated'], inactivated: !v['no-inactivated'] },
  };
  if (opts.residual !== undefined && opts.residual !== 'main' && opts.residual !== 'proportional') {
    throw new OptionError(`--residual must be main or proportional, got '${opts.residual}'`);
  }
  let batch = positiveIntOpt(str('batch'), '--batch', 4);
  const maxMemory = bytesOpt(str('max-memory'), '--max-memory');
  // The image decoder's pixel budget follows --max-memory (about 16 bytes per pixel while decoding
  // and drawing the overlay), never above MAX_IMAGE_PIXELS.
  const maxPixels = maxMemory === undefined ? MAX_IMAGE_PIXELS : Math.min(MAX_IMAGE_PIXELS, Math.floor(maxMemory / 16));
  if (opts.ratio !== undefined && !(opts.ratio >= RATIO_MIN && opts.ratio <= RATIO_MAX)) {
    throw new OptionError(`--ratio must be from ${RATIO_MIN} to ${RATIO_MAX} (AE's degree of evidence; the paper uses 1–2), got '${str('ratio')}'`);
  }
  const preset = str('preset') ?? bundled?.preset;
  if (preset !== undefined && !(preset in PRESETS)) throw new OptionError(`unknown --preset '${preset}' (use ${Object.keys(PRESETS).join(', ')})`);
  const labelsPath = str('labels');
  let labels: string[] | undefined = bundled?.classes;
  if (labelsPath) {
    if (!existsSync(labelsPath)) throw new InputError(`${labelsPath}: labels file not found`);
    if (statSync(labelsPath).isDirectory()) throw new InputError(`${labelsPath}: is a directory, not a labels file`);
    labels = readFileSync(labelsPath, 'utf8').split(/\r?\n/).filter((l, i, a) => l.length || i < a.length - 1);
  }

  const outDir = str('out')!;
  if (existsSync(outDir) && !statSync(outDir).isDirectory()) throw new InputError(`--out '${outDir}' exists and is not a folder`);
  const explainer = await Explainer.create(modelPath, { backend: str('backend') as BackendName | 'auto', maxMemory });
  const shape = explainer.inputShape(1);
  // Models exported with a fixed batch (e.g. 1) take that many inputs per pass.
  if (explainer.fixedBatch !== undefined) batch = Math.min(batch, explainer.fixedBatch);
  if (shape.length !== 4) throw new InputError(`${modelPath}: expected an N×C×H×W image input, the model's input has rank ${shape.length}`);
  const pre: PreprocessOptions = {
    preset: preset as PresetName | undefined,
    mean: numList(str('mean'), '--mean'),
    std: numList(str('std'), '--std'),
    bgr: v.bgr ? true : undefined,
    scale: str('scale') !== undefined ? numberOpt(str('scale'), '--scale', 1) : undefined,
  };
  if (Number.isFinite(shape[2]) && Number.isFinite(shape[3])) pre.size = [shape[2], shape[3]];

  // Load every input up front so a bad file fails before any work.
  const items: Item[] = [];
  const stems = new Set<string>();
  for (const file of inputs) {
    const ext = extname(file).toLowerCase();
    // Two inputs with one file name (a/x.png, b/x.png) get distinct stems: no output overwrites another.
    let stem = safeFileName(basename(file, extname(file)));
    while (stems.has(stem.toLowerCase())) stem = `${stem}_`;
    stems.add(stem.toLowerCase());
    if (ext === '.npy') {
      const a = readNpy(file);
      const bad = a.data.findIndex((x) => !Number.isFinite(x));
      if (bad >= 0) throw new InputError(`${file}: holds ${a.data[bad]} at element ${bad}; non-finite inputs are refused`);
      const s = a.shape.length === 3 ? [1, ...a.shape] : a.shape;
      if (s.length !== 4 || s.slice(1).some((d, i) => Number.isFinite(shape[i + 1]) && d !== shape[i + 1])) {
        throw new InputError(`${file}: tensor of shape [${a.shape.join('×')}] does not fit the model input [${shape.map((d) => (Number.isFinite(d) ? d : '?')).join('×')}] (N×C×H×W, already preprocessed)`);
      }
      const per = s[1] * s[2] * s[3];
      for (let n = 0; n < s[0]; n++) items.push({ stem: s[0] > 1 ? `${stem}-${n}` : stem, shape: s.slice(1), data: a.data.slice(n * per, (n + 1) * per) });
    } else {
      if (!pre.size) throw new InputError(`${modelPath}: the input's height and width are dynamic; give preprocessed .npy tensors instead of images`);
      // Images are recognised by content; the extension only names the output files.
      const img = readImage(file, maxPixels);
      const b = preprocess([img], pre);
      items.push({ stem, shape: b.shape.slice(1), data: b.data, image: img, crop: b.crops[0] });
    }
  }
  ensureDir(outDir);
  const tag = methodTag(opts);
  const progress = new Progress(items.length, 'explain');
  let done = 0;
  for (let i = 0; i < items.length; i += batch) {
    const chunk = items.slice(i, i + batch);
    const per = chunk[0].data.length;
    const odd = chunk.find((it) => it.shape.join() !== chunk[0].shape.join());
    if (odd) throw new InputError(`${odd.stem}: shape [${odd.shape.join('×')}] differs from [${chunk[0].shape.join('×')}] in the same batch; use --batch 1`);
    const data = new Float32Array(per * chunk.length);
    chunk.forEach((it, k) => data.set(it.data, k * per));
    const ex = await explainer.explain({ shape: [chunk.length, ...chunk[0].shape], data }, opts);
    const [, hh, ww] = ex.heatmaps.shape;
    const t = ex.targets[0].length;
    chunk.forEach((it, k) => {
      const classes = ex.logits.shape[1];
      const row = ex.logits.data.subarray(k * classes, (k + 1) * classes);
      let pred = 0;
      for (let c = 1; c < row.length; c++) if (row[c] > row[pred]) pred = c;
      const mx = row[pred];
      const z = row.reduce((a, x) => a + Math.exp(x - mx), 0);
      for (let j = 0; j < t; j++) {
        const cls = ex.targets[k][j];
        const b = k * t + j;
        const map = ex.heatmaps.data.subarray(b * hh * ww, (b + 1) * hh * ww);
        const base = join(outDir, outputBase(it.stem, cls, tag));
        writeFileAtomic(`${base}.png`, heatmapPng(map, hh, ww));
        if (it.image && it.crop) writeFileAtomic(`${base}.overlay.png`, overlayPng(it.image, map, hh, ww, it.crop));
        if (v['save-npy']) {
          writeNpy(`${base}.heatmap.npy`, [hh, ww], map.slice());
          if (ex.layerMap) {
            const [, lh, lw] = ex.layerMap.shape;
            writeNpy(`${base}.layermap.npy`, [lh, lw], ex.layerMap.data.slice(b * lh * lw, (b + 1) * lh * lw));
          }
          if (ex.attribution) {
            const [, ac, ah, aw] = ex.attribution.shape;
            writeNpy(`${base}.attribution.npy`, [ac, ah, aw], ex.attribution.data.slice(b * ac * ah * aw, (b + 1) * ac * ah * aw));
          }
        }
      }
      const name = (i: number) => (labels?.[i] !== undefined ? `${i} ${labels[i]}` : `${i}`);
      process.stdout.write(`${it.stem}: predicted ${name(pred)} (p=${(1 / z).toFixed(3)}, logit ${row[pred].toFixed(3)}); explained ${ex.targets[k].map(name).join(', ')} with ${method} at ${ex.layer}\n`);
    });
    done += chunk.length;
    progress.update(done);
  }
  progress.done();
  process.stderr.write(`wrote ${outDir}/ (backend ${explainer.backend})\n`);
  explainer.dispose();
  return 0;
}
