// Concat's parts in one dispatch (up to 4 parts per dispatch; section `concat` of forward.wgsl):
// the forward copy of every input into its columns of the output, AE's masked split and the
// gradient's split of R back to the inputs. The same values as one strided copy per part.
import { Gpu, type GpuTensor } from '../../kernels/gpu/runtime.js';
import { assemble, uniforms } from '../../kernels/gpu/wgsl.js';
import { forwardSections as sections } from './copies.js';

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
