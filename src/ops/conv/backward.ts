// The passes of backward.wgsl over a convolution's geometry, for the AE rules (rules.ts) and the
// input gradient (input-grad.ts): a forward pass is the `window` skeleton, a transposed one the
// `gather` skeleton, each filled with its variant's hooks; plus the per-sample helpers.
import src from './backward.wgsl';
import type { ConvParams } from './forward.js';
import type { Gpu, Uniforms } from '../../kernels/gpu/runtime.js';
import { assemble, parseSections, uniforms } from '../../kernels/gpu/wgsl.js';

const sections = parseSections(src);

/** The uniforms of every pass over the geometry (the `geo` section and its users). */
const GEO = uniforms({
  total: 'u32', cin: 'u32', h: 'u32', w: 'u32', kout: 'u32', oh: 'u32', ow: 'u32', c: 'u32',
  kh: 'u32', kw: 'u32', sh: 'u32', sw: 'u32', dh: 'u32', dw: 'u32', pad_t: 'i32', pad_l: 'i32',
  k: 'u32', tiles: 'u32', flags: 'u32', ratio: 'f32', groups: 'u32', nkb: 'u32',
});
/** The per-sample helpers (`small`): n samples of `per` values. */
export const SMALL = uniforms({ total: 'u32', per: 'u32' });

export type GeoPass = 'fwd_ae' | 'fwd_zb' | 'back_ae' | 'back_zb' | 'back_grad';

/** The skeletons of backward.wgsl and their hooks, which each variant supplies as `<variant>.<hook>` sections. */
const SKELETONS = {
  window: ['pre', 'load', 'weight', 'combine', 'store'],
  gather: ['pre', 'weight', 'combine', 'store', 'post'],
} as const;

/** A pass over the geometry: a forward pass is the window skeleton, a transposed one the gather skeleton. */
export function geoPipe(g: Gpu, name: GeoPass, tc: number): GPUComputePipeline {
  return g.kernel(`conv.backward.${name}.tc${tc}`, () => {
    const skeleton = name.startsWith('back_') ? 'gather' : 'window';
    const hooks = Object.fromEntries(SKELETONS[skeleton].map((h) => [h.toUpperCase(), sections.get(`${name}.${h}`) ?? (h === 'post' ? '' : undefined)]));
    return assemble(sections, ['geo', name, skeleton], { ...hooks, TC: tc }, GEO);
  });
}

/** A per-sample helper; the shift reads its count as u32 (`countU32`: counted by back_ae) or f32. */
export const smallPipe = (g: Gpu, name: 'minmax' | 'shift' | 'shift_acc', countU32 = false): GPUComputePipeline =>
  g.kernel(`conv.backward.${name}${countU32 ? '.u32' : ''}`, () => assemble(sections, ['small', name === 'minmax' ? name : 'shift'], { CT: countU32 ? 'u32' : 'f32', ...SHIFT[name === 'shift_acc' ? 'acc' : 'inPlace'] }, SMALL));

/** The shift's two forms (backward.wgsl, section shift): over A + B in place, or added into a fork's sum. */
const SHIFT = {
  inPlace: { AB_BINDING: '@group(0) @binding(3) var<storage, read_write> out: array<f32>;', AB: 'out', RESULT: 'v' },
  acc: {
    AB_BINDING: '@group(0) @binding(3) var<storage, read> ab: array<f32>;\n@group(0) @binding(4) var<storage, read_write> out: array<f32>;',
    AB: 'ab', RESULT: 'out[i] + v',
  },
};

const TP = 4;

/** One pass over the output (`'out'`, blocks of output channels) or the input (`'in'`). */
export interface Pass { u: Uniforms; threads: number; tc: number }

export function pass(p: ConvParams, side: 'out' | 'in', flags = 0, ratio = 1): Pass {
  const G = p.group, cin = p.c / G, kout = p.k / G;
  const blocked = side === 'out' ? kout : cin;
  // Channel blocks of 4 share each loaded input (or S) value; a depthwise side has one channel.
  const tc = blocked === 1 ? 1 : 4;
  const nkb = Math.ceil(blocked / tc);
  const tiles = Math.ceil((side === 'out' ? p.ow : p.w) / TP);
  const threads = p.n * G * nkb * (side === 'out' ? p.oh : p.h) * tiles;
  const u = GEO.pack({
    total: threads, cin, h: p.h, w: p.w, kout, oh: p.oh, ow: p.ow, c: p.c,
    kh: p.kh, kw: p.kw, sh: p.sh, sw: p.sw, dh: p.dh, dw: p.dw, pad_t: p.padT, pad_l: p.padL,
    k: p.k, tiles, flags, ratio, groups: G, nkb,
  });
  return { u, threads, tc };
}
