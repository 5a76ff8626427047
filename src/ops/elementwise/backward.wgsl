// Backward kernels of the element-wise family (rules.ts, residual.ts): the broadcast reduction of
// the Add/Sub/Mul/Div gradient (and AE pass-through), and the proportional residual split.
// Uniform blocks are declared in TypeScript.

//#section reduce
// Gradient of a broadcasting binary op at one operand: out[j] = scale · Σ over the broadcast axes
// of dy (mode 0), dy·other (mode 1) or safe_div(dy, other) (mode 2). One thread per operand
// element: `kshape` is the operand's shape aligned to dy's rank, `rshape` the extent of each
// broadcast axis (1 elsewhere), `m` their product; `sdy`/`sot` are dy's and other's strides.
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

//#section residual_split
// AE at a residual Add, mode 'proportional' (spec §2.7): a = x1·safe_div(R, x1+x2), b likewise.
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
