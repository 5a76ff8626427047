// Every ONNX conformance case that test/conformance.test.ts runs, run again through `aeq run`:
// each data set's inputs written as .npy files of their own dtype (float32 as <f4, int64 as <i8,
// int32 as <i4, bool as |b1), the case's model.onnx as it is (the CLI binds the integer inputs as
// plan-time constants, not the test), the CLI called in-process (src/cli/main.ts, stdout and
// stderr captured) and the .npy outputs compared with the same tolerances. On both backends (the
// whole list takes well under the 2 minutes that would make it CPU-only).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { describe, it, expect, beforeAll } from 'vitest';
import { discover, worstError, type Case } from './helpers/conformance.js';
import { aeqInProcess } from './helpers/cli.js';
import { safeFileName } from '../src/cli/run.js';
import { encodeNpy, readNpy, type NpyDescr } from '../src/io/npy.js';
import { numel, type DType } from '../src/graph/tensor.js';
import { Session } from '../src/runtime/session.js';
import { bindConstants } from '../src/planner/constants.js';

const runnable = discover().filter((v) => v.run).map((v) => (v as { c: Case }).c);

const DESCR: Partial<Record<DType, NpyDescr>> = { float32: '<f4', int64: '<i8', int32: '<i4', bool: '|b1' };

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'aeq-cli-conf-'));
  return () => rmSync(dir, { recursive: true, force: true });
});

describe.each(['cpu', 'webgpu'] as const)('ONNX conformance through `aeq run` (%s)', (backend) => {
  it('has cases to run', () => {
    expect(runnable.length).toBeGreaterThan(100);
  });
  it.each(runnable.map((c) => [c.name, c] as const))('%s', async (name, c) => {
    const g = c.model.graph;
    for (const [k, set] of c.sets.entries()) {
      const base = join(dir, `${backend}-${name}-${k}`);
      const args = ['run', join(c.dir, 'model.onnx')];
      g.inputs.forEach((inp, i) => {
        const v = set.inputs[i];
        const descr = DESCR[inp.dtype];
        if (!descr) throw new Error(`${name}: no .npy dtype for input '${inp.name}' of type ${inp.dtype}`);
        const file = `${base}.in${i}.npy`;
        writeFileSync(file, encodeNpy(v.dims, v.data, descr));
        args.push('--input', `${inp.name}=${file}`);
      });
      const outDir = `${base}.out`;
      const r = await aeqInProcess([...args, '--out', outDir, '--backend', backend]);
      expect(r.code, `${name}: ${r.stderr}`).toBe(0);
      g.outputs.forEach((o, i) => {
        const want = set.outputs[i];
        const got = readNpy(join(outDir, `${safeFileName(o.name)}.npy`));
        expect(got.shape).toEqual(want.dims);
        expect(got.data.length).toBe(numel(want.dims));
        // The tolerances of test/conformance.test.ts (ONNX's backend test defaults).
        expect(worstError(got.data, want.data), `${name} output '${o.name}' max error`).toBe(0);
      });
    }
  });
});

describe('integer inputs through `aeq run` and Session', () => {
  const find = (name: string) => {
    const c = runnable.find((x) => x.name === name);
    if (!c) throw new Error(`conformance case ${name} not found`);
    return c;
  };

  it('int64 values past ±2^53 are clamped with a note; INT64_MAX still means "to the end" in Slice', async () => {
    const c = find('test_slice');
    const set = c.sets[0];
    const names = c.model.graph.inputs.map((i) => i.name);
    const [data, , ends, axes] = set.inputs;
    expect(names.slice(0, 4)).toEqual(['x', 'starts', 'ends', 'axes']);
    // Every end that reaches its axis' end becomes INT64_MAX.
    const endsMax = Array.from(ends.data, (e, i) => (e >= data.dims[axes.data[i]] ? 2 ** 63 : e));
    expect(endsMax).toContain(2 ** 63);
    const args = ['run', join(c.dir, 'model.onnx')];
    c.model.graph.inputs.forEach((inp, i) => {
      const v = set.inputs[i];
      const file = join(dir, `slice-max.in${i}.npy`);
      writeFileSync(file, encodeNpy(v.dims, inp.name === 'ends' ? endsMax : v.data, DESCR[inp.dtype]));
      args.push('--input', `${inp.name}=${file}`);
    });
    const ends64 = readNpy(join(dir, 'slice-max.in2.npy'));
    expect(ends64.ints?.clamped).toBeGreaterThan(0);
    expect(Math.max(...ends64.ints!.data)).toBe(2 ** 53);
    const r = await aeqInProcess([...args, '--out', join(dir, 'slice-max'), '--backend', 'cpu']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/note: .*value\(s\) of input 'ends' beyond ±2\^53 clamped/);
    const got = readNpy(join(dir, 'slice-max', `${safeFileName(c.model.graph.outputs[0].name)}.npy`));
    expect(got.shape).toEqual(set.outputs[0].dims);
    expect(Array.from(got.data)).toEqual(Array.from(set.outputs[0].data));
  });

  it('a float .npy for an integer input is refused, naming the input', async () => {
    const c = find('test_reshape_reordered_all_dims');
    const set = c.sets[0];
    const [x, shape] = c.model.graph.inputs;
    writeFileSync(join(dir, 'rs-x.npy'), encodeNpy(set.inputs[0].dims, set.inputs[0].data));
    writeFileSync(join(dir, 'rs-shape-f4.npy'), encodeNpy(set.inputs[1].dims, set.inputs[1].data));
    const r = await aeqInProcess(['run', join(c.dir, 'model.onnx'), '--input', `${x.name}=${join(dir, 'rs-x.npy')}`,
      '--input', `${shape.name}=${join(dir, 'rs-shape-f4.npy')}`, '--out', join(dir, 'rs-f4'), '--backend', 'cpu']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`input '${shape.name}' is int64; give an integer or bool \\.npy, not '<f4'`));
  });

  it('a Session is bound to its constants: other values, other plans; unbound integer inputs are refused clearly', async () => {
    const c = find('test_reshape_reordered_all_dims');
    const set = c.sets[0];
    const [x, shape] = c.model.graph.inputs;
    const feeds = { [x.name]: { shape: set.inputs[0].dims, data: Float32Array.from(set.inputs[0].data) } };
    const n = numel(set.inputs[0].dims);
    const outs: number[][] = [];
    for (const dims of [[n, 1, 1], [1, n, 1], [1, 1, n]]) {
      const s = await Session.create(c.model, { backend: 'cpu', constants: { [shape.name]: { shape: [dims.length], data: dims } } });
      expect(s.inputNames).toEqual([x.name]);
      const out = (await s.run(feeds))[c.model.graph.outputs[0].name];
      outs.push(out.shape);
      expect(Array.from(out.data)).toEqual(Array.from(feeds[x.name].data));
      s.dispose();
    }
    expect(outs).toEqual([[n, 1, 1], [1, n, 1], [1, 1, n]]);
    // The declared shape of the input is checked too.
    expect(() => bindConstants(c.model, { [shape.name]: { shape: [1], data: [n] } })).toThrow(/input 'shape' expects shape \[3\], got \[1\]/);
    const m = bindConstants(c.model, { [shape.name]: { shape: [3], data: [2, n / 2, 1] } });
    expect(m.graph.inputs.map((i) => i.name)).toEqual([x.name]);
    expect(c.model.graph.inputs.length).toBe(2);
    const unbound = await Session.create(c.model, { backend: 'cpu' });
    await expect(unbound.run(feeds)).rejects.toThrow(new RegExp(`input '${shape.name}' has element type int64; .*bind it as a constant`));
    await expect(Session.create(c.model, { backend: 'cpu', constants: { [shape.name]: { shape: [3], data: [2, 0.5, 1] } } }))
      .rejects.toThrow(/input 'shape' \(int64\) holds 0\.5 at element 1/);
  });
});
