// ONNX Conv (1-D and 2-D, groups, dilations, strides, asymmetric pads, auto_pad) and the forward
// convolution with any weight tensor, which the attribution passes use as well. Its transpose (the
// gradient with respect to the input) is in input-grad.ts; the kernels of both in kernels.ts.
import type { Node } from '../../graph/ir.js';
import { attrInt, attrInts, attrString } from '../../graph/ir.js';
import { fmtShape, type Const, type Shape } from '../../graph/tensor.js';
import { nodeError } from '../../errors.js';
import type { CpuTensor, OpSpec, OpTable, PrepareCtx } from '../op.js';
import type { Gpu, GpuTensor } from '../../kernels/gpu/runtime.js';
import { convCpu, convLaunch, type Epilogue, type Launch } from './kernels.js';

export type { ConvParams } from './params.js';
import type { ConvParams } from './params.js';

// ---------------------------------------------------------------------------------------------
// Shape inference

function outSize(inp: number, k: number, s: number, d: number, autoPad: string, pads: [number, number]): { out: number; pb: number; pe: number } {
  const ext = (k - 1) * d + 1;
  if (autoPad === 'VALID') return { out: Math.floor((inp - ext) / s) + 1, pb: 0, pe: 0 };
  if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
    const out = Math.ceil(inp / s);
    const total = Math.max(0, (out - 1) * s + ext - inp);
    const pb = autoPad === 'SAME_UPPER' ? Math.floor(total / 2) : Math.ceil(total / 2);
    return { out, pb, pe: total - pb };
  }
  const [pb, pe] = pads;
  return { out: Math.floor((inp + pb + pe - ext) / s) + 1, pb, pe };
}

export function prepareConv(node: Node, xs: Shape | undefined, ws: Shape | undefined, bs: Shape | undefined): { params: ConvParams; shape: Shape } {
  const fail = (msg: string): never => { throw nodeError(node.opType, node.name, msg); };
  if (!xs || !ws) fail('needs inputs X and W');
  const x = xs!, w = ws!;
  if (x.length === 5) fail(`3-D convolution is not supported (input ${fmtShape(x)}, weights ${fmtShape(w)})`);
  if (x.length !== 3 && x.length !== 4) fail(`input must be N×C×L or N×C×H×W, got ${fmtShape(x)}`);
  if (w.length !== x.length) fail(`weights ${fmtShape(w)} must have the same rank as the input ${fmtShape(x)}`);
  const sr = x.length - 2;
  const is1d = sr === 1;
  const group = attrInt(node, 'group', 1);
  const [N, C] = x;
  const [K, Cg] = w;
  if (group < 1) fail(`group must be ≥ 1, got ${group}`);
  if (C % group !== 0) fail(`input channels ${C} (input ${fmtShape(x)}) are not divisible by group=${group}`);
  if (Cg * group !== C) {
    fail(`weights ${fmtShape(w)} expect ${Cg}×${group}=${Cg * group} input channels (group=${group}), but the input ${fmtShape(x)} has ${C}`);
  }
  if (K % group !== 0) fail(`output channels ${K} (weights ${fmtShape(w)}) are not divisible by group=${group}`);
  if (bs && (bs.length !== 1 || bs[0] !== K)) fail(`bias ${fmtShape(bs)} must be [${K}] for weights ${fmtShape(w)}`);
  const kshape = w.slice(2);
  const kattr = attrInts(node, 'kernel_shape');
  if (kattr && (kattr.length !== sr || kattr.some((v, i) => v !== kshape[i]))) {
    fail(`kernel_shape [${kattr.join(',')}] does not match weights ${fmtShape(w)}`);
  }
  const strides = attrInts(node, 'strides') ?? Array(sr).fill(1);
  const dil = attrInts(node, 'dilations') ?? Array(sr).fill(1);
  const pads = attrInts(node, 'pads') ?? Array(2 * sr).fill(0);
  const autoPad = attrString(node, 'auto_pad', 'NOTSET')!;
  if (!['NOTSET', 'VALID', 'SAME_UPPER', 'SAME_LOWER'].includes(autoPad)) fail(`unknown auto_pad '${autoPad}'`);
  if (strides.length !== sr || dil.length !== sr || pads.length !== 2 * sr) {
    fail(`strides [${strides}], dilations [${dil}] and pads [${pads}] must have ${sr}, ${sr} and ${2 * sr} entries`);
  }
  if (strides.some((s) => s < 1) || dil.some((d) => d < 1)) fail(`strides [${strides}] and dilations [${dil}] must be ≥ 1`);
  if (pads.some((p) => p < 0)) fail(`pads [${pads}] must be ≥ 0`);
  if (kshape.some((k) => k < 1)) fail(`empty kernel in weights ${fmtShape(w)}`);
  const spatialIn = x.slice(2);
  const dims = spatialIn.map((inp, i) => outSize(inp, kshape[i], strides[i], dil[i], autoPad, [pads[i], pads[i + sr]]));
  if (dims.some((d) => d.out < 1)) {
    fail(`kernel ${fmtShape(kshape)} (dilations [${dil}], pads [${dims.map((d) => d.pb)}|${dims.map((d) => d.pe)}]) ` +
      `is larger than the input ${fmtShape(x)}`);
  }
  const at = (i: number) => (is1d ? (i === 0 ? null : 0) : i);
  const pick = <T>(arr: T[], i: number, dflt: T): T => { const j = at(i); return j === null ? dflt : arr[j]; };
  const params: ConvParams = {
    n: N, c: C, h: is1d ? 1 : x[2], w: x[x.length - 1],
    k: K, oh: pick(dims, 0, { out: 1, pb: 0, pe: 0 }).out, ow: dims[sr - 1].out,
    kh: is1d ? 1 : kshape[0], kw: kshape[sr - 1],
    sh: pick(strides, 0, 1), sw: strides[sr - 1],
    dh: pick(dil, 0, 1), dw: dil[sr - 1],
    padT: pick(dims, 0, { out: 1, pb: 0, pe: 0 }).pb, padB: pick(dims, 0, { out: 1, pb: 0, pe: 0 }).pe,
    padL: dims[sr - 1].pb, padR: dims[sr - 1].pe,
    group, hasBias: !!bs, is1d,
  };
  return { params, shape: [N, K, ...dims.map((d) => d.out)] };
}

// ---------------------------------------------------------------------------------------------
// CPU reference (float64 accumulation per output plane)

/** Y = conv(x, W) (+ bias) into `out` (N×K×OH×OW values, a new array when not given). */
export function convForwardCpu(p: ConvParams, x: CpuTensor, w: CpuTensor, bias?: CpuTensor, out?: Float32Array): Float32Array {
  return convCpu(p, x, w, false, bias, out ?? new Float32Array(p.n * p.k * p.oh * p.ow));
}

// ---------------------------------------------------------------------------------------------
// GPU

/** Y = conv(x, W) (+ bias) into `out`; with `epi` a ReLU fused into the store (epilogue.ts). */
export function convForwardGpu(g: Gpu, p: ConvParams, x: GpuTensor, w: GpuTensor, out: GpuTensor, bias?: GpuTensor, epi?: Epilogue): void {
  const G = p.group;
  const L: Launch = {
    n: p.n, groups: G, cin: p.c / G, kout: p.k / G, h: p.h, w: p.w, oh: p.oh, ow: p.ow,
    kh: p.kh, kw: p.kw, sh: p.sh, sw: p.sw, dh: p.dh, dw: p.dw, padT: p.padT, padL: p.padL,
  };
  const k3s1 = p.kh === 3 && p.kw === 3 && p.sh === 1 && p.sw === 1 && p.dh === 1 && p.dw === 1;
  // Strided 1×1 layers stay on the pixel-lane kernel: gathering their inputs first measured slower.
  const pointwise = p.kh === 1 && p.kw === 1 && p.sh === 1 && p.sw === 1 && p.padT + p.padL + p.padB + p.padR === 0;
  const mode = k3s1 ? 'k3s1' : p.kh === 1 && p.kw === 1 ? 'k1' : 'gen';
  convLaunch(g, L, x, w, out, { transposed: false, wk: p.k / G, wc: p.c / G, k3s1, pointwise, mode }, bias, epi);
}

// ---------------------------------------------------------------------------------------------
// ONNX op

const conv: OpSpec<ConvParams> = {
  prepare(ctx: PrepareCtx) {
    const { params, shape } = prepareConv(ctx.node, ctx.shapes[0], ctx.shapes[1], ctx.shapes[2]);
    return { shapes: [shape], params };
  },
  cpu(p, inputs) {
    return [convForwardCpu(p, inputs[0]!, inputs[1]!, p.hasBias ? inputs[2] : undefined)];
  },
  gpu(g, p, inputs, outputs) {
    convForwardGpu(g, p, inputs[0]!, inputs[1]!, outputs[0], p.hasBias ? inputs[2] : undefined);
  },
  gpuRelu(g, p, inputs, relu, z, act) {
    const bias = p.hasBias ? inputs[2] : undefined;
    if (z) convForwardGpu(g, p, inputs[0]!, inputs[1]!, z, bias, { keepZ: true, yr: relu, act });
    else convForwardGpu(g, p, inputs[0]!, inputs[1]!, relu, bias, { keepZ: false, act });
  },
};

/** Conv's bias input, when it has one. */
function convBias(node: Node, constOf: (name: string) => Const | undefined): Float32Array | undefined {
  const b = node.inputs[2] ? constOf(node.inputs[2]) : undefined;
  return b && Float32Array.from(b.data);
}

export const ops: OpTable = { Conv: { ...conv, traits: { linear: true, weighted: true, channelBias: convBias } } };
