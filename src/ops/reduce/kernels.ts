// The reduce family's two GPU kernels, shared by the forward ops and the rules: `reduce` (one
// workgroup per output, the reduction kind and what it stores substituted per variant) and
// `spread` (one thread per input element, the transpose's value substituted per variant). One
// uniform block serves both; pipeline keys name the kernel and the variant.
import forwardSrc from './forward.wgsl';
import backwardSrc from './backward.wgsl';
import { Gpu, type GpuTensor } from '../../kernels/gpu/runtime.js';
import { assemble, parseSections, uniforms } from '../../kernels/gpu/wgsl.js';
import zruleSrc from '../shared/zrule.wgsl';
import { MAX_GROUPS, type ReduceGeom } from './geometry.js';

const sections = new Map([...parseSections(forwardSrc), ...parseSections(backwardSrc), ...parseSections(zruleSrc)]);
const WG = 64;

const groups = { vec4: 'u32', n: MAX_GROUPS / 4 } as const;
const U = uniforms({
  outs: 'u32', count: 'u32', total: 'u32',
  /** The reduction's identity (−∞ for max): a uniform, since WGSL constants must be finite. */
  init: 'f32',
  kdims: groups, kstr: groups, rdims: groups, rstr: groups, idims: groups, ostr: groups,
});

function pack(g: ReduceGeom, init: number) {
  return U.pack({
    outs: g.outs, count: g.count, total: g.outs * g.count, init,
    kdims: g.kdims, kstr: g.kstr, rdims: g.rdims, rstr: g.rstr, idims: g.idims, ostr: g.ostr,
  }, { kdims: 1, rdims: 1, idims: 1 });
}

/** How values combine: the accumulation in a thread and the step of the workgroup tree. */
export type Combine = 'sum' | 'max' | 'min' | 'prod';

const COMBINE: Record<Combine, { ACCUMULATE: string; COMBINE: string }> = {
  sum: { ACCUMULATE: 'acc += v;', COMBINE: 'part[lid] = a + b;' },
  prod: { ACCUMULATE: 'acc *= v;', COMBINE: 'part[lid] = a * b;' },
  // Arg-tracking: a thread keeps its first extreme; the tree prefers the lower k among equals.
  max: {
    ACCUMULATE: 'if (at == NONE || v > acc) { acc = v; at = k; }',
    COMBINE: 'if (b > a || (b == a && kb < ka)) { part[lid] = b; part_k[lid] = kb; }',
  },
  min: {
    ACCUMULATE: 'if (at == NONE || v < acc) { acc = v; at = k; }',
    COMBINE: 'if (b < a || (b == a && kb < ka)) { part[lid] = b; part_k[lid] = kb; }',
  },
};

export const INIT: Record<Combine, number> = { sum: 0, prod: 1, max: -Infinity, min: Infinity };

const f32Out = (b: number, name: string, access = 'read_write') => `@group(0) @binding(${b}) var<storage, ${access}> ${name}: array<f32>;`;
const u32Out = (b: number, name: string, access = 'read_write') => `@group(0) @binding(${b}) var<storage, ${access}> ${name}: array<u32>;`;

/** What a `reduce` pass stores per output. */
export type Store =
  /** y[o] = FINISH(acc) (the forward op). */
  | { kind: 'value'; finish: string }
  /** arg[o] = the input index of the winning element (max/min routing). */
  | { kind: 'arg' }
  /** s[o] = safe_div(r[o], Z) with Z = FINISH(acc), and arg[o] where `arg` (the AE z-rule). */
  | { kind: 's'; finish: string; arg: boolean };

export interface ReducePass {
  /** Variant name, part of the pipeline key. */
  name: string;
  /** The value reduced, as an expression of the input value `v` (e.g. `abs(v)`, `xhat(v)`). */
  load: string;
  combine: Combine;
  store: Store;
}

function reduceVars(p: ReducePass): Record<string, string> {
  const at = 'kept_base(o) + red_off(at)';
  const s = p.store;
  const bindings = s.kind === 'value' ? [f32Out(2, 'y')]
    : s.kind === 'arg' ? [u32Out(2, 'arg')]
    : [f32Out(2, 's'), f32Out(3, 'r', 'read'), ...(s.arg ? [u32Out(4, 'arg')] : [])];
  const finish = s.kind === 'value' ? `y[o] = ${s.finish};`
    : s.kind === 'arg' ? `arg[o] = ${at};`
    : `s[o] = safe_div(r[o], ${s.finish});${s.arg ? `\n    arg[o] = ${at};` : ''}`;
  return { BINDINGS: bindings.join('\n'), LOAD: p.load, ...COMBINE[p.combine], FINISH: finish };
}

/**
 * One reduce pass over `x`: `outs` = [y] (value), [arg] (arg), or [s, r] / [s, r, arg] (the z-rule's
 * S from the incoming relevance r). Empty outputs (outs = 0) dispatch nothing.
 */
export function reducePass(g: Gpu, geom: ReduceGeom, p: ReducePass, x: GpuTensor, outs: GpuTensor[]): void {
  const pipe = g.kernel(`reduce.${p.name}`, () => assemble(sections, ['common', 'zrule', 'reduce'], reduceVars(p), U));
  g.dispatch(pipe, pack(geom, INIT[p.combine]), [x.buffer, ...outs.map((t) => t.buffer)], [geom.outs]);
}

export interface SpreadPass {
  name: string;
  /** The stored value from `g` (src[o]), `i`, `o` and the extra bindings `x`, `aux` / `arg`. */
  value: string;
  /** Extra inputs: the forward input x, and an f32 (`aux`) or u32 (`arg`) per-output tensor. */
  x?: boolean;
  aux?: 'f32' | 'u32';
}

/** dst[i] = value for every input element i, from src (output-shaped) and the extras. */
export function spreadPass(g: Gpu, geom: ReduceGeom, p: SpreadPass, src: GpuTensor, dst: GpuTensor, extra: GpuTensor[]): void {
  // Bindings are numbered in the order the buffers are passed: src, dst, then x, then aux.
  let b = 3;
  const bindings = [p.x ? f32Out(b++, 'x', 'read') : '', p.aux === 'f32' ? f32Out(b++, 'aux', 'read') : p.aux === 'u32' ? u32Out(b++, 'arg', 'read') : ''];
  const pipe = g.kernel(`reduce.spread.${p.name}`, () =>
    assemble(sections, ['common', 'zrule', 'spread'], { BINDINGS: bindings.join('\n'), VALUE: p.value }, U));
  const total = geom.outs * geom.count;
  g.dispatch(pipe, pack(geom, 0), [src.buffer, dst.buffer, ...extra.map((t) => t.buffer)], Gpu.groups1d(total, WG));
}
