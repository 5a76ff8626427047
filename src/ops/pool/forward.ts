// MaxPool, AveragePool (1-D and 2-D, explicit or auto padding, strides, dilations, ceil_mode),
// GlobalAveragePool, GlobalMaxPool. The window walks (CPU `forEachWindow`, WGSL `window` and
// `global` sections with hooks) are shared with the backward rules in rules.ts.
import src from './forward.wgsl';
import { attrInt, attrInts, attrString } from '../../graph/ir.js';
import { fmtShape, numel, type Shape } from '../../graph/tensor.js';
import { nodeError } from '../../errors.js';
import { Gpu, type GpuTensor } from '../../kernels/gpu/runtime.js';
import type { OpSpec, OpTable, PrepareCtx } from '../op.js';
import { assemble, parseSections, uniforms } from '../../kernels/gpu/wgsl.js';

export interface PoolParams {
  kind: 'max' | 'avg';
  /** Global pools: one window covering the plane (spatial dims of any rank flattened into W). */
  global: boolean;
  /** Planes (N·C) and their spatial size; 1-D pooling has H = 1. */
  planes: number;
  H: number;
  W: number;
  OH: number;
  OW: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  dh: number;
  dw: number;
  /** Padding: top, left, bottom, right. */
  pt: number;
  pl: number;
  pb: number;
  pr: number;
  countIncludePad: boolean;
}

/** The float32 lowest value: what a max over a window with no input taps yields (as onnxruntime). */
export const LOWEST = -3.4028234663852886e38;

// ---------------------------------------------------------------- shape inference

/** Output length and pads of one spatial axis, ONNX semantics. */
function axisGeometry(
  fail: (m: string) => never, inSize: number, k: number, s: number, d: number,
  padBegin: number, padEnd: number, autoPad: string, ceil: boolean,
): { out: number; pb: number; pe: number } {
  const ek = (k - 1) * d + 1;
  if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
    const out = Math.ceil(inSize / s);
    const total = Math.max(0, (out - 1) * s + ek - inSize);
    const pb = autoPad === 'SAME_UPPER' ? Math.floor(total / 2) : Math.ceil(total / 2);
    return { out, pb, pe: total - pb };
  }
  const [pb, pe] = autoPad === 'VALID' ? [0, 0] : [padBegin, padEnd];
  const span = inSize + pb + pe - ek;
  if (span < 0) fail(`kernel extent ${ek} exceeds the padded input size ${inSize + pb + pe}`);
  let out = (ceil ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
  // ceil_mode: the last window must start inside the input or the left padding.
  if (ceil && (out - 1) * s >= inSize + pb) out--;
  return { out, pb, pe };
}

function preparePool(ctx: PrepareCtx, kind: 'max' | 'avg') {
  const { node } = ctx;
  const fail = (msg: string): never => {
    throw nodeError(node.opType, node.name, msg);
  };
  const x = ctx.shapes[0];
  if (!x) return fail('input X is required');
  if (node.outputs.length > 1 && node.outputs[1] !== '') {
    fail('the Indices output is not supported (only the pooled values)');
  }
  if (x.length !== 3 && x.length !== 4) fail(`only 1-D and 2-D pooling is supported; input is ${fmtShape(x)}`);
  const sr = x.length - 2;
  const kernel = attrInts(node, 'kernel_shape');
  if (!kernel) fail(`missing the required attribute 'kernel_shape' (${sr} entries for input ${fmtShape(x)})`);
  if (!kernel || kernel.length !== sr) fail(`kernel_shape ${JSON.stringify(kernel)} must have ${sr} entries for input ${fmtShape(x)}`);
  const strides = attrInts(node, 'strides') ?? Array(sr).fill(1);
  const dilations = attrInts(node, 'dilations') ?? Array(sr).fill(1);
  const pads = attrInts(node, 'pads') ?? Array(2 * sr).fill(0);
  const autoPad = attrString(node, 'auto_pad', 'NOTSET')!;
  const ceil = attrInt(node, 'ceil_mode', 0) !== 0;
  if (strides.length !== sr) fail(`strides ${JSON.stringify(strides)} must have ${sr} entries`);
  if (dilations.length !== sr) fail(`dilations ${JSON.stringify(dilations)} must have ${sr} entries`);
  if (pads.length !== 2 * sr) fail(`pads ${JSON.stringify(pads)} must have ${2 * sr} entries`);
  if (!['NOTSET', 'VALID', 'SAME_UPPER', 'SAME_LOWER'].includes(autoPad)) fail(`unknown auto_pad '${autoPad}'`);
  for (let i = 0; i < sr; i++) {
    if (!(kernel![i] >= 1 && strides[i] >= 1 && dilations[i] >= 1)) {
      fail(`kernel_shape, strides and dilations must be ≥ 1, got ${JSON.stringify({ kernel, strides, dilations })}`);
    }
    const ek = (kernel![i] - 1) * dilations[i] + 1;
    if (autoPad === 'NOTSET' && (pads[i] < 0 || pads[i + sr] < 0 || pads[i] >= ek || pads[i + sr] >= ek)) {
      fail(`pads ${JSON.stringify(pads)} must be ≥ 0 and smaller than the kernel extent ${ek}`);
    }
  }
  const countIncludePad = kind === 'avg' && attrInt(node, 'count_include_pad', 0) !== 0;
  // 1-D is 2-D with a 1-row input and kernel.
  const [H, W] = sr === 1 ? [1, x[2]] : [x[2], x[3]];
  const k2 = sr === 1 ? [1, kernel![0]] : kernel!;
  const s2 = sr === 1 ? [1, strides[0]] : strides;
  const d2 = sr === 1 ? [1, dilations[0]] : dilations;
  const p2 = sr === 1 ? [0, pads[0], 0, pads[1]] : pads;
  const gh = axisGeometry(fail, H, k2[0], s2[0], d2[0], p2[0], p2[2], sr === 1 ? 'NOTSET' : autoPad, ceil);
  const gw = axisGeometry(fail, W, k2[1], s2[1], d2[1], p2[1], p2[3], autoPad, ceil);
  if (gh.out < 1 || gw.out < 1) fail(`output would be empty for input ${fmtShape(x)}`);
  const p: PoolParams = {
    kind, global: false, planes: x[0] * x[1], H, W, OH: gh.out, OW: gw.out,
    kh: k2[0], kw: k2[1], sh: s2[0], sw: s2[1], dh: d2[0], dw: d2[1],
    pt: gh.pb, pl: gw.pb, pb: gh.pe, pr: gw.pe, countIncludePad,
  };
  const out = sr === 1 ? [x[0], x[1], gw.out] : [x[0], x[1], gh.out, gw.out];
  return { shapes: [out], params: p };
}

function prepareGlobal(ctx: PrepareCtx, kind: 'max' | 'avg') {
  const { node } = ctx;
  const x = ctx.shapes[0];
  if (!x || x.length < 3) {
    throw nodeError(node.opType, node.name, `input must be N×C×spatial…, got ${x ? fmtShape(x) : 'nothing'}`);
  }
  const spatial = x.slice(2);
  const [H, W] = spatial.length === 2 ? spatial : [1, numel(spatial)];
  if (H * W === 0) throw nodeError(node.opType, node.name, `empty spatial extent in ${fmtShape(x)}`);
  const p: PoolParams = {
    kind, global: true, planes: x[0] * x[1], H, W, OH: 1, OW: 1, kh: H, kw: W, sh: 1, sw: 1, dh: 1, dw: 1,
    pt: 0, pl: 0, pb: 0, pr: 0, countIncludePad: false,
  };
  return { shapes: [[x[0], x[1], ...spatial.map(() => 1)]], params: p };
}

// ---------------------------------------------------------------- CPU reference

export function avgCount(p: PoolParams, h0: number, w0: number): number {
  let n = 0;
  for (let a = 0; a < p.kh; a++) {
    const h = h0 + a * p.dh;
    for (let b = 0; b < p.kw; b++) {
      const w = w0 + b * p.dw;
      const ok = p.countIncludePad
        ? h >= -p.pt && h < p.H + p.pb && w >= -p.pl && w < p.W + p.pr
        : h >= 0 && h < p.H && w >= 0 && w < p.W;
      if (ok) n++;
    }
  }
  return Math.max(n, 1);
}

/** Visit each window: its output index, origin, and the in-input taps in row-major order. */
export function forEachWindow(p: PoolParams, fn: (o: number, base: number, h0: number, w0: number, taps: number[]) => void): void {
  const taps: number[] = [];
  for (let plane = 0; plane < p.planes; plane++) {
    const base = plane * p.H * p.W;
    for (let oh = 0; oh < p.OH; oh++) {
      for (let ow = 0; ow < p.OW; ow++) {
        const h0 = oh * p.sh - p.pt, w0 = ow * p.sw - p.pl;
        taps.length = 0;
        for (let a = 0; a < p.kh; a++) {
          const h = h0 + a * p.dh;
          if (h < 0 || h >= p.H) continue;
          for (let b = 0; b < p.kw; b++) {
            const w = w0 + b * p.dw;
            if (w >= 0 && w < p.W) taps.push(h * p.W + w);
          }
        }
        fn((plane * p.OH + oh) * p.OW + ow, base, h0, w0, taps);
      }
    }
  }
}

export function cpuForward(p: PoolParams, x: Float32Array): Float32Array {
  const y = new Float32Array(p.planes * p.OH * p.OW);
  forEachWindow(p, (o, base, h0, w0, taps) => {
    if (p.kind === 'max') {
      let m = LOWEST;
      for (const t of taps) if (x[base + t] > m) m = x[base + t];
      y[o] = m;
    } else {
      let s = 0;
      for (const t of taps) s += x[base + t];
      y[o] = s / (p.global ? p.H * p.W : avgCount(p, h0, w0));
    }
  });
  return y;
}

// ---------------------------------------------------------------- GPU

export const sections = parseSections(src);
const WG = 64;

/** The uniforms of every pooling kernel (forward and backward): the window geometry of PoolParams. */
export const POOL_U = uniforms({
  total: 'u32', H: 'u32', W: 'u32', OH: 'u32', OW: 'u32', kh: 'u32', kw: 'u32', sh: 'u32', sw: 'u32', dh: 'u32', dw: 'u32',
  pt: 'i32', pl: 'i32', pb: 'i32', pr: 'i32', cip: 'u32', is_global: 'u32',
});

/** POOL_U for `total` windows, planes (global walk and gather) or elements. */
export function poolUniforms(p: PoolParams, total: number) {
  return POOL_U.pack({
    total, H: p.H, W: p.W, OH: p.OH, OW: p.OW, kh: p.kh, kw: p.kw, sh: p.sh, sw: p.sw, dh: p.dh, dw: p.dw,
    pt: p.pt, pl: p.pl, pb: p.pb, pr: p.pr, cip: p.countIncludePad ? 1 : 0, is_global: p.global ? 1 : 0,
  });
}

/** `@group(0) @binding(n)` declarations of storage buffers, from binding 1: [name, element type, writable]. */
export function bindings(from: number, ...b: [string, 'f32' | 'u32', boolean][]): string {
  return b.map(([name, t, rw], k) =>
    `@group(0) @binding(${from + k}) var<storage, ${rw ? 'read_write' : 'read'}> ${name}: array<${t}>;`).join('\n');
}

/** Hooks of a window walk (`window` or `global` section of forward.wgsl); see there. */
export interface WalkHooks {
  BINDINGS: string;
  INIT: string;
  LOAD: string;
  ACCUMULATE: string;
  /** Global walk only: fold (v, j) from the upper half into part[lid.x] (and part_idx). */
  COMBINE?: string;
  FINISH: string;
}

/**
 * Record one walk over x: a thread per window, or (`global`) a workgroup per plane. `names` are
 * sections of `from` (a map holding forward.wgsl's) that the hooks need besides `common`; the key
 * gets the walk appended.
 */
export function dispatchWalk(
  g: Gpu, key: string, p: PoolParams, global: boolean, hooks: WalkHooks, buffers: GPUBuffer[],
  names: string[] = [], from: Map<string, string> = sections,
): void {
  const walk = global ? 'global' : 'window';
  const pipe = g.kernel(`${key}.${walk}`, () => assemble(from, ['common', ...names, walk], { COMBINE: '', ...hooks }, POOL_U));
  const n = global ? p.planes : p.planes * p.OH * p.OW;
  g.dispatch(pipe, poolUniforms(p, n), buffers, global ? [p.planes] : Gpu.groups1d(n, WG));
}

const FORWARD_BINDINGS = bindings(1, ['x', 'f32', false], ['y', 'f32', true]);

const FORWARD: Record<PoolParams['kind'], { window: WalkHooks; global: WalkHooks }> = {
  max: {
    window: { BINDINGS: FORWARD_BINDINGS, INIT: 'LOWEST', LOAD: 'x[base + at]', ACCUMULATE: 'if (v > acc) { acc = v; }', FINISH: 'y[i] = acc;' },
    global: {
      BINDINGS: FORWARD_BINDINGS, INIT: 'LOWEST', LOAD: 'x[base + at]', ACCUMULATE: 'if (v > acc) { acc = v; }',
      COMBINE: 'if (v > part[lid.x]) { part[lid.x] = v; }', FINISH: 'y[plane] = part[0];',
    },
  },
  avg: {
    window: { BINDINGS: FORWARD_BINDINGS, INIT: '0.0', LOAD: 'x[base + at]', ACCUMULATE: 'acc += v;', FINISH: 'y[i] = acc / avg_count(win);' },
    global: {
      BINDINGS: FORWARD_BINDINGS, INIT: '0.0', LOAD: 'x[base + at]', ACCUMULATE: 'acc += v;',
      COMBINE: 'part[lid.x] += v;', FINISH: 'y[plane] = part[0] / f32(n);',
    },
  },
};

function gpuForward(g: Gpu, p: PoolParams, x: GpuTensor, y: GpuTensor): void {
  dispatchWalk(g, `pool.forward.${p.kind}`, p, p.global, FORWARD[p.kind][p.global ? 'global' : 'window'], [x.buffer, y.buffer]);
}

function spec(prepare: (ctx: PrepareCtx) => { shapes: Shape[]; params: PoolParams }): OpSpec<PoolParams> {
  return {
    prepare,
    cpu: (p, inputs) => [cpuForward(p, inputs[0]!.data)],
    gpu: (g, p, inputs, outputs) => gpuForward(g, p, inputs[0]!, outputs[0]),
  };
}

const POOLING = { pooling: true };

export const ops: OpTable = {
  MaxPool: { ...spec((ctx) => preparePool(ctx, 'max')), traits: POOLING },
  AveragePool: { ...spec((ctx) => preparePool(ctx, 'avg')), traits: POOLING },
  GlobalMaxPool: { ...spec((ctx) => prepareGlobal(ctx, 'max')), traits: POOLING },
  GlobalAveragePool: { ...spec((ctx) => prepareGlobal(ctx, 'avg')), traits: POOLING },
};
