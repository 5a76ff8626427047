// The procedural benchmark: determinism, masks that match the drawing exactly, annotation
// consistency, GridPG mosaics, and the on-disk format (round trip and reader errors).
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import {
  CLASSES, CLASS_NAMES, DIFFICULT_AREA, MIN_VISIBLE, buildMosaic, checkMask, encodeMaskPng, encodeRgbPng,
  generateDataset, imageSeed, loadImage, loadMask, objectLayer, rasterizeScene, readDataset, renderMosaic,
  renderScene, renderSingle, sampleScene, splitFor, type ObjectSpec, type Scene,
} from '../src/data/index.js';
import { InputError, OptionError } from '../src/errors.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** Coverage of one object at every pixel, recomputed directly from its silhouette (no row skipping). */
function bruteCoverage(o: ObjectSpec, W: number, H: number): Float32Array {
  const out = new Float32Array(W * H);
  const cls = CLASSES[o.class], ca = Math.cos(o.angle), sa = Math.sin(o.angle);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const dx = x + 0.5 - o.cx, dy = y + 0.5 - o.cy;
      const d = cls.sdf((ca * dx + sa * dy) / o.scale, (-sa * dx + ca * dy) / o.scale) * o.scale;
      out[y * W + x] = Math.min(1, Math.max(0, 0.5 - d));
    }
  }
  return out;
}

describe('class table', () => {
  it('has at least 8 classes with distinct shapes and textures, and true extents and areas', () => {
    expect(CLASSES.length).toBeGreaterThanOrEqual(8);
    expect(new Set(CLASSES.map((c) => c.shape)).size).toBe(CLASSES.length);
    expect(new Set(CLASSES.map((c) => c.texture)).size).toBe(CLASSES.length);
    const N = 300, span = 1.2;
    for (const c of CLASSES) {
      let ext = 0, inside = 0;
      for (let i = 0; i < N; i++) {
        for (let j = 0; j < N; j++) {
          const x = -span + (2 * span * (i + 0.5)) / N, y = -span + (2 * span * (j + 0.5)) / N;
          if (c.sdf(x, y) <= 0) {
            inside++;
            ext = Math.max(ext, Math.hypot(x, y));
          }
        }
      }
      const area = (inside * (2 * span) ** 2) / (N * N);
      expect(ext, c.name).toBeLessThanOrEqual(c.extent + 0.01);
      expect(Math.abs(area - c.area) / c.area, c.name).toBeLessThan(0.02);
    }
  });
});

describe('renderScene', () => {
  it('is deterministic per seed and differs across seeds', () => {
    const a = renderScene(42, 96), b = renderScene(42, 96), c = renderScene(43, 96);
    expect(sha(a.rgb)).toBe(sha(b.rgb));
    expect(sha(a.mask)).toBe(sha(b.mask));
    expect(JSON.stringify(a.objects)).toBe(JSON.stringify(b.objects));
    expect(sha(a.rgb)).not.toBe(sha(c.rgb));
    expect(sha(rasterizeScene(sampleScene(42, 96)).rgb)).toBe(sha(a.rgb));
    // Golden hash: catches accidental changes to the generator (update it deliberately).
    expect(sha(renderScene(7, 64).rgb).slice(0, 16)).toMatchInlineSnapshot(`"c197e42a977f09e0"`);
  });

  it('supports other sizes, including non-square, and refuses tiny ones', () => {
    for (const size of [16, [120, 72] as [number, number], 224]) {
      const s = renderScene(5, size);
      const [W, H] = typeof size === 'number' ? [size, size] : size;
      expect([s.width, s.height]).toEqual([W, H]);
      expect(s.rgb.length).toBe(W * H * 3);
      expect(s.mask.length).toBe(W * H);
      expect(s.objects.length).toBeGreaterThanOrEqual(1);
    }
    expect(() => renderScene(1, 8)).toThrow(OptionError);
    expect(() => renderScene(1, 32.5)).toThrow(OptionError);
  });

  it('masks match the drawing exactly, and boxes, areas, difficulty and labels match the masks', () => {
    let checkedFull = 0;
    for (let seed = 100; seed < 124; seed++) {
      const W = 96 + (seed % 3) * 16, H = 96;
      const spec = sampleScene(seed, [W, H]);
      const s = rasterizeScene(spec, { watermark: false });
      const bg = rasterizeScene(spec, { objects: false, watermark: false });
      const cov = spec.objects.map((o) => bruteCoverage(o, W, H));
      const layers = spec.objects.map((o) => objectLayer(o, W, H));
      // Per-pixel expect() is slow; collect the first mismatch of each kind instead.
      const bad: string[] = [];
      for (let p = 0; p < W * H; p++) {
        // Mask: the last object covering the pixel centre (coverage ≥ ½), else background.
        let want = 0;
        cov.forEach((c, k) => { if (c[p] >= 0.5) want = k + 1; });
        if (s.mask[p] !== want) bad.push(`seed ${seed} pixel ${p}: mask ${s.mask[p]}, coverage says ${want}`);
        const top = want - 1;
        if (want === 0) {
          // Untouched background pixels are exactly the background-only render.
          if (cov.every((c) => c[p] === 0)) {
            for (let ch = 0; ch < 3; ch++) if (s.rgb[p * 3 + ch] !== bg.rgb[p * 3 + ch]) bad.push(`seed ${seed} pixel ${p}: background changed`);
          }
        } else if (cov[top][p] === 1 && cov.slice(top + 1).every((c) => c[p] === 0)) {
          // Fully covered, unoccluded pixels carry exactly the object's own colour.
          const L = layers[top], x = p % W, y = Math.floor(p / W);
          const i = ((y - L.y0) * (L.x1 - L.x0) + (x - L.x0)) * 3;
          if (L.alpha[i / 3] !== 1) bad.push(`seed ${seed} pixel ${p}: layer alpha ${L.alpha[i / 3]}, brute force 1`);
          for (let ch = 0; ch < 3; ch++) {
            if (s.rgb[p * 3 + ch] !== Math.min(255, Math.max(0, Math.round(L.color[i + ch] * 255)))) bad.push(`seed ${seed} pixel ${p}: not the object's colour`);
          }
          checkedFull++;
        }
      }
      expect(bad.slice(0, 5)).toEqual([]);
      expect(s.objects.length).toBeGreaterThanOrEqual(1);
      expect(s.objects.length).toBeLessThanOrEqual(3);
      expect(s.labels).toEqual([...new Set(s.objects.map((o) => o.class))].sort((a, b) => a - b));
      expect(s.labels.length).toBe(s.objects.length); // the generator draws distinct classes
      s.objects.forEach((o, k) => {
        expect(o.maskValue).toBe(k + 1);
        expect(o.className).toBe(CLASS_NAMES[o.class]);
        let n = 0, x0 = W, y0 = H, x1 = 0, y1 = 0, own = 0;
        for (let p = 0; p < W * H; p++) {
          if (cov[k][p] >= 0.5) own++;
          if (s.mask[p] !== k + 1) continue;
          const x = p % W, y = Math.floor(p / W);
          n++;
          x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x + 1); y1 = Math.max(y1, y + 1);
        }
        expect(o.pixels).toBe(n);
        expect(o.area * W * H).toBeCloseTo(n, 6);
        expect(o.box).toEqual([x0, y0, x1, y1]);
        expect(o.difficult).toBe(o.area < DIFFICULT_AREA);
        expect(n).toBeGreaterThanOrEqual(Math.ceil(MIN_VISIBLE * own) - 0);
      });
    }
    expect(checkedFull).toBeGreaterThan(10000);
  });

  it('watermarks change pixels but not masks, on about a fifth of the images', () => {
    let withWm = 0;
    for (let seed = 0; seed < 200; seed++) if (sampleScene(seed, 32).watermark) withWm++;
    expect(withWm).toBeGreaterThan(20);
    expect(withWm).toBeLessThan(60);
    const seed = [...Array(50).keys()].find((k) => sampleScene(k, 96).watermark)!;
    const spec = sampleScene(seed, 96);
    const a = rasterizeScene(spec), b = rasterizeScene(spec, { watermark: false });
    expect(a.watermark).toBe(true);
    expect(sha(a.mask)).toBe(sha(b.mask));
    expect(sha(a.rgb)).not.toBe(sha(b.rgb));
    expect(sampleScene(seed, 96, { watermarkRate: 0 }).watermark).toBeNull();
  });

  it('covers every class, both difficult and not, over 200 images', () => {
    const seen = new Array<number>(CLASSES.length).fill(0);
    const hard = new Array<number>(CLASSES.length).fill(0);
    const counts = [0, 0, 0, 0];
    for (let seed = 1000; seed < 1200; seed++) {
      const s = renderScene(seed, 48);
      counts[s.objects.length]++;
      for (const o of s.objects) {
        seen[o.class]++;
        if (o.difficult) hard[o.class]++;
      }
    }
    for (let c = 0; c < CLASSES.length; c++) {
      expect(seen[c], CLASS_NAMES[c]).toBeGreaterThanOrEqual(15);
      expect(hard[c], CLASS_NAMES[c]).toBeGreaterThanOrEqual(3);
      expect(seen[c] - hard[c], CLASS_NAMES[c]).toBeGreaterThanOrEqual(2);
    }
    expect(counts[1] * counts[2] * counts[3]).toBeGreaterThan(0);
  });
});

describe('GridPG mosaics', () => {
  it('tiles four distinct single-class cells and annotates which class is where', () => {
    const m = renderMosaic(9, 48);
    expect([m.width, m.height]).toEqual([96, 96]);
    expect(m.grid.cells.length).toBe(4);
    expect(new Set(m.grid.cells).size).toBe(4);
    expect(m.labels).toEqual([...m.grid.cells].sort((a, b) => a - b));
    expect(sha(renderMosaic(9, 48).rgb)).toBe(sha(m.rgb));
    m.parts.forEach((part, k) => {
      const ox = (k % 2) * 48, oy = Math.floor(k / 2) * 48;
      expect(part.labels).toEqual([m.grid.cells[k]]);
      for (let y = 0; y < 48; y++) {
        for (let x = 0; x < 48; x++) {
          const q = (oy + y) * 96 + ox + x;
          expect(m.rgb[q * 3 + 1]).toBe(part.rgb[(y * 48 + x) * 3 + 1]);
          expect(m.mask[q]).toBe(part.mask[y * 48 + x] ? k + 1 : 0);
        }
      }
      const o = m.objects[k];
      expect(o.class).toBe(m.grid.cells[k]);
      expect(o.box[0]).toBeGreaterThanOrEqual(ox);
      expect(o.box[2]).toBeLessThanOrEqual(ox + 48);
      expect(o.box[1]).toBeGreaterThanOrEqual(oy);
      expect(o.box[3]).toBeLessThanOrEqual(oy + 48);
      expect(o.area).toBeCloseTo(part.objects[0].pixels / (96 * 96), 12);
    });
    expect(renderMosaic(9, 48, [0, 1, 2, 3]).grid.cells).toEqual([0, 1, 2, 3]);
  });

  it('refuses repeated classes, multi-object cells and mismatched sizes', () => {
    const a = renderSingle(1, 32, 0), b = renderSingle(2, 32, 1), c = renderSingle(3, 32, 2);
    expect(() => buildMosaic([a, b, c, renderSingle(4, 32, 0)])).toThrow(/distinct classes/);
    expect(() => buildMosaic([a, b, c, renderSingle(4, 40, 3)])).toThrow(/cell 3 is 40×40/);
    const multi = renderScene(5, 32, { classes: [4, 5] });
    expect(() => buildMosaic([a, b, c, multi])).toThrow(/exactly one class/);
    expect(() => buildMosaic([a, b, c])).toThrow(/needs 4 images/);
  });
});

describe('dataset format', () => {
  let root: string;
  beforeAll(() => { root = mkdtempSync(join(tmpdir(), 'aeq-data-')); });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  const filesOf = (dir: string) => {
    const out: Record<string, string> = {};
    for (const sub of ['images', 'masks']) for (const f of readdirSync(join(dir, sub))) out[`${sub}/${f}`] = sha(readFileSync(join(dir, sub, f)));
    out['annotations.json'] = sha(readFileSync(join(dir, 'annotations.json')));
    return out;
  };

  it('round-trips generated scenes and mosaics byte-identically', () => {
    const dir = join(root, 'scenes');
    const res = generateDataset({ seed: 11, count: 6, size: 64, dir });
    expect(res.count).toBe(6);
    const ds = readDataset(dir);
    expect(ds.classes).toEqual([...CLASS_NAMES]);
    expect(ds.images.map((r) => r.id)).toEqual(['scene00000', 'scene00001', 'scene00002', 'scene00003', 'scene00004', 'scene00005']);
    ds.images.forEach((rec, i) => {
      const s: Scene = renderScene(imageSeed(11, i), 64);
      expect(rec.split).toBe(splitFor(rec.id));
      expect(rec.labels).toEqual(s.labels);
      expect(rec.watermark).toBe(s.watermark);
      expect(rec.objects).toEqual(s.objects.map((o) => ({ class: o.class, box: o.box, area: o.area, difficult: o.difficult, maskValue: o.maskValue })));
      const img = loadImage(ds, rec);
      expect(sha(img.rgb)).toBe(sha(s.rgb));
      const mask = loadMask(ds, rec)!;
      expect(sha(mask)).toBe(sha(s.mask));
      expect(checkMask(rec, mask)).toEqual([]);
    });
    const again = join(root, 'scenes-again');
    generateDataset({ seed: 11, count: 6, size: 64, dir: again });
    expect(filesOf(again)).toEqual(filesOf(dir));

    const mdir = join(root, 'mosaics');
    generateDataset({ seed: 3, count: 2, size: 64, dir: mdir, kind: 'mosaics' });
    const mds = readDataset(mdir);
    for (const rec of mds.images) {
      expect(rec.grid?.cells.length).toBe(4);
      expect(rec.width).toBe(64);
      expect(checkMask(rec, loadMask(mds, rec)!)).toEqual([]);
    }
    expect(mds.generator?.kind).toBe('mosaics');
  });

  it('assigns splits deterministically, mostly train', () => {
    const ids = Array.from({ length: 2000 }, (_, i) => `img${i}`);
    const n = { train: 0, val: 0, test: 0 };
    for (const id of ids) n[splitFor(id)]++;
    expect(splitFor('img7')).toBe(splitFor('img7'));
    expect(n.train / 2000).toBeGreaterThan(0.6);
    expect(n.val).toBeGreaterThan(200);
    expect(n.test).toBeGreaterThan(200);
  });

  describe('reader errors name the file and the problem', () => {
    let dir: string;
    const good = () => ({
      classes: ['a', 'b'],
      images: [{ id: 'x', file: 'images/x.png', width: 4, height: 3, split: 'test', labels: [0], objects: [{ class: 0, box: [1, 0, 3, 2], area: 4 / 12, difficult: false, maskValue: 1 }] }],
    });
    beforeAll(() => {
      dir = join(root, 'user');
      mkdirSync(join(dir, 'images'), { recursive: true });
      mkdirSync(join(dir, 'masks'), { recursive: true });
      writeFileSync(join(dir, 'images/x.png'), encodeRgbPng(new Uint8Array(4 * 3 * 3).fill(90), 4, 3));
      const mask = new Uint8Array(12);
      for (const p of [1, 2, 5, 6]) mask[p] = 1;
      writeFileSync(join(dir, 'masks/x.png'), encodeMaskPng(mask, 4, 3));
    });
    const write = (ann: unknown) => writeFileSync(join(dir, 'annotations.json'), typeof ann === 'string' ? ann : JSON.stringify(ann));
    const expectError = (ann: unknown, re: RegExp) => {
      write(ann);
      expect(() => readDataset(dir)).toThrow(InputError);
      expect(() => readDataset(dir)).toThrow(re);
    };
    const mutate = (f: (a: ReturnType<typeof good>) => void) => {
      const a = good();
      f(a);
      return a;
    };

    it('accepts a minimal hand-written dataset (mask found by convention, format fields optional)', () => {
      write(good());
      const ds = readDataset(dir);
      const rec = ds.images[0];
      expect(rec.mask).toBe('masks/x.png');
      expect(checkMask(rec, loadMask(ds, rec)!)).toEqual([]);
      expect(loadImage(ds, rec).width).toBe(4);
      write(mutate((a) => { delete (a.images[0] as Record<string, unknown>).split; }));
      expect(readDataset(dir).images[0].split).toBe(splitFor('x'));
    });

    it('rejects bad annotations.json', () => {
      rmSync(join(dir, 'annotations.json'), { force: true });
      expect(() => readDataset(dir)).toThrow(/annotations\.json: not found/);
      expectError('{ nope', /annotations\.json: not valid JSON/);
      expectError({ images: [] }, /"classes" must be a non-empty array/);
      expectError({ classes: ['a', 'a'], images: [] }, /class name 'a' appears twice/);
      expectError({ classes: ['a'], images: [], version: 9 }, /"version" 9 is not supported/);
      expectError(mutate((a) => { a.images[0].labels = [5]; }), /images\[0\] \(id 'x'\): labels\[0\] = 5 is not a class index in 0\.\.1/);
      expectError(mutate((a) => { a.images[0].objects[0].box = [1, 0, 9, 2]; }), /objects\[0\]: "box" \[1, 0, 9, 2\] is empty or outside the 4×3 image/);
      expectError(mutate((a) => { a.images[0].objects[0].class = 1; }), /class 1 is not in the image's "labels"/);
      expectError(mutate((a) => { a.images[0].labels = [0, 1]; }), /labels \[1\] have no object/);
      expectError(mutate((a) => { a.images[0].split = 'dev'; }), /"split" must be one of train, val, test/);
      expectError(mutate((a) => { a.images[0].objects[0].area = 2; }), /"area" must be a fraction/);
      expectError(mutate((a) => { a.images.push({ ...a.images[0] }); }), /images\[1\]: duplicate id 'x'/);
      expectError(mutate((a) => { a.images[0].file = 'images/missing.png'; }), /image file 'images\/missing\.png' not found/);
      expectError(mutate((a) => { (a.images[0] as Record<string, unknown>).grid = { rows: 2, cols: 2, cells: [0, 0, 0, 0] }; }), /"grid" 2×2 does not divide the 4×3 image/);
    });

    it('rejects images and masks that disagree with the annotations', () => {
      write(mutate((a) => { a.images[0].width = 5; a.images[0].objects[0].box = [1, 0, 3, 2]; }));
      let ds = readDataset(dir);
      expect(() => loadImage(ds, ds.images[0])).toThrow(/images\/x\.png: image is 4×3 but annotations\.json says 5×3 for 'x'/);
      expect(() => loadMask(ds, ds.images[0])).toThrow(/masks\/x\.png: mask is 4×3/);
      write(mutate((a) => { a.images[0].objects[0].maskValue = 2; }));
      ds = readDataset(dir);
      expect(() => loadMask(ds, ds.images[0])).toThrow(/masks\/x\.png: mask value 1 \(4 pixels\) belongs to no object of 'x'/);
      write(mutate((a) => { a.images[0].objects[0].box = [2, 0, 3, 2]; a.images[0].objects[0].area = 0.5; }));
      ds = readDataset(dir);
      const problems = checkMask(ds.images[0], loadMask(ds, ds.images[0])!);
      expect(problems.join('\n')).toMatch(/2 mask pixels outside its box \[2, 0, 3, 2\]/);
      expect(problems.join('\n')).toMatch(/mask area 0\.33333 but "area" says 0\.50000/);
      // A colour PNG is not a mask.
      const rgba = new PNG({ width: 4, height: 3 });
      rgba.data.fill(255);
      rgba.data[0] = 10;
      writeFileSync(join(dir, 'masks/y.png'), PNG.sync.write(rgba));
      write(mutate((a) => { (a.images[0] as Record<string, unknown>).mask = 'masks/y.png'; }));
      ds = readDataset(dir);
      expect(() => loadMask(ds, ds.images[0])).toThrow(/masks\/y\.png: mask pixel \(0, 0\) is coloured/);
    });
  });
});
