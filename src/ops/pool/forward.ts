// MaxPool, AveragePool (1-D and 2-D, explicit or auto padding, strides, dilations, ceil_mode),
// GlobalAveragePool, GlobalMaxPool, and the pooling transposes attribution passes need:
// maxPoolBackward routes each window's gradient to its arg-max (ties to the first tap in row-major
// window order, padding never wins), avgPoolBackward is the exact transpose of average pooling.
import src from './pool.wgsl';
import { attrInt, attrInts, attrString } from '../../graph/ir.js';
import { fmtShape, numel, type Shape } from '../../graph/tensor.js';
import { nodeError } from '../../errors.js';
import { Gpu, Uniforms, type GpuTensor } from '../../kernels/gpu/runtime.js';
import type { CpuTensor, OpSpec, OpTable, PrepareCtx } from '../op.js';
import { assemble, parseSections } from '../../kernels/gpu/wgsl.js';

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
const LOWEST = -3.4028234663852886e38;

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

function avgCount(p: PoolParams, h0: number, w0: number): number {
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
function forEachWindow(p: PoolParams, fn: (o: number, base: number, h0: number, w0: number, taps: number[]) => void): void {
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

function cpuForward(p: PoolParams, x: Float32Array): Float32Array {
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

/** Plane-relative arg-max of each window (first of equal maxima), -1 for a window without input taps. */
function cpuArgmax(p: PoolParams, x: Float32Array): Int32Array {
  const arg = new Int32Array(p.planes * p.OH * p.OW).fill(-1);
  forEachWindow(p, (o, base, _h0, _w0, taps) => {
    let best = LOWEST;
    for (const t of taps) {
      const v = x[base + t];
      if (arg[o] < 0 || v > best) {
        best = Math.max(v, LOWEST);
        arg[o] = t;
      }
    }
  });
  return arg;
}

// ---------------------------------------------------------------- GPU

const sections = parseSections(src);
const WG = 64;

const VARIANT = {
  max: { INIT: 'LOWEST', ACCUMULATE: 'if (v > acc) { acc = v; }', FINISH: 'acc', GLOBAL_FINISH: 'acc' },
  avg: { INIT: '0.0', ACCUMULATE: 'acc += v;', FINISH: 'acc / avg_count(win)', GLOBAL_FINISH: 'acc / f32(n)' },
};

function uniforms(p: PoolParams, total: number): Uniforms {
  return new Uniforms()
    .u(total, p.H, p.W, p.OH, p.OW, p.kh, p.kw, p.sh, p.sw, p.dh, p.dw)
    .i(p.pt, p.pl, p.pb, p.pr)
    .u(p.countIncludePad ? 1 : 0, p.global ? 1 : 0, 0, 0, 0);
}

function gpuForward(g: Gpu, p: PoolParams, x: GpuTensor, y: GpuTensor): void {
  const v = VARIANT[p.kind];
  if (p.global) {
    const pipe = g.kernel(`pool.global_${p.kind}`, () => assemble(sections, ['common', 'global'], v));
    g.dispatch(pipe, uniforms(p, p.planes), [x.buffer, y.buffer], [p.planes]);
    return;
  }
  const total = p.planes * p.OH * p.OW;
  const pipe = g.kernel(`pool.${p.kind}`, () => assemble(sections, ['common', 'forward'], v));
  g.dispatch(pipe, uniforms(p, total), [x.buffer, y.buffer], Gpu.groups1d(total, WG));
}

function spec(prepare: (ctx: PrepareCtx) => { shapes: Shape[]; params: PoolParams }): OpSpec<PoolParams> {
  return {
    prepare,
    cpu: (p, inputs) => [cpuForward(p, inputs[0]!.data)],
    gpu: (g, p, inputs, outputs) => gpuForward(g, p, inputs[0]!, outputs[0]),
  };
}

export const ops: OpTable = {
  MaxPool: spec((ctx) => preparePool(ctx, 'max')),
  AveragePool: spec((ctx) => preparePool(ctx, 'avg')),
  GlobalMaxPool: spec((ctx) => prepareGlobal(ctx, 'max')),
  GlobalAveragePool: spec((ctx) => prepareGlobal(ctx, 'avg')),
};

// ---------------------------------------------------------------- transposes for attribution

function backwardUniforms(p: PoolParams): Uniforms {
  return uniforms(p, p.planes);
}

/**
 * Gradient of max pooling (MaxPool or GlobalMaxPool params): gx[argmax of window] += gy[window].
 * `x` is the pooled input (it decides the arg-max), `gy` has the pooled output's shape.
 */
export const maxPoolBackward = {
  cpu(p: PoolParams, x: CpuTensor, gy: CpuTensor): Float32Array {
    const gx = new Float32Array(p.planes * p.H * p.W);
    const arg = cpuArgmax(p, x.data);
    const per = p.OH * p.OW;
    for (let o = 0; o < arg.length; o++) {
      if (arg[o] >= 0) gx[Math.floor(o / per) * p.H * p.W + arg[o]] += gy.data[o];
    }
    return gx;
  },
  gpu(g: Gpu, p: PoolParams, x: GpuTensor, gy: GpuTensor, gx: GpuTensor): void {
    const nOut = p.planes * p.OH * p.OW;
    const arg = g.alloc([nOut], 'pool.argmax');
    const argPipe = g.kernel('pool.argmax', () => assemble(sections, ['common', 'argmax']));
    g.dispatch(argPipe, uniforms(p, nOut), [x.buffer, arg.buffer], Gpu.groups1d(nOut, WG));
    const pipe = g.kernel('pool.max_backward', () => assemble(sections, ['common', 'backward'], {
      EXTRA_BINDING: '@group(0) @binding(3) var<storage, read> arg: array<u32>;',
      CONTRIBUTION: 'return select(0.0, gy[o], arg[o] == at);',
    }));
    const nIn = p.planes * p.H * p.W;
    g.dispatch(pipe, backwardUniforms(p), [gy.buffer, gx.buffer, arg.buffer], Gpu.groups1d(nIn, WG));
    g.release(arg);
  },
};

/** Transpose of average pooling (AveragePool or GlobalAveragePool params), count_include_pad included. */
export const avgPoolBackward = {
  cpu(p: PoolParams, gy: CpuTensor): Float32Array {
    const gx = new Float32Array(p.planes * p.H * p.W);
    forEachWindow(p, (o, base, h0, w0, taps) => {
      const g = gy.data[o] / (p.global ? p.H * p.W : avgCount(p, h0, w0));
      for (const t of taps) gx[base + t] += g;
    });
    return gx;
  },
  gpu(g: Gpu, p: PoolParams, gy: GpuTensor, gx: GpuTensor): void {
    const pipe = g.kernel('pool.avg_backward', () => assemble(sections, ['common', 'backward'], {
      EXTRA_BINDING: '',
      CONTRIBUTION: 'if (u.is_global != 0u) { return gy[o] / f32(u.H * u.W); }\n  return gy[o] / avg_count(window(oh, ow));',
    }));
    const nIn = p.planes * p.H * p.W;
    g.dispatch(pipe, backwardUniforms(p), [gy.buffer, gx.buffer], Gpu.groups1d(nIn, WG));
  },
};
