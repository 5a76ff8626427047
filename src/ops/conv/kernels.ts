// The convolution kernels, shared by the forward (forward.ts) and the input gradient
// (input-grad.ts): the CPU reference loop, and the GPU launches, which map a source plane onto a
// destination plane through W, read either as the forward reads it or transposed. Shaders:
// forward.wgsl, one section per kernel.
import type { CpuTensor } from '../op.js';
import type { ConvParams } from './params.js';
import { Gpu, type GpuTensor, type Uniforms } from '../../kernels/gpu/runtime.js';
import { assemble, parseSections, uniforms } from '../../kernels/gpu/wgsl.js';
import src from './forward.wgsl';
import { kernelVariant } from '../../kernels/gpu/kernel-choice.js';
import { tiledConv, tiledServes } from './tiled.js';
import { epiBinding, epiBuffers, epiKey, epiStore, type Epilogue } from './epilogue.js';
import { packedWeights } from './packed-cache.js';

export type { Epilogue } from './epilogue.js';

// ---------------------------------------------------------------------------------------------
// CPU reference (float64 accumulation per destination plane)

/** First and one-past-last output column whose input column `o*s - pad + off` lies in [0, size). */
function validRange(off: number, s: number, pad: number, size: number, outN: number): [number, number] {
  const lo = Math.max(0, Math.ceil((pad - off) / s));
  const hi = Math.min(outN, Math.floor((size - 1 + pad - off) / s) + 1);
  return [lo, Math.max(lo, hi)];
}

/**
 * The forward convolution of `src` (x, N×C×H×W) into `out` (N×K×OH×OW), or with `transposed` its
 * transpose, of `src` (dY) into `out` (dX, N×C×H×W). Both visit the same valid (tap, output pixel)
 * pairs in the same order; only the direction of the multiply-add differs. Plain loops: hot on
 * real models.
 */
export function convCpu(p: ConvParams, src: CpuTensor, w: CpuTensor, transposed: boolean, bias: CpuTensor | undefined, out: Float32Array): Float32Array {
  const { n: N, c: C, h: H, w: W, k: K, oh: OH, ow: OW, kh: KH, kw: KW, sh, sw, dh, dw, padT, padL, group: G } = p;
  const Cg = C / G, Kg = K / G, sd = src.data, wd = w.data;
  // Destination and source channels (all, and per group) and planes.
  const [D, Dg, S, Sg] = transposed ? [C, Cg, K, Kg] : [K, Kg, C, Cg];
  const dplane = transposed ? H * W : OH * OW, splane = transposed ? OH * OW : H * W;
  const acc = new Float64Array(dplane);
  const cols = Array.from({ length: KW }, (_, kw) => validRange(kw * dw, sw, padL, W, OW));
  const rows = Array.from({ length: KH }, (_, kh) => validRange(kh * dh, sh, padT, H, OH));
  for (let n = 0; n < N; n++) {
    for (let d = 0; d < D; d++) {
      const g = Math.floor(d / Dg), dl = d - g * Dg;
      acc.fill(bias ? bias.data[d] : 0);
      for (let sl = 0; sl < Sg; sl++) {
        const s = g * Sg + sl;
        const sb = (n * S + s) * splane;
        // W is [K][Cg][KH][KW]: (output channel, in-group input channel).
        const wb = (transposed ? s * Cg + dl : d * Cg + sl) * KH * KW;
        for (let kh = 0; kh < KH; kh++) {
          const [r0, r1] = rows[kh];
          for (let kw = 0; kw < KW; kw++) {
            const wv = wd[wb + kh * KW + kw];
            const [c0, c1] = cols[kw];
            const coff = kw * dw - padL;
            for (let oh = r0; oh < r1; oh++) {
              const xr = (oh * sh - padT + kh * dh) * W + coff; // input pixel of output column 0, in its plane
              const orow = oh * OW;
              if (transposed) for (let ow = c0; ow < c1; ow++) acc[xr + ow * sw] += wv * sd[sb + orow + ow];
              else for (let ow = c0; ow < c1; ow++) acc[orow + ow] += wv * sd[sb + xr + ow * sw];
            }
          }
        }
      }
      out.set(acc, (n * D + d) * dplane);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// GPU
//
// Two kernel families. The channel-lane kernels (3×3 stride 1, and 1×1 stride 1) serve the
// layers that dominate VGG and ResNet: on lavapipe a storage load costs tens of FMAs, so they
// load each input value once per 8-lane group and share it by subgroupShuffle (sections
// lanes3x3, lanes1x1). Everything else (strides, dilations, other kernel sizes, narrow or depthwise
// groups, devices without subgroups) uses the pixel-lane kernels below. (Strided input gradients
// are no single convolution of dY: the shuffle variant gathers per input pixel, the tiled one
// runs one GEMM per output phase, see input-grad.ts and transposed.ts.) These are the
// 'shuffle' variant, the default on software adapters; hardware GPUs get the tiled implicit GEMM
// of tiled.ts for every launch of 8 or more output channels per group (kernel-choice.ts).

const sections = parseSections(src);

// Uniform blocks, one per section of forward.wgsl. `wsco`/`wsci` are W's strides along the lane's
// (output) and the looped (input) channel of the launch, `wgroup` its stride per group.
const PIXELS = uniforms({
  n: 'u32', cin: 'u32', h: 'u32', w: 'u32', kout: 'u32', oh: 'u32', ow: 'u32', groups: 'u32',
  kh: 'u32', kw: 'u32', sh: 'u32', sw: 'u32', dh: 'u32', dw: 'u32', pad_t: 'i32', pad_l: 'i32',
  tiles_w: 'u32', ntiles: 'u32', nkb: 'u32', has_bias: 'u32',
});
const LANES3 = uniforms({
  n: 'u32', cin: 'u32', kout: 'u32', groups: 'u32', oh: 'u32', ow: 'u32', h: 'u32', w: 'u32',
  tiles_w: 'u32', nkb: 'u32', has_bias: 'u32', wsco: 'u32', wsci: 'u32', wgroup: 'u32', pad_t: 'i32', pad_l: 'i32',
});
const LANES1 = uniforms({
  n: 'u32', cin: 'u32', kout: 'u32', groups: 'u32', plane: 'u32', plane4: 'u32', nkb: 'u32', has_bias: 'u32',
  wsco: 'u32', wsci: 'u32', wgroup: 'u32',
});
const PACK = uniforms({
  total: 'u32', groups: 'u32', kout: 'u32', cin: 'u32', taps: 'u32', nkb: 'u32', tc: 'u32', mode: 'u32', wk: 'u32', wc: 'u32',
});

/** Directives must precede every declaration, WGSL_COMMON's included. */
const enable = (sg: boolean) => (sg ? 'enable subgroups;\n' : '');

function fits(gx: number, gy: number, n: number, what: string): void {
  if (gx > 65535 || gy > 65535 || n > 65535) throw new Error(`convolution too large for one dispatch (${what}, batch ${n})`);
}

/** A conv kernel's dispatch (bindings x, w, bias, y, and yr with a kept pre-activation); without a bias a dummy is bound that the shader never reads. */
function dispatch(g: Gpu, pipe: GPUComputePipeline, un: Uniforms, [x, w, bias, y]: [GpuTensor, GpuTensor, GpuTensor | undefined, GpuTensor], groups: [number, number, number], epi?: Epilogue): void {
  const dummy = bias ? undefined : g.alloc([4], 'conv.nobias');
  g.dispatch(pipe, un, [x.buffer, w.buffer, (bias ?? dummy!).buffer, y.buffer, ...epiBuffers(epi)], groups);
  if (dummy) g.release(dummy);
}

const TP = 4; // output columns per invocation

export type Mode = 'k3s1' | 'k1' | 'gen';

/** Geometry as the shader sees it: `cin`/`kout` per group, source h×w, destination oh×ow. */
export interface Launch {
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
function convWgsl(mode: Mode, tc: number, sg: boolean, wg: number, epi?: Epilogue): string {
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
  } else {
    prelude.push('  let rb = i32(orow * u.sh) - u.pad_t;');
    for (let p = 0; p < TP; p++) prelude.push(`  let cb${p} = i32((ocol0 + ${p}u) * u.sw) - u.pad_l;`);
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
    L.push('      let r = rb + i32(kh * u.dh);', '      let rok = r >= 0 && r < i32(u.h);');
    L.push('      for (var kw = 0u; kw < u.kw; kw++) {');
    for (let p = 0; p < TP; p++) {
      L.push(`        let c${p} = cb${p} + i32(kw * u.dw);`,
        `        let x${p} = fetch(xoff, r, c${p}, rok && c${p} >= 0 && c${p} < i32(u.w));`);
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
      ` ${epiStore('ybase + co * u.oh * u.ow + col', `a${p}_${c}[${j}] + b`, epi)} } }`);
  }
  return enable(sg) + epiBinding(epi) + assemble(sections, ['pixels'], {
    LANE_ARG: sg ? ', @builtin(subgroup_invocation_id) sl: u32' : '',
    LANE_OFF: sg ? ' + (sl & 7u)' : '',
    TP, TC: tc, WG: wg,
    PRELUDE: prelude.join('\n'), ACC: acc.join('\n'), BODY: L.join('\n'), STORE: store.join('\n'),
  }, PIXELS);
}

/** Pack W for a launch whose per-group output channels are `kout` (section 'pack'). */
function packWeights(g: Gpu, w: GpuTensor, L: Launch, tc: number, transposed: boolean, wk: number, wc: number): GpuTensor {
  const nkb = Math.ceil(L.kout / tc);
  const taps = L.kh * L.kw;
  const total = L.groups * nkb * L.cin * taps * tc;
  // 8 spare floats: lanes of the last subgroup load may run past the last block.
  const packed = g.alloc([total + 8], 'conv.packed');
  const pipe = g.kernel('conv.pack', () => assemble(sections, ['pack'], {}, PACK));
  const un = PACK.pack({ total: total + 8, groups: L.groups, kout: L.kout, cin: L.cin, taps, nkb, tc, mode: transposed ? 3 : 0, wk, wc });
  g.dispatch(pipe, un, [w.buffer, packed.buffer], Gpu.groups1d(total + 8));
  return packed;
}

function launch(g: Gpu, mode: Mode, L: Launch, x: GpuTensor, packed: GpuTensor, tc: number, out: GpuTensor, bias?: GpuTensor, epi?: Epilogue): void {
  const sg = useSubgroups(g);
  const nkb = Math.ceil(L.kout / tc);
  const tilesW = Math.ceil(L.ow / TP);
  const ntiles = tilesW * L.oh;
  // Small planes (late layers) get small workgroups so that few lanes idle past the last tile.
  const wg = ntiles >= 48 ? 64 : 16;
  const pipe = g.kernel(`conv.pixels.${mode}.tp${TP}tc${tc}.wg${wg}${sg ? '.sg' : ''}${epiKey(epi)}`, () => convWgsl(mode, tc, sg, wg, epi));
  const gx = Math.ceil(ntiles / wg), gy = L.groups * nkb;
  fits(gx, gy, L.n, `${ntiles} tiles, ${gy} channel blocks`);
  const un = PIXELS.pack({
    n: L.n, cin: L.cin, h: L.h, w: L.w, kout: L.kout, oh: L.oh, ow: L.ow, groups: L.groups,
    kh: L.kh, kw: L.kw, sh: L.sh, sw: L.sw, dh: L.dh, dw: L.dw, pad_t: L.padT, pad_l: L.padL,
    tiles_w: tilesW, ntiles, nkb, has_bias: bias ? 1 : 0,
  });
  dispatch(g, pipe, un, [x, packed, bias, out], [gx, gy, L.n], epi);
}

// ---------------------------------------------------------------------------------------------
// 3×3 stride-1 kernel with output channels on lanes (see its section for why)

// Output tile of one workgroup: R rows × CC columns; the CC + 2 window columns fill VPR vec4s.
// Measured on lavapipe: 6×4 and 14×4 tiles, whose (R + 2)-row windows fill their vec4 loads
// exactly, beat 8×4, 10×4, 4×12 and 6×12; 6×4 has the smaller body and wastes less of small planes.
const R3 = 6, CC3 = 4, VPR3 = 2;
const RPL3 = 8 / VPR3; // window rows covered by one vec4 load of 8 lanes
const NLD3 = (R3 + 2) / RPL3;

/**
 * WGSL for the lane 3×3 kernel, one input channel per loop step; `flip` reverses the taps (input
 * gradient). Unrolling 4 input channels per step with the weights as 9 vec4 loads measured 1.8×
 * slower on every VGG layer, so the loop body stays one channel long. The window is read from x
 * itself: each lane's NLD·4 offsets and their bounds tests are loop-invariant (the prelude), so
 * padding costs a select per value instead of a padded copy of x (one dispatch and a pass over x).
 */
function conv3x3Wgsl(flip: boolean, epi?: Epilogue): string {
  const comp = 'xyzw';
  const acc: string[] = [];
  const prelude: string[] = [];
  const body: string[] = [];
  const store: string[] = [];
  for (let r = 0; r < R3; r++) for (let q = 0; q < CC3; q++) acc.push(`  var a${r}_${q} = 0.0;`);
  for (let e = 0; e < 4; e++) prelude.push(`  let cc${e} = wc + ${e}; let cok${e} = cc${e} >= 0 && cc${e} < i32(u.w);`);
  for (let k = 0; k < NLD3; k++) {
    prelude.push(`  let rr${k} = wr + ${k * RPL3}; let rok${k} = rr${k} >= 0 && rr${k} < i32(u.h);`);
    for (let e = 0; e < 4; e++) {
      prelude.push(`  let ok${k}_${e} = rok${k} && cok${e}; let o${k}_${e} = u32(select(0, rr${k} * i32(u.w) + cc${e}, ok${k}_${e}));`);
    }
    const vals = [0, 1, 2, 3].map((e) => `select(0.0, x[xoff + o${k}_${e}], ok${k}_${e})`);
    body.push(`    let l${k} = vec4f(${vals.join(', ')});`);
  }
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
    store.push(`    if (r0 + ${r}u < u.oh && c0 + ${q}u < u.ow) { ${epiStore(`yb + (r0 + ${r}u) * u.ow + c0 + ${q}u`, `a${r}_${q} + b`, epi)} }`);
  }
  return enable(true) + assemble(sections, ['lanes3x3'], {
    R: R3, CC: CC3, VPR: VPR3, EXTRA: epiBinding(epi), PRELUDE: prelude.join('\n'), ACC: acc.join('\n'), BODY: body.join('\n'), STORE: store.join('\n'),
  }, LANES3);
}

/** The 3×3 stride-1 launch `L` (padT/padL as a forward conv of the source, may be negative) on lanes. */
function launch3x3(g: Gpu, L: Launch, x: GpuTensor, w: GpuTensor, out: GpuTensor, transposed: boolean, wk: number, wc: number, bias?: GpuTensor, epi?: Epilogue): void {
  const tilesW = Math.ceil(L.ow / CC3), tilesH = Math.ceil(L.oh / R3);
  const nkb = Math.ceil(L.kout / 64);
  const gx = tilesW * tilesH, gy = L.groups * nkb;
  fits(gx, gy, L.n, `${gx} tiles, ${gy} channel blocks`);
  const pipe = g.kernel(`conv.lanes3x3.r${R3}c${CC3}${transposed ? '.flip' : ''}${epiKey(epi)}`, () => conv3x3Wgsl(transposed, epi));
  // W is [groups·wk][wc][9]; the lane's channel indexes wk (forward) or wc (input gradient).
  const uni = LANES3.pack({
    n: L.n, cin: L.cin, kout: L.kout, groups: L.groups, oh: L.oh, ow: L.ow, h: L.h, w: L.w, tiles_w: tilesW, nkb,
    has_bias: bias ? 1 : 0, wsco: transposed ? 9 : wc * 9, wsci: transposed ? wc * 9 : 9, wgroup: wk * wc * 9, pad_t: L.padT, pad_l: L.padL,
  });
  dispatch(g, pipe, uni, [x, w, bias, out], [gx, gy, L.n], epi);
}

// ---------------------------------------------------------------------------------------------
// 1×1 stride-1 kernel with pixels on lanes (see its section)

const TC1 = 16; // output channels per lane

/**
 * WGSL for the lane 1×1 kernel. `odd`: the plane's length is not a multiple of 4, so x is read as
 * 4 values per lane (zero past the plane's end) instead of one vec4; no padded copy of x.
 */
function conv1x1Wgsl(wg: number, odd: boolean, epi?: Epilogue): string {
  const offs: string[] = [];
  const acc: string[] = [];
  const body: string[] = [];
  const store: string[] = [];
  for (let j = 0; j < TC1 / 8; j++) {
    offs.push(`  let wo${j} = min(kb * ${TC1}u + lane + ${8 * j}u, u.kout - 1u) * u.wsco;`);
    body.push(`    let wl${j} = w[woff + wo${j}];`);
  }
  if (odd) {
    for (let e = 0; e < 4; e++) offs.push(`  let ok${e} = q * 4u + ${e}u < u.plane; let o${e} = select(0u, ${e}u, ok${e});`);
    body.push(`    let xv = vec4f(${[0, 1, 2, 3].map((e) => `select(0.0, x[xoff + o${e}], ok${e})`).join(', ')});`);
  } else body.push('    let xv = x[xoff];');
  for (let c = 0; c < TC1; c++) {
    acc.push(`  var a${c} = vec4f(0.0);`);
    body.push(`    a${c} = fma(vec4f(subgroupShuffle(wl${c >> 3}, sb + ${c & 7}u)), xv, a${c});`);
    store.push(`  { let co = kb * ${TC1}u + ${c}u; if (live && co < u.kout) {` +
      ` let b = select(0.0, bias[min(g * u.kout + co, arrayLength(&bias) - 1u)], u.has_bias != 0u);` +
      ` for (var e = 0u; e < 4u; e++) { if (p0 + e < u.plane) { ${epiStore(`yb + co * u.plane + p0 + e`, `a${c}[e] + b`, epi)} } } } }`);
  }
  return enable(true) + assemble(sections, ['lanes1x1'], {
    WG: wg, XT: odd ? 'f32' : 'vec4f', EXTRA: epiBinding(epi),
    XOFF: `  var xoff = (n * u.groups + g) * u.cin * ${odd ? 'u.plane + q * 4u' : 'u.plane4 + q'};`,
    XSTEP: odd ? 'u.plane' : 'u.plane4',
    WOFFS: offs.join('\n'), ACC: acc.join('\n'), BODY: body.join('\n'), STORE: store.join('\n'),
  }, LANES1);
}

/** A 1×1 stride-1 unpadded launch `L` with pixels on lanes. */
function launch1x1(g: Gpu, L: Launch, x: GpuTensor, w: GpuTensor, out: GpuTensor, transposed: boolean, wk: number, wc: number, bias?: GpuTensor, epi?: Epilogue): void {
  const plane = L.oh * L.ow;
  const plane4 = Math.ceil(plane / 4);
  // Small planes get small workgroups so that few lanes idle past the end.
  const wg = plane4 >= 64 ? 64 : 16;
  const nkb = Math.ceil(L.kout / TC1);
  const gx = Math.ceil(plane4 / wg), gy = L.groups * nkb;
  fits(gx, gy, L.n, `${gx} pixel blocks, ${gy} channel blocks`);
  const odd = plane % 4 !== 0;
  const pipe = g.kernel(`conv.lanes1x1.tc${TC1}.wg${wg}${odd ? '.odd' : ''}${epiKey(epi)}`, () => conv1x1Wgsl(wg, odd, epi));
  const un = LANES1.pack({
    n: L.n, cin: L.cin, kout: L.kout, groups: L.groups, plane, plane4, nkb, has_bias: bias ? 1 : 0,
    wsco: transposed ? 1 : wc, wsci: transposed ? wc : 1, wgroup: wk * wc,
  });
  dispatch(g, pipe, un, [x, w, bias, out], [gx, gy, L.n], epi);
}

// The lane kernels compute 64 (3×3) or 16 (1×1) output channels per workgroup or lane: narrower
// layers (depthwise and small grouped convolutions) stay on the pixel-lane kernels.
const lanes3x3 = (g: Gpu, L: Launch) => useSubgroups(g) && L.kout >= 16;
const lanes1x1 = (g: Gpu, L: Launch) => useSubgroups(g) && L.kout > 4;

const tcFor = (kout: number) => (kout <= 4 ? 4 : 16);

/** How a launch reads W ([groups·wk][wc][taps]) and which kernels may serve it. */
export interface ConvRead {
  /** W's channel axes swapped and its taps reversed (the stride-1 input gradient, a convolution of dY). */
  transposed: boolean;
  wk: number; wc: number;
  /** A 3×3 stride-1 launch; a 1×1 stride-1 unpadded one; the pixel-lane mode otherwise. */
  k3s1: boolean; pointwise: boolean; mode: Mode;
}

/** Run the launch `L` on the fastest kernel that serves it on this adapter (kernel-choice.ts). */
export function convLaunch(g: Gpu, L: Launch, x: GpuTensor, w: GpuTensor, out: GpuTensor, r: ConvRead, bias?: GpuTensor, epi?: Epilogue): void {
  if (kernelVariant(g.adapterName) === 'tiled' && tiledServes(L)) return tiledConv(g, L, x, w, out, r, bias, undefined, epi);
  if (r.k3s1 && lanes3x3(g, L)) return launch3x3(g, L, x, w, out, r.transposed, r.wk, r.wc, bias, epi);
  if (r.pointwise && lanes1x1(g, L)) return launch1x1(g, L, x, w, out, r.transposed, r.wk, r.wc, bias, epi);
  const tc = tcFor(L.kout);
  const layout = `pixels:${L.groups},${L.kout},${L.cin},${L.kh}x${L.kw},${tc},${r.transposed},${r.wk},${r.wc}`;
  const { packed, owned } = packedWeights(w, layout, () => packWeights(g, w, L, tc, r.transposed, r.wk, r.wc));
  launch(g, r.mode, L, x, packed, tc, out, bias, epi);
  if (owned) g.release(packed);
}
