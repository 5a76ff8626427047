// The tiled implicit-GEMM convolution (tiled.wgsl) for hardware GPUs: output channels × output
// pixels (the batch folded into the pixels) as a GEMM whose reduction runs over taps and input
// channels, with W repacked once per launch into the GEMM's left operand. It serves any launch
// that kernels.ts's `convLaunch` receives — the forward convolution (every stride, dilation,
// padding and group count) and the stride-1 input gradient (a convolution of dY with the
// transposed, flipped W) — except narrow groups (see `tiledServes`); the strided input gradient
// (input-grad.ts); and AE's convolution passes (rules.ts): the general rule's forward side over |W|
// and its transposed side, the zB rule's two passes over W, for every geometry. A transposed pass
// at stride > 1 runs as one dense GEMM per output phase (transposed.ts), the phases of a dispatch
// on its z axis, all sharing one packed W.
import type { Gpu, GpuTensor } from '../../kernels/gpu/runtime.js';
import type { ConvParams } from './params.js';
import { assemble, parseSections, uniforms } from '../../kernels/gpu/wgsl.js';
import { transposedPhases } from './transposed.js';
import src from './tiled.wgsl';
import { epiBinding, epiBuffers, epiKey, epiStore, type Epilogue } from './epilogue.js';
import { packedWeights } from './packed-cache.js';

const sections = parseSections(src);

const PACK = uniforms({
  total: 'u32', kout: 'u32', cin: 'u32', kout_p: 'u32', cin_p: 'u32', taps: 'u32', flip: 'u32',
  wsco: 'u32', wsci: 'u32', wgroup: 'u32', absw: 'u32',
});

/** Phases one dispatch of a transposed pass holds (z = phase · groups · channel tiles): stride 2's four. */
export const MAX_PHASES = 4;

/**
 * The conv skeleton's uniforms with a table of `phases` phase geometries (2 vec4s each, see
 * tiled.wgsl): 14 vec4s at MAX_PHASES, within the 256-byte uniform slot.
 */
const convBlock = (phases: number) => uniforms({
  n: 'u32', nmt: 'u32', groups: 'u32', cin: 'u32', kout: 'u32', cin_p: 'u32', kout_p4: 'u32',
  h: 'u32', w: 'u32', sh: 'u32', sw: 'u32', dh: 'u32', dw: 'u32',
  taps: 'u32', tap_sy: 'u32', tap_sx: 'u32', dst_w: 'u32', dst_plane: 'u32', dst_rs: 'u32', dst_cs: 'u32',
  has_bias: 'u32', flags: 'u32', ratio: 'f32', tgt: 'u32',
  ph: { vec4: 'i32', n: 2 * phases },
});
const CONV1 = convBlock(1);
const CONVP = convBlock(MAX_PHASES);

/**
 * The passes of the skeleton: the forward side (the convolution; AE's general and zB forward
 * passes), one phase each, and the transposed side (the strided input gradient; AE's general and
 * zB transposed passes), up to MAX_PHASES phases a dispatch.
 */
type PassName = 'plain' | 'fwd_ae' | 'fwd_zb' | 'grad' | 'back_ae' | 'back_zb';

const PHASED: Record<PassName, boolean> = { plain: false, fwd_ae: false, fwd_zb: false, grad: true, back_ae: true, back_zb: true };
/** The strided input gradient is the plain convolution's hooks over phases. */
const HOOKS: Record<PassName, string> = { plain: 'plain', fwd_ae: 'fwd_ae', fwd_zb: 'fwd_zb', grad: 'plain', back_ae: 'back_ae', back_zb: 'back_zb' };

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

/** W repacked as the GEMM's left operand for `taps` taps per group (tiled.wgsl's pack). */
function packWeights(g: Gpu, w: GpuTensor, L: TiledLaunch, taps: number, r: TiledRead, t: Tile, absw: boolean): GpuTensor {
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

/**
 * One dense GEMM of a launch: `L` with this phase's destination sub-grid (oh×ow), taps (kh×kw)
 * and padding; its pixel (y, x) lands at (r0 + y·rs, c0 + x·cs) of the destination plane, and its
 * tap (kh, kw) is packed tap tap0 + kh·tapSy + kw·tapSx.
 */
interface GemmPhase { L: TiledLaunch; r0: number; c0: number; tap0: number }

/** What the phases of a launch share: the packed taps per group, the tap steps, the destination plane. */
interface Spread { taps: number; tapSy: number; tapSx: number; dstH: number; dstW: number; rs: number; cs: number }

/** The forward side's single phase: the destination is the launch's own plane, the taps in order. */
const single = (L: TiledLaunch): [GemmPhase[], Spread] =>
  [[{ L, r0: 0, c0: 0, tap0: 0 }], { taps: L.kh * L.kw, tapSy: L.kw, tapSx: 1, dstH: L.oh, dstW: L.ow, rs: 1, cs: 1 }];

/**
 * Record one pass of the skeleton over `phases` (at most MAX_PHASES a dispatch): binding 1 the
 * source, 2 the W packed once for all of them (|W| for AE's general passes, W itself else), 3.. `rest`;
 * `epi` fuses a ReLU into the forward pass's store (epilogue.ts).
 */
function record(g: Gpu, name: PassName, phases: GemmPhase[], spread: Spread, src: GpuTensor, w: GpuTensor, r: TiledRead,
  rest: (GPUBuffer | GPUBufferBinding)[], extra: { hasBias?: boolean; flags?: number; ratio?: number; tgt?: number }, tile?: Tile, epi?: Epilogue): void {
  const phased = PHASED[name];
  const block = phased ? CONVP : CONV1;
  const per = phased ? MAX_PHASES : 1;
  if (phases.length > per && !phased) throw new Error('internal: a forward-side pass has one phase');
  // All phases share the tile (one pack); the largest phase chooses it.
  const big = phases.reduce((a, b) => (b.L.oh * b.L.ow > a.L.oh * a.L.ow ? b : a)).L;
  const t = tile ?? chooseTile(big);
  const nt = (t.bm / 4) * (t.bn / 4);
  const nmt = Math.ceil(big.kout / t.bm);
  const absw = name === 'fwd_ae' || name === 'back_ae';
  const layout = `tiled:${big.groups},${big.kout},${big.cin},${spread.taps},${r.transposed},${r.wk},${r.wc},${t.bm},${t.bk},${absw}`;
  const { packed: wp, owned } = packedWeights(w, layout, () => packWeights(g, w, big, spread.taps, r, t, absw));
  const key = `conv.tiled.${name}.m${t.bm}n${t.bn}k${t.bk}${epiKey(epi)}`;
  const pipe = g.kernel(key, () => {
    const hook = (h: string) => sections.get(`${HOOKS[name]}.${h}`)!;
    // A fused ReLU (epilogue.ts) rewrites the plain pass's store.
    const plainStore = 'y[idx] = acc[i][j] + bv;';
    if (epi && (name !== 'plain' || !hook('store').includes(plainStore))) throw new Error(`internal: no fused epilogue for the tiled ${name} pass`);
    const store = epi ? hook('store').replace(plainStore, epiStore('idx', 'acc[i][j] + bv', epi)) : hook('store');
    return epiBinding(epi) + assemble(sections, [HOOKS[name], 'conv'], {
      BM: t.bm, BN: t.bn, BK: t.bk, NT: nt, SMEM: hook('smem'), ACC: hook('acc'), STAGE: hook('stage'), FMA: hook('fma'), STORE: store,
    }, block);
  });
  for (let i = 0; i < phases.length; i += per) {
    const chunk = phases.slice(i, i + per);
    const tiles = chunk.map((ph) => Math.ceil((ph.L.n * ph.L.oh * ph.L.ow) / t.bn));
    const ntiles = Math.max(...tiles);
    const gz = chunk.length * big.groups * nmt;
    if (gz > 65535 || ntiles > MAX_X * MAX_X) throw new Error(`convolution too large for one dispatch (${ntiles} pixel tiles, ${gz} channel tiles)`);
    const table = chunk.flatMap((ph) => [ph.L.oh, ph.L.ow, ph.L.kh, ph.L.kw, ph.L.padT, ph.L.padL, ph.tap0, ph.r0 * spread.dstW + ph.c0]);
    const L = chunk[0].L; // the fields every phase shares
    const un = block.pack({
      n: L.n, nmt, groups: L.groups, cin: L.cin, kout: L.kout,
      cin_p: Math.ceil(L.cin / t.bk) * t.bk, kout_p4: (nmt * t.bm) / 4,
      h: L.h, w: L.w, sh: L.sh, sw: L.sw, dh: L.dh, dw: L.dw,
      taps: spread.taps, tap_sy: spread.tapSy, tap_sx: spread.tapSx,
      dst_w: spread.dstW, dst_plane: spread.dstH * spread.dstW, dst_rs: spread.rs, dst_cs: spread.cs,
      has_bias: extra.hasBias ? 1 : 0, flags: extra.flags ?? 0, ratio: extra.ratio ?? 1, tgt: extra.tgt ?? 1, ph: table,
    });
    const gx = Math.min(ntiles, MAX_X), gy = Math.ceil(ntiles / MAX_X);
    g.dispatch(pipe, un, [src.buffer, wp.buffer, ...rest, ...epiBuffers(epi)], [gx, gy, gz]);
  }
  if (owned) g.release(wp);
}

/** Record the launch `L` on the tiled kernel; `bias` (per destination channel) only forward. */
export function tiledConv(g: Gpu, L: TiledLaunch, x: GpuTensor, w: GpuTensor, out: GpuTensor, r: TiledRead, bias?: GpuTensor, tile?: Tile, epi?: Epilogue): void {
  // Without a bias a dummy is bound that the shader never reads.
  const dummy = bias ? undefined : g.alloc([4], 'conv.nobias');
  const [phases, spread] = single(L);
  record(g, 'plain', phases, spread, x, w, r, [(bias ?? dummy!).buffer, out.buffer], { hasBias: !!bias }, tile, epi);
  if (dummy) g.release(dummy);
}

// ---------------------------------------------------------------------------------------------
// The rules' passes over the rule's geometry p: AE's (rules.ts) and the input gradient's (input-grad.ts)

const forwardLaunch = (p: ConvParams): TiledLaunch => ({
  n: p.n, groups: p.group, cin: p.c / p.group, kout: p.k / p.group, h: p.h, w: p.w, oh: p.oh, ow: p.ow,
  kh: p.kh, kw: p.kw, sh: p.sh, sw: p.sw, dh: p.dh, dw: p.dw, padT: p.padT, padL: p.padL,
});

/**
 * The transposed pass as stride-1 convolutions of the output-side signal, one per phase
 * (transposed.ts; at stride 1 the single phase is the complementary-padding convolution), over W
 * packed transposed and flipped.
 */
function transposedPhasesOf(p: ConvParams): [GemmPhase[], Spread] {
  const phases = transposedPhases(p).map(({ y, x }): GemmPhase => ({
    L: {
      n: p.n, groups: p.group, cin: p.k / p.group, kout: p.c / p.group, h: p.oh, w: p.ow, oh: y.count, ow: x.count,
      kh: y.taps, kw: x.taps, sh: 1, sw: 1, dh: y.dil, dw: x.dil, padT: y.pad, padL: x.pad,
    },
    r0: y.first, c0: x.first, tap0: y.t0 * p.kw + x.t0,
  }));
  // Every phase of an axis has the same tap step (stride / gcd(stride, dilation)).
  const qy = p.sh / gcdOf(p.sh, p.dh), qx = p.sw / gcdOf(p.sw, p.dw);
  return [phases, { taps: p.kh * p.kw, tapSy: qy * p.kw, tapSx: qx, dstH: p.h, dstW: p.w, rs: p.sh, cs: p.sw }];
}

const gcdOf = (a: number, b: number): number => (b === 0 ? a : gcdOf(b, a % b));

const transposedRead = (p: ConvParams): TiledRead => ({ transposed: true, wk: p.k / p.group, wc: p.c / p.group });

export const tiledAeForwardServes = (p: ConvParams): boolean => tiledServes(forwardLaunch(p));
/** Every stride, dilation and padding; 8 or more input channels per group (the transposed pass's outputs). */
export const tiledTransposedServes = (p: ConvParams): boolean => p.c / p.group >= 8;

/**
 * backward.wgsl's fwd_ae on the tiled kernel: the sections S (N·T×K×OH×OW vec4s) from x, |W|, R
 * and ΣR⁺, ΣR⁻. x (N·T samples, each input repeated for its T targets) does not depend on the
 * target, so Z, Za and Zb are computed for the N inputs once and the epilogue forms the T targets'
 * sections from them.
 */
export function tiledAeForward(g: Gpu, p: ConvParams, x: GpuTensor, w: GpuTensor, r: GpuTensor, spos: GPUBufferBinding, sneg: GPUBufferBinding,
  s: GpuTensor, flags: number, ratio: number, targets: number, tile?: Tile): void {
  const read = { transposed: false, wk: p.k / p.group, wc: p.c / p.group };
  const [phases, spread] = single({ ...forwardLaunch(p), n: p.n / targets });
  record(g, 'fwd_ae', phases, spread, x, w, read, [r.buffer, spos, sneg, s.buffer], { flags, ratio, tgt: targets }, tile);
}

/** backward.wgsl's back_ae on the tiled kernel, every stride: R_in (and C when flags keep it) from S, |W| and x. */
export function tiledAeBackward(g: Gpu, p: ConvParams, w: GpuTensor, s: GpuTensor, x: GpuTensor, out: GpuTensor, cterm: GpuTensor,
  flags: number, tile?: Tile): void {
  const [phases, spread] = transposedPhasesOf(p);
  record(g, 'back_ae', phases, spread, s, w, transposedRead(p), [x.buffer, out.buffer, cterm.buffer], { flags }, tile);
}

/** backward.wgsl's fwd_zb on the tiled kernel: S = R / Z with Z from x, W and the per-sample bounds. */
export function tiledZbForward(g: Gpu, p: ConvParams, x: GpuTensor, w: GpuTensor, r: GpuTensor, bounds: GpuTensor, s: GpuTensor, tile?: Tile): void {
  const read = { transposed: false, wk: p.k / p.group, wc: p.c / p.group };
  const [phases, spread] = single(forwardLaunch(p));
  record(g, 'fwd_zb', phases, spread, x, w, read, [r.buffer, bounds.buffer, s.buffer], {}, tile);
}

/** backward.wgsl's back_zb on the tiled kernel, every stride: R_in from S, W, x and the bounds. */
export function tiledZbBackward(g: Gpu, p: ConvParams, w: GpuTensor, s: GpuTensor, x: GpuTensor, bounds: GpuTensor, out: GpuTensor, tile?: Tile): void {
  const [phases, spread] = transposedPhasesOf(p);
  record(g, 'back_zb', phases, spread, s, w, transposedRead(p), [x.buffer, bounds.buffer, out.buffer], {}, tile);
}

/** The input gradient dX = convT(dY, W) on the tiled kernel at any stride (stride 1 also runs through kernels.ts). */
export function tiledInputGrad(g: Gpu, p: ConvParams, dy: GpuTensor, w: GpuTensor, out: GpuTensor, tile?: Tile): void {
  const [phases, spread] = transposedPhasesOf(p);
  const dummy = g.alloc([4], 'conv.nobias');
  record(g, 'grad', phases, spread, dy, w, transposedRead(p), [dummy.buffer, out.buffer], {}, tile);
  g.release(dummy);
}
