// ONNX's official operator conformance tests, on both backends, for every case that uses only
// supported operators on float32 data. The list of what runs and what does not (with the reason)
// is printed, and written to test/conformance-cases.txt by `AEQ_WRITE_CASES=1`.
import { writeFileSync } from 'node:fs';
import { describe, it, expect } from 'vitest';
import { discover, bindConstInputs, worstError } from './helpers/conformance.js';
import { Session } from '../src/runtime/session.js';
import { numel } from '../src/graph/tensor.js';

const verdicts = discover();
const runnable = verdicts.filter((v) => v.run).map((v) => (v as { c: import('./helpers/conformance.js').Case }).c);
const notRun = verdicts.filter((v) => !v.run) as { name: string; why: string }[];

if (process.env.AEQ_WRITE_CASES === '1') {
  writeFileSync(new URL('./conformance-cases.txt', import.meta.url),
    `# ONNX conformance cases (libonnx-testdata): ${runnable.length} run on both backends, ${notRun.length} not run\n` +
    runnable.map((c) => `RUN  ${c.name}`).join('\n') + '\n' + notRun.map((v) => `---  ${v.name}: ${v.why}`).join('\n') + '\n');
}

describe.each(['cpu', 'webgpu'] as const)('ONNX conformance (%s)', (backend) => {
  it('has cases to run', () => {
    expect(runnable.length).toBeGreaterThan(100);
  });
  it.each(runnable.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    for (const set of c.sets) {
      const { model, feeds } = bindConstInputs(c, set);
      const s = await Session.create(model, { backend });
      try {
        const outs = await s.run(feeds);
        c.model.graph.outputs.forEach((o, i) => {
          const want = set.outputs[i];
          const got = outs[o.name];
          expect(got.shape).toEqual(want.dims);
          expect(got.data.length).toBe(numel(want.dims));
          expect(worstError(got.data, want.data), `${c.name} output '${o.name}' max error`).toBe(0);
        });
      } finally {
        s.dispose();
      }
    }
  });
});
