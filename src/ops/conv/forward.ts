// ONNX Conv (1-D and 2-D, groups, dilations, strides, asymmetric pads, auto_pad) and the two
// convolution primitives the attribution passes need: a forward with any weight tensor, and the
// gradient with respect to the input (the transposed convolution into the known input shape).
import type { Node } from '../../graph/ir.js';
import { attrInt, attrInts, attrString } from '../../graph/ir.js';
import { fmtShape, type Shape } from '../../graph/tensor.js';
import { nodeError } from '../../errors.js';
import type { CpuTensor, OpSpec, OpTable, PrepareCtx } from '../op.js';
import { Gpu, Uniforms, WGSL_COMMON, type GpuTensor } from '../../kernels/gpu/runtime.js';
import convSrc from './conv.wgsl';
import packSrc from './conv_pack.wgsl';
import lanesSrc from './conv3x3.wgsl';
import padSrc from './conv_pad.wgsl';
import k1Src from './conv1x1.wgsl';

/** Geometry of one convolution, always as 2-D (a 1-D conv has h = oh = kh = 1). */
export interface ConvParams {
  n: number; c: number; h: number; w: number;
  k: number; oh: number; ow: number;
  kh: number; kw: number;
  sh: number; sw: number;
  dh: number; dw: number;
  padT: number; padL: number; padB: number; padR: number;
  group: number;
  hasBias: boolean;
  /** The ONNX node was 1-D (N×C×L); shapes are reported with rank 3. */
  is1d: boolean;
}

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

/** First and one-past-last output column whose input column `o*s - pad + off` lies in [0, size). */
function validRange(off: number, s: number, pad: number, size: number, outN: number): [number, number] {
  const lo = Math.max(0, Math.ceil((pad - off) / s));
  const hi = Math.min(outN, Math.floor((size - 1 + pad - off) / s) + 1);
  return [lo, Math.max(lo, hi)];
}

export function convForwardCpu(p: ConvParams, x: CpuTensor, w: CpuTensor, bias?: CpuTensor): Float32Array {
  const { n: N, c: C, h: H, w: W, k: K, oh: OH, ow: OW, kh: KH, kw: KW, sh, sw, dh, dw, padT, padL, group: G } = p;
  const Cg = C / G, Kg = K / G, xd = x.data, wd = w.data, plane = OH * OW;
  const out = new Float32Array(N * K * plane);
  const acc = new Float64Array(plane);
  const cols = Array.from({ length: KW }, (_, kw) => validRange(kw * dw, sw, padL, W, OW));
  const rows = Array.from({ length: KH }, (_, kh) => validRange(kh * dh, sh, padT, H, OH));
  for (let n = 0; n < N; n++) {
    for (let co = 0; co < K; co++) {
      const g = Math.floor(co / Kg);
      acc.fill(bias ? bias.data[co] : 0);
      for (let ci = 0; ci < Cg; ci++) {
        const xb = (n * C + g * Cg + ci) * H * W;
        const wb = (co * Cg + ci) * KH * KW;
        for (let kh = 0; kh < KH; kh++) {
          const [r0, r1] = rows[kh];
          for (let kw = 0; kw < KW; kw++) {
            const wv = wd[wb + kh * KW + kw];
            const [c0, c1] = cols[kw];
            const coff = kw * dw - padL;
            for (let oh = r0; oh < r1; oh++) {
              const xr = xb + (oh * sh - padT + kh * dh) * W + coff;
              const orow = oh * OW;
              for (let ow = c0; ow < c1; ow++) acc[orow + ow] += wv * xd[xr + ow * sw];
            }
          }
        }
      }
      out.set(acc, (n * K + co) * plane);
    }
  }
  return out;
}

/** dX = ∂⟨conv(x, W), dY⟩/∂x, of exactly the input's shape (p describes the forward conv). */
export function convInputGradCpu(p: ConvParams, dy: CpuTensor, w: CpuTensor): Float32Array {
  const { n: N, c: C, h: H, w: W, k: K, oh: OH, ow: OW, kh: KH, kw: KW, sh, sw, dh, dw, padT, padL, group: G } = p;
  const Cg = C / G, Kg = K / G, yd = dy.data, wd = w.data, plane = H * W;
  const out = new Float32Array(N * C * plane);
  const acc = new Float64Array(plane);
  const cols = Array.from({ length: KW }, (_, kw) => validRange(kw * dw, sw, padL, W, OW));
  const rows = Array.from({ length: KH }, (_, kh) => validRange(kh * dh, sh, padT, H, OH));
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const g = Math.floor(c / Cg), cl = c - g * Cg;
      acc.fill(0);
      for (let col = 0; col < Kg; col++) {
        const co = g * Kg + col;
        const yb = (n * K + co) * OH * OW;
        const wb = (co * Cg + cl) * KH * KW;
        for (let kh = 0; kh < KH; kh++) {
          const [r0, r1] = rows[kh];
          for (let kw = 0; kw < KW; kw++) {
            const wv = wd[wb + kh * KW + kw];
            const [c0, c1] = cols[kw];
            const coff = kw * dw - padL;
            for (let oh = r0; oh < r1; oh++) {
              const xr = (oh * sh - padT + kh * dh) * W + coff;
              const yr = yb + oh * OW;
              for (let ow = c0; ow < c1; ow++) acc[xr + ow * sw] += wv * yd[yr + ow];
            }
          }
        }
      }
      out.set(acc, (n * C + c) * plane);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// GPU
//
// Two kernel families. The channel-lane kernels (3×3 stride 1, and 1×1 stride 1) serve the
// layers that dominate VGG and ResNet: on lavapipe a storage load costs tens of FMAs, so they
// load each input value once per 8-lane group and share it by subgroupShuffle (conv3x3.wgsl,
// conv1x1.wgsl). Everything else (strides, dilations, other kernel sizes, narrow or depthwise
// groups, strided input gradients, devices without subgroups) uses the pixel-lane kernels below.

const TP = 4; // output columns per invocation

type Mode = 'k3s1' | 'k1' | 'gen' | 'dgrad';

/** Geometry as the shader sees it: `cin`/`kout` per group, source h×w, destination oh×ow. */
interface Launch {
  n: number; groups: number; cin: number; kout: number;
  h: number; w: number; oh: number; ow: number;
  kh: number; kw: number; sh: number; sw: number; dh: number; dw: number;
  padT: number; padL: number;
}

function useSubgroups(g: Gpu): boolean {
  const info = (g.device as GPUDevice & { adapterInfo?: { subgroupMinSize?: number } }).adapterInfo;
  return g.device.features.has('subgroups') && (info?.subgroupMinSize ?? 0) >= 8;
}

/** WGSL for one variant: TC output channels per invocation, subgroup weight sharing or not. */
function convWgsl(mode: Mode, tc: number, sg: boolean, wg: number): string {
  const nc = tc / 4;
  const L: string[] = [];
  // Weight j of the TC block starting at `q`: shared via subgroupBroadcast, or read directly.
  const wregs = (q: string, count: number, tag: string) => {
    if (!sg) return;
    for (let r = 0; r < Math.ceil(count / 8); r++) L.push(`      let ${tag}${r} = wp[${q} + ${r * 8}u];`);
  };
  const wexpr = (q: string, j: number, tag: string) => (sg ? `subgroupBroadcast(${tag}${j >> 3}, ${j & 7}u)` : `wp[${q} + ${j}u]`);
  const wvec = (q: string, j0: number, tag: string) => `vec4f(${[0, 1, 2, 3].map((k) => wexpr(q, j0 + k, tag)).join(', ')})`;

  const prelude: string[] = [];
  if (mode === 'k3s1') {
    for (let r = 0; r < 3; r++) prelude.push(`  let r${r} = i32(orow) - u.pad_t + ${r}; let rok${r} = r${r} >= 0 && r${r} < i32(u.h);`);
    for (let q = 0; q < TP + 2; q++) prelude.push(`  let c${q} = i32(ocol0) - u.pad_l + ${q}; let cok${q} = c${q} >= 0 && c${q} < i32(u.w);`);
    for (let r = 0; r < 3; r++) for (let q = 0; q < TP + 2; q++) prelude.push(`  let ok${r}_${q} = rok${r} && cok${q};`);
  } else if (mode === 'gen' || mode === 'k1') {
    prelude.push('  let rb = i32(orow * u.sh) - u.pad_t;');
    for (let p = 0; p < TP; p++) prelude.push(`  let cb${p} = i32((ocol0 + ${p}u) * u.sw) - u.pad_l;`);
  } else {
    prelude.push('  let rb = i32(orow) + u.pad_t;');
    for (let p = 0; p < TP; p++) prelude.push(`  let cb${p} = i32(ocol0 + ${p}u) + u.pad_l;`);
  }
  const acc: string[] = [];
  for (let p = 0; p < TP; p++) for (let c = 0; c < nc; c++) acc.push(`  var a${p}_${c} = vec4f(0.0);`);

  if (mode === 'k3s1') {
    // All nine taps unrolled: each accumulator takes a chain of nine FMAs per input channel,
    // and the TP+2 columns of each row are loaded once for the three horizontal taps.
    for (let r = 0; r < 3; r++) for (let q = 0; q < TP + 2; q++) L.push(`    let x${r}_${q} = fetch(xoff, r${r}, c${q}, ok${r}_${q});`);
    const ind = L.length;
    wregs('woff', 9 * tc, 'wr');
    for (let i = ind; i < L.length; i++) L[i] = L[i].slice(2);
    for (let t = 0; t < 9; t++) for (let c = 0; c < nc; c++) L.push(`    let w${t}_${c} = ${wvec('woff', t * tc + c * 4, 'wr')};`);
    for (let p = 0; p < TP; p++) for (let c = 0; c < nc; c++) {
      let e = `a${p}_${c}`;
      for (let r = 0; r < 3; r++) for (let kw = 0; kw < 3; kw++) e = `fma(vec4f(x${r}_${p + kw}), w${r * 3 + kw}_${c}, ${e})`;
      L.push(`    a${p}_${c} = ${e};`);
    }
    L.push(`    woff += ${9 * tc}u;`);
  } else if (mode === 'k1') {
    // 1×1 kernel: no tap loops, the row test and column offsets are loop-invariant.
    L.push('    let rok = rb >= 0 && rb < i32(u.h);');
    for (let p = 0; p < TP; p++) L.push(`    let x${p} = fetch(xoff, rb, cb${p}, rok && cb${p} >= 0 && cb${p} < i32(u.w));`);
    wregs('woff', tc, 'wr');
    for (let c = 0; c < nc; c++) {
      L.push(`    let w${c} = ${wvec('woff', c * 4, 'wr')};`);
      for (let p = 0; p < TP; p++) L.push(`    a${p}_${c} = fma(vec4f(x${p}), w${c}, a${p}_${c});`);
    }
    L.push(`    woff += ${tc}u;`);
  } else {
    L.push('    for (var kh = 0u; kh < u.kh; kh++) {');
    if (mode === 'gen') {
      L.push('      let r = rb + i32(kh * u.dh);', '      let rok = r >= 0 && r < i32(u.h);');
    } else {
      // Input row i receives output row (i + pad - kh·d)/s when that division is exact.
      L.push('      let th = rb - i32(kh * u.dh);', '      let r = th / i32(u.sh);',
        '      let rok = th >= 0 && th % i32(u.sh) == 0 && r < i32(u.h);');
    }
    L.push('      for (var kw = 0u; kw < u.kw; kw++) {');
    for (let p = 0; p < TP; p++) {
      if (mode === 'gen') {
        L.push(`        let c${p} = cb${p} + i32(kw * u.dw);`,
          `        let x${p} = fetch(xoff, r, c${p}, rok && c${p} >= 0 && c${p} < i32(u.w));`);
      } else {
        L.push(`        let tw${p} = cb${p} - i32(kw * u.dw); let c${p} = tw${p} / i32(u.sw);`,
          `        let x${p} = fetch(xoff, r, c${p}, rok && tw${p} >= 0 && tw${p} % i32(u.sw) == 0 && c${p} < i32(u.w));`);
      }
    }
    L.push(`        let q = woff + (kh * u.kw + kw) * ${tc}u;`);
    const ind = L.length;
    wregs('q', tc, 'wr');
    for (let i = ind; i < L.length; i++) L[i] = '  ' + L[i];
    for (let c = 0; c < nc; c++) {
      L.push(`        let w${c} = ${wvec('q', c * 4, 'wr')};`);
      for (let p = 0; p < TP; p++) L.push(`        a${p}_${c} = fma(vec4f(x${p}), w${c}, a${p}_${c});`);
    }
    L.push('      }', '    }', `    woff += taps * ${tc}u;`);
  }
  const store: string[] = [];
  for (let p = 0; p < TP; p++) for (let c = 0; c < nc; c++) for (let j = 0; j < 4; j++) {
    store.push(`  { let co = kb * ${tc}u + ${c * 4 + j}u; let col = ocol0 + ${p}u;` +
      ` if (live && col < u.ow && co < u.kout) {` +
      ` let b = select(0.0, bias[min(g * u.kout + co, arrayLength(&bias) - 1u)], u.has_bias != 0u);` +
      ` y[ybase + co * u.oh * u.ow + col] = a${p}_${c}[${j}] + b; } }`);
  }
  // Directives must precede every declaration, WGSL_COMMON's included.
  return (sg ? 'enable subgroups;\n' : '') + WGSL_COMMON + convSrc
    .replace('$LANE_ARG', sg ? ', @builtin(subgroup_invocation_id) sl: u32' : '')
    .replace('$LANE_OFF', sg ? ' + (sl & 7u)' : '')
    .replaceAll('$TPu', `${TP}u`).replaceAll('$TCu', `${tc}u`).replaceAll('$WGu', `${wg}u`).replace('$WG', `${wg}`)
    .replace('$PRELUDE', prelude.join('\n'))
    .replace('$ACC', acc.join('\n'))
    .replace('$BODY', L.join('\n'))
    .replace('$STORE', store.join('\n'));
}

/** Pack W for a launch whose per-group output channels are `kout` (see conv_pack.wgsl). */
function packWeights(g: Gpu, w: GpuTensor, L: Launch, tc: number, transposed: boolean, flip: boolean, wk: number, wc: number): GpuTensor {
  const nkb = Math.ceil(L.kout / tc);
  const taps = L.kh * L.kw;
  const total = L.groups * nkb * L.cin * taps * tc;
  // 8 spare floats: lanes of the last subgroup load may run past the last block.
  const packed = g.alloc([total + 8], 'conv.packed');
  const pipe = g.kernel('conv2d.pack', () => WGSL_COMMON + packSrc);
  const un = new Uniforms().u(total + 8, L.groups, L.kout, L.cin, taps, nkb, tc, (transposed ? 1 : 0) | (flip ? 2 : 0), wk, wc);
  g.dispatch(pipe, un, [w.buffer, packed.buffer], Gpu.groups1d(total + 8));
  return packed;
}

function launch(g: Gpu, mode: Mode, L: Launch, x: GpuTensor, packed: GpuTensor, tc: number, out: GpuTensor, bias?: GpuTensor): void {
  const sg = useSubgroups(g);
  const nkb = Math.ceil(L.kout / tc);
  const tilesW = Math.ceil(L.ow / TP);
  const ntiles = tilesW * L.oh;
  // Small planes (late layers) get small workgroups so that few lanes idle past the last tile.
  const wg = ntiles >= 48 ? 64 : 16;
  const pipe = g.kernel(`conv2d.${mode}.tp${TP}tc${tc}.wg${wg}${sg ? '.sg' : ''}`, () => convWgsl(mode, tc, sg, wg));
  const gx = Math.ceil(ntiles / wg), gy = L.groups * nkb;
  if (gx > 65535 || gy > 65535 || L.n > 65535) {
    throw new Error(`convolution too large for one dispatch (${ntiles} tiles, ${gy} channel blocks, batch ${L.n})`);
  }
  const un = new Uniforms()
    .u(L.n, L.cin, L.h, L.w, L.kout, L.oh, L.ow, L.groups, L.kh, L.kw, L.sh, L.sw, L.dh, L.dw)
    .i(L.padT, L.padL)
    .u(tilesW, ntiles, nkb, bias ? 1 : 0);
  const dummy = bias ? undefined : g.alloc([4], 'conv.nobias');
  g.dispatch(pipe, un, [x.buffer, packed.buffer, (bias ?? dummy!).buffer, out.buffer], [gx, gy, L.n]);
  if (dummy) g.release(dummy);
}

// ---------------------------------------------------------------------------------------------
// 3×3 stride-1 kernel with output channels on lanes (see conv3x3.wgsl for why)

// Output tile of one workgroup: R rows × CC columns; the CC + 2 window columns fill VPR vec4s.
// Measured on lavapipe: 6×4 and 14×4 tiles, whose (R + 2)-row windows fill their vec4 loads
// exactly, beat 8×4, 10×4, 4×12 and 6×12; 6×4 has the smaller body and wastes less of small planes.
const R3 = 6, CC3 = 4, VPR3 = 2;
const RPL3 = 8 / VPR3; // window rows covered by one vec4 load of 8 lanes
const NLD3 = (R3 + 2) / RPL3;

/**
 * WGSL for the lane 3×3 kernel, one input channel per loop step; `flip` reverses the taps (input
 * gradient). Unrolling 4 input channels per step with the weights as 9 vec4 loads measured 1.8×
 * slower on every VGG layer, so the loop body stays one channel long.
 */
function conv3x3Wgsl(flip: boolean): string {
  const comp = 'xyzw';
  const acc: string[] = [];
  const body: string[] = [];
  const store: string[] = [];
  for (let r = 0; r < R3; r++) for (let q = 0; q < CC3; q++) acc.push(`  var a${r}_${q} = 0.0;`);
  for (let k = 0; k < NLD3; k++) body.push(`    let l${k} = x[xoff + ${k * RPL3}u * u.wp4];`);
  // Straight from W (no repacking pass): the nine taps of this lane's channel pair are contiguous.
  for (let t = 0; t < 9; t++) body.push(`    let w${t} = w[woff + ${flip ? 8 - t : t}u];`);
  // Window value (i, v) sits in component v % 4 of the vec4 loaded by lane (i % RPL)·VPR + v / 4 of load i / RPL.
  for (let i = 0; i < R3 + 2; i++) for (let v = 0; v < CC3 + 2; v++) {
    const lane = (i % RPL3) * VPR3 + (v >> 2);
    body.push(`    let b${i}_${v} = subgroupShuffle(l${Math.floor(i / RPL3)}.${comp[v & 3]}, sb + ${lane}u);`);
  }
  // One assignment per accumulator and input channel: a chain of nine FMAs.
  for (let r = 0; r < R3; r++) for (let q = 0; q < CC3; q++) {
    let e = `a${r}_${q}`;
    for (let t = 0; t < 9; t++) e = `fma(w${t}, b${r + Math.floor(t / 3)}_${q + (t % 3)}, ${e})`;
    body.push(`    a${r}_${q} = ${e};`);
    store.push(`    if (r0 + ${r}u < u.oh && c0 + ${q}u < u.ow) { y[yb + (r0 + ${r}u) * u.ow + c0 + ${q}u] = a${r}_${q} + b; }`);
  }
  return 'enable subgroups;\n' + WGSL_COMMON + lanesSrc
    .replaceAll('$Ru', `${R3}u`).replaceAll('$CCu', `${CC3}u`).replaceAll('$VPRu', `${VPR3}u`).replaceAll('$NLDu', `${NLD3}u`)
    .replace('$ACC', acc.join('\n'))
    .replace('$BODY', body.join('\n'))
    .replace('$STORE', store.join('\n'));
}

/** The 3×3 stride-1 launch `L` (padT/padL as a forward conv of the source) on lanes. */
function launch3x3(g: Gpu, L: Launch, x: GpuTensor, w: GpuTensor, out: GpuTensor, transposed: boolean, wk: number, wc: number, bias?: GpuTensor): void {
  const tilesW = Math.ceil(L.ow / CC3), tilesH = Math.ceil(L.oh / R3);
  const nkb = Math.ceil(L.kout / 64);
  const gx = tilesW * tilesH, gy = L.groups * nkb;
  if (gx > 65535 || gy > 65535 || L.n > 65535) {
    throw new Error(`convolution too large for one dispatch (${gx} tiles, ${gy} channel blocks, batch ${L.n})`);
  }
  // Padded planes hold every window row and vec4 any tile loads, zeros outside the source.
  const hp = tilesH * R3 + NLD3 * RPL3 - R3;
  const wp4 = (tilesW - 1) * (CC3 / 4) + VPR3;
  const planes = L.n * L.groups * L.cin;
  const xp = g.alloc([planes * hp * wp4 * 4], 'conv.padded');
  const pad = g.kernel('conv2d.pad', () => WGSL_COMMON + padSrc);
  const total = planes * hp * wp4 * 4;
  g.dispatch(pad, padUniforms(total, L.h, L.w, hp, wp4 * 4, hp * wp4 * 4, L.padT, L.padL), [x.buffer, xp.buffer], Gpu.groups1d(total));
  const pipe = g.kernel(`conv2d.k3s1.lanes.r${R3}c${CC3}${transposed ? '.flip' : ''}`, () => conv3x3Wgsl(transposed));
  // W is [groups·wk][wc][9]; the lane's channel indexes wk (forward) or wc (input gradient).
  const uni = new Uniforms()
    .u(L.n, L.cin, L.kout, L.groups, L.oh, L.ow, hp, wp4, tilesW, nkb, bias ? 1 : 0, 0)
    .u(0, transposed ? 9 : wc * 9, transposed ? wc * 9 : 9, wk * wc * 9);
  const dummy = bias ? undefined : g.alloc([4], 'conv.nobias');
  g.dispatch(pipe, uni, [xp.buffer, w.buffer, (bias ?? dummy!).buffer, out.buffer], [gx, gy, L.n]);
  if (dummy) g.release(dummy);
  g.release(xp);
}

// ---------------------------------------------------------------------------------------------
// 1×1 stride-1 kernel with pixels on lanes (see conv1x1.wgsl)

const TC1 = 16; // output channels per lane

function padUniforms(total: number, h: number, w: number, hp: number, wp: number, dplane: number, padT: number, padL: number): Uniforms {
  return new Uniforms().u(total, h, w, hp, wp, dplane).i(padT, padL);
}

function conv1x1Wgsl(wg: number): string {
  const offs: string[] = [];
  const acc: string[] = [];
  const body: string[] = [];
  const store: string[] = [];
  for (let j = 0; j < TC1 / 8; j++) {
    offs.push(`  let wo${j} = min(kb * ${TC1}u + lane + ${8 * j}u, u.kout - 1u) * u.wsco;`);
    body.push(`    let wl${j} = w[woff + wo${j}];`);
  }
  body.push('    let xv = x[xoff];');
  for (let c = 0; c < TC1; c++) {
    acc.push(`  var a${c} = vec4f(0.0);`);
    body.push(`    a${c} = fma(vec4f(subgroupShuffle(wl${c >> 3}, sb + ${c & 7}u)), xv, a${c});`);
    store.push(`  { let co = kb * ${TC1}u + ${c}u; if (live && co < u.kout) {` +
      ` let b = select(0.0, bias[min(g * u.kout + co, arrayLength(&bias) - 1u)], u.has_bias != 0u);` +
      ` for (var e = 0u; e < 4u; e++) { if (p0 + e < u.plane) { y[yb + co * u.plane + p0 + e] = a${c}[e] + b; } } } }`);
  }
  return 'enable subgroups;\n' + WGSL_COMMON + k1Src
    .replaceAll('$TC8u', `${TC1 / 8}`).replaceAll('$TCu', `${TC1}`).replaceAll('$WGu', `${wg}u`).replace('$WG', `${wg}`)
    .replace('$WOFFS', offs.join('\n'))
    .replace('$ACC', acc.join('\n'))
    .replace('$BODY', body.join('\n'))
    .replace('$STORE', store.join('\n'));
}

/** A 1×1 stride-1 unpadded launch `L` with pixels on lanes. */
function launch1x1(g: Gpu, L: Launch, x: GpuTensor, w: GpuTensor, out: GpuTensor, transposed: boolean, wk: number, wc: number, bias?: GpuTensor): void {
  const plane = L.oh * L.ow;
  const plane4 = Math.ceil(plane / 4);
  // Small planes get small workgroups so that few lanes idle past the end.
  const wg = plane4 >= 64 ? 64 : 16;
  const nkb = Math.ceil(L.kout / TC1);
  const gx = Math.ceil(plane4 / wg), gy = L.groups * nkb;
  if (gx > 65535 || gy > 65535 || L.n > 65535) {
    throw new Error(`convolution too large for one dispatch (${gx} pixel blocks, ${gy} channel blocks, batch ${L.n})`);
  }
  let xp = x;
  if (plane % 4 !== 0) {
    // Copy into planes of a multiple of 4 values (zero-filled) so that they are rows of vec4s.
    const planes = L.n * L.groups * L.cin;
    const total = planes * plane4 * 4;
    xp = g.alloc([total], 'conv.gathered');
    const pad = g.kernel('conv2d.pad', () => WGSL_COMMON + padSrc);
    g.dispatch(pad, padUniforms(total, 1, plane, 1, plane, plane4 * 4, 0, 0), [x.buffer, xp.buffer], Gpu.groups1d(total));
  }
  const pipe = g.kernel(`conv2d.k1.lanes.tc${TC1}.wg${wg}`, () => conv1x1Wgsl(wg));
  const un = new Uniforms()
    .u(L.n, L.cin, L.kout, L.groups, plane, plane4, nkb, bias ? 1 : 0)
    .u(transposed ? 1 : wc, transposed ? wc : 1, wk * wc, 0);
  const dummy = bias ? undefined : g.alloc([4], 'conv.nobias');
  g.dispatch(pipe, un, [xp.buffer, w.buffer, (bias ?? dummy!).buffer, out.buffer], [gx, gy, L.n]);
  if (dummy) g.release(dummy);
  if (xp !== x) g.release(xp);
}

// The lane kernels compute 64 (3×3) or 16 (1×1) output channels per workgroup or lane: narrower
// layers (depthwise and small grouped convolutions) stay on the pixel-lane kernels.
const lanes3x3 = (g: Gpu, L: Launch) => useSubgroups(g) && L.kout >= 16;
const lanes1x1 = (g: Gpu, L: Launch) => useSubgroups(g) && L.kout > 4;

const tcFor = (kout: number) => (kout <= 4 ? 4 : 16);

export function convForwardGpu(g: Gpu, p: ConvParams, x: GpuTensor, w: GpuTensor, out: GpuTensor, bias?: GpuTensor): void {
  const G = p.group;
  const L: Launch = {
    n: p.n, groups: G, cin: p.c / G, kout: p.k / G, h: p.h, w: p.w, oh: p.oh, ow: p.ow,
    kh: p.kh, kw: p.kw, sh: p.sh, sw: p.sw, dh: p.dh, dw: p.dw, padT: p.padT, padL: p.padL,
  };
  const fast = p.kh === 3 && p.kw === 3 && p.sh === 1 && p.sw === 1 && p.dh === 1 && p.dw === 1;
  if (fast && lanes3x3(g, L)) return launch3x3(g, L, x, w, out, false, p.k / G, p.c / G, bias);
  // Strided 1×1 layers stay on the pixel-lane kernel: gathering their inputs first measured slower.
  const pointwise = p.kh === 1 && p.kw === 1 && p.sh === 1 && p.sw === 1 && p.padT + p.padL + p.padB + p.padR === 0;
  if (pointwise && lanes1x1(g, L)) return launch1x1(g, L, x, w, out, false, p.k / G, p.c / G, bias);
  const tc = tcFor(L.kout);
  const packed = packWeights(g, w, L, tc, false, false, p.k / G, p.c / G);
  launch(g, fast ? 'k3s1' : p.kh === 1 && p.kw === 1 ? 'k1' : 'gen', L, x, packed, tc, out, bias);
  g.release(packed);
}

/** dX of the input's shape from dY (N×K×OH×OW) and W; `out` is N×C×H×W. */
export function convInputGradGpu(g: Gpu, p: ConvParams, dy: GpuTensor, w: GpuTensor, out: GpuTensor): void {
  const G = p.group;
  const stride1 = p.sh === 1 && p.sw === 1;
  // Stride 1: a plain convolution of dY with the flipped, transposed kernel and the
  // complementary padding, which reaches the fast 3×3 path. Otherwise a gather per input pixel.
  const L: Launch = {
    n: p.n, groups: G, cin: p.k / G, kout: p.c / G, h: p.oh, w: p.ow, oh: p.h, ow: p.w,
    kh: p.kh, kw: p.kw, sh: p.sh, sw: p.sw, dh: p.dh, dw: p.dw,
    padT: stride1 ? p.dh * (p.kh - 1) - p.padT : p.padT,
    padL: stride1 ? p.dw * (p.kw - 1) - p.padL : p.padL,
  };
  const fast = stride1 && p.kh === 3 && p.kw === 3 && p.dh === 1 && p.dw === 1;
  if (fast && lanes3x3(g, L)) return launch3x3(g, L, dy, w, out, true, p.k / G, p.c / G);
  const pointwise = p.kh === 1 && p.kw === 1 && stride1 && p.padT + p.padL + p.padB + p.padR === 0;
  if (pointwise && lanes1x1(g, L)) return launch1x1(g, L, dy, w, out, true, p.k / G, p.c / G);
  const tc = tcFor(L.kout);
  const packed = packWeights(g, w, L, tc, true, stride1, p.k / G, p.c / G);
  launch(g, fast ? 'k3s1' : stride1 ? (p.kh === 1 && p.kw === 1 ? 'k1' : 'gen') : 'dgrad', L, dy, packed, tc, out);
  g.release(packed);
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
};

export const ops: OpTable = { Conv: { ...conv, traits: { linear: true, weighted: true } } };
