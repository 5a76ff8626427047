// Discovery of ONNX's official operator conformance cases (Debian's libonnx-testdata).
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel, loadTensorProto } from '../../src/io/onnx.js';
import { opFor } from '../../src/ops/table.js';
import type { Const } from '../../src/graph/tensor.js';
import type { Model } from '../../src/graph/ir.js';

export const CONFORMANCE_DIR = process.env.AEQ_ONNX_TESTDATA ?? '/usr/share/libonnx-testdata/data/node';

export interface Case {
  name: string;
  dir: string;
  model: Model;
  sets: { inputs: Const[]; outputs: Const[] }[];
}

export type Verdict = { run: true; c: Case } | { run: false; name: string; why: string };

/**
 * Variants of supported operators that aeq deliberately does not implement, each with its reason.
 * Everything else that uses only supported ops on float32 data must pass.
 */
export const OUT_OF_SCOPE: [RegExp, string][] = [
  [/^test_range_/, 'Range with run-time start/limit/delta: its output shape depends on the values; only constant Range folds'],
  [/^test_training_dropout/, 'Dropout in training mode (random masks): aeq is an inference engine; refused with a clear error'],
  [/^test_batchnorm_.*training_mode/, 'BatchNormalization training mode (batch statistics): aeq is an inference engine; refused with a clear error'],
  [/^test_(averagepool|maxpool|lppool|conv)_3d/, '3-D (volumetric) pooling/convolution: aeq targets 2-D image CNNs; refused with a clear error naming the node'],
];

function readSets(dir: string) {
  return readdirSync(dir).filter((d) => d.startsWith('test_data_set_')).sort().map((d) => {
    const files = readdirSync(join(dir, d));
    const pick = (prefix: string) => files.filter((f) => f.startsWith(prefix) && f.endsWith('.pb'))
      .sort((a, b) => Number(a.replace(/\D/g, '')) - Number(b.replace(/\D/g, '')))
      .map((f) => loadTensorProto(join(dir, d, f)));
    return { inputs: pick('input_'), outputs: pick('output_') };
  });
}

export function discover(): Verdict[] {
  if (!existsSync(CONFORMANCE_DIR)) throw new Error(`ONNX conformance data not found at ${CONFORMANCE_DIR}: install Debian's libonnx-testdata (or set AEQ_ONNX_TESTDATA)`);
  const out: Verdict[] = [];
  for (const name of readdirSync(CONFORMANCE_DIR).filter((n) => n.startsWith('test_')).sort()) {
    const dir = join(CONFORMANCE_DIR, name);
    let model: Model;
    try {
      model = loadModel(join(dir, 'model.onnx'));
    } catch (e) {
      out.push({ run: false, name, why: `model not loadable: ${(e as Error).message}` });
      continue;
    }
    const ops = [...new Set(model.graph.nodes.map((n) => n.opType))];
    const unsupported = ops.filter((o) => !opFor(o));
    if (unsupported.length) { out.push({ run: false, name, why: `unsupported op ${unsupported.join(',')}` }); continue; }
    if (model.graph.nodes.some((n) => n.domain && n.domain !== 'ai.onnx')) { out.push({ run: false, name, why: 'non-default domain' }); continue; }
    // Integer/bool graph inputs (shapes, axes, indices, pads) become plan-time constants with the
    // test's values: aeq only streams float tensors, but it folds and consumes such constants.
    const nonFloat = [...model.graph.inputs.filter((v) => v.dtype !== 'float32' && v.dtype !== 'int64' && v.dtype !== 'int32' && v.dtype !== 'bool'), ...model.graph.outputs.filter((v) => v.dtype !== 'float32')];
    if (!model.graph.inputs.some((v) => v.dtype === 'float32')) nonFloat.push(...model.graph.inputs);
    if (nonFloat.length) { out.push({ run: false, name, why: `non-float32 data (${nonFloat.map((v) => `${v.name}:${v.dtype}`).join(', ')})` }); continue; }
    const scope = OUT_OF_SCOPE.find(([re]) => re.test(name));
    if (scope) { out.push({ run: false, name, why: `out of scope: ${scope[1]}` }); continue; }
    let sets;
    try {
      sets = readSets(dir);
    } catch (e) {
      // Optional/sequence test data (e.g. test_identity_opt) is not a TensorProto.
      out.push({ run: false, name, why: `test data not loadable: ${(e as Error).message}` });
      continue;
    }
    out.push({ run: true, c: { name, dir, model, sets } });
  }
  return out;
}

/** The case's model for one data set: non-float inputs turned into initializers holding that set's values. */
export function bindConstInputs(c: Case, set: Case['sets'][number]): { model: Model; feeds: Record<string, { shape: number[]; data: Float32Array }> } {
  const g = c.model.graph;
  const initializers = new Map(g.initializers);
  const feeds: Record<string, { shape: number[]; data: Float32Array }> = {};
  const inputs = g.inputs.filter((inp, i) => {
    const v = set.inputs[i];
    if (inp.dtype === 'float32') {
      feeds[inp.name] = { shape: v.dims, data: Float32Array.from(v.data) };
      return true;
    }
    initializers.set(inp.name, { dtype: inp.dtype, dims: v.dims, data: v.data });
    return false;
  });
  return { model: { ...c.model, graph: { ...g, inputs, initializers } }, feeds };
}

// ONNX's backend test default tolerances.
export const RTOL = 1e-3;
export const ATOL = 1e-5;

/** The largest error beyond ATOL + RTOL·|want| (0: every element within; NaN must match NaN). */
export function worstError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let worst = 0;
  for (let k = 0; k < got.length; k++) {
    const w = want[k], g = got[k];
    const bad = Number.isNaN(w) ? !Number.isNaN(g) : !(Math.abs(g - w) <= ATOL + RTOL * Math.abs(w)) && g !== w;
    if (bad) worst = Math.max(worst, Math.abs(g - w) || Infinity);
  }
  return worst;
}
