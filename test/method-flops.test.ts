// FLOPs per method (src/explain/flops.ts), as `aeq bench` reports them: LRP counts a forward and a
// transposed product per term of each convolution's rule, as the rule engine runs them.
import { describe, it, expect } from 'vitest';
import { OnnxBuilder } from '../tools/onnx-builder.js';
import { Session } from '../src/runtime/session.js';
import { methodFlops } from '../src/explain/flops.js';
import { stepFlops, planFlops } from '../src/planner/flops.js';
import { COMPOSITES } from '../src/ops/shared/composites.js';

describe('methodFlops for LRP', () => {
  it('forward + Σ over the walk: 2·terms × conv (first conv by its own rule), 1 × Gemm', async () => {
    const b = new OnnxBuilder({ opset: 13 });
    let y = b.input('x', [2, 3, 9, 7]);
    y = b.relu(b.conv(y, 4, 3, { pad: 1, name: 'c1' }));
    y = b.relu(b.conv(y, 5, 3, { stride: 2, name: 'c2' }));
    b.output(b.gemm(b.flatten(y), 6, { name: 'fc' }));
    const s = await Session.create(b.toBytes(), { backend: 'cpu' });
    try {
      const plan = s.plan({ x: [2, 3, 9, 7] });
      const f = (name: string) => stepFlops(plan, plan.steps.find((st) => st.node.name === name)!);
      const fwd = planFlops(plan);
      expect(fwd).toBe(f('c1') + f('c2') + f('fc'));
      // Terms per rule: ZPlus 2, Flat 1, ZBox 3, Gamma 4, AlphaBeta 4.
      const want = {
        'epsilon-plus': fwd + 4 * f('c1') + 4 * f('c2') + f('fc'),
        'epsilon-plus-flat': fwd + 2 * f('c1') + 4 * f('c2') + f('fc'),
        'epsilon-gamma-box': fwd + 6 * f('c1') + 8 * f('c2') + f('fc'),
        'epsilon-alpha2-beta1': fwd + 8 * f('c1') + 8 * f('c2') + f('fc'),
      };
      for (const c of COMPOSITES) expect(methodFlops(plan, { method: 'lrp', composite: c }, 'x'), c).toBe(want[c]);
      expect(methodFlops(plan, { method: 'lrp' }, 'x')).toBe(want['epsilon-plus']);
    } finally {
      s.dispose();
    }
  });
});
