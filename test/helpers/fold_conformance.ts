// ONNX conformance cases (libonnx-testdata) replayed as constant folding: every input is treated as
// a plan-time constant with its real dtype (int64, uint8, bool, float16, …), and the node's
// `prepare` must fold to the expected output with the expected dtype. This covers the integer and
// bool semantics that the float32 runtime conformance run (conformance.test.ts) cannot see.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { loadModel, loadTensorProto } from '../../src/io/onnx.js';
import { opFor } from '../../src/ops/table.js';
import type { Const } from '../../src/graph/tensor.js';
import { CONFORMANCE_DIR } from './conformance.js';

export interface FoldCase { name: string; run: () => void }

/** Single-node cases whose name matches `re`, minus `skip`; throws when the data is missing. */
export function foldCases(re: RegExp, skip: RegExp = /^$/): FoldCase[] {
  if (!existsSync(CONFORMANCE_DIR)) {
    throw new Error(`ONNX conformance data not found at ${CONFORMANCE_DIR}: install Debian's libonnx-testdata (or set AEQ_ONNX_TESTDATA)`);
  }
  return readdirSync(CONFORMANCE_DIR).filter((n) => re.test(n) && !skip.test(n)).sort().map((name) => ({
    name,
    run: () => {
      const dir = join(CONFORMANCE_DIR, name);
      const model = loadModel(join(dir, 'model.onnx'));
      expect(model.graph.nodes.length, `${name} is a single-node case`).toBe(1);
      const node = model.graph.nodes[0];
      const spec = opFor(node.opType)!;
      expect(spec, `${node.opType} is registered`).toBeDefined();
      for (const set of readdirSync(dir).filter((d) => d.startsWith('test_data_set_'))) {
        const files = readdirSync(join(dir, set));
        const load = (prefix: string) => files.filter((f) => f.startsWith(prefix))
          .sort((a, b) => Number(a.replace(/\D/g, '')) - Number(b.replace(/\D/g, '')))
          .map((f) => loadTensorProto(join(dir, set, f)));
        const inputs = load('input_');
        const outputs = load('output_');
        // Inputs bind to the graph inputs by name; initializers are constants too.
        const byName = new Map<string, Const>(model.graph.initializers);
        model.graph.inputs.forEach((v, i) => byName.set(v.name, inputs[i]));
        const consts = node.inputs.map((t) => (t ? byName.get(t) : undefined));
        const p = spec.prepare({
          node, opset: model.opset,
          shapes: consts.map((c) => c?.dims), consts, dtypes: consts.map((c) => c?.dtype),
        });
        expect(p.folded, `${name} folds`).toBeDefined();
        outputs.forEach((want, i) => {
          const got = p.folded![i];
          expect(got.dims, `${name} output ${i} shape`).toEqual(want.dims);
          expect(got.dtype, `${name} output ${i} dtype`).toBe(want.dtype);
          expect(p.shapes[i]).toEqual(want.dims);
          const float = want.dtype.startsWith('float');
          for (let k = 0; k < want.data.length; k++) {
            const w = want.data[k], g = got.data[k];
            if (Number.isNaN(w)) expect(Number.isNaN(g), `${name}[${k}] NaN`).toBe(true);
            else if (float) expect(Math.abs(g - w), `${name}[${k}]: ${g} vs ${w}`).toBeLessThanOrEqual(1e-6 * Math.abs(w));
            else expect(g, `${name}[${k}]`).toBe(w);
          }
        });
      }
    },
  }));
}
