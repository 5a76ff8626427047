// `aeq demo` (`npm start`): the bundled models explain the bundled sample images with AE at two
// ratios, Grad-CAM, LRP epsilon-plus-flat and Integrated Gradients; out/index.html shows the
// overlays side by side, out/results.json holds the same numbers for scripts (and the test).
import { copyFileSync, existsSync, readdirSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import { Explainer, type ExplainOptions } from '../explain/explainer.js';
import { readImage, preprocess, type RgbImage } from '../io/image.js';
import { heatmapPng, overlayPng } from '../io/heatmap.js';
import { readDataset } from '../data/format.js';
import { bundledModels, modelsDir, type BundledModel } from '../models.js';
import { parse, usageError, type CommandSpec } from './args.js';
import { safeFileName } from './run.js';
import { InputError, OptionError } from '../errors.js';
import { writeFileAtomic, ensureDir } from '../io/atomic.js';
import { methodTag, outputBase } from './output.js';
import type { BackendName } from '../runtime/session.js';

export const DEMO_METHODS = [
  { key: 'ae-r1', title: 'AE ratio 1', opts: { method: 'ae', ratio: 1 } },
  { key: 'ae-r2', title: 'AE ratio 2', opts: { method: 'ae', ratio: 2 } },
  { key: 'gradcam', title: 'Grad-CAM', opts: { method: 'gradcam' } },
  { key: 'lrp-epsilon-plus-flat', title: 'LRP ε+♭ (Zennit EpsilonPlusFlat)', opts: { method: 'lrp', composite: 'epsilon-plus-flat' } },
  { key: 'ig-s16', title: 'Integrated Gradients (16 steps)', opts: { method: 'ig', steps: 16 } },
] as const satisfies readonly { key: string; title: string; opts: ExplainOptions }[];

/** Probabilities at or above this are listed as predicted (the bundled models are multi-label). */
const PRESENT = 0.5;

interface Sample {
  id: string;
  stem: string;
  file: string;
  image: RgbImage;
  /** Ground-truth class names; null when the folder has no annotations.json. */
  labels: string[] | null;
}

export interface DemoMap {
  /** The class explained: the top one, unless two nearly tied logits swapped between passes. */
  class: number;
  /** Paths relative to the output folder. */
  heatmap: string;
  overlay: string;
  /** Range of the raw map (NaN becomes null in results.json). */
  min: number;
  max: number;
}

export interface DemoRow {
  id: string;
  labels: string[] | null;
  input: string;
  width: number;
  height: number;
  /** The explained class: the top-scoring one. */
  top: { index: number; name: string; p: number };
  /** Every class with p ≥ 0.5, most probable first. */
  present: { index: number; name: string; p: number }[];
  maps: Record<string, DemoMap>;
}

export interface DemoModel {
  name: string;
  architecture: string;
  classes: string[];
  heldOut: BundledModel['heldOut'];
  layer: Record<string, string>;
  /** Seconds: model load, each method's one batched call (the first includes shader setup), total. */
  seconds: Record<string, number>;
  rows: DemoRow[];
}

export interface DemoResult {
  backend: BackendName;
  device: string;
  samples: string;
  models: DemoModel[];
}

/** samples/ of the package, next to models/. */
export function samplesDir(): string {
  return join(modelsDir(), '..', 'samples');
}

const IMAGE_EXT = new Set(['.png', '.jpg', '.jpeg']);

/** A dataset folder (annotations.json: labels known) or any folder of PNG/JPEG images. */
function loadSamples(dir: string): Sample[] {
  if (!existsSync(dir)) throw new InputError(`${dir}: samples folder not found`);
  const stems = new Set<string>();
  const stemOf = (id: string) => {
    let s = safeFileName(id);
    while (stems.has(s)) s = `${s}_`;
    stems.add(s);
    return s;
  };
  if (existsSync(join(dir, 'annotations.json'))) {
    const ds = readDataset(dir);
    if (!ds.images.length) throw new InputError(`${dir}: annotations.json lists no images`);
    return ds.images.map((r) => {
      const file = join(ds.dir, r.file);
      return { id: r.id, stem: stemOf(r.id), file, image: readImage(file), labels: r.labels.map((l) => ds.classes[l]) };
    });
  }
  const files = readdirSync(dir).filter((f) => IMAGE_EXT.has(extname(f).toLowerCase())).sort();
  if (!files.length) throw new InputError(`${dir}: no annotations.json and no PNG/JPEG images`);
  return files.map((f) => {
    const id = f.slice(0, f.length - extname(f).length);
    const file = join(dir, f);
    return { id, stem: stemOf(id), file, image: readImage(file), labels: null };
  });
}

function probabilities(m: BundledModel, logits: Float32Array): number[] {
  if (m.output === 'sigmoid') return Array.from(logits, (x) => 1 / (1 + Math.exp(-x)));
  const mx = Math.max(...logits);
  const z = logits.reduce((a, x) => a + Math.exp(x - mx), 0);
  return Array.from(logits, (x) => Math.exp(x - mx) / z);
}

function range(map: Float32Array): { min: number; max: number } {
  let min = Infinity, max = -Infinity;
  for (const v of map) {
    if (!Number.isFinite(v)) return { min: NaN, max: NaN };
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  return { min, max };
}

/** All samples through one model: one batched explain call per method, files under outDir/<model>/. */
async function explainModel(explainer: Explainer, m: BundledModel, samples: Sample[], outDir: string, load: number): Promise<DemoModel> {
  const t0 = performance.now();
  const batch = preprocess(samples.map((s) => s.image), { preset: m.preset });
  ensureDir(join(outDir, m.name));
  const rel = (f: string) => `${m.name}/${f}`;
  const rows: DemoRow[] = samples.map((s) => {
    const input = rel(`${s.stem}${extname(s.file).toLowerCase()}`);
    copyFileSync(s.file, join(outDir, input));
    const none = { index: -1, name: '', p: NaN };
    return { id: s.id, labels: s.labels, input, width: s.image.width, height: s.image.height, top: none, present: [], maps: {} };
  });
  const seconds: Record<string, number> = { load };
  const layer: Record<string, string> = {};
  for (const method of DEMO_METHODS) {
    const t = performance.now();
    // The Explainer splits the batch into passes itself where the GPU's binding limits require it.
    const ex = await explainer.explain({ shape: batch.shape, data: batch.data }, { ...method.opts, target: 'top' });
    seconds[method.key] = (performance.now() - t) / 1000;
    layer[method.key] = ex.layer;
    const classes = ex.logits.shape[1];
    const [, h, w] = ex.heatmaps.shape;
    rows.forEach((row, k) => {
      const cls = ex.targets[k][0];
      if (row.top.index < 0) {
        const p = probabilities(m, ex.logits.data.subarray(k * classes, (k + 1) * classes));
        const entry = (c: number) => ({ index: c, name: m.classes[c] ?? String(c), p: p[c] });
        row.top = entry(cls);
        row.present = p.map((_, c) => c).filter((c) => p[c] >= PRESENT).sort((a, b) => p[b] - p[a]).map(entry);
      }
      const map = ex.heatmaps.data.subarray(k * h * w, (k + 1) * h * w);
      const base = outputBase(samples[k].stem, cls, methodTag(method.opts));
      const f: DemoMap = { class: cls, heatmap: rel(`${base}.png`), overlay: rel(`${base}.overlay.png`), ...range(map) };
      writeFileAtomic(join(outDir, f.heatmap), heatmapPng(map, h, w));
      writeFileAtomic(join(outDir, f.overlay), overlayPng(samples[k].image, map, h, w, batch.crops[k]));
      row.maps[method.key] = f;
    });
  }
  seconds.total = load + (performance.now() - t0) / 1000;
  return { name: m.name, architecture: m.architecture, classes: m.classes, heldOut: m.heldOut, layer, seconds, rows };
}

export interface DemoOptions {
  out: string;
  backend?: BackendName | 'auto';
  models?: string[];
  samples?: string;
  /** Called once the backend is known, and after each model. */
  onBackend?: (device: string) => void;
  onModel?: (m: DemoModel) => void;
}

export async function runDemo(o: DemoOptions): Promise<DemoResult> {
  const all = bundledModels();
  const names = o.models ?? [...all.keys()];
  if (!names.length) throw new OptionError('demo: --models needs at least one model name');
  for (const n of names) if (!all.has(n)) throw new OptionError(`demo: unknown model '${n}' (bundled models: ${[...all.keys()].join(', ')})`);
  const sampleDir = o.samples ?? samplesDir();
  const samples = loadSamples(sampleDir);
  ensureDir(o.out);
  const result: DemoResult = { backend: 'cpu', device: '', samples: o.samples === undefined ? 'samples/' : resolve(sampleDir), models: [] };
  for (const n of names) {
    const t0 = performance.now();
    const explainer = await Explainer.create(all.get(n)!.path, { backend: o.backend ?? 'auto' });
    try {
      if (!result.device) {
        const gpu = explainer.session.gpu;
        result.backend = explainer.backend;
        result.device = gpu ? `webgpu (${gpu.adapterName})` : 'cpu (reference backend)';
        o.onBackend?.(result.device);
      }
      const m = await explainModel(explainer, all.get(n)!, samples, o.out, (performance.now() - t0) / 1000);
      result.models.push(m);
      o.onModel?.(m);
    } finally {
      explainer.dispose();
    }
  }
  writeFileAtomic(join(o.out, 'results.json'), JSON.stringify(result, null, 1) + '\n');
  writeFileAtomic(join(o.out, 'index.html'), indexHtml(result));
  return result;
}

// ---------------------------------------------------------------------------------------------
// index.html: self-contained (inline CSS, relative links only), readable from the file system.

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
const href = (p: string) => p.split('/').map(encodeURIComponent).join('/');

function infoCell(row: DemoRow): string {
  const mark = (name: string) => (row.labels ? (row.labels.includes(name) ? ' ✓' : ' ✗') : '');
  const listed = row.present.some((c) => c.index === row.top.index) ? row.present : [row.top, ...row.present];
  const pred = listed.map((c) => `<li${c.index === row.top.index ? ' class="top"' : ''}>${esc(c.name)} ${c.p.toFixed(3)}${mark(c.name)}</li>`).join('');
  const truth = row.labels ? (row.labels.length ? row.labels.map(esc).join(', ') : '(none)') : '(not annotated)';
  return `<td class="info"><b>${esc(row.id)}</b><br>in the image: ${truth}<br>predicted (p ≥ ${PRESENT}):<ul>${pred}</ul>explained: <b>${esc(row.top.name)}</b></td>`;
}

function mapCell(f: DemoMap, row: DemoRow, classes: string[]): string {
  const other = f.class !== row.top.index ? `<br>explained: ${esc(classes[f.class] ?? String(f.class))}` : '';
  return `<td><a class="map" href="${href(f.heatmap)}"><img src="${href(f.overlay)}" alt="overlay"><img class="heat" src="${href(f.heatmap)}" alt="heatmap"></a>${other}</td>`;
}

function modelSection(m: DemoModel): string {
  const secs = DEMO_METHODS.map((x) => `${x.title} ${m.seconds[x.key].toFixed(1)} s`).join(' · ');
  const layers = [...new Set(Object.values(m.layer))].map((l) => `<code>${esc(l)}</code>`).join(', ');
  const head = `<tr><th>input</th>${DEMO_METHODS.map((x) => `<th>${x.title}</th>`).join('')}<th>prediction</th></tr>`;
  const body = m.rows.map((row) => `<tr><td><img src="${href(row.input)}" alt="${esc(row.id)}"></td>${DEMO_METHODS.map((x) => mapCell(row.maps[x.key], row, m.classes)).join('')}${infoCell(row)}</tr>`);
  return `<h2>${esc(m.name)}</h2>
<p>${esc(m.architecture)}<br>held-out ${esc(m.heldOut.data)}: mAP ${pct(m.heldOut.mAP)}, top-1 accuracy ${pct(m.heldOut.top1)} · explained layer ${layers}<br>
time: load ${m.seconds.load.toFixed(1)} s · ${secs} · total ${m.seconds.total.toFixed(1)} s
(${m.rows.length} images in one call per method; the first call includes shader compilation)</p>
<table>
${head}
${body.join('\n')}
</table>`;
}

export function indexHtml(r: DemoResult): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>aeq demo</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin-bottom: 2em; }
th, td { border: 1px solid #ccc; padding: 4px; vertical-align: top; }
td img { display: block; width: 224px; height: auto; }
a.map { position: relative; display: block; }
a.map img.heat { position: absolute; left: 0; top: 0; width: 100%; height: 100%; opacity: 0; }
a.map:hover img.heat { opacity: 1; }
td.info { min-width: 15em; }
td.info ul { margin: 0.2em 0; padding-left: 1.2em; }
li.top { font-weight: bold; }
code { font-size: 12px; }
</style></head><body>
<h1>aeq demo</h1>
<p>Each bundled model explains its top-scoring class on every sample image (<code>${esc(r.samples)}</code>) with
Attribution Equilibrium (AE) at ratio 1 and 2 (the degree of evidence) and with Grad-CAM.
Red: evidence for the class, blue: evidence against it. Hover over an overlay for the heatmap alone
(click to open it). ✓ / ✗: the class is / is not in the image.</p>
<p>backend: <b>${esc(r.device)}</b></p>
${r.models.map(modelSection).join('\n')}
</body></html>
`;
}

export const DEMO: CommandSpec = {
  name: 'demo',
  usage: `usage: aeq demo [--out DIR] [--backend webgpu|cpu|auto] [--models aeq-vgg,aeq-resnet] [--samples DIR]
explains the sample images with the bundled models (AE at ratio 1 and 2, Grad-CAM) → DIR/index.html
  -o, --out DIR               output folder (default out)
  --backend webgpu|cpu|auto   the backend (default auto: WebGPU when there is an adapter)
  --models LIST               comma-separated bundled models (default aeq-vgg,aeq-resnet)
  --samples DIR               folder of images to explain (default the bundled samples/)
  -h, --help                  this text`,
  options: {
    out: { type: 'string', short: 'o', default: 'out' },
    backend: { type: 'string', default: 'auto' },
    models: { type: 'string' },
    samples: { type: 'string' },
  },
};

export async function demoCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, DEMO);
  if (positionals.length) throw usageError(DEMO);
  const out = values.out as string;
  const say = (s: string) => process.stdout.write(`${s}\n`);
  const t0 = performance.now();
  const r = await runDemo({
    out,
    backend: values.backend as BackendName | 'auto',
    models: values.models !== undefined ? (values.models as string).split(',').map((s) => s.trim()).filter(Boolean) : undefined,
    samples: values.samples as string | undefined,
    onBackend: (d) => say(`backend: ${d}${d.startsWith('cpu') ? '; this takes minutes rather than seconds' : ''}`),
    onModel: (m) => {
      const per = DEMO_METHODS.map((x) => `${x.key} ${m.seconds[x.key].toFixed(1)} s`).join(', ');
      const known = m.rows.filter((row) => row.labels);
      const right = known.filter((row) => row.labels!.includes(row.top.name)).length;
      const score = known.length ? `; top class in the image: ${right}/${known.length}` : '';
      say(`${m.name}: ${m.rows.length} images in ${m.seconds.total.toFixed(1)} s (load ${m.seconds.load.toFixed(1)} s, ${per})${score}`);
    },
  });
  const n = r.models.reduce((a, m) => a + m.rows.length * (1 + 2 * DEMO_METHODS.length), 0);
  say(`wrote ${n} images, results.json and index.html to ${out}/ in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  say(`open ${join(out, 'index.html')}`);
  return 0;
}
