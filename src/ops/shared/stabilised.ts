// "Input times the gradient of the stabilised quotient" over any gradient rule: R_in = x ⊙ ∇(R /
// stab(y)), y the step's own output. With Zennit's stabiliser this is its Epsilon rule (Gemm,
// MatMul: y = Wx + b) and its Norm rule (average pools, residual sums); with TorchRay's it is
// excitation backprop at average pools and skip sums. The gradient rule is the family's own.
import type { Rule, SignalSpec } from '../rule.js';
import type { CpuTensor } from '../op.js';
import type { GpuTensor } from '../../kernels/gpu/runtime.js';
import { cpuLrp, gpuLrp, type Stab } from './lrp-kernels.js';

interface Params { inner: unknown; alias: boolean[] }

export function stabilised(grad: Rule, stab: Stab): Rule<Params> {
  return {
    plan(ctx, r) {
      const p = grad.plan(ctx, r);
      // The gradient may hand the quotient itself to an input (an alias); here each input gets x ⊙ it.
      const signals = p.signals.map((s): SignalSpec | undefined => s && { shape: s.shape, zero: s.zero });
      return { params: { inner: p.params, alias: p.signals.map((s) => !!s?.alias) }, signals };
    },
    cpu({ inner, alias }, ctx, r, out) {
      const s = cpuLrp.quotient(r, ctx.output().data, stab);
      grad.cpu(inner, ctx, s, out.map((o, i): CpuTensor | undefined => (o && alias[i] ? { shape: o.shape, data: s.data } : o)));
      out.forEach((o, i) => {
        if (!o) return;
        if (alias[i]) o.data.set(s.data);
        cpuLrp.scaleBy(o.data, ctx.input(i)!.data);
      });
    },
    gpu({ inner, alias }, g, ctx, r, out) {
      const s = gpuLrp.quotient(g, r, ctx.output(), stab);
      grad.gpu(inner, g, ctx, s, out.map((o, i): GpuTensor | undefined => (o && alias[i] ? { shape: o.shape, buffer: s.buffer } : o)));
      out.forEach((o, i) => {
        if (!o) return;
        if (alias[i]) g.copy({ shape: o.shape, buffer: s.buffer }, o);
        gpuLrp.scaleBy(g, o, ctx.input(i)!);
      });
      g.release(s);
    },
  };
}
