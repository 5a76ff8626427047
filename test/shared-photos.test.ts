// The shared-photos ground truth (tools/shared-photos): our hand-drawn boxes on the third-party
// photos in ../shared/fixtures, turned into a scenes folder (the caffe-bgr crop SqueezeNet sees) and
// GridPG mosaics. The photos are not in the repository, so without ../shared/fixtures this skips.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkMask, decodeMaskPng, loadImage, loadMask, readDataset, type Dataset } from '../src/data/format.js';
import { cropGeometry, preprocess, readImage, resizeRgb, resolveOptions } from '../src/io/image.js';

const ROOT = join(__dirname, '..');
const SHARED = join(ROOT, '..', 'shared', 'fixtures');
const HAVE = existsSync(join(SHARED, 'images'));
const SKIP_NOTE = `SKIPPED: ${SHARED} is absent (the real photos live outside the repository; see tools/shared-photos/README.md)`;
if (!HAVE) console.warn(`test/shared-photos.test.ts: ${SKIP_NOTE}`);

type Box = [number, number, number, number];
interface HandObject { class: number; accept: number[]; box: Box; mask?: string }
interface HandPhoto { id: string; file: string; size: [number, number]; objects: HandObject[] }
const HAND = JSON.parse(readFileSync(join(ROOT, 'tools', 'shared-photos', 'boxes.json'), 'utf8')) as {
  photos: HandPhoto[];
  mosaics: { grids: string[][] };
};
const CAFFE = resolveOptions({ preset: 'caffe-bgr' });

function bbox(mask: ArrayLike<number>, w: number, h: number, hit: (v: number) => boolean): Box | null {
  let x0 = w, y0 = h, x1 = -1, y1 = -1;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (!hit(mask[y * w + x])) continue;
      x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y);
    }
  }
  return x1 < 0 ? null : [x0, y0, x1 + 1, y1 + 1];
}

/** A box of the original photo in crop pixels: scale per axis, outward to whole pixels, clip. */
function mapped(box: Box, w: number, h: number): Box {
  const c = cropGeometry(w, h, CAFFE);
  const sx = c.resizedWidth / w, sy = c.resizedHeight / h;
  const cl = (v: number) => Math.min(Math.max(v, 0), 227);
  return [cl(Math.floor(box[0] * sx) - c.left), cl(Math.floor(box[1] * sy) - c.top), cl(Math.ceil(box[2] * sx) - c.left), cl(Math.ceil(box[3] * sy) - c.top)];
}

describe.skipIf(!HAVE)(HAVE ? 'shared-photos dataset (tools/shared-photos/build.mjs)' : `shared-photos dataset — ${SKIP_NOTE}`, () => {
  let dir = '';
  let scenes: Dataset, mosaics: Dataset;
  let rawScenes: { images: { id: string; objects: { class: number; accept: number[] }[] }[] };
  let rawMosaics: { images: { id: string; parts: string[]; objects: { accept: number[]; cell: number }[] }[] };

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'aeq-shared-photos-'));
    const r = spawnSync(process.execPath, [join(ROOT, 'tools', 'shared-photos', 'build.mjs'), '--out', dir, '--fixtures', SHARED], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('8 photos');
    scenes = readDataset(join(dir, 'scenes'));
    mosaics = readDataset(join(dir, 'mosaics'));
    rawScenes = JSON.parse(readFileSync(join(dir, 'scenes', 'annotations.json'), 'utf8'));
    rawMosaics = JSON.parse(readFileSync(join(dir, 'mosaics', 'annotations.json'), 'utf8'));
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('reads back: one 227×227 scene per photo, ImageNet classes, boxes inside the images', () => {
    expect(scenes.classes).toHaveLength(1000);
    expect(scenes.classes[88]).toBe('macaw');
    expect(scenes.images.map((r) => r.id)).toEqual(HAND.photos.map((p) => p.id));
    for (const ds of [scenes, mosaics]) {
      for (const rec of ds.images) {
        expect(rec.split).toBe('test');
        const img = loadImage(ds, rec);
        expect([img.width, img.height]).toEqual(ds === scenes ? [227, 227] : [454, 454]);
        for (const o of rec.objects) {
          const [x0, y0, x1, y1] = o.box;
          expect(0 <= x0 && x0 < x1 && x1 <= rec.width && 0 <= y0 && y0 < y1 && y1 <= rec.height, `${rec.id} [${o.box}]`).toBe(true);
          expect(o.difficult).toBe(o.area < 0.25);
        }
      }
    }
  });

  it('maps every hand-drawn box through the caffe-bgr geometry and keeps the accepted classes', () => {
    HAND.photos.forEach((p, i) => {
      const rec = scenes.images[i], raw = rawScenes.images[i];
      expect(rec.objects.map((o) => o.class)).toEqual(p.objects.map((o) => o.class));
      expect(raw.objects.map((o) => o.accept)).toEqual(p.objects.map((o) => o.accept));
      p.objects.forEach((o, j) => {
        expect(o.accept).toContain(o.class);
        if (!o.mask) {
          expect(rec.objects[j].box, `${p.id} objects[${j}]`).toEqual(mapped(o.box, p.size[0], p.size[1]));
          const [x0, y0, x1, y1] = rec.objects[j].box;
          expect(rec.objects[j].area).toBeCloseTo(((x1 - x0) * (y1 - y0)) / 227 ** 2, 12);
        }
      });
    });
    // Spot values, worked by hand: parrot 512×929 → 256×464, crop from (15, 119).
    expect(scenes.images.find((r) => r.id === 'parrot')!.objects[0].box).toEqual([34, 0, 218, 227]);
    expect(scenes.images.find((r) => r.id === 'hot_dog')!.objects[0].box).toEqual([4, 40, 227, 138]);
  });

  it('scene pixels are exactly what caffe-bgr preprocessing feeds the model', () => {
    for (const [i, p] of HAND.photos.entries()) {
      const rec = scenes.images[i];
      const want = preprocess([readImage(join(SHARED, p.file))], { preset: 'caffe-bgr' });
      const got = preprocess([{ ...loadImage(scenes, rec), source: rec.id }], { preset: 'caffe-bgr', resize: 'direct', size: 227 });
      // Byte comparison: deep equality over 150k floats is slow in vitest.
      expect(Buffer.from(got.data.buffer).equals(Buffer.from(want.data.buffer)), p.id).toBe(true);
    }
  });

  it('bird_segmentation: the region is the resampled mask and the box is its bounding box', () => {
    const rec = scenes.images.find((r) => r.id === 'bird_segmentation')!;
    const src = decodeMaskPng(readFileSync(join(SHARED, 'images', 'bird_segmentation_mask.png')), 'mask');
    const orig = bbox(src.data, src.width, src.height, (v) => v > 0)!;
    expect(orig).toEqual(HAND.photos.find((p) => p.id === 'bird_segmentation')!.objects[0].box);
    // The mask through the photo's own geometry: PIL bilinear to 256×256, crop 227 from (15, 15),
    // object where at least half covered.
    const c = cropGeometry(src.width, src.height, CAFFE);
    const grey = new Uint8Array(src.data.length * 3);
    src.data.forEach((v, k) => { if (v) grey.fill(255, k * 3, k * 3 + 3); });
    const small = resizeRgb(grey, src.width, src.height, c.resizedWidth, c.resizedHeight);
    const crop = new Uint8Array(227 * 227);
    for (let y = 0; y < 227; y++) for (let x = 0; x < 227; x++) crop[y * 227 + x] = small[((y + c.top) * c.resizedWidth + x + c.left) * 3] >= 128 ? 1 : 0;
    const mask = loadMask(scenes, rec)!;
    expect(Buffer.from(mask.map((v) => (v ? 1 : 0))).equals(Buffer.from(crop))).toBe(true);
    const o = rec.objects[0];
    expect(o.maskValue).toBe(1);
    expect(o.box).toEqual(bbox(crop, 227, 227, (v) => v === 1));
    expect(o.box).toEqual([25, 20, 224, 185]);
    // Within a pixel of the original mask's box mapped through the same geometry.
    mapped(orig, src.width, src.height).forEach((v, k) => expect(Math.abs(v - o.box[k])).toBeLessThanOrEqual(1));
    expect(checkMask(rec, mask)).toEqual([]);
    // The other scenes are box-only.
    expect(scenes.images.filter((r) => r.mask !== null).map((r) => r.id)).toEqual(['bird_segmentation']);
  });

  it('mosaics: 2×2 of whole scenes, four distinct classes with disjoint accepted sets, every photo in every cell', () => {
    expect(mosaics.images.map((r) => r.id)).toHaveLength(HAND.mosaics.grids.length);
    const place = new Map<string, Set<number>>();
    mosaics.images.forEach((rec, m) => {
      const raw = rawMosaics.images[m];
      expect(raw.parts).toEqual(HAND.mosaics.grids[m]);
      expect(rec.grid).toBeDefined();
      const { rows, cols, cells } = rec.grid!;
      expect([rows, cols, rec.width, rec.height, rec.mask]).toEqual([2, 2, 454, 454, null]);
      expect(new Set(cells).size).toBe(4);
      const accepted = [0, 1, 2, 3].map((k) => new Set(raw.objects.filter((o) => o.cell === k).flatMap((o) => o.accept)));
      for (let a = 0; a < 4; a++) for (let b = a + 1; b < 4; b++) expect([...accepted[a]].filter((c) => accepted[b].has(c)), `${rec.id} cells ${a}/${b}`).toEqual([]);
      const px = loadImage(mosaics, rec);
      raw.parts.forEach((id, k) => {
        (place.get(id) ?? place.set(id, new Set()).get(id)!).add(k);
        const sc = scenes.images.find((r) => r.id === id)!;
        expect(cells[k]).toBe(sc.objects[0].class);
        const ox = (k % 2) * 227, oy = Math.floor(k / 2) * 227;
        // Objects shifted into their cell, and the cell's pixels are the scene's.
        const inCell = rec.objects.filter((_, j) => raw.objects[j].cell === k);
        expect(inCell.map((o) => o.box)).toEqual(sc.objects.map((o) => [o.box[0] + ox, o.box[1] + oy, o.box[2] + ox, o.box[3] + oy]));
        const s = loadImage(scenes, sc);
        for (const y of [0, 113, 226]) {
          const row = px.rgb.subarray(((oy + y) * 454 + ox) * 3, ((oy + y) * 454 + ox + 227) * 3);
          expect(Buffer.from(row).equals(Buffer.from(s.rgb.subarray(y * 227 * 3, (y + 1) * 227 * 3))), `${rec.id} cell ${k} row ${y}`).toBe(true);
        }
      });
    });
    for (const [id, cells] of place) expect([id, [...cells].sort()]).toEqual([id, [0, 1, 2, 3]]);
    expect([...place.keys()].sort()).toEqual(['bird', 'cat', 'chelsea', 'coffee', 'hot_dog', 'parrot']);
  });

  it('refuses an output folder inside the repository that git would track', () => {
    const r = spawnSync(process.execPath, [join(ROOT, 'tools', 'shared-photos', 'build.mjs'), '--out', join(ROOT, 'tools', 'shared-photos', 'out-test'), '--fixtures', SHARED], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/not ignored by git; the photos must not be committed/);
    expect(existsSync(join(ROOT, 'tools', 'shared-photos', 'out-test'))).toBe(false);
  });
});
