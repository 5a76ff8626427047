// Gemm and MatMul: Y = alpha·A'·B' (+ beta·C), with A' and B' described by element strides
// (transposes are strides), batched MatMul by broadcast batch strides. Direct register-tiled
// kernels serve software adapters and GEMV-like products; hardware GPUs (kernel-choice.ts) get a
// tiled kernel staging K-slices of both operands through workgroup memory.
// Operands larger than the storage-buffer binding limit (VGG's fc6 weight is 411 MB against
// lavapipe's 128 MiB) are handled by splitting the work into dispatches that bind buffer slices.
import src from './forward.wgsl';
import type { Node } from '../../graph/ir.js';
import { attrFloat, attrInt } from '../../graph/ir.js';
import { fmtShape, numel, type Shape } from '../../graph/tensor.js';
import { nodeError } from '../../errors.js';
import type { Gpu, GpuTensor } from '../../kernels/gpu/runtime.js';
import type { CpuTensor, OpSpec, OpTable, PrepareCtx } from '../op.js';
import { assemble, parseSections, uniforms } from '../../kernels/gpu/wgsl.js';
import { kernelVariant } from '../../kernels/gpu/kernel-choice.js';

export interface MatmulParams {
  opType: string;
  name: string;
  M: number;
  N: number;
  K: number;
  /** Broadcast batch dims of the output (MatMul only), with A's and B's element strides per dim. */
  batch: number[];
  aBatchStrides: number[];
  bBatchStrides: number[];
  /** A'[m,k] = A[m·sam + k·sak]; B'[k,n] = B[k·sbk + n·sbn]. */
  sam: number;
  sak: number;
  sbk: number;
  sbn: number;
  hasC: boolean;
  /** C broadcast to M×N: C[m·scm + n·scn]. */
  scm: number;
  scn: number;
  alpha: number;
  beta: number;
}

const MAX_BATCH_DIMS = 8;

/**
 * Test hook: bind as if the device's storage-buffer binding limit were this many bytes, so the
 * slice-splitting path is exercised with small tensors. Undefined uses the device limit.
 */
export const matmulTuning: { maxBindingBytes?: number } = {};

// ---------------------------------------------------------------- shape inference

function base(node: Node, K: number, M: number, N: number): Omit<MatmulParams, 'sam' | 'sak' | 'sbk' | 'sbn'> {
  return {
    opType: node.opType, name: node.name, M, N, K, batch: [], aBatchStrides: [], bBatchStrides: [],
    hasC: false, scm: 0, scn: 0, alpha: 1, beta: 0,
  };
}

function prepareGemm(ctx: PrepareCtx) {
  const { node } = ctx;
  const fail = (msg: string) => nodeError(node.opType, node.name, msg);
  const [a, b, c] = ctx.shapes;
  if (!a || !b) throw fail('inputs A and B are required');
  if (a.length !== 2 || b.length !== 2) {
    throw fail(`A and B must be 2-D, got A ${fmtShape(a)} and B ${fmtShape(b)} (flatten the input first)`);
  }
  const transA = attrInt(node, 'transA', 0) !== 0;
  const transB = attrInt(node, 'transB', 0) !== 0;
  const [M, K] = transA ? [a[1], a[0]] : [a[0], a[1]];
  const [Kb, N] = transB ? [b[1], b[0]] : [b[0], b[1]];
  if (K !== Kb) {
    throw fail(`inner dimensions differ: A ${fmtShape(a)}${transA ? ' (transposed)' : ''} · B ${fmtShape(b)}` +
      `${transB ? ' (transposed)' : ''} gives K=${K} vs ${Kb}`);
  }
  const p: MatmulParams = {
    ...base(node, K, M, N),
    sam: transA ? 1 : K, sak: transA ? M : 1,
    sbk: transB ? 1 : N, sbn: transB ? K : 1,
    alpha: attrFloat(node, 'alpha', 1), beta: attrFloat(node, 'beta', 1),
  };
  if (c && node.inputs[2] !== '') {
    if (c.length > 2) throw fail(`C ${fmtShape(c)} has rank > 2`);
    const [c0, c1] = c.length === 2 ? c : c.length === 1 ? [1, c[0]] : [1, 1];
    if ((c0 !== 1 && c0 !== M) || (c1 !== 1 && c1 !== N)) {
      throw fail(`C ${fmtShape(c)} does not broadcast to the output ${fmtShape([M, N])}`);
    }
    p.hasC = true;
    p.scm = c0 === 1 ? 0 : c1;
    p.scn = c1 === 1 ? 0 : 1;
  }
  return { shapes: [[M, N]], params: p };
}

function prepareMatMul(ctx: PrepareCtx) {
  const { node } = ctx;
  const fail = (msg: string) => nodeError(node.opType, node.name, msg);
  const [a, b] = ctx.shapes;
  if (!a || !b) throw fail('inputs A and B are required');
  if (a.length === 0 || b.length === 0) throw fail(`operands must have rank ≥ 1, got ${fmtShape(a)} and ${fmtShape(b)}`);
  // numpy: a 1-D A is a row vector, a 1-D B a column vector; the added dim is dropped after.
  const a2 = a.length === 1 ? [1, a[0]] : a;
  const b2 = b.length === 1 ? [b[0], 1] : b;
  const M = a2[a2.length - 2], K = a2[a2.length - 1];
  const Kb = b2[b2.length - 2], N = b2[b2.length - 1];
  if (K !== Kb) throw fail(`inner dimensions differ: ${fmtShape(a)} · ${fmtShape(b)} (K=${K} vs ${Kb})`);
  const ab = a2.slice(0, -2), bb = b2.slice(0, -2);
  const rank = Math.max(ab.length, bb.length);
  if (rank > MAX_BATCH_DIMS) throw fail(`more than ${MAX_BATCH_DIMS} batch dimensions: ${fmtShape(a)} · ${fmtShape(b)}`);
  const batch: number[] = [];
  const aStr: number[] = [], bStr: number[] = [];
  let as = M * K, bs = K * N;
  const aPad = [...Array(rank - ab.length).fill(1), ...ab];
  const bPad = [...Array(rank - bb.length).fill(1), ...bb];
  for (let i = 0; i < rank; i++) {
    const x = aPad[i], y = bPad[i];
    if (x !== y && x !== 1 && y !== 1) {
      throw fail(`batch dimensions do not broadcast: ${fmtShape(a)} · ${fmtShape(b)}`);
    }
    batch.push(x === 1 ? y : x);
  }
  for (let i = rank - 1; i >= 0; i--) {
    aStr[i] = aPad[i] === 1 ? 0 : as;
    bStr[i] = bPad[i] === 1 ? 0 : bs;
    as *= aPad[i];
    bs *= bPad[i];
  }
  const out = [...batch, ...(a.length === 1 ? [] : [M]), ...(b.length === 1 ? [] : [N])];
  const p: MatmulParams = {
    ...base(node, K, M, N), batch, aBatchStrides: aStr, bBatchStrides: bStr,
    // A column-vector B (N = 1) reads as contiguous along k, which has a vectorized kernel.
    sam: K, sak: 1, sbk: N, sbn: N === 1 ? K : 1,
  };
  return { shapes: [out], params: p };
}

// ---------------------------------------------------------------- CPU reference

function batchOffsets(p: MatmulParams, bi: number): [number, number] {
  let rem = bi, oa = 0, ob = 0;
  for (let d = p.batch.length - 1; d >= 0; d--) {
    const idx = rem % p.batch[d];
    rem = Math.floor(rem / p.batch[d]);
    oa += idx * p.aBatchStrides[d];
    ob += idx * p.bBatchStrides[d];
  }
  return [oa, ob];
}

/** The CPU reference into `Y` (numel(batch)·M·N elements, every one written). */
export function matmulCpu(p: MatmulParams, inputs: (CpuTensor | undefined)[], Y: Float32Array): void {
  const A = inputs[0]!.data, B = inputs[1]!.data, C = p.hasC ? inputs[2]!.data : undefined;
  const { M, N, K } = p;
  const nb = numel(p.batch);
  const row = new Float64Array(N);
  for (let bi = 0; bi < nb; bi++) {
    const [oa, ob] = batchOffsets(p, bi);
    for (let m = 0; m < M; m++) {
      // Loop order follows B's layout so the inner loop walks memory contiguously.
      if (p.sbn === 1) {
        row.fill(0);
        for (let k = 0; k < K; k++) {
          const av = A[oa + m * p.sam + k * p.sak];
          const bo = ob + k * p.sbk;
          for (let n = 0; n < N; n++) row[n] += av * B[bo + n];
        }
      } else {
        for (let n = 0; n < N; n++) {
          let s = 0;
          for (let k = 0; k < K; k++) s += A[oa + m * p.sam + k * p.sak] * B[ob + k * p.sbk + n * p.sbn];
          row[n] = s;
        }
      }
      const yo = (bi * M + m) * N;
      for (let n = 0; n < N; n++) Y[yo + n] = p.alpha * row[n] + (C ? p.beta * C[m * p.scm + n * p.scn] : 0);
    }
  }
}

// ---------------------------------------------------------------- GPU

const sections = parseSections(src);

type Mode = 'nn_vec' | 'nt_vec' | 'scalar';

/** A direct kernel (register tiles straight from storage) or the tiled one (workgroup-memory slices). */
type Variant =
  | { kind: 'direct'; mode: Mode; tm: number; wgx: number; wgy: number }
  | { kind: 'tiled'; bm: number; bn: number; bk: number; aKFast: boolean; bKFast: boolean };

/** Below this many rows the product is a (batched) GEMV, bound by reading B once: the direct kernels serve it. */
const TILED_MIN_ROWS = 8;
/** Fewer workgroups than this cannot fill a large GPU (an H200 has 132 SMs): the tile shrinks to 32×32. */
const FEW_WORKGROUPS = 4 * 132;

function chooseVariant(g: Gpu, p: MatmulParams, rowsInChunk: number, colsInChunk: number, batches: number): Variant {
  if (kernelVariant(g.adapterName) === 'tiled' && rowsInChunk >= TILED_MIN_ROWS) {
    const bk = p.K >= 16 ? 16 : 8;
    const count = (bm: number, bn: number) => Math.ceil(rowsInChunk / bm) * Math.ceil(colsInChunk / bn) * batches;
    const [bm, bn] = rowsInChunk >= colsInChunk ? [64, 32] : [32, 64];
    const tile = count(bm, bn) >= FEW_WORKGROUPS ? { bm, bn } : { bm: 32, bn: 32 };
    // Consecutive threads walk each operand's unit-stride axis (A row-major: along k).
    return { kind: 'tiled', ...tile, bk, aKFast: p.sak === 1, bKFast: p.sbk === 1 && p.sbn !== 1 };
  }
  // Vectorized loads need A contiguous along k and K, hence every k chunk start, a multiple of 4.
  const aVec = p.sak === 1 && p.sam % 4 === 0 && p.K % 4 === 0;
  let mode: Mode = 'scalar';
  if (aVec && p.sbk === 1 && p.sbn % 4 === 0) mode = 'nt_vec';
  else if (aVec && p.sbn === 1 && p.sbk % 4 === 0 && p.N % 4 === 0) mode = 'nn_vec';
  // One row per thread only for M = 1 (GEMV, memory-bound); otherwise 4×4 register tiles in 8×8
  // workgroups (best measured on lavapipe; rows past M exit early as whole SIMD groups).
  const tm = rowsInChunk <= 1 ? 1 : 4;
  const wgy = tm === 1 ? 1 : 8;
  return { kind: 'direct', mode, tm, wgx: 64 / wgy, wgy };
}

/** Workgroups covering rows × cols of one batch. */
function groupsFor(v: Variant, rows: number, cols: number): [number, number] {
  if (v.kind === 'tiled') return [Math.ceil(cols / v.bn), Math.ceil(rows / v.bm)];
  return [Math.ceil(cols / 4 / v.wgx), Math.ceil(rows / v.tm / v.wgy)];
}

function pipeline(g: Gpu, v: Variant, hasC: boolean): GPUComputePipeline {
  const c = hasC ? 'c_some' : 'c_none';
  if (v.kind === 'tiled') {
    const key = `dense.matmul.tiled.m${v.bm}n${v.bn}k${v.bk}.a${v.aKFast ? 'k' : 'm'}.b${v.bKFast ? 'k' : 'n'}${hasC ? '.bias' : ''}`;
    const idx = (kfast: boolean, br: string) => (kfast ? 'let kk = e % BK; let r = e / BK;' : `let kk = e / ${br}; let r = e % ${br};`);
    return g.kernel(key, () => assemble(sections, ['common', c, 'store', 'tiled_main'], {
      A_T: 'f32', B_T: 'f32', BM: v.bm, BN: v.bn, BK: v.bk, NT: (v.bm / 4) * (v.bn / 4),
      A_IDX: idx(v.aKFast, 'BM'), B_IDX: idx(v.bKFast, 'BN'),
    }, MM_U));
  }
  const key = `dense.matmul.${v.mode}.tm${v.tm}${hasC ? '.bias' : ''}`;
  const vec = v.mode !== 'scalar';
  return g.kernel(key, () => assemble(sections,
    ['common', ...(vec ? ['a_vec', `b_${v.mode}`] : []), c, 'store', 'main'],
    {
      TILE: sections.get(`tile_${vec ? 'vec' : 'scalar'}_tm${v.tm}`)!,
      A_T: vec ? 'vec4f' : 'f32', B_T: vec ? 'vec4f' : 'f32', TM: v.tm, WGX: v.wgx, WGY: v.wgy,
    }, MM_U));
}

/** Work region of one dispatch: rows [m0,m1), cols [n0,n1), reduction [k0,k1), batches [b0,b0+nb). */
interface Region {
  m0: number; m1: number; n0: number; n1: number; k0: number; k1: number; b0: number; nb: number;
}

/** A 2-D strided view of an operand: element (r, c) of batch b at off(b) + r·sr + c·sc. */
interface Operand {
  sr: number;
  sc: number;
  /** Which region axes index rows and columns. */
  rows: 'm' | 'k';
  cols: 'n' | 'k';
}

function extent(o: Operand, cm: number, cn: number, ck: number): number {
  const r = o.rows === 'm' ? cm : ck;
  const c = o.cols === 'n' ? cn : ck;
  return r === 0 || c === 0 ? 0 : (r - 1) * o.sr + (c - 1) * o.sc + 1;
}

/**
 * Chunk sizes (rows, cols, reduction) such that every operand's slice fits in `limit` bytes
 * (with slack for the offset alignment). Shrinks, for the first operand that does not fit, its
 * outer (larger-stride) axis first: VGG's fc6 with transB splits along N, without it along K.
 */
function planChunks(p: MatmulParams, ops: Operand[], limit: number, align: number): [number, number, number] {
  let cm = p.M, cn = p.N, ck = p.K;
  const fits = (o: Operand) => extent(o, cm, cn, ck) * 4 + align + 16 <= limit;
  for (;;) {
    const bad = ops.find((o) => !fits(o));
    if (!bad) return [cm, cn, ck];
    const axes: { axis: 'm' | 'n' | 'k'; stride: number }[] = [
      { axis: bad.rows, stride: bad.sr },
      { axis: bad.cols, stride: bad.sc },
    ].sort((x, y) => y.stride - x.stride);
    let shrunk = false;
    for (const { axis, stride } of axes) {
      if (stride === 0) continue;
      if (axis === 'm' && cm > 1) cm = Math.ceil(cm / 2);
      else if (axis === 'n' && cn > 4) cn = Math.ceil(cn / 8) * 4;
      else if (axis === 'k' && ck > 4) ck = Math.ceil(ck / 8) * 4;
      else continue;
      shrunk = true;
      break;
    }
    if (!shrunk) {
      throw nodeError(p.opType, p.name, `cannot split M=${p.M} N=${p.N} K=${p.K} into slices within the ` +
        `storage-buffer binding limit of ${limit} bytes`);
    }
  }
}

const BATCH = { vec4: 'u32', n: MAX_BATCH_DIMS / 4 } as const;
const MM_U = uniforms({
  M: 'u32', N: 'u32', K: 'u32',
  m0: 'u32', n0: 'u32', k0: 'u32', b0: 'u32', m1: 'u32', n1: 'u32', k1: 'u32', accumulate: 'u32',
  a_base: 'u32', b_base: 'u32', c_base: 'u32', y_base: 'u32',
  sam: 'u32', sak: 'u32', sbk: 'u32', sbn: 'u32', scm: 'u32', scn: 'u32', alpha: 'f32', beta: 'f32',
  bshape: BATCH, astr: BATCH, bstr: BATCH,
});

function mmUniforms(p: MatmulParams, r: Region, bases: number[], accumulate: boolean) {
  const slots = MAX_BATCH_DIMS - p.batch.length;
  const pad = (v: number[], fill: number) => [...Array(slots).fill(fill), ...v];
  const [a_base, b_base, c_base, y_base] = bases;
  return MM_U.pack({
    M: p.M, N: p.N, K: p.K, m0: r.m0, n0: r.n0, k0: r.k0, b0: r.b0, m1: r.m1, n1: r.n1, k1: r.k1, accumulate: accumulate ? 1 : 0,
    a_base, b_base, c_base, y_base, sam: p.sam, sak: p.sak, sbk: p.sbk, sbn: p.sbn, scm: p.scm, scn: p.scn, alpha: p.alpha, beta: p.beta,
    bshape: pad(p.batch, 1), astr: pad(p.aBatchStrides, 0), bstr: pad(p.bBatchStrides, 0),
  });
}

const MAX_Z = 65535;

/** Record Y = alpha·A'·B' (+ beta·C) into `outputs[0]`, split into binding-sized slices where needed. */
export function matmulGpu(g: Gpu, p: MatmulParams, inputs: (GpuTensor | undefined)[], outputs: GpuTensor[]): void {
  const [a, b, c] = inputs;
  const y = outputs[0];
  const nb = numel(p.batch);
  if (nb * p.M * p.N === 0) return;
  const limit = matmulTuning.maxBindingBytes ?? g.limits.maxStorageBufferBindingSize;
  const align = g.limits.minStorageBufferOffsetAlignment;
  const bufs = [a!.buffer, b!.buffer, y.buffer, ...(p.hasC ? [c!.buffer] : [])];
  const whole = bufs.every((x) => x.size <= limit);

  if (whole) {
    const v = chooseVariant(g, p, p.M, p.N, nb);
    const pipe = pipeline(g, v, p.hasC);
    const groups: [number, number, number] = [...groupsFor(v, p.M, p.N), 0];
    for (let b0 = 0; b0 < nb; b0 += MAX_Z) {
      const region = { m0: 0, m1: p.M, n0: 0, n1: p.N, k0: 0, k1: p.K, b0, nb: Math.min(MAX_Z, nb - b0) };
      groups[2] = region.nb;
      g.dispatch(pipe, mmUniforms(p, region, [0, 0, 0, 0], false), bufs, groups);
    }
    return;
  }

  // Split path: slices of every operand, one batch at a time.
  const opA: Operand = { sr: p.sam, sc: p.sak, rows: 'm', cols: 'k' };
  const opB: Operand = { sr: p.sbk, sc: p.sbn, rows: 'k', cols: 'n' };
  const opY: Operand = { sr: p.N, sc: 1, rows: 'm', cols: 'n' };
  const opC: Operand = { sr: p.scm, sc: p.scn, rows: 'm', cols: 'n' };
  const ops = [opA, opB, opY, ...(p.hasC ? [opC] : [])];
  const [cm, cn, ck] = planChunks(p, ops, limit, align);
  const v = chooseVariant(g, p, cm, cn, 1);
  const pipe = pipeline(g, v, p.hasC);
  const slice = (o: Operand, buf: GPUBuffer, off: number, r: Region): [GPUBufferBinding, number] => {
    const rr = o.rows === 'm' ? [r.m0, r.m1] : [r.k0, r.k1];
    const cc = o.cols === 'n' ? [r.n0, r.n1] : [r.k0, r.k1];
    const lo = off + rr[0] * o.sr + cc[0] * o.sc;
    const hi = off + (rr[1] - 1) * o.sr + (cc[1] - 1) * o.sc + 1;
    const start = Math.floor((lo * 4) / align) * align;
    const end = Math.min(Math.ceil((hi * 4) / 16) * 16, buf.size);
    return [{ buffer: buf, offset: start, size: end - start }, start / 4];
  };
  for (let bi = 0; bi < nb; bi++) {
    const [oa, ob] = batchOffsets(p, bi);
    const oy = bi * p.M * p.N;
    for (let m0 = 0; m0 < p.M; m0 += cm) {
      for (let n0 = 0; n0 < p.N; n0 += cn) {
        // K chunks of one output tile run in order; later ones accumulate into Y.
        const kStarts = p.K === 0 ? [0] : Array.from({ length: Math.ceil(p.K / ck) }, (_, i) => i * ck);
        for (const k0 of kStarts) {
          const r: Region = {
            m0, m1: Math.min(p.M, m0 + cm), n0, n1: Math.min(p.N, n0 + cn),
            k0, k1: Math.min(p.K, k0 + ck), b0: bi, nb: 1,
          };
          const kr = { ...r, k1: Math.max(r.k1, r.k0 + 1) }; // K=0 still binds something valid
          const [sa, ba] = slice(opA, a!.buffer, oa, kr);
          const [sb, bb] = slice(opB, b!.buffer, ob, kr);
          const [sy, by] = slice(opY, y.buffer, oy, r);
          const binds: GPUBufferBinding[] = [sa, sb, sy];
          let bc = 0;
          if (p.hasC) {
            const [sc, base] = slice(opC, c!.buffer, 0, r);
            binds.push(sc);
            bc = base;
          }
          const groups: [number, number, number] = [...groupsFor(v, r.m1 - r.m0, r.n1 - r.n0), 1];
          g.dispatch(pipe, mmUniforms(p, r, [ba, bb, bc, by], k0 > 0), binds, groups);
        }
      }
    }
  }
}

function spec(prepare: (ctx: PrepareCtx) => { shapes: Shape[]; params: MatmulParams }): OpSpec<MatmulParams> {
  return {
    prepare,
    cpu(p, inputs) {
      const y = new Float32Array(numel(p.batch) * p.M * p.N);
      matmulCpu(p, inputs, y);
      return [y];
    },
    gpu: matmulGpu,
  };
}

export const ops: OpTable = {
  Gemm: { ...spec(prepareGemm), traits: { linear: true, weighted: true } },
  MatMul: { ...spec(prepareMatMul), traits: { linear: true, weighted: true } },
};
