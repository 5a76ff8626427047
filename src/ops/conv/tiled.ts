// The tiled implicit-GEMM convolution (tiled.wgsl) for hardware GPUs: output channels × output
// pixels (the batch folded into the pixels) as a GEMM whose reduction runs over taps and input
// channels, with W repacked once per launch into the GEMM's left operand. It serves any launch
// that kernels.ts's `convLaunch` receives — the forward convolution (every stride, dilation,
// padding and group count) and the stride-1 input gradient (a convolution of dY with the
// transposed, flipped W) — except narrow groups (see `tiledServes`); and AE's two convolution
// passes (rules.ts): the forward side over |W| for every geometry, the transposed side at stride 1.
import type { Gpu, GpuTensor } from '../../kernels/gpu/runtime.js';
import type { ConvParams } from './params.js';
import { assemble, parseSections, uniforms } from '../../kernels/gpu/wgsl.js';
import src from './tiled.wgsl';
import { epiBinding, epiBuffers, epiKey, epiStore, type Epilogue } from './epilogue.js';

const sections = parseSections(src);

const PACK = uniforms({
  total: 'u32', kout: 'u32', cin: 'u32', kout_p: 'u32', cin_p: 'u32', taps: 'u32', flip: 'u32',
  wsco: 'u32', wsci: 'u32', wgroup: 'u32', absw: 'u32',
});
const CONV = uniforms({
  npix: 'u32', ntiles: 'u32', nmt: 'u32', groups: 'u32', cin: 'u32', kout: 'u32', cin_p: 'u32', kout_p4: 'u32',
  h: 'u32', w: 'u32', oh: 'u32', ow: 'u32', kh: 'u32', kw: 'u32', sh: 'u32', sw: 'u32', dh: 'u32', dw: 'u32',
  pad_t: 'i32', pad_l: 'i32', has_bias: 'u32', flags: 'u32', ratio: 'f32', tgt: 'u32',
});

/** The passes of the skeleton: the convolution, and AE's forward-side and transposed passes. */
type PassName = 'plain' | 'fwd_ae' | 'back_ae';

/** The launch geometry (kernels.ts `Launch`): `cin`/`kout` per group, source h×w, destination oh×ow. */
export interface TiledLaunch {
  n: number; groups: number; cin: number; kout: number;
  h: number; w: number; oh: number; ow: number;
  kh: number; kw: number; sh: number; sw: number; dh: number; dw: number;
  padT: number; padL: number;
}

/** How W ([groups·wk][wc][taps]) is read: as the forward reads it, or transposed with the taps flipped. */
export interface TiledRead { transposed: boolean; wk: number; wc: number }

export interface Tile { bm: number; bn: number; bk: number }

/**
 * A GEMM tile of M = 4 outputs per thread in at least 16 rows makes no sense for a group of fewer
 * output channels (depthwise: one): those keep the direct pixel-lane kernel.
 */
export const tiledServes = (L: TiledLaunch): boolean => L.kout >= 8;

/**
 * Below this many workgroups a layer cannot fill a large GPU (an H200 has 132 SMs, each running
 * several workgroups at once), so the tile shrinks to 32×32 to make more of them.
 */
const FEW_WORKGROUPS = 4 * 132;

/**
 * The tile for a launch: 128 threads (64×32 when a group has 64 output channels or more, else
 * 32×64) where that yields enough workgroups, else 32×32 with 64 threads; K-slices of 16 input
 * channels when a group has that many, else 8 (the first layer's 3 channels waste less).
 */
export function chooseTile(L: TiledLaunch): Tile {
  const npix = L.n * L.oh * L.ow;
  const bk = L.cin >= 16 ? 16 : 8;
  const count = (bm: number, bn: number) => Math.ceil(npix / bn) * Math.ceil(L.kout / bm) * L.groups;
  const big: Tile = L.kout >= 64 ? { bm: 64, bn: 32, bk } : { bm: 32, bn: 64, bk };
  if (count(big.bm, big.bn) >= FEW_WORKGROUPS) return big;
  return { bm: 32, bn: 32, bk };
}

const MAX_X = 65535;

function packWeights(g: Gpu, w: GpuTensor, L: TiledLaunch, r: TiledRead, t: Tile, absw: boolean): GpuTensor {
  const taps = L.kh * L.kw;
  const kout_p = Math.ceil(L.kout / t.bm) * t.bm;
  const cin_p = Math.ceil(L.cin / t.bk) * t.bk;
  const total = L.groups * taps * cin_p * kout_p;
  const wp = g.alloc([total], 'conv.tiled.packed');
  const pipe = g.kernel('conv.tiled.pack', () => assemble(sections, ['pack'], {}, PACK));
  const rowW = r.wc * taps; // one output channel of W (forward) holds wc·taps values
  g.dispatch(pipe, PACK.pack({
    total, kout: L.kout, cin: L.cin, kout_p, cin_p, taps, flip: r.transposed ? 1 : 0,
    wsco: r.transposed ? taps : rowW, wsci: r.transposed ? rowW : taps, wgroup: r.wk * rowW, absw: absw ? 1 : 0,
  }), [w.buffer, wp.buffer], [Math.ceil(total / 256)]);
  return wp;
}

/** Record one pass of the skeleton: binding 1 the source, 2 the packed W, 3.. `rest`. */
function record(g: Gpu, name: PassName, L: TiledLaunch, src: GpuTensor, w: GpuTensor, r: TiledRead, rest: (GPUBuffer | GPUBufferBinding)[],
  extra: { hasBias?: boolean; flags?: number; ratio?: number; tgt?: number }, tile?: Tile, epi?: Epilogue): void {
  const t = tile ?? chooseTile(L);
  const nt = (t.bm / 4) * (t.bn / 4);
  const npix = L.n * L.oh * L.ow;
  const ntiles = Math.ceil(npix / t.bn);
  const nmt = Math.ceil(L.kout / t.bm);
  const gz = L.groups * nmt;
  if (gz > 65535 || ntiles > MAX_X * MAX_X) throw new Error(`convolution too large for one dispatch (${ntiles} pixel tiles, ${gz} channel tiles)`);
  const wp = packWeights(g, w, L, r, t, name !== 'plain');
  const key = `conv.tiled.${name}.m${t.bm}n${t.bn}k${t.bk}${epiKey(epi)}`;
  const pipe = g.kernel(key, () => {
    const hook = (h: string) => sections.get(`${name}.${h}`)!;
    // A fused ReLU (epilogue.ts) rewrites the plain pass's store.
    const plainStore = 'y[idx] = acc[i][j] + bv;';
    if (epi && (name !== 'plain' || !hook('store').includes(plainStore))) throw new Error(`internal: no fused epilogue for the tiled ${name} pass`);
    const store = epi ? hook('store').replace(plainStore, epiStore('idx', 'acc[i][j] + bv', epi)) : hook('store');
    return epiBinding(epi) + assemble(sections, [name, 'conv'], {
      BM: t.bm, BN: t.bn, BK: t.bk, NT: nt, SMEM: hook('smem'), ACC: hook('acc'), STAGE: hook('stage'), FMA: hook('fma'), STORE: store,
    }, CONV);
  });
  const un = CONV.pack({
    npix, ntiles, nmt, groups: L.groups, cin: L.cin, kout: L.kout,
    cin_p: Math.ceil(L.cin / t.bk) * t.bk, kout_p4: (nmt * t.bm) / 4,
    h: L.h, w: L.w, oh: L.oh, ow: L.ow, kh: L.kh, kw: L.kw, sh: L.sh, sw: L.sw, dh: L.dh, dw: L.dw,
    pad_t: L.padT, pad_l: L.padL, has_bias: extra.hasBias ? 1 : 0, flags: extra.flags ?? 0, ratio: extra.ratio ?? 1,
    tgt: extra.tgt ?? 1,
  });
  const gx = Math.min(ntiles, MAX_X), gy = Math.ceil(ntiles / MAX_X);
  g.dispatch(pipe, un, [src.buffer, wp.buffer, ...rest, ...epiBuffers(epi)], [gx, gy, gz]);
  g.release(wp);
}

/** Record the launch `L` on the tiled kernel; `bias` (per destination channel) only forward. */
export function tiledConv(g: Gpu, L: TiledLaunch, x: GpuTensor, w: GpuTensor, out: GpuTensor, r: TiledRead, bias?: GpuTensor, tile?: Tile, epi?: Epilogue): void {
  // Without a bias a dummy is bound that the shader never reads.
  const dummy = bias ? undefined : g.alloc([4], 'conv.nobias');
  record(g, 'plain', L, x, w, r, [(bias ?? dummy!).buffer, out.buffer], { hasBias: !!bias }, tile, epi);
  if (dummy) g.release(dummy);
}

// ---------------------------------------------------------------------------------------------
// AE's passes (rules.ts), over the rule's geometry p

const forwardLaunch = (p: ConvParams): TiledLaunch => ({
  n: p.n, groups: p.group, cin: p.c / p.group, kout: p.k / p.group, h: p.h, w: p.w, oh: p.oh, ow: p.ow,
  kh: p.kh, kw: p.kw, sh: p.sh, sw: p.sw, dh: p.dh, dw: p.dw, padT: p.padT, padL: p.padL,
});

/** The stride-1 transposed pass as a convolution of the output-side signal (complementary padding). */
const transposedLaunch = (p: ConvParams): TiledLaunch => ({
  n: p.n, groups: p.group, cin: p.k / p.group, kout: p.c / p.group, h: p.oh, w: p.ow, oh: p.h, ow: p.w,
  kh: p.kh, kw: p.kw, sh: 1, sw: 1, dh: p.dh, dw: p.dw, padT: p.dh * (p.kh - 1) - p.padT, padL: p.dw * (p.kw - 1) - p.padL,
});

export const tiledAeForwardServes = (p: ConvParams): boolean => tiledServes(forwardLaunch(p));
export const tiledAeBackwardServes = (p: ConvParams): boolean => p.sh === 1 && p.sw === 1 && tiledServes(transposedLaunch(p));

/**
 * backward.wgsl's fwd_ae on the tiled kernel: the sections S (N·T×K×OH×OW vec4s) from x, |W|, R
 * and ΣR⁺, ΣR⁻. x (N·T samples, each input repeated for its T targets) does not depend on the
 * target, so Z, Za and Zb are computed for the N inputs once and the epilogue forms the T targets'
 * sections from them.
 */
export function tiledAeForward(g: Gpu, p: ConvParams, x: GpuTensor, w: GpuTensor, r: GpuTensor, spos: GPUBufferBinding, sneg: GPUBufferBinding,
  s: GpuTensor, flags: number, ratio: number, targets: number, tile?: Tile): void {
  const read = { transposed: false, wk: p.k / p.group, wc: p.c / p.group };
  const L = { ...forwardLaunch(p), n: p.n / targets };
  record(g, 'fwd_ae', L, x, w, read, [r.buffer, spos, sneg, s.buffer], { flags, ratio, tgt: targets }, tile);
}

/** backward.wgsl's back_ae on the tiled kernel (stride 1): R_in (and C when flags keep it) from S, |W| and x. */
export function tiledAeBackward(g: Gpu, p: ConvParams, w: GpuTensor, s: GpuTensor, x: GpuTensor, out: GpuTensor, cterm: GpuTensor,
  flags: number, tile?: Tile): void {
  const read = { transposed: true, wk: p.k / p.group, wc: p.c / p.group };
  record(g, 'back_ae', transposedLaunch(p), s, w, read, [x.buffer, out.buffer, cterm.buffer], { flags }, tile);
}
