// Backward kernels of structural ops (gradient and AE rules of src/rules/layout.ts). Plain data
// movement reuses the forward copy and pad kernels; what they cannot express lives here.

//#section fill
// y = 0: the background of a scatter (Slice, Gather gradients).
struct U { n: u32, _p0: u32, _p1: u32, _p2: u32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_id(gid, nwg, 256u);
  if (i < u.n) { y[i] = 0.0; }
}

//#section reduce
// Gradient of a broadcasting binary op at one operand: out[j] = scale · Σ over the broadcast axes
// of dy (mode 0), dy·other (mode 1) or safe_div(dy, other) (mode 2). One thread per operand
// element: `kshape` is the operand's shape aligned to dy's rank, `rshape` the extent of each
// broadcast axis (1 elsewhere), `m` their product; `sdy`/`sot` are dy's and other's strides.
struct U {
  n: u32,
  m: u32,
  rank: u32,
  mode: u32,
  scale: f32,
  _p0: u32,
  _p1: u32,
  _p2: u32,
  kshape: array<vec4<u32>, 2>,
  rshape: array<vec4<u32>, 2>,
  sdy: array<vec4<u32>, 2>,
  sot: array<vec4<u32>, 2>,
}
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> other: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let j = linear_id(gid, nwg, 256u);
  if (j >= u.n) { return; }
  var rem = j;
  var bdy = 0u;
  var bot = 0u;
  for (var d: i32 = i32(u.rank) - 1; d >= 0; d--) {
    let q = u32(d) / 4u;
    let r = u32(d) % 4u;
    let s = u.kshape[q][r];
    let c = rem % s;
    rem = rem / s;
    bdy += c * u.sdy[q][r];
    bot += c * u.sot[q][r];
  }
  var acc = 0.0;
  for (var m = 0u; m < u.m; m++) {
    var rm = m;
    var ody = bdy;
    var oot = bot;
    for (var d: i32 = i32(u.rank) - 1; d >= 0; d--) {
      let q = u32(d) / 4u;
      let r = u32(d) % 4u;
      let s = u.rshape[q][r];
      let c = rm % s;
      rm = rm / s;
      ody += c * u.sdy[q][r];
      oot += c * u.sot[q][r];
    }
    var v = dy[ody];
    if (u.mode == 1u) {
      v = v * other[oot];
    } else if (u.mode == 2u) {
      let o = other[oot];
      v = select(0.0, v / o, o != 0.0);
    }
    acc += v;
  }
  out[j] = acc * u.scale;
}

//#section concat_mask
// AE at a Concat (spec §2.8): input i's part of R, masked by [x_i ≠ 0]. R is [outer, total] and
// input i occupies columns [offset, offset + block) of each row.
struct U { n: u32, block: u32, total: u32, offset: u32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> r: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let j = linear_id(gid, nwg, 256u);
  if (j >= u.n) { return; }
  let row = j / u.block;
  let v = r[row * u.total + u.offset + (j - row * u.block)];
  out[j] = select(0.0, v, x[j] != 0.0);
}

//#section residual_split
// AE at a residual Add, mode 'proportional' (spec §2.7): a = x1·safe_div(R, x1+x2), b likewise.
struct U { n: u32, _p0: u32, _p1: u32, _p2: u32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> r: array<f32>;
@group(0) @binding(2) var<storage, read> x1: array<f32>;
@group(0) @binding(3) var<storage, read> x2: array<f32>;
@group(0) @binding(4) var<storage, read_write> a: array<f32>;
@group(0) @binding(5) var<storage, read_write> b: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_id(gid, nwg, 256u);
  if (i >= u.n) { return; }
  let p = x1[i];
  let q = x2[i];
  let z = p + q;
  let s = select(0.0, r[i] / z, z != 0.0);
  a[i] = p * s;
  b[i] = q * s;
}

//#section residual_rescale
// Rescale a and b in place so that per sample Σa = |Σa|/(|Σa|+|Σb|)·ΣR (likewise b): the factor
// is sign(Σa)·ΣR/(|Σa|+|Σb|); a part that sums to zero already meets its target and stays as is.
// Zero-sum R (|ΣR| ≤ ZERO_SUM·Σ|R|: what arrives from 1×1 rules, or 3×3 ones at ratio 2) has no
// total to share: rescaling to it would leave rounding noise, so a and b stay the plain split.
struct U { n: u32, per: u32, _p0: u32, _p1: u32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> sa: array<f32>;
@group(0) @binding(2) var<storage, read> sb: array<f32>;
@group(0) @binding(3) var<storage, read> sr: array<f32>;
@group(0) @binding(4) var<storage, read> srabs: array<f32>;
@group(0) @binding(5) var<storage, read_write> a: array<f32>;
@group(0) @binding(6) var<storage, read_write> b: array<f32>;

const ZERO_SUM = 1e-3;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_id(gid, nwg, 256u);
  if (i >= u.n) { return; }
  let s = i / u.per;
  if (abs(sr[s]) <= ZERO_SUM * srabs[s]) { return; }
  let ta = sa[s];
  let tb = sb[s];
  let d = abs(ta) + abs(tb);
  a[i] = a[i] * select(1.0, sign(ta) * sr[s] / d, ta != 0.0);
  b[i] = b[i] * select(1.0, sign(tb) * sr[s] / d, tb != 0.0);
}

//#section pad_fold
// Gradient of a reflect/edge/wrap Pad along one axis: out[o, k, i] = Σ over padded positions c
// whose source index is k of src[o, c, i]. The source of c is c − begin when that lies inside
// [0, len) (the direct term); only the padded margins can map elsewhere, so only they are scanned.
struct U { n: u32, len: u32, plen: u32, inner: u32, begin: i32, mode: u32, _p0: u32, _p1: u32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

// Mirror without repeating the edge, period 2(n−1), as numpy's 'reflect'.
fn reflect_index(k: i32, n: i32) -> i32 {
  if (n == 1) { return 0; }
  let p = 2 * (n - 1);
  var m = k % p;
  if (m < 0) { m += p; }
  return select(m, p - m, m >= n);
}

// mode 1 = reflect, 2 = edge, 3 = wrap; k lies outside [0, n).
fn map_index(k: i32, n: i32) -> i32 {
  switch u.mode {
    case 1u: { return reflect_index(k, n); }
    case 2u: { return clamp(k, 0, n - 1); }
    default: { return ((k % n) + n) % n; }
  }
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let j = linear_id(gid, nwg, 256u);
  if (j >= u.n) { return; }
  let o = j / (u.len * u.inner);
  let rest = j - o * u.len * u.inner;
  let k = i32(rest / u.inner);
  let i = rest - u32(k) * u.inner;
  let n = i32(u.len);
  let plen = i32(u.plen);
  let base = o * u.plen * u.inner + i;
  var acc = 0.0;
  let c0 = k + u.begin;
  if (c0 >= 0 && c0 < plen) { acc += src[base + u32(c0) * u.inner]; }
  for (var c = 0; c < min(u.begin, plen); c++) {
    if (map_index(c - u.begin, n) == k) { acc += src[base + u32(c) * u.inner]; }
  }
  for (var c = max(u.begin + n, 0); c < plen; c++) {
    if (map_index(c - u.begin, n) == k) { acc += src[base + u32(c) * u.inner]; }
  }
  out[j] = acc;
}
