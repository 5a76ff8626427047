// Builds a pointing-game / GridPG dataset (docs/dataset-format.md) from the third-party photos in
// ../shared/fixtures and our hand-drawn boxes (boxes.json), for the shared SqueezeNet:
//
//   node tools/shared-photos/build.mjs --out DIR [--fixtures ../shared/fixtures]
//
// DIR/scenes:  each photo as the model sees it (caffe-bgr geometry: short side to 256 with PIL's
//              bilinear filter, centre crop 227×227), boxes mapped through the same geometry.
// DIR/mosaics: 2×2 GridPG mosaics (454×454) of those crops, the layouts listed in boxes.json.
//
// The photos are not ours to redistribute, so DIR must not be a tracked part of the repository;
// only boxes.json and this script are committed. See README.md next to this file.
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve, isAbsolute } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..', '..');
const TOOL = 'tools/shared-photos/build.mjs';
const PRESET = 'caffe-bgr';

// The helpers we need (resize, crop geometry, PNG writers, the format's validator) are internal
// modules that src/index.ts does not export, so bundle them ourselves, from source, on each run.
// The bundle lives in dist/ (ignored) so that its bare imports (pngjs, jpeg-js) resolve.
async function loadLib() {
  const entry = [
    "export { readImage, resizeRgb, cropGeometry, resolveOptions } from './src/io/image.ts';",
    "export { encodeRgbPng, encodeMaskPng, decodeMaskPng, validateAnnotations, FORMAT_NAME, FORMAT_VERSION } from './src/data/format.ts';",
  ].join('\n');
  const r = await build({
    stdin: { contents: entry, resolveDir: ROOT, loader: 'ts', sourcefile: 'shared-photos-lib.ts' },
    absWorkingDir: ROOT, bundle: true, write: false, platform: 'node', format: 'esm', target: 'node20',
    packages: 'external', loader: { '.wgsl': 'text', '.proto': 'text' }, logLevel: 'warning',
  });
  const dir = join(ROOT, 'dist', 'tools');
  mkdirSync(dir, { recursive: true });
  // A private name per process, renamed into place: concurrent runs never read a half-written file.
  const tmp = join(dir, `shared-photos-lib.${process.pid}.tmp.js`);
  const path = join(dir, `shared-photos-lib.${process.pid}.js`);
  writeFileSync(tmp, r.outputFiles[0].text);
  renameSync(tmp, path);
  try {
    return await import(pathToFileURL(path).href);
  } finally {
    rmSync(path, { force: true });
  }
}

const fail = (msg) => {
  throw new Error(`${TOOL}: ${msg}`);
};

function readBoxes() {
  return JSON.parse(readFileSync(join(HERE, 'boxes.json'), 'utf8'));
}

/** Photo box [x0, y0, x1, y1) → crop pixels: the smallest pixel box covering it, clipped. */
export function mapBox(box, w, h, crop, size) {
  const sx = crop.resizedWidth / w, sy = crop.resizedHeight / h;
  const eps = 1e-9;
  const clamp = (v, hi) => Math.min(Math.max(v, 0), hi);
  return [
    clamp(Math.floor(box[0] * sx + eps) - crop.left, size[0]),
    clamp(Math.floor(box[1] * sy + eps) - crop.top, size[1]),
    clamp(Math.ceil(box[2] * sx - eps) - crop.left, size[0]),
    clamp(Math.ceil(box[3] * sy - eps) - crop.top, size[1]),
  ];
}

/** Tight box [x0, y0, x1, y1) of the non-zero pixels of a W×H mask, or null when empty. */
export function maskBox(mask, W, H) {
  let x0 = W, y0 = H, x1 = -1, y1 = -1;
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      if (!mask[y * W + x]) continue;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
    }
  }
  return x1 < 0 ? null : [x0, y0, x1 + 1, y1 + 1];
}

function cropRgb(rgb, rw, left, top, W, H) {
  const out = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++) out.set(rgb.subarray(((y + top) * rw + left) * 3, ((y + top) * rw + left + W) * 3), y * W * 3);
  return out;
}

/** Refuse an output folder that git would track: the photos must stay out of the repository. */
function checkOutsideRepo(out) {
  const rel = relative(ROOT, out);
  if (rel.startsWith('..') || isAbsolute(rel)) return;
  const r = spawnSync('git', ['check-ignore', '-q', rel || '.'], { cwd: ROOT });
  if (r.status === 1) fail(`--out ${out} is inside the repository and not ignored by git; the photos must not be committed (use a folder outside it, or an ignored one such as out/)`);
}

/** Clear a previous output of this tool (and nothing else) so no stale files survive. */
function prepare(dir) {
  if (existsSync(dir)) {
    const ann = join(dir, 'annotations.json');
    let ours = false;
    try {
      ours = JSON.parse(readFileSync(ann, 'utf8')).generator?.tool === TOOL;
    } catch {
      ours = false;
    }
    if (!ours) fail(`${dir} exists and was not written by this tool; remove it or pick another --out`);
    rmSync(dir, { recursive: true, force: true });
  }
  mkdirSync(join(dir, 'images'), { recursive: true });
}

export async function buildSharedPhotos({ out, fixtures = join(ROOT, '..', 'shared', 'fixtures') }) {
  const lib = await loadLib();
  const boxes = readBoxes();
  fixtures = resolve(fixtures);
  out = resolve(out);
  if (!existsSync(join(fixtures, 'images'))) fail(`${fixtures}: no images/ folder (the shared fixtures, see ../shared/fixtures/README.md)`);
  checkOutsideRepo(out);
  const classes = readFileSync(join(fixtures, boxes.classes), 'utf8').split('\n').map((s) => s.trim()).filter(Boolean);
  if (classes.length !== 1000) fail(`${boxes.classes}: expected 1000 ImageNet class names, got ${classes.length}`);

  const opts = lib.resolveOptions({ preset: PRESET });
  const [S_H, S_W] = opts.size;
  const provenance = {
    tool: TOOL,
    preset: PRESET,
    geometry: `short side resized to ${Math.round(Math.min(S_H, S_W) / opts.cropRatio)} (PIL bilinear, antialiased), centre crop ${S_W}×${S_H}`,
    boxes: 'drawn by hand on the original photos (tools/shared-photos/boxes.json), mapped through the same geometry; "accept" lists near-synonym classes',
    photos: '../shared/fixtures/images (scikit-image CC0; Open Images V5 CC BY 2.0, attribution: Open Images Dataset V5 contributors; US Navy public domain). Not for redistribution with the repository.',
  };

  // ---- scenes
  const sceneDir = join(out, 'scenes');
  prepare(sceneDir);
  const scenes = new Map();
  const sceneRecs = [];
  for (const p of boxes.photos) {
    const img = lib.readImage(join(fixtures, p.file));
    if (img.width !== p.size[0] || img.height !== p.size[1]) fail(`${p.file} is ${img.width}×${img.height}, boxes.json says ${p.size.join('×')} (another photo?)`);
    const crop = lib.cropGeometry(img.width, img.height, opts);
    const resized = lib.resizeRgb(img.rgb, img.width, img.height, crop.resizedWidth, crop.resizedHeight);
    const rgb = cropRgb(resized, crop.resizedWidth, crop.left, crop.top, S_W, S_H);
    let mask = null, maskValue = 0;
    const objects = p.objects.map((o, j) => {
      const where = `${p.id} objects[${j}]`;
      if (!Number.isInteger(o.class) || o.class < 0 || o.class >= classes.length) fail(`${where}: class ${o.class} is not an ImageNet index`);
      if (!o.accept.includes(o.class)) fail(`${where}: "accept" must include the canonical class ${o.class}`);
      const [x0, y0, x1, y1] = o.box;
      if (!(x0 >= 0 && y0 >= 0 && x0 < x1 && y0 < y1 && x1 <= img.width && y1 <= img.height)) fail(`${where}: box [${o.box}] is empty or outside the ${img.width}×${img.height} photo`);
      const rec = { class: o.class, box: mapBox(o.box, img.width, img.height, crop, [S_W, S_H]), area: 0, difficult: false, maskValue: null, accept: [...o.accept], what: o.what };
      if (o.mask) {
        // The object's region is the mask (non-zero = object), resampled like the photo and
        // thresholded at half coverage; its box is the resampled mask's tight box.
        const m = lib.decodeMaskPng(readFileSync(join(fixtures, o.mask)), o.mask);
        if (m.width !== img.width || m.height !== img.height) fail(`${o.mask} is ${m.width}×${m.height}, the photo ${img.width}×${img.height}`);
        const orig = maskBox(m.data, m.width, m.height);
        if (!orig || orig.join() !== o.box.join()) fail(`${where}: box [${o.box}] is not the mask's bounding box [${orig}]`);
        const grey = new Uint8Array(m.data.length * 3);
        for (let i = 0; i < m.data.length; i++) if (m.data[i]) grey[i * 3] = grey[i * 3 + 1] = grey[i * 3 + 2] = 255;
        const mr = lib.resizeRgb(grey, img.width, img.height, crop.resizedWidth, crop.resizedHeight);
        const mc = cropRgb(mr, crop.resizedWidth, crop.left, crop.top, S_W, S_H);
        mask ??= new Uint8Array(S_W * S_H);
        rec.maskValue = ++maskValue;
        let n = 0;
        for (let i = 0; i < S_W * S_H; i++) if (mc[i * 3] >= 128) { mask[i] = rec.maskValue; n++; }
        const tight = maskBox(mask.map((v) => (v === rec.maskValue ? 1 : 0)), S_W, S_H);
        if (!tight) fail(`${where}: the mask leaves the crop`);
        if (tight.some((v, k) => Math.abs(v - rec.box[k]) > 1)) fail(`${where}: resampled mask box [${tight}] disagrees with the mapped box [${rec.box}]`);
        rec.box = tight;
        rec.area = n / (S_W * S_H);
      } else {
        const [a, b, c, d] = rec.box;
        if (a >= c || b >= d) fail(`${where}: box [${o.box}] falls outside the centre crop`);
        rec.area = ((c - a) * (d - b)) / (S_W * S_H);
      }
      rec.difficult = rec.area < 0.25;
      return rec;
    });
    if (mask && p.objects.some((o) => !o.mask)) fail(`${p.id}: mix of masked and box-only objects (the format's region then falls back to boxes)`);
    const id = p.id;
    writeFileSync(join(sceneDir, 'images', `${id}.png`), lib.encodeRgbPng(rgb, S_W, S_H));
    if (mask) {
      mkdirSync(join(sceneDir, 'masks'), { recursive: true });
      writeFileSync(join(sceneDir, 'masks', `${id}.png`), lib.encodeMaskPng(mask, S_W, S_H));
    }
    const rec = {
      id, file: `images/${id}.png`, mask: mask ? `masks/${id}.png` : null, width: S_W, height: S_H, split: 'test',
      labels: [...new Set(objects.map((o) => o.class))].sort((a, b) => a - b),
      objects,
      source: { file: p.file, width: img.width, height: img.height, crop },
    };
    sceneRecs.push(rec);
    scenes.set(id, { rgb, rec });
  }
  const sceneAnn = finish(lib, sceneDir, classes, sceneRecs, { ...provenance, kind: 'scenes' });

  // ---- mosaics
  const mosDir = join(out, 'mosaics');
  prepare(mosDir);
  const W = S_W * 2, H = S_H * 2;
  const mosRecs = boxes.mosaics.grids.map((parts, m) => {
    const id = `mosaic${String(m).padStart(2, '0')}`;
    if (parts.length !== 4) fail(`${id}: a 2×2 mosaic needs 4 photos, got ${parts.length}`);
    const cells = parts.map((pid) => {
      const s = scenes.get(pid) ?? fail(`${id}: unknown photo '${pid}'`);
      return s.rec.objects[0].class;
    });
    // "Distinct classes" in the lenient sense: no cell's accepted classes meet another's (no two cats).
    const accepted = parts.map((pid) => new Set(scenes.get(pid).rec.objects.flatMap((o) => o.accept)));
    for (let a = 0; a < 4; a++) {
      for (let b = a + 1; b < 4; b++) {
        if ([...accepted[a]].some((c) => accepted[b].has(c))) fail(`${id}: '${parts[a]}' and '${parts[b]}' share an accepted class`);
      }
    }
    const rgb = new Uint8Array(W * H * 3);
    const objects = [];
    parts.forEach((pid, k) => {
      const s = scenes.get(pid);
      const ox = (k % 2) * S_W, oy = Math.floor(k / 2) * S_H;
      for (let y = 0; y < S_H; y++) rgb.set(s.rgb.subarray(y * S_W * 3, (y + 1) * S_W * 3), ((oy + y) * W + ox) * 3);
      for (const o of s.rec.objects) {
        const area = (o.area * S_W * S_H) / (W * H);
        objects.push({
          class: o.class, box: [o.box[0] + ox, o.box[1] + oy, o.box[2] + ox, o.box[3] + oy], area, difficult: area < 0.25,
          maskValue: null, accept: o.accept, what: o.what, cell: k,
        });
      }
    });
    writeFileSync(join(mosDir, 'images', `${id}.png`), lib.encodeRgbPng(rgb, W, H));
    return {
      id, file: `images/${id}.png`, mask: null, width: W, height: H, split: 'test',
      labels: [...new Set(objects.map((o) => o.class))].sort((a, b) => a - b),
      objects,
      grid: { rows: 2, cols: 2, cells },
      parts,
    };
  });
  const mosAnn = finish(lib, mosDir, classes, mosRecs, { ...provenance, kind: 'mosaics', cells: `${S_W}×${S_H}, each a whole scene image` });
  return { out, scenes: sceneAnn, mosaics: mosAnn };
}

function finish(lib, dir, classes, images, generator) {
  const ann = { format: lib.FORMAT_NAME, version: lib.FORMAT_VERSION, classes, images, generator };
  const path = join(dir, 'annotations.json');
  writeFileSync(path, JSON.stringify(ann, null, 1) + '\n');
  // The reader's own checks (files, boxes, labels, grid), so a broken boxes.json fails here.
  lib.validateAnnotations(JSON.parse(readFileSync(path, 'utf8')), path, dir, true);
  return ann;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { out: { type: 'string', short: 'o' }, fixtures: { type: 'string' } }, allowPositionals: false });
  if (!values.out) {
    process.stderr.write(`usage: node ${TOOL} --out DIR [--fixtures ../shared/fixtures]\n`);
    process.exit(1);
  }
  try {
    const r = await buildSharedPhotos({ out: values.out, ...(values.fixtures ? { fixtures: values.fixtures } : {}) });
    process.stdout.write(`${r.out}/scenes: ${r.scenes.images.length} photos; ${r.out}/mosaics: ${r.mosaics.images.length} 2×2 mosaics\n`);
  } catch (e) {
    process.stderr.write(`${e.message}\n`);
    process.exit(1);
  }
}
