// Views and Cast. A view (Reshape, Flatten, Squeeze, Unsqueeze, Identity, Dropout, Cast to float)
// aliases its input with a new shape; whenever its data input is a constant, prepare folds the
// result with the input's dtype (shape arithmetic).
//
// Cast of a runtime tensor: runtime tensors are float32, so Cast to float32/float64 is a view,
// to float16 rounds to half precision, to bool gives 0/1, and to any integer type rounds toward
// zero (C semantics) on both backends while the storage stays float32.
import { attrInt, attrInts } from '../../graph/ir.js';
import type { DType, Shape } from '../../graph/tensor.js';
import { fmtShape, numel } from '../../graph/tensor.js';
import { dtypeOf } from '../../io/onnx.js';
import type { OpSpec, OpTable, PrepareCtx, Prepared } from '../op.js';
import { recordElementwise } from '../elementwise/forward.js';
import { castNumber, constValues, failer, hasInput, makeConst, normAxis, requireShape } from '../shared/fold.js';

type ViewParams = Record<string, never>;

/** A view: output 0 is input 0 with a new shape (folded when the input is a constant). */
function view(ctx: PrepareCtx, out: Shape, staticInputs: number[] = []): Prepared<ViewParams> {
  const c = ctx.consts[0];
  // Every other input of a view (shape, axes) must be constant already, so a constant data input folds.
  if (c) return { shapes: [out], dtypes: [c.dtype], params: {}, folded: [{ dtype: c.dtype, dims: out, data: c.data }] };
  return { shapes: [out], params: {}, alias: 0, staticInputs };
}

const viewSpec = (prepare: (ctx: PrepareCtx) => Prepared<ViewParams>): OpSpec<ViewParams> => ({
  prepare,
  cpu(_p, inputs) {
    return [inputs[0]!.data];
  },
  gpu(g, _p, inputs, outputs) {
    // Views never run (alias); kept total for callers that record every step.
    g.copy(inputs[0]!, outputs[0]);
  },
});

function prepareReshape(ctx: PrepareCtx): Prepared<ViewParams> {
  const { node } = ctx;
  const fail = failer(node);
  const s = requireShape(ctx);
  let target: number[];
  const statics: number[] = [];
  if (ctx.opset < 5 && !hasInput(ctx, 1)) {
    target = attrInts(node, 'shape') ?? [];
  } else {
    if (!hasInput(ctx, 1)) throw fail('input shape is required');
    target = constValues(ctx, 1, 'shape');
    statics.push(1);
  }
  const allowzero = ctx.opset >= 14 && attrInt(node, 'allowzero', 0) !== 0;
  const out = target.map((v, i) => {
    if (v === 0 && !allowzero) {
      if (i >= s.length) throw fail(`shape [${target.join(',')}] copies dimension ${i} (0) but input ${fmtShape(s)} has rank ${s.length}`);
      return s[i];
    }
    return v;
  });
  const infer = out.flatMap((v, i) => (v === -1 ? [i] : []));
  if (infer.length > 1) throw fail(`shape [${target.join(',')}] has more than one -1`);
  if (out.some((v) => !Number.isInteger(v) || v < -1)) throw fail(`shape [${target.join(',')}] has an invalid dimension`);
  const n = numel(s);
  if (infer.length === 1) {
    const known = numel(out.filter((v) => v !== -1));
    if (allowzero && target.includes(0)) throw fail(`shape [${target.join(',')}] mixes 0 (allowzero) with -1`);
    if (known === 0 || n % known !== 0) {
      throw fail(`cannot reshape input ${fmtShape(s)} (${n} elements) to [${target.join(',')}]: ${n} is not a multiple of ${known}`);
    }
    out[infer[0]] = n / known;
  }
  if (numel(out) !== n) {
    throw fail(`cannot reshape input ${fmtShape(s)} (${n} elements) to ${fmtShape(out)} (${numel(out)} elements)`);
  }
  return view(ctx, out, statics);
}

function prepareFlatten(ctx: PrepareCtx): Prepared<ViewParams> {
  const { node } = ctx;
  const s = requireShape(ctx);
  const a = attrInt(node, 'axis', 1);
  if (!Number.isInteger(a) || a < -s.length || a > s.length) throw failer(node)(`axis ${a} is out of range for input ${fmtShape(s)}`);
  const axis = a < 0 ? a + s.length : a;
  return view(ctx, [numel(s.slice(0, axis)), numel(s.slice(axis))]);
}

/** Axes from the attribute (before opset 13) or the optional input 1 (from 13). */
function axesArg(ctx: PrepareCtx): { axes: number[] | undefined; statics: number[] } {
  if (ctx.opset < 13 || !hasInput(ctx, 1)) return { axes: attrInts(ctx.node, 'axes'), statics: [] };
  return { axes: constValues(ctx, 1, 'axes'), statics: [1] };
}

function prepareSqueeze(ctx: PrepareCtx): Prepared<ViewParams> {
  const { node } = ctx;
  const s = requireShape(ctx);
  const { axes, statics } = axesArg(ctx);
  if (!axes) return view(ctx, s.filter((d) => d !== 1), statics);
  const drop = new Set(axes.map((a) => normAxis(node, a, s.length)));
  for (const a of drop) if (s[a] !== 1) throw failer(node)(`cannot squeeze axis ${a} of size ${s[a]} (input ${fmtShape(s)})`);
  return view(ctx, s.filter((_, i) => !drop.has(i)), statics);
}

function prepareUnsqueeze(ctx: PrepareCtx): Prepared<ViewParams> {
  const { node } = ctx;
  const fail = failer(node);
  const s = requireShape(ctx);
  const { axes, statics } = axesArg(ctx);
  if (!axes) throw fail('axes are required');
  const r = s.length + axes.length;
  const ins = new Set(axes.map((a) => normAxis(node, a, r)));
  if (ins.size !== axes.length) throw fail(`axes [${axes.join(',')}] repeat an axis`);
  const out: number[] = [];
  let k = 0;
  for (let d = 0; d < r; d++) out.push(ins.has(d) ? 1 : s[k++]);
  return view(ctx, out, statics);
}

function prepareIdentity(ctx: PrepareCtx): Prepared<ViewParams> {
  return view(ctx, requireShape(ctx));
}

function prepareDropout(ctx: PrepareCtx): Prepared<ViewParams> {
  const { node } = ctx;
  const fail = failer(node);
  if (node.outputs.length > 1 && node.outputs[1] !== '') {
    throw fail(`the mask output '${node.outputs[1]}' is not supported (inference only: Dropout is the identity); re-export the model in eval mode`);
  }
  if (hasInput(ctx, 2)) {
    const t = constValues(ctx, 2, 'training_mode');
    if (t[0]) throw fail('training_mode is true; only inference (identity) is supported');
  }
  const statics = [1, 2].filter((i) => hasInput(ctx, i));
  const s = requireShape(ctx);
  const c = ctx.consts[0];
  if (c) return { shapes: [s], dtypes: [c.dtype], params: {}, folded: [c] };
  return { shapes: [s], params: {}, alias: 0, staticInputs: statics };
}

// ---------------------------------------------------------------- Cast

type CastMode = 'view' | 'half' | 'bool' | 'trunc';

interface CastParams { mode: CastMode }

const CAST_EXPR: Record<Exclude<CastMode, 'view'>, string> = {
  half: 'round_f16(a0)',
  bool: 'f32(a0 != 0.0)',
  trunc: 'trunc(a0)',
};

function castMode(to: DType): CastMode {
  if (to === 'float32' || to === 'float64') return 'view';
  if (to === 'float16') return 'half';
  if (to === 'bool') return 'bool';
  return 'trunc';
}

function prepareCast(ctx: PrepareCtx): Prepared<CastParams> {
  const { node } = ctx;
  const fail = failer(node);
  const s = requireShape(ctx);
  let to: DType;
  if (node.opType === 'CastLike') {
    const t = ctx.dtypes[1];
    if (!t) throw fail('input target_type is required');
    to = t;
  } else {
    to = dtypeOf(attrInt(node, 'to'), `${node.opType} node '${node.name}'`);
  }
  if (to === 'string') throw fail('casting to string is not supported');
  const c = ctx.consts[0];
  if (c) {
    const folded = makeConst(to, c.dims, c.data);
    return { shapes: [s], dtypes: [to], params: { mode: castMode(to) }, folded: [folded] };
  }
  const mode = castMode(to);
  const statics = node.opType === 'CastLike' ? [1] : [];
  if (mode === 'view') return { shapes: [s], params: { mode }, alias: 0, staticInputs: statics };
  return { shapes: [s], params: { mode }, staticInputs: statics };
}

const castSpec: OpSpec<CastParams> = {
  prepare: prepareCast,
  cpu(p, inputs) {
    const x = inputs[0]!.data;
    if (p.mode === 'view') return [x];
    const to: DType = p.mode === 'half' ? 'float16' : p.mode === 'bool' ? 'bool' : 'int64';
    return [Float32Array.from(x, (v) => (p.mode === 'trunc' ? Math.trunc(v) : castNumber(v, to)))];
  },
  gpu(g, p, inputs, outputs) {
    if (p.mode === 'view') {
      g.copy(inputs[0]!, outputs[0]);
      return;
    }
    recordElementwise(g, `unary.cast_${p.mode}`, CAST_EXPR[p.mode], [inputs[0]!], outputs[0]);
  },
};

const VIEW = { view: true };
const IDENTITY = { view: true, identity: true };

export const viewOps: OpTable = {
  Reshape: { ...viewSpec(prepareReshape), traits: VIEW },
  Flatten: { ...viewSpec(prepareFlatten), traits: VIEW },
  Squeeze: { ...viewSpec(prepareSqueeze), traits: VIEW },
  Unsqueeze: { ...viewSpec(prepareUnsqueeze), traits: VIEW },
  Identity: { ...viewSpec(prepareIdentity), traits: IDENTITY },
  Dropout: { ...viewSpec(prepareDropout), traits: IDENTITY },
  Cast: { ...castSpec, traits: VIEW },
  CastLike: castSpec,
};
