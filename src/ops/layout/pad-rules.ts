// Backward rules of Pad. The crop back to the unpadded region is itself a constant Pad with the
// begins negated (AE in any mode, spec §2.1, and the gradient of a constant Pad). The gradient of
// a reflect/edge/wrap Pad sends every padded position's dy to the element it copied: on the GPU one
// padded axis is folded at a time (backward.wgsl `pad_fold`, with the forward map of the mode).
import src from './backward.wgsl';
import type { Rule } from '../rule.js';
import { numel, stridesOf, type Shape } from '../../graph/tensor.js';
import { Gpu, type GpuTensor } from '../../kernels/gpu/runtime.js';
import { assemble, parseSections, uniforms } from '../../kernels/gpu/wgsl.js';
import { type AnyCtx, keepsSamples, perSample } from '../shared/signal.js';
import { forwardSections } from './copies.js';
import { PAD_MAP, mapPadIndex, recordPad, runPad, type PadMode, type PadParams } from './pad.js';

const sections = new Map([...forwardSections, ...parseSections(src)]);

interface PadGeom { mode: PadMode; inShape: Shape; outShape: Shape; begin: number[] }

function padGeom(ctx: AnyCtx, r: Shape): PadGeom {
  const p = ctx.step.params as PadGeom;
  const t = perSample(ctx, { shape: r });
  keepsSamples(ctx, t, p.begin[0] === 0 && p.inShape[0] === p.outShape[0], 'padding along axis 0');
  const inShape = t === 1 ? p.inShape : [p.inShape[0] * t, ...p.inShape.slice(1)];
  return { mode: p.mode, inShape, outShape: r, begin: p.begin };
}

/** The crop back to the unpadded region: a constant Pad with the begins negated. */
const cropParams = (p: PadGeom): PadParams => ({ mode: 'constant', value: 0, inShape: p.outShape, outShape: p.inShape, begin: p.begin.map((b) => -b) });

/** AE (any mode, spec §2.1) and the gradient of a constant Pad: crop to the unpadded region. */
export const padCrop: Rule<PadParams> = {
  plan(ctx, r) {
    const p = padGeom(ctx, r);
    return { params: cropParams(p), signals: [{ shape: p.inShape }] };
  },
  cpu(p, _ctx, r, out) {
    runPad(p, r.data, out[0]!.data);
  },
  gpu(p, g, _ctx, r, out) {
    recordPad(g, p, r, out[0]!);
  },
};

/** One padded axis folded back: `shape` is the result, `plen` the padded length it reads. */
interface Fold { d: number; shape: Shape; plen: number }

type PadBack = { crop: PadParams } | { geom: PadGeom; folds: Fold[] };

const PAD_FOLD = uniforms({ n: 'u32', len: 'u32', plen: 'u32', inner: 'u32', begin: 'i32' });

/** Gradient of Pad: every padded position sends dy to the element it copied (mirrored, edge, wrapped). */
export const padGrad: Rule<PadBack> = {
  plan(ctx, r) {
    const p = padGeom(ctx, r);
    if (p.mode === 'constant') return { params: { crop: cropParams(p) }, signals: [{ shape: p.inShape }] };
    // The map is a product of per-axis maps: fold one padded axis at a time.
    const folds: Fold[] = [];
    let cur = r;
    for (let d = 0; d < p.inShape.length; d++) {
      if (cur[d] === p.inShape[d] && p.begin[d] === 0) continue;
      const shape = cur.map((v, k) => (k === d ? p.inShape[d] : v));
      folds.push({ d, shape, plen: cur[d] });
      cur = shape;
    }
    // Nothing padded: dy passes through unchanged.
    return { params: { geom: p, folds }, signals: [{ shape: p.inShape, alias: folds.length === 0 }] };
  },
  cpu(q, ctx, r, out) {
    if ('crop' in q) return padCrop.cpu(q.crop, ctx, r, out);
    if (q.folds.length === 0) return;
    const p = q.geom;
    const rank = p.inShape.length;
    const ist = stridesOf(p.inShape);
    const acc = new Float64Array(numel(p.inShape));
    const c = new Array<number>(rank).fill(0);
    for (let i = 0; i < r.data.length; i++) {
      let o = 0;
      for (let d = 0; d < rank; d++) o += mapPadIndex(p.mode, c[d] - p.begin[d], p.inShape[d]) * ist[d];
      acc[o] += r.data[i];
      for (let d = rank - 1; d >= 0; d--) {
        if (++c[d] < p.outShape[d]) break;
        c[d] = 0;
      }
    }
    out[0]!.data.set(acc);
  },
  gpu(q, g, ctx, r, out) {
    if ('crop' in q) return padCrop.gpu(q.crop, g, ctx, r, out);
    const p = q.geom;
    const pipeline = g.kernel(`layout.pad_fold.${p.mode}`, () => assemble(sections, ['pad_index', 'pad_fold'], { MAP: PAD_MAP[p.mode] }, PAD_FOLD));
    let cur = r;
    q.folds.forEach((f, k) => {
      const next: GpuTensor = k === q.folds.length - 1 ? out[0]! : g.alloc(f.shape, 'grad.pad');
      const n = numel(f.shape);
      if (n) {
        const u = PAD_FOLD.pack({ n, len: p.inShape[f.d], plen: f.plen, inner: numel(f.shape.slice(f.d + 1)), begin: p.begin[f.d] });
        g.dispatch(pipeline, u, [cur.buffer, next.buffer], Gpu.groups1d(n));
      }
      if (cur !== r) g.release(cur);
      cur = next;
    });
  },
};
