// Concat's parts in one dispatch (up to 4 parts per dispatch; section `concat` of forward.wgsl):
// the forward copy of every input into its columns of the output, AE's masked split and the
// gradient's split of R back to the inputs. The same values as one strided copy per part.
import { Gpu, type GpuTensor } from '../../kernels/gpu/runtime.js';
import { assemble, uniforms } from '../../kernels/gpu/wgsl.js';
import { forwardSections as sections } from './copies.js';
import { POS_NEG_TREE } from '../shared/attribution.js';

const PER_DISPATCH = 4;
const CONCAT = uniforms({ n: 'u32', total: 'u32', off: { vec4: 'u32', n: 1 }, blk: { vec4: 'u32', n: 1 } });

/** Part j: columns [offset, offset + block) of each of the `outer` rows of `total` values. */
export interface ConcatSlot { block: number; offset: number }

/** copy: y = the parts; mask: part j = R where x_j ≠ 0, else 0; split: part j = R. */
export type ConcatMode = 'copy' | 'mask' | 'split';

function wgsl(mode: ConcatMode, parts: number): string {
  const b: string[] = [];
  const p: string[] = [];
  const rw = (k: number, name: string) => `@group(0) @binding(${k}) var<storage, read_write> ${name}: array<f32>;`;
  const ro = (k: number, name: string) => `@group(0) @binding(${k}) var<storage, read> ${name}: array<f32>;`;
  b.push(mode === 'copy' ? rw(1, 'y') : ro(1, 'r'));
  for (let j = 0; j < parts; j++) {
    const c = 'xyzw'[j];
    if (mode === 'copy') b.push(ro(2 + j, `x${j}`));
    else if (mode === 'mask') b.push(ro(2 + 2 * j, `x${j}`), rw(3 + 2 * j, `o${j}`));
    else b.push(rw(2 + j, `o${j}`));
    const k = `row * u.blk[0].${c} + col - u.off[0].${c}`;
    const body = mode === 'copy' ? `y[i] = x${j}[${k}];`
      : mode === 'mask' ? `let k = ${k}; o${j}[k] = select(0.0, r[i], x${j}[k] != 0.0);`
        : `o${j}[${k}] = r[i];`;
    p.push(`  if (col >= u.off[0].${c} && col < u.off[0].${c} + u.blk[0].${c}) { ${body} }`);
  }
  return assemble(sections, ['concat'], { BINDINGS: b.join('\n'), PARTS: p.join('\n') }, CONCAT);
}

// AE's masked split with each part's per-sample ΣR⁺ and ΣR⁻ (gpuAttr.samplePosNeg's layout and
// bits: the same loop over the part's values in a sample, the same tree), for the part's consumer
// (the AE conv rule) to use instead of a sample_pos_neg dispatch of its own. A workgroup per (part,
// sample); only where each row of R is one sample (Concat along an axis ≥ 1 of [N, …]).
const SUMS_PARTS = 3; // 1 + 2 bindings per part + the sums: 8 storage buffers, WebGPU's default limit
const CONCAT_SUMS = uniforms({ total: 'u32', stride: 'u32', neg: 'u32', off: { vec4: 'u32', n: 1 }, blk: { vec4: 'u32', n: 1 } });

function wgslSums(parts: number): string {
  const b = ['@group(0) @binding(1) var<storage, read> r: array<f32>;'];
  const p: string[] = [];
  for (let j = 0; j < parts; j++) {
    const c = 'xyzw'[j];
    b.push(`@group(0) @binding(${2 + 2 * j}) var<storage, read> x${j}: array<f32>;`, `@group(0) @binding(${3 + 2 * j}) var<storage, read_write> o${j}: array<f32>;`);
    p.push(`  if (j == ${j}u) {
    for (var k = li; k < u.blk[0].${c}; k += 256u) {
      let e = s * u.blk[0].${c} + k;
      let v = select(0.0, r[s * u.total + u.off[0].${c} + k], x${j}[e] != 0.0);
      o${j}[e] = v;
      a += max(v, 0.0);
      t += min(v, 0.0);
    }
  }`);
  }
  b.push(`@group(0) @binding(${2 + 2 * parts}) var<storage, read_write> sums: array<f32>;`);
  return assemble(sections, ['concat_sums'], { BINDINGS: b.join('\n'), PARTS: p.join('\n'), TREE: POS_NEG_TREE }, CONCAT_SUMS);
}

/**
 * AE's masked split (mode 'mask') where R's rows are its samples, registering each part's sums
 * with its signal (Gpu.state.setSums). `bufs[j]` = [x_j, o_j].
 */
export function recordConcatMaskSums(g: Gpu, rows: number, total: number, r: GpuTensor, slots: ConcatSlot[], bufs: GpuTensor[][]): void {
  const live = slots.map((s, j) => ({ s, b: bufs[j] })).filter((q) => q.s.block > 0 && rows > 0);
  const align = g.limits.minStorageBufferOffsetAlignment / 4;
  const neg = Math.ceil(rows / align) * align;
  const stride = 3 * neg; // a part's pos, neg and count regions
  for (let j0 = 0; j0 < live.length; j0 += SUMS_PARTS) {
    const chunk = live.slice(j0, j0 + SUMS_PARTS);
    const sums = g.alloc([chunk.length * stride], 'concat.sums');
    const pipe = g.kernel(`layout.concat.mask_sums.p${chunk.length}`, () => wgslSums(chunk.length));
    const pad = (f: (q: (typeof chunk)[number]) => number) => [0, 1, 2, 3].map((k) => (chunk[k] ? f(chunk[k]) : 0));
    const un = CONCAT_SUMS.pack({ total, stride, neg, off: pad((q) => q.s.offset), blk: pad((q) => q.s.block) });
    g.dispatch(pipe, un, [r.buffer, ...chunk.flatMap((q) => q.b.map((t) => t.buffer)), sums.buffer], [chunk.length, rows]);
    const at = (j: number, k: number): GPUBufferBinding => ({ buffer: sums.buffer, offset: (j * stride + k * neg) * 4, size: rows * 4 });
    g.state.setSums(chunk.map((q) => q.b[1].buffer), chunk.map((_, j) => ({ pos: at(j, 0), neg: at(j, 1), count: at(j, 2) })), sums);
  }
}

/**
 * Record the parts (empty ones skipped): `r` is the output (copy) or the signal R; part j's
 * buffers are its input (copy), its input and its signal (mask), or its signal (split).
 */
export function recordConcat(g: Gpu, mode: ConcatMode, outer: number, total: number, r: GpuTensor, slots: ConcatSlot[], bufs: GpuTensor[][]): void {
  const live = slots.map((s, j) => ({ s, b: bufs[j] })).filter((q) => q.s.block > 0 && outer > 0);
  for (let j0 = 0; j0 < live.length; j0 += PER_DISPATCH) {
    const chunk = live.slice(j0, j0 + PER_DISPATCH);
    const pipe = g.kernel(`layout.concat.${mode}.p${chunk.length}`, () => wgsl(mode, chunk.length));
    const pad = (f: (q: (typeof chunk)[number]) => number) => [0, 1, 2, 3].map((k) => (chunk[k] ? f(chunk[k]) : 0));
    const n = outer * total;
    const un = CONCAT.pack({ n, total, off: pad((q) => q.s.offset), blk: pad((q) => q.s.block) });
    g.dispatch(pipe, un, [r.buffer, ...chunk.flatMap((q) => q.b.map((t) => t.buffer))], Gpu.groups1d(n));
  }
}
