// How IG / SmoothGrad / input × gradient split N·K samples × T targets into passes (src/explain/combined.ts).
import { describe, it, expect } from 'vitest';
import { combinedLayout, mergeRows } from '../src/explain/combined.js';

const all = () => Infinity;

describe('combinedLayout', () => {
  it('everything in one call when it fits: rows are whole inputs', () => {
    expect(combinedLayout(32, 16, 2, Infinity, all, undefined, false)).toEqual({ kk: 16, size: 32, tg: 2, fixed: false });
  });
  it('a pass holding some inputs: whole inputs per call', () => {
    // 40 backward samples per pass, T = 2: 20 samples, one input of 16.
    expect(combinedLayout(64, 16, 2, 40, all, undefined, false)).toEqual({ kk: 16, size: 16, tg: 2, fixed: false });
  });
  it('fewer than K samples per pass: the largest divisor of K, partial rows', () => {
    expect(combinedLayout(32, 16, 1, 7, all, undefined, false)).toEqual({ kk: 4, size: 4, tg: 1, fixed: false });
    expect(combinedLayout(26, 13, 1, 7, all, undefined, false)).toEqual({ kk: 1, size: 7, tg: 1, fixed: false });
    // The memory budget caps the samples as well.
    expect(combinedLayout(32, 16, 1, Infinity, () => 9, undefined, false)).toEqual({ kk: 8, size: 8, tg: 1, fixed: false });
  });
  it("targets that exceed a pass: groups of targets, one sample's worth per call", () => {
    expect(combinedLayout(16, 16, 5, 3, all, undefined, false)).toEqual({ kk: 1, size: 1, tg: 3, fixed: false });
  });
  it("a fixed batch: calls of exactly that batch, kk dividing both", () => {
    expect(combinedLayout(16, 16, 2, Infinity, all, 1, false)).toEqual({ kk: 1, size: 1, tg: 2, fixed: true });
    expect(combinedLayout(32, 16, 2, Infinity, all, 8, false)).toEqual({ kk: 8, size: 8, tg: 2, fixed: true });
    expect(combinedLayout(32, 16, 2, Infinity, all, 6, false)).toEqual({ kk: 2, size: 6, tg: 2, fixed: true });
  });
  it('the diagnostics (forward values, trace) run in one call, unless the batch is fixed', () => {
    expect(combinedLayout(32, 16, 2, 3, () => 1, undefined, true)).toEqual({ kk: 16, size: 32, tg: 2, fixed: false });
    expect(combinedLayout(2, 2, 1, Infinity, all, 1, true)).toEqual({ kk: 1, size: 1, tg: 1, fixed: true });
  });
});

describe('mergeRows', () => {
  it('averages the partial rows of each (input, target)', () => {
    // n = 1, rows = 2, t = 2, per = 1: rows ordered ((n·rows + r)·T + j).
    expect(Array.from(mergeRows(Float32Array.from([1, 10, 3, 30]), 1, 2, 2, 1))).toEqual([2, 20]);
    const same = Float32Array.from([1, 2]);
    expect(mergeRows(same, 2, 1, 1, 1)).toBe(same);
  });
});
