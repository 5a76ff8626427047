// Facts about the backward batch that rules of several families need. The backward batch may hold
// T signals per forward sample (several targets); the walker expands every runtime tensor along
// axis 0. That commutes with an op only if the op keeps samples apart, so an op that moves data
// across the batch axis is refused when T > 1 (it is exact when T = 1).
import type { RuleCtx } from '../rule.js';
import type { Shape } from '../../graph/tensor.js';
import { nodeError } from '../../errors.js';

export type AnyCtx = RuleCtx<unknown>;
export type Sig = { shape: Shape };

export const fail = (ctx: AnyCtx, msg: string) => nodeError(ctx.step.node.opType, ctx.step.node.name, msg);

/** Signals per forward sample in the backward batch (T targets per sample). */
export function perSample(ctx: AnyCtx, r: Sig): number {
  const n = ctx.plan.shapes.get(ctx.step.node.outputs[0])?.[0];
  return n && r.shape.length ? r.shape[0] / n : 1;
}

/** A tensor's shape in the backward batch: runtime tensors have T times the forward batch. */
export function backShape(ctx: AnyCtx, name: string, t: number): Shape {
  const s = ctx.plan.shapes.get(name)!;
  return t === 1 || ctx.plan.consts.has(name) ? s : [s[0] * t, ...s.slice(1)];
}

export function keepsSamples(ctx: AnyCtx, t: number, ok: boolean, what: string): void {
  if (t !== 1 && !ok) {
    throw fail(ctx, `${what}: it mixes samples along the batch axis, which is not supported with several targets per sample; explain one target at a time`);
  }
}

export const isRuntime = (ctx: AnyCtx, i: number): boolean => !!ctx.step.inputs[i] && !ctx.plan.consts.has(ctx.step.inputs[i]!);
export const sameShape = (a: Shape, b: Shape) => a.length === b.length && a.every((d, i) => d === b[i]);
