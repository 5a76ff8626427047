//#section common
// Y[b, m, n] = alpha * sum_k A'[b, m, k] * B'[b, k, n] (+ beta * C[m, n]), register-tiled: each
// thread owns 1 or 4 rows × 4 columns of Y, loading straight from the storage buffers
// (workgroup-memory staging was slower on software Vulkan). The vectorized kernels stream K four
// at a time as vec4 loads (K a multiple of 4); the scalar kernel handles any strides, one k at a time.
// Indices are global; each binding may be a slice of a larger buffer that starts at element
// *_base (u32 arithmetic wraps, so intermediate differences below the base are harmless).
// Batch dims (u.bshape, u.astr, u.bstr) are right-aligned in 8 slots (unused: extent 1, stride 0).
@group(0) @binding(1) var<storage, read> A: array<{{A_T}}>;
@group(0) @binding(2) var<storage, read> B: array<{{B_T}}>;
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;


fn batch_offsets(bi: u32) -> vec2u {
  var rem = bi;
  var o = vec2u(0u);
  for (var d = 7i; d >= 0i; d--) {
    let i = u32(d);
    let s = u.bshape[i / 4u][i % 4u];
    let idx = rem % s;
    rem = rem / s;
    o += idx * vec2u(u.astr[i / 4u][i % 4u], u.bstr[i / 4u][i % 4u]);
  }
  return o;
}

//#section a_vec
// A'[m, k..k+3] with A contiguous along k (sak = 1, sam and k multiples of 4).
fn load_a(oa: u32, m: u32, k: u32) -> vec4f {
  return A[(oa + m * u.sam + k - u.a_base) / 4u];
}

//#section b_nn_vec
// B contiguous along n (sbn = 1; sbk, n multiples of 4). Columns of the result are rows k..k+3
// of B', so the contribution of a row of A' is bm * a.
fn load_b(ob: u32, k: u32, n: u32) -> mat4x4f {
  let e = ob + n - u.b_base;
  let s = u.sbk / 4u;
  let r = (e + k * u.sbk) / 4u;
  return mat4x4f(B[r], B[r + s], B[r + 2u * s], B[r + 3u * s]);
}
fn contrib(a: vec4f, bm: mat4x4f) -> vec4f {
  return bm * a;
}

//#section b_nt_vec
// B contiguous along k (sbk = 1; sbn, k multiples of 4): columns of the result are columns
// n..n+3 of B' over k, so the contribution of a row of A' is a * bm (four dot products).
fn load_b(ob: u32, k: u32, n: u32) -> mat4x4f {
  let e = ob + k - u.b_base;
  let c = min(vec4u(n) + vec4u(0u, 1u, 2u, 3u), vec4u(u.n1 - 1u));
  return mat4x4f(B[(e + c.x * u.sbn) / 4u], B[(e + c.y * u.sbn) / 4u], B[(e + c.z * u.sbn) / 4u], B[(e + c.w * u.sbn) / 4u]);
}
fn contrib(a: vec4f, bm: mat4x4f) -> vec4f {
  return a * bm;
}

//#section c_none
fn bias(r: u32, c: u32) -> f32 {
  return 0.0;
}

//#section c_some
@group(0) @binding(4) var<storage, read> Cb: array<f32>;
fn bias(r: u32, c: u32) -> f32 {
  return u.beta * Cb[r * u.scm + c * u.scn - u.c_base];
}

//#section store
fn store(bi: u32, r: u32, n: u32, acc: vec4f) {
  if (r >= u.m1) {
    return;
  }
  let yb = bi * u.M * u.N + r * u.N - u.y_base;
  for (var j = 0u; j < 4u; j++) {
    let c = n + j;
    if (c < u.n1) {
      var v = u.alpha * acc[j];
      if (u.accumulate != 0u) {
        v += Y[yb + c];
      } else {
        v += bias(r, c);
      }
      Y[yb + c] = v;
    }
  }
}

fn store4(bi: u32, m: u32, n: u32, acc0: vec4f, acc1: vec4f, acc2: vec4f, acc3: vec4f) {
  store(bi, m, n, acc0);
  store(bi, m + 1u, n, acc1);
  store(bi, m + 2u, n, acc2);
  store(bi, m + 3u, n, acc3);
}

//#section main
// One thread owns {{TM}} row(s) × 4 columns of Y; the tile section (`TILE`) is the variant.
@compute @workgroup_size({{WGX}}, {{WGY}}, 1)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let n = u.n0 + gid.x * 4u;
  let m = u.m0 + gid.y * {{TM}}u;
  if (n >= u.n1 || m >= u.m1) {
    return;
  }
  let bi = u.b0 + gid.z;
  let off = batch_offsets(bi);
  // Rows and columns past the end repeat the last one; their results are not stored.
  let rows = min(vec4u(m) + vec4u(0u, 1u, 2u, 3u), vec4u(u.m1 - 1u));
  let cols = min(vec4u(n) + vec4u(0u, 1u, 2u, 3u), vec4u(u.n1 - 1u));
  {{TILE}}
}

//#section tile_vec_tm1
  var acc = vec4f(0.0);
  for (var k = u.k0; k < u.k1; k += 4u) {
    acc += contrib(load_a(off.x, m, k), load_b(off.y, k, n));
  }
  store(bi, m, n, acc);

//#section tile_vec_tm4
  var acc0 = vec4f(0.0);
  var acc1 = vec4f(0.0);
  var acc2 = vec4f(0.0);
  var acc3 = vec4f(0.0);
  for (var k = u.k0; k < u.k1; k += 4u) {
    let bm = load_b(off.y, k, n);
    acc0 += contrib(load_a(off.x, rows.x, k), bm);
    acc1 += contrib(load_a(off.x, rows.y, k), bm);
    acc2 += contrib(load_a(off.x, rows.z, k), bm);
    acc3 += contrib(load_a(off.x, rows.w, k), bm);
  }
  store4(bi, m, n, acc0, acc1, acc2, acc3);

//#section tile_scalar_tm1
  let c = cols * u.sbn + off.y - u.b_base;
  let ea = off.x + m * u.sam - u.a_base;
  var acc = vec4f(0.0);
  for (var k = u.k0; k < u.k1; k++) {
    let bk = k * u.sbk;
    acc += A[ea + k * u.sak] * vec4f(B[c.x + bk], B[c.y + bk], B[c.z + bk], B[c.w + bk]);
  }
  store(bi, m, n, acc);

//#section tile_scalar_tm4
  let c = cols * u.sbn + off.y - u.b_base;
  let r = rows * u.sam + off.x - u.a_base;
  var acc0 = vec4f(0.0);
  var acc1 = vec4f(0.0);
  var acc2 = vec4f(0.0);
  var acc3 = vec4f(0.0);
  for (var k = u.k0; k < u.k1; k++) {
    let bk = k * u.sbk;
    let b = vec4f(B[c.x + bk], B[c.y + bk], B[c.z + bk], B[c.w + bk]);
    let ak = k * u.sak;
    acc0 += A[r.x + ak] * b;
    acc1 += A[r.y + ak] * b;
    acc2 += A[r.z + ak] * b;
    acc3 += A[r.w + ak] * b;
  }
  store4(bi, m, n, acc0, acc1, acc2, acc3);

//#section tiled_main
// The tiled kernel for hardware GPUs (kernel-choice.ts): a BM × BN tile of Y per workgroup, 4×4
// per thread, the reduction in K-slices of BK staged through workgroup memory. Any strides: each
// thread gathers its share of both slices with scalar loads, consecutive threads walking the
// operand's contiguous axis (A_IDX, B_IDX split the slice element e into (kk, r) by constant
// powers of two) so that loads coalesce whether or not an operand is transposed. Rows and columns
// past the region read zero.
const BM = {{BM}}u;
const BN = {{BN}}u;
const BK = {{BK}}u;
const NT = {{NT}}u;
const BM4 = BM / 4u;
const BN4 = BN / 4u;

var<workgroup> As: array<vec4f, BK * BM4>;
var<workgroup> Bs: array<vec4f, BK * BN4>;

@compute @workgroup_size(NT)
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wid: vec3u) {
  let n0 = u.n0 + wid.x * BN;
  let m0 = u.m0 + wid.y * BM;
  let bi = u.b0 + wid.z;
  let off = batch_offsets(bi);
  let tx = li % BN4;
  let ty = li / BN4;
  var acc0 = vec4f(0.0);
  var acc1 = vec4f(0.0);
  var acc2 = vec4f(0.0);
  var acc3 = vec4f(0.0);
  for (var k0 = u.k0; k0 < u.k1; k0 += BK) {
    for (var e = li; e < BK * BM; e += NT) {
      {{A_IDX}}
      let m = m0 + r;
      let k = k0 + kk;
      var v = 0.0;
      if (m < u.m1 && k < u.k1) { v = A[off.x + m * u.sam + k * u.sak - u.a_base]; }
      As[kk * BM4 + r / 4u][r % 4u] = v;
    }
    for (var e = li; e < BK * BN; e += NT) {
      {{B_IDX}}
      let n = n0 + r;
      let k = k0 + kk;
      var v = 0.0;
      if (n < u.n1 && k < u.k1) { v = B[off.y + k * u.sbk + n * u.sbn - u.b_base]; }
      Bs[kk * BN4 + r / 4u][r % 4u] = v;
    }
    workgroupBarrier();
    for (var k = 0u; k < BK; k++) {
      let a = As[k * BM4 + ty];
      let b = Bs[k * BN4 + tx];
      acc0 = fma(vec4f(a.x), b, acc0);
      acc1 = fma(vec4f(a.y), b, acc1);
      acc2 = fma(vec4f(a.z), b, acc2);
      acc3 = fma(vec4f(a.w), b, acc3);
    }
    workgroupBarrier();
  }
  let m = m0 + ty * 4u;
  let n = n0 + tx * 4u;
  if (n < u.n1) {
    store4(bi, m, n, acc0, acc1, acc2, acc3);
  }
}
