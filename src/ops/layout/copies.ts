// Strided copies: the one data-movement primitive of the layout family. Transpose, Slice, Expand,
// Tile, Concat and Gather are one or more of them forward; their backward rules run them reversed
// (or accumulating, for Gather with repeated indices). One kernel templated per coalesced rank.
import src from './forward.wgsl';
import { numel, stridesOf, type Shape } from '../../graph/tensor.js';
import { AeqError } from '../../errors.js';
import { Gpu, type GpuTensor } from '../../kernels/gpu/runtime.js';
import { assemble, parseSections, uniforms } from '../../kernels/gpu/wgsl.js';
import { coalesce, forEachOffset, type NumArray } from '../shared/fold.js';

/** The sections of forward.wgsl (strided copies here; Pad and its gradient in pad.ts, pad-rules.ts). */
export const forwardSections = parseSections(src);
const MAX_COPY_RANK = 12;

/** y[obase + Σ c·ost] = x_input[ibase + Σ c·ist] for every c in `shape`. */
export interface Copy {
  input: number;
  shape: Shape;
  ist: number[];
  ost: number[];
  ibase: number;
  obase: number;
}

export function makeCopy(input: number, shape: Shape, ist: number[], ost: number[], ibase = 0, obase = 0): Copy {
  const c = coalesce(shape, [ist, ost]);
  return { input, shape: c.shape, ist: c.strides[0], ost: c.strides[1], ibase, obase };
}

/** A copy that writes the output contiguously. */
export function denseCopy(input: number, shape: Shape, ist: number[], ibase = 0): Copy {
  return makeCopy(input, shape, ist, stridesOf(shape), ibase);
}

/** The copy run backwards: it reads where the forward one wrote and writes where it read. */
export const reverseCopy = (c: Copy): Copy => ({ input: 0, shape: c.shape, ist: c.ost, ost: c.ist, ibase: c.obase, obase: c.ibase });

/** Split indices into runs of constant stride, each one strided copy (`distinct`: no run has step 0). */
export function indexRuns(idx: number[], distinct = false): { j0: number; len: number; step: number }[] {
  const runs: { j0: number; len: number; step: number }[] = [];
  let j = 0;
  while (j < idx.length) {
    const step = j + 1 < idx.length ? idx[j + 1] - idx[j] : 1;
    let len = 1;
    if (!distinct || step !== 0) while (j + len < idx.length && idx[j + len] - idx[j + len - 1] === step) len++;
    runs.push({ j0: j, len, step });
    j += len;
  }
  return runs;
}

/** CPU reference: the copies from `inputs` into `out` (or accumulated into it with `accumulate`). */
export function runCopies(copies: Copy[], inputs: (ArrayLike<number> | undefined)[], out: NumArray, accumulate = false): NumArray {
  for (const c of copies) {
    const x = inputs[c.input]!;
    forEachOffset(c.shape, [c.ist, c.ost], [c.ibase, c.obase], accumulate
      ? (_, o) => { out[o[1]] += x[o[0]]; }
      : (_, o) => { out[o[1]] = x[o[0]]; });
  }
  return out;
}

const STRIDED = uniforms({
  n: 'u32',
  ibase: 'i32',
  obase: 'u32',
  shape: { vec4: 'u32', n: 3 },
  ist: { vec4: 'i32', n: 3 },
  ost: { vec4: 'u32', n: 3 },
});

/** y = the strided copy of x, or y += it with `accumulate`. */
export function recordCopy(g: Gpu, c: Copy, x: GpuTensor, y: GpuTensor, accumulate = false): void {
  const n = numel(c.shape);
  if (n === 0) return;
  const rank = c.shape.length;
  if (rank > MAX_COPY_RANK) throw new AeqError(`strided copy of rank ${rank} (after merging dimensions) exceeds ${MAX_COPY_RANK}`);
  const u = STRIDED.pack({ n, ibase: c.ibase, obase: c.obase, shape: c.shape, ist: c.ist, ost: c.ost }, { shape: 1 });
  const pipeline = g.kernel(`layout.strided_${accumulate ? 'add' : 'copy'}.r${rank}`, () =>
    assemble(forwardSections, ['strided'], { RANK: rank, STORE: accumulate ? '+=' : '=' }, STRIDED));
  g.dispatch(pipeline, u, [x.buffer, y.buffer], Gpu.groups1d(n));
}

/** Every copy recorded into y (each reading its own input). */
export function recordCopies(g: Gpu, copies: Copy[], inputs: (GpuTensor | undefined)[], y: GpuTensor, accumulate = false): void {
  for (const c of copies) recordCopy(g, c, inputs[c.input]!, y, accumulate);
}

/** Gather along an axis (data [outer, dim, inner] → [outer, J, inner]) as one copy per run of indices. */
export function gatherCopies(idx: number[], dim: number, outer: number, inner: number, distinct = false): Copy[] {
  return indexRuns(idx, distinct).map((run) => makeCopy(0, [outer, run.len, inner],
    [dim * inner, run.step * inner, 1], [idx.length * inner, inner, 1], idx[run.j0] * inner, run.j0 * inner));
}
