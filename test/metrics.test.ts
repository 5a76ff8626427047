import { describe, it, expect } from 'vitest';
import {
  map2d, regionMask, argmaxPoint, pointingHit, positiveFraction, PointingGame,
  gridPointingGame, gridCell, outsideInsideRatio, energyPointingGame, gaussianBlur, gaussianKernel,
  insertionCurve, deletionCurve, meanCurve, trapezoidAuc, rankPixels,
  averageRanks, spearman, ssim, normaliseMinMax, sanityCheck, ClassMeans, formatTable, tableJson,
  type Map2D, type Region, type Classifier,
} from '../src/eval/metrics/index.js';

// Local seeded generator (mulberry32): keeps this file free of the GPU test helpers.
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const H = 64, W = 64;
const zeros = (h = H, w = W) => map2d(new Float32Array(h * w), h, w);
function peak(x: number, y: number, h = H, w = W): Map2D {
  const m = zeros(h, w);
  m.data[y * w + x] = 1;
  return m;
}
const uniform = (v = 1, h = H, w = W) => map2d(new Float32Array(h * w).fill(v), h, w);
const noise = (seed: number, h = H, w = W) => {
  const r = rng(seed);
  return map2d(Float32Array.from({ length: h * w }, r), h, w);
};
const box: Region = { boxes: [{ x0: 20, y0: 10, x1: 30, y1: 40 }] }; // 10 × 30 pixels

describe('regions', () => {
  it('boxes become half-open masks, unions of instances, clipped to the map', () => {
    const m = regionMask({ boxes: [{ x0: 2, y0: 1, x1: 4, y1: 3 }, { x0: 6.5, y0: -3, x1: 99, y1: 1 }] }, 4, 8);
    expect(Array.from(m)).toEqual([
      0, 0, 0, 0, 0, 0, 0, 1,
      0, 0, 1, 1, 0, 0, 0, 0,
      0, 0, 1, 1, 0, 0, 0, 0,
      0, 0, 0, 0, 0, 0, 0, 0,
    ]);
    expect(() => regionMask({ mask: new Uint8Array(5) }, 2, 2)).toThrow(/mask has 5 pixels/);
    expect(() => map2d(new Float32Array(5), 2, 2)).toThrow(/2×2/);
  });
});

describe('pointing game', () => {
  it('scores 1 for a peak inside the box and 0 outside, with and without tolerance', () => {
    for (const tol of [0, 15]) {
      expect(pointingHit(peak(25, 20), box, tol)).toBe(true);
      expect(pointingHit(peak(20, 10), box, tol)).toBe(true); // inclusive corner
      expect(pointingHit(peak(60, 60), box, tol)).toBe(false);
    }
    expect(pointingHit(peak(30, 20), box, 0)).toBe(false); // x1 is exclusive
  });

  it('tolerance is TorchRay\'s strict disc of radius 15 around the maximum', () => {
    // Nearest box pixel is x = 29 on the same row: distance 14 hits, 15 misses.
    expect(pointingHit(peak(29 + 14, 20), box, 15)).toBe(true);
    expect(pointingHit(peak(29 + 15, 20), box, 15)).toBe(false);
    expect(pointingHit(peak(29 + 14, 20), box, 0)).toBe(false);
    // Below the box (last row y = 39): 14 rows down hits, 15 misses.
    expect(pointingHit(peak(25, 39 + 14), box, 15)).toBe(true);
    expect(pointingHit(peak(25, 39 + 15), box, 15)).toBe(false);
    // Diagonal from the corner (29, 39): 10² + 11² = 221 < 225 hits, 11² + 11² = 242 misses.
    expect(pointingHit(peak(39, 50), box, 15)).toBe(true);
    expect(pointingHit(peak(40, 50), box, 15)).toBe(false);
    // Same with a mask region.
    const mask = regionMask(box, H, W);
    expect(pointingHit(peak(29 + 14, 20), { mask }, 15)).toBe(true);
    expect(pointingHit(peak(29 + 15, 20), { mask }, 15)).toBe(false);
  });

  it('ties go to the first maximum in row-major order; NaN never wins', () => {
    expect(argmaxPoint(uniform())).toEqual({ x: 0, y: 0 });
    const m = zeros();
    m.data[5 * W + 40] = 2;
    m.data[7 * W + 3] = 2;
    m.data[0] = NaN;
    expect(argmaxPoint(m)).toEqual({ x: 40, y: 5 });
  });

  it('accumulates per class, settings L and P, subsets full and difficult, and PR', () => {
    const g = new PointingGame([0, 15]);
    const inBox = peak(25, 20), near = peak(40, 20), far = peak(60, 60);
    near.data[0] = -1; // PR ignores negative pixels
    g.add({ predicted: [0], targets: [
      { label: 0, map: inBox, region: box },
      { label: 1, map: far, region: box, difficult: true },
    ] });
    g.add({ predicted: [0, 1, 7], targets: [
      { label: 0, map: near, region: box, difficult: true },
      { label: 1, map: inBox, region: box },
    ] });
    const L0 = g.summary('L', 'full', 0);
    expect(L0.trials).toBe(4);
    expect(L0.perClass).toEqual([{ label: 0, count: 2, mean: 0.5 }, { label: 1, count: 2, mean: 0.5 }]);
    expect(L0.accuracy).toBe(0.5);
    expect(L0.pr).toBeCloseTo(1 / (H * W), 12);
    expect(g.summary('L', 'full', 15).accuracy).toBe(0.75); // "near" is 11 px right of the box
    const P0 = g.summary('P', 'full', 0); // label 1 of image 1 is not predicted
    expect(P0.trials).toBe(3);
    expect(P0.perClass.map((c) => c.mean)).toEqual([0.5, 1]);
    expect(P0.accuracy).toBe(0.75);
    const D = g.summary('L', 'difficult', 15);
    expect(D.perClass).toEqual([{ label: 0, count: 1, mean: 1 }, { label: 1, count: 1, mean: 0 }]);
    expect(() => g.summary('L', 'full', 5)).toThrow(/tolerance 5/);
    const noPred = new PointingGame();
    noPred.add({ targets: [{ label: 0, map: inBox, region: box }] });
    expect(() => noPred.summary('P', 'full', 0)).toThrow(/predicted/);
    expect(positiveFraction(uniform(-1))).toBe(0);
  });
});

describe('GridPG', () => {
  it('a map entirely in the target cell scores 1, uniform 0.25, no positive attribution 0', () => {
    const m = zeros();
    for (let y = 32; y < 64; y++) for (let x = 0; x < 32; x++) m.data[y * W + x] = 1 + ((x * y) % 5);
    m.data[0] = -100; // negative attribution elsewhere is not localisation
    expect(gridPointingGame(m, 2)).toBe(1);
    expect(gridPointingGame(m, 0)).toBe(0);
    for (let c = 0; c < 4; c++) expect(gridPointingGame(uniform(), c)).toBeCloseTo(0.25, 12);
    expect(gridPointingGame(uniform(-1), 1)).toBe(0);
  });

  it('cells tile odd sizes and reject bad indices', () => {
    const cells = [0, 1, 2, 3].map((c) => gridCell(7, 9, c));
    expect(cells.map((c) => (c.y1 - c.y0) * (c.x1 - c.x0)).reduce((a, b) => a + b)).toBe(63);
    expect(cells[3]).toEqual({ y0: 3, y1: 7, x0: 4, x1: 9 });
    expect(() => gridCell(8, 8, 4)).toThrow(/cell 4/);
  });
});

describe('outside–inside ratio and energy pointing game', () => {
  const inside = regionMask(box, H, W);
  const area = 300 / (H * W);

  it('a uniform map gives ratio 1 and energy = area fraction', () => {
    for (const v of [2, -3, 0]) expect(outsideInsideRatio(uniform(v), box)).toBe(1);
    expect(energyPointingGame(uniform(0.7), box)).toBeCloseTo(area, 12);
    expect(energyPointingGame(uniform(-1), box)).toBe(0);
  });

  it('matches the analytic value under the min-shift normalisation', () => {
    // Inside 3, outside 1 except one outside pixel at −1 (the minimum): shifted inside 4, outside 2 or 0.
    const m = map2d(Float32Array.from(inside, (v) => (v ? 3 : 1)), H, W);
    m.data[0] = -1;
    const nOut = H * W - 300;
    expect(outsideInsideRatio(m, box)).toBeCloseTo(((2 * (nOut - 1)) / nOut) / 4, 6);
    expect(outsideInsideRatio(m, box, 'abs')).toBeCloseTo(1 / 3, 6);
    expect(outsideInsideRatio(m, box, 'positive')).toBeCloseTo(((nOut - 1) / nOut) / 3, 6);
    expect(energyPointingGame(m, box)).toBeCloseTo(900 / (900 + nOut - 1), 6);
    // All relevance inside: ratio 0, energy 1; all inside at the minimum: +Infinity.
    const onlyIn = map2d(Float32Array.from(inside), H, W);
    expect(outsideInsideRatio(onlyIn, box)).toBe(0);
    expect(energyPointingGame(onlyIn, box)).toBe(1);
    expect(outsideInsideRatio(map2d(Float32Array.from(inside, (v) => 1 - v), H, W), box)).toBe(Infinity);
  });

  it('an empty inside or outside is undefined (NaN)', () => {
    expect(outsideInsideRatio(noise(1), { boxes: [] })).toBeNaN();
    expect(outsideInsideRatio(noise(1), { boxes: [{ x0: 0, y0: 0, x1: W, y1: H }] })).toBeNaN();
  });
});

describe('Gaussian smoothing', () => {
  it('has a normalised kernel and preserves the sum, also at the borders and for σ beyond the map', () => {
    expect(gaussianKernel(1.5).reduce((a, b) => a + b)).toBeCloseTo(1, 14);
    expect(gaussianKernel(2).length).toBe(17);
    for (const [h, w, sigma] of [[37, 23, 3], [12, 9, 5], [5, 3, 0.7]] as const) {
      const m = noise(h * w, h, w);
      m.data[0] = 50; // mass on the corner must stay in the map
      const s = m.data.reduce((a, b) => a + b);
      const b = gaussianBlur(m.data, h, w, sigma);
      expect(Math.abs(b.reduce((a, v) => a + v) - s) / s).toBeLessThan(1e-5);
      expect(b[0]).toBeLessThan(50);
    }
    const c = uniform(0.25, 10, 10);
    expect(Array.from(gaussianBlur(c.data, 10, 10, 2)).every((v) => Math.abs(v - 0.25) < 1e-6)).toBe(true);
    expect(Array.from(gaussianBlur(c.data, 10, 10, 0))).toEqual(Array.from(c.data));
  });
});

describe('insertion and deletion', () => {
  // A 1-channel image of ones over a zero baseline; the "classifier" scores the fraction of a hidden
  // 16×16 object's pixels present, so only object pixels carry evidence.
  const object = regionMask({ boxes: [{ x0: 30, y0: 8, x1: 46, y1: 24 }] }, H, W);
  const image = { data: new Float32Array(H * W).fill(1), channels: 1, height: H, width: W };
  const calls: number[] = [];
  const classify: Classifier = async (batch, n) => {
    calls.push(n);
    expect(batch.length).toBe(n * H * W);
    return Array.from({ length: n }, (_, b) => {
      let s = 0;
      for (let i = 0; i < H * W; i++) if (object[i]) s += batch[b * H * W + i];
      return s / 256;
    });
  };
  const perfect = map2d(Float32Array.from(object, (v, i) => v + 1e-3 * ((i * 7919) % 13)), H, W);

  it('the insertion curve of a perfect map dominates a random map\'s', async () => {
    calls.length = 0;
    const p = await insertionCurve(image, perfect, classify, { batchSize: 8, threshold: 0.5 });
    expect(calls).toEqual([8, 8, 4]);
    expect(p.fractions.length).toBe(20);
    const rs = await Promise.all([1, 2, 3].map((s) => insertionCurve(image, noise(s), classify, { threshold: 0.5 })));
    const r = meanCurve(rs);
    for (let i = 0; i < 20; i++) expect(p.scores[i]).toBeGreaterThan(r.scores[i]);
    expect(p.auc).toBeGreaterThan(r.auc + 0.3);
    expect(p.accuracy![19]).toBe(1);
    expect(r.accuracyAuc).toBe(0);
    // Random insertion at fraction f (smoothing preserves mass) keeps ≈ f of the object.
    expect(r.scores[19]).toBeCloseTo(0.2, 1);
    // A hard mask (σ = 0) with the perfect ranking: exactly min(1, f·4096/256) of the object.
    const hard = await insertionCurve(image, perfect, classify, { sigma: 0 });
    hard.scores.forEach((s, i) => expect(s).toBeCloseTo(Math.min(1, (Math.round(((i + 1) / 100) * 4096)) / 256), 6));
  });

  it('deletion drops fastest for the perfect map; baseline and AUC conventions', async () => {
    const p = await deletionCurve(image, perfect, classify);
    const r = await deletionCurve(image, noise(4), classify);
    expect(p.fractions).toEqual(Array.from({ length: 21 }, (_, i) => i / 20));
    expect(p.scores[0]).toBe(1);
    expect(p.scores[2]).toBe(0); // 10% > the object's 6.25%
    expect(p.auc).toBeLessThan(r.auc - 0.3);
    expect(r.auc).toBeCloseTo(0.5, 1);
    // A baseline equal to the image leaves every step unchanged.
    const same = await deletionCurve(image, perfect, classify, { baseline: 1, fractions: [0, 0.5, 1] });
    expect(same.scores).toEqual([1, 1, 1]);
    expect(() => rankPixels(zeros())).not.toThrow();
    await expect(deletionCurve(image, zeros(8, 8), classify)).rejects.toThrow(/8×8/);
    expect(trapezoidAuc([0, 0.5, 1], [1, 0, 0])).toBeCloseTo(0.25, 12);
    expect(trapezoidAuc([0.01, 0.2], [0.5, 0.5])).toBeCloseTo(0.5, 12); // mean height
  });
});

describe('sanity check similarities', () => {
  it('Spearman: identical 1, reversed −1, ties get average ranks', () => {
    const a = noise(5);
    expect(spearman(a.data, a.data)).toBeCloseTo(1, 12);
    expect(spearman(a.data, a.data.map((v) => -v))).toBeCloseTo(-1, 12);
    expect(Array.from(averageRanks([1, 2, 2, 3]))).toEqual([1, 2.5, 2.5, 4]);
    expect(spearman([1, 2, 2, 3], [1, 3, 2, 4])).toBeCloseTo(4.5 / Math.sqrt(22.5), 12);
    expect(Math.abs(spearman(a.data, noise(6).data))).toBeLessThan(0.05);
    expect(spearman([1, 1, 1], [1, 2, 3])).toBeNaN();
  });

  it('SSIM: identical 1 (also after rescaling), unrelated noise ≈ 0, symmetric', () => {
    const a = noise(7, 96, 96), b = noise(8, 96, 96);
    const na = normaliseMinMax(a);
    expect(ssim(na, na)).toBeCloseTo(1, 10);
    expect(ssim(na, normaliseMinMax(map2d(a.data.map((v) => 3 * v - 7), 96, 96)))).toBeCloseTo(1, 5);
    const s = ssim(na, normaliseMinMax(b));
    expect(Math.abs(s)).toBeLessThan(0.05);
    expect(ssim(normaliseMinMax(b), na)).toBeCloseTo(s, 12);
    expect(() => ssim(zeros(8, 8), zeros(8, 8))).toThrow(/11×11/);
  });

  it('sanityCheck reports every randomisation step against the original', () => {
    const o = noise(9, 32, 32);
    const flipped = map2d(o.data.map((v) => -v), 32, 32);
    const steps = sanityCheck([o, o, flipped, noise(10, 32, 32)]);
    expect(steps.map((s) => s.step)).toEqual([1, 2, 3]);
    expect(steps[0].spearman).toBeCloseTo(1, 12);
    expect(steps[0].ssim).toBeCloseTo(1, 10);
    expect(steps[1].spearman).toBeCloseTo(-1, 12);
    expect(steps[1].spearmanAbs).toBeCloseTo(1, 12); // the absolute variant ignores the sign flip
    expect(steps[1].ssimAbs).toBeCloseTo(1, 5);
    expect(steps[1].ssim).toBeLessThan(0);
    expect(Math.abs(steps[2].spearman)).toBeLessThan(0.1);
  });
});

describe('aggregation', () => {
  it('means per class, over classes and over samples; NaN skipped', () => {
    const c = new ClassMeans();
    [[0, 1], [0, 0], [0, 1], [3, 0], [3, NaN]].forEach(([l, v]) => c.add(l, v));
    expect(c.perClass()).toEqual([{ label: 0, count: 3, mean: 2 / 3 }, { label: 3, count: 1, mean: 0 }]);
    expect(c.meanOverClasses()).toBeCloseTo(1 / 3, 12);
    expect(c.meanOverSamples()).toBe(0.5);
    expect(c.skipped).toBe(1);
    expect(new ClassMeans().meanOverClasses()).toBeNaN();
  });

  it('formats text and JSON tables', () => {
    const t = { title: 'PG', columns: ['method', 'L', 'n'], rows: [['ae r=2', 0.8125, 40], ['gradcam', NaN, 40]] };
    expect(formatTable(t).split('\n')).toEqual([
      'PG',
      'method       L   n',
      '-------  -----  --',
      'ae r=2   0.813  40',
      'gradcam      —  40',
    ]);
    expect(JSON.parse(tableJson(t)).rows).toEqual([{ method: 'ae r=2', L: 0.8125, n: 40 }, { method: 'gradcam', L: null, n: 40 }]);
  });
});
