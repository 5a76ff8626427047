// Kernels shared by the backward walks and stage one of the attribution (Grad-CAM weights, R0).
// Each is one section assembled after `io` (bindings: 0 = uniforms, 1 = the output (read_write),
// 2.. = inputs, in order); its uniform block `u` is declared in TypeScript (kernels.ts).

//#section io
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> y: array<f32>;

//#section accumulate
// out += x  (n elements)
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_id(gid, nwg, 256u);
  if (i < u.n) { out[i] = out[i] + x[i]; }
}

//#section scale
// out *= f  (n elements)
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_id(gid, nwg, 256u);
  if (i < u.n) { out[i] = out[i] * u.f; }
}

//#section expand
// out[b] = x[b / T]: repeat each sample T times (per = elements per sample, t = T).
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_id(gid, nwg, 256u);
  if (i >= u.n) { return; }
  let s = i / u.per;
  out[i] = x[(s / u.t) * u.per + (i - s * u.per)];
}

//#section one_hot
// One-hot seed: out[b, k] = (k == x[b]) for b < n / classes rows.
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_id(gid, nwg, 256u);
  if (i >= u.n) { return; }
  let row = i / u.classes;
  out[i] = select(0.0, 1.0, f32(i - row * u.classes) == x[row]);
}

//#section channel_mean
// alpha[b, k] = mean over hw of x[b, k, :] (n = B*C rows of hw values).
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_id(gid, nwg, 64u);
  if (i >= u.n) { return; }
  var s = 0.0;
  for (var k = 0u; k < u.hw; k++) { s += x[i * u.hw + k]; }
  out[i] = s / f32(u.hw);
}

//#section scale_channels
// out[b, k, p] = x[b, k, p] * y[b, k]
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_id(gid, nwg, 256u);
  if (i < u.n) { out[i] = x[i] * y[i / u.hw]; }
}

//#section sample_sum
// Per-sample sum: one workgroup per sample (n = samples, per = elements per sample).
// mode selects what is summed: 0 = x, 1 = x⁺, 2 = x⁻, 3 = [x ≠ 0], 4 = |x|.
var<workgroup> part: array<f32, 256>;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) li: u32) {
  let b = wid.x;
  var s = 0.0;
  for (var k = li; k < u.per; k += 256u) {
    let v = x[b * u.per + k];
    switch u.mode {
      case 1u: { s += max(v, 0.0); }
      case 2u: { s += min(v, 0.0); }
      case 3u: { s += select(0.0, 1.0, v != 0.0); }
      case 4u: { s += abs(v); }
      default: { s += v; }
    }
  }
  part[li] = s;
  workgroupBarrier();
  for (var w = 128u; w > 0u; w >>= 1u) {
    if (li < w) { part[li] += part[li + w]; }
    workgroupBarrier();
  }
  if (li == 0u) { out[b] = part[0]; }
}

//#section pos_neg_tree
// The per-sample ΣR⁺, ΣR⁻ reduction of a 256-thread workgroup: each thread's partial sums s, t in,
// the workgroup's totals out (every thread gets them), by one fixed tree. Shared by sample_pos_neg
// and by the kernels that make the same sums while writing R (layout/concat.ts), so that theirs are
// the same bits. Call from uniform control flow.
var<workgroup> part: array<f32, 256>;
var<workgroup> partn: array<f32, 256>;

fn pos_neg_tree(li: u32, s: f32, t: f32) -> vec2f {
  part[li] = s;
  partn[li] = t;
  workgroupBarrier();
  for (var w = 128u; w > 0u; w >>= 1u) {
    if (li < w) {
      part[li] += part[li + w];
      partn[li] += partn[li + w];
    }
    workgroupBarrier();
  }
  return vec2f(part[0], partn[0]);
}

//#section sample_pos_neg
// Per-sample sums of x⁺ (out[b]) and x⁻ (out[u.neg + b]) in one pass, and out[2·u.neg + b] zeroed:
// each accumulated and reduced in exactly the order of sample_sum's modes 1 and 2, so the sums are
// the same bits.
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) li: u32) {
  let b = wid.x;
  var s = 0.0;
  var t = 0.0;
  for (var k = li; k < u.per; k += 256u) {
    let v = x[b * u.per + k];
    s += max(v, 0.0);
    t += min(v, 0.0);
  }
  let tot = pos_neg_tree(li, s, t);
  if (li == 0u) {
    out[b] = tot.x;
    out[u.neg + b] = tot.y;
    out[2u * u.neg + b] = 0.0; // the counter part: 0.0's bits are u32 0
  }
}

//#section div_abs_sample
// out[i] = safe_div(x[i], |y[i / per]|): per-sample normalisation by the absolute sum.
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_id(gid, nwg, 256u);
  if (i >= u.n) { return; }
  let d = abs(y[i / u.per]);
  out[i] = select(0.0, x[i] / d, d != 0.0);
}

//#section resize_bilinear
// Bilinear resize of planes (align_corners = false, like torch's F.interpolate):
// n = planes*oh*ow from h×w.
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_id(gid, nwg, 256u);
  if (i >= u.n) { return; }
  let plane = i / (u.oh * u.ow);
  let r = i - plane * u.oh * u.ow;
  let oy = r / u.ow;
  let ox = r - oy * u.ow;
  let sy = max((f32(oy) + 0.5) * f32(u.h) / f32(u.oh) - 0.5, 0.0);
  let sx = max((f32(ox) + 0.5) * f32(u.w) / f32(u.ow) - 0.5, 0.0);
  let y0 = min(u32(floor(sy)), u.h - 1u);
  let x0 = min(u32(floor(sx)), u.w - 1u);
  let y1 = min(y0 + 1u, u.h - 1u);
  let x1 = min(x0 + 1u, u.w - 1u);
  let fy = sy - f32(y0);
  let fx = sx - f32(x0);
  let base = plane * u.h * u.w;
  let top = x[base + y0 * u.w + x0] * (1.0 - fx) + x[base + y0 * u.w + x1] * fx;
  let bot = x[base + y1 * u.w + x0] * (1.0 - fx) + x[base + y1 * u.w + x1] * fx;
  out[i] = top * (1.0 - fy) + bot * fy;
}

//#section channel_reduce
// Sum over channels per pixel (n = B*hw, c = C), hooks TERM (the summand) and RESULT (of acc) and
// the workgroup size WG: Grad-CAM's map is relu(Σ_k y[b, k] · x[b, k, p]) (workgroups of 64), the
// channel sum Σ_k x[b, k, p].
@compute @workgroup_size({{WG}})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_id(gid, nwg, {{WG}}u);
  if (i >= u.n) { return; }
  let s = i / u.hw;
  let p = i - s * u.hw;
  var acc = 0.0;
  for (var k = 0u; k < u.c; k++) { acc += {{TERM}}; }
  out[i] = {{RESULT}};
}

//#section sample_mean
// The gradient family's reduction: out[(r·T + j)·per + i] = mean over q < k of x[((r·k + q)·T + j)·per + i]
// (squared with u.square), times y[r·per + i] with u.scaled (n = R·T·per outputs).
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let o = linear_id(gid, nwg, 256u);
  if (o >= u.n) { return; }
  let row = o / u.per;
  let i = o - row * u.per;
  let r = row / u.t;
  let j = row - r * u.t;
  let stride = u.t * u.per;
  var at = (r * u.k * u.t + j) * u.per + i;
  var acc = 0.0;
  for (var q = 0u; q < u.k; q++) {
    let v = x[at];
    acc += select(v, v * v, u.square != 0u);
    at += stride;
  }
  let m = acc / f32(u.k);
  out[o] = select(m, m * y[r * u.per + i], u.scaled != 0u);
}
