// The geometry of a reduction over any set of axes, computed once at plan time and shared by the
// forward kernels and the rules. Adjacent axes of the same kind (kept or reduced) are merged, so a
// rank-8 limit applies to the alternating groups, not to the tensor's rank: an output index o
// decomposes over the kept groups and the k-th reduced element over the reduced groups, both
// row-major, so "the first reduced element" is the first in row-major order over the reduced axes.
import { numel, stridesOf, type Shape } from '../../graph/tensor.js';

/** At most this many merged groups of each kind (the uniform arrays hold 2 vec4s). */
export const MAX_GROUPS = 8;

export interface ReduceGeom {
  inShape: Shape;
  /** The output shape as declared (keepdims applied). */
  outShape: Shape;
  /** Output elements, and reduced elements per output. */
  outs: number;
  count: number;
  /** Merged kept groups: sizes and input strides (outer first). */
  kdims: number[];
  kstr: number[];
  /** Merged reduced groups: sizes and input strides (outer first). */
  rdims: number[];
  rstr: number[];
  /** Merged groups of the input in order, and the output stride of each (0 where reduced). */
  idims: number[];
  ostr: number[];
}

/** `axes` normalized (non-negative, unique); `keep` = keepdims. */
export function reduceGeom(inShape: Shape, axes: ReadonlySet<number>, keep: boolean): ReduceGeom {
  const outShape = keep ? inShape.map((d, i) => (axes.has(i) ? 1 : d)) : inShape.filter((_, i) => !axes.has(i));
  // Merge runs of same-kind axes; size-1 axes join either kind (they add no index).
  const groups: { size: number; red: boolean }[] = [];
  inShape.forEach((d, i) => {
    const red = axes.has(i);
    const last = groups[groups.length - 1];
    if (d === 1) return;
    if (last && last.red === red) last.size *= d;
    else groups.push({ size: d, red });
  });
  const idims = groups.map((g) => g.size);
  const istr = stridesOf(idims);
  const kept = groups.flatMap((g, i) => (g.red ? [] : [i]));
  const red = groups.flatMap((g, i) => (g.red ? [i] : []));
  const kdims = kept.map((i) => idims[i]);
  const ko = stridesOf(kdims);
  const ostr = groups.map(() => 0);
  kept.forEach((gi, j) => { ostr[gi] = ko[j]; });
  return {
    inShape, outShape, outs: numel(outShape), count: numel(red.map((i) => idims[i])),
    kdims, kstr: kept.map((i) => istr[i]), rdims: red.map((i) => idims[i]), rstr: red.map((i) => istr[i]),
    idims, ostr,
  };
}

/** The same reduction with axis 0 of the input `n` long (the backward batch), axis 0 not reduced. */
export function atBatch(g: ReduceGeom, axes: ReadonlySet<number>, keep: boolean, n: number): ReduceGeom {
  if (g.inShape.length === 0 || g.inShape[0] === n) return g;
  return reduceGeom([n, ...g.inShape.slice(1)], axes, keep);
}

/** Index i decomposed over `dims` (row-major, innermost last), dotted with `strides`. */
function offsetOf(i: number, dims: readonly number[], strides: readonly number[]): number {
  let off = 0;
  for (let d = dims.length - 1; d >= 0; d--) {
    off += (i % dims[d]) * strides[d];
    i = Math.floor(i / dims[d]);
  }
  return off;
}

/** Input offset of output o's first element (CPU twins). */
export const keptBase = (g: ReduceGeom, o: number): number => offsetOf(o, g.kdims, g.kstr);

/** Offset of every reduced element from its output's first, in row-major order over the reduced axes. */
export function reducedOffsets(g: ReduceGeom): Int32Array {
  return Int32Array.from({ length: g.count }, (_, k) => offsetOf(k, g.rdims, g.rstr));
}

/** Output index of input element i (the broadcast of a rule's signal back to the input). */
export const outputIndex = (g: ReduceGeom, i: number): number => offsetOf(i, g.idims, g.ostr);
