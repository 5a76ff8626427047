// Kernels shared by the backward walks and stage one of the attribution (Grad-CAM weights, R0).
// Every entry point binds: 0 = uniforms, 1 = the output (read_write), 2.. = inputs, in order.

struct U { n: u32, a: u32, b: u32, c: u32, d: u32, e: u32, f: u32, g: u32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> y: array<f32>;

// out += x  (n elements)
@compute @workgroup_size(256)
fn accumulate(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_id(gid, nwg, 256u);
  if (i < u.n) { out[i] = out[i] + x[i]; }
}

// out *= f0  (n elements)
@compute @workgroup_size(256)
fn scale(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_id(gid, nwg, 256u);
  if (i < u.n) { out[i] = out[i] * bitcast<f32>(u.a); }
}

// out[b] = x[b / T]: repeat each sample T times (a = elements per sample, b = T).
@compute @workgroup_size(256)
fn expand(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_id(gid, nwg, 256u);
  if (i >= u.n) { return; }
  let s = i / u.a;
  out[i] = x[(s / u.b) * u.a + (i - s * u.a)];
}

// One-hot seed: out[b, k] = (k == x[b]) for b < n / a rows of a classes.
@compute @workgroup_size(256)
fn one_hot(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_id(gid, nwg, 256u);
  if (i >= u.n) { return; }
  let row = i / u.a;
  out[i] = select(0.0, 1.0, f32(i - row * u.a) == x[row]);
}

// alpha[b, k] = mean over hw of x[b, k, :] (n = B*C rows of a = hw values).
@compute @workgroup_size(64)
fn channel_mean(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_id(gid, nwg, 64u);
  if (i >= u.n) { return; }
  var s = 0.0;
  for (var k = 0u; k < u.a; k++) { s += x[i * u.a + k]; }
  out[i] = s / f32(u.a);
}

// out[b, k, p] = x[b, k, p] * y[b, k]  (a = hw)
@compute @workgroup_size(256)
fn scale_channels(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_id(gid, nwg, 256u);
  if (i < u.n) { out[i] = x[i] * y[i / u.a]; }
}

// Per-sample sum: one workgroup per sample (n = samples, a = elements per sample).
// c selects what is summed: 0 = x, 1 = x⁺, 2 = x⁻, 3 = [x ≠ 0], 4 = |x|.
var<workgroup> part: array<f32, 256>;
@compute @workgroup_size(256)
fn sample_sum(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) li: u32) {
  let b = wid.x;
  var s = 0.0;
  for (var k = li; k < u.a; k += 256u) {
    let v = x[b * u.a + k];
    switch u.c {
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

// out[i] = safe_div(x[i], |y[i / a]|): per-sample normalisation by the absolute sum.
@compute @workgroup_size(256)
fn div_abs_sample(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_id(gid, nwg, 256u);
  if (i >= u.n) { return; }
  let d = abs(y[i / u.a]);
  out[i] = select(0.0, x[i] / d, d != 0.0);
}

// Grad-CAM map: out[b, p] = relu(Σ_k y[b, k] · x[b, k, p])  (n = B*hw, a = hw, b = C)
@compute @workgroup_size(64)
fn cam(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_id(gid, nwg, 64u);
  if (i >= u.n) { return; }
  let s = i / u.a;
  let p = i - s * u.a;
  var acc = 0.0;
  for (var k = 0u; k < u.b; k++) { acc += y[s * u.b + k] * x[(s * u.b + k) * u.a + p]; }
  out[i] = max(acc, 0.0);
}

// Bilinear resize of planes (align_corners = false, like torch's F.interpolate):
// n = planes*H*W, a = h, b = w, c = H, d = W.
@compute @workgroup_size(256)
fn resize_bilinear(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_id(gid, nwg, 256u);
  if (i >= u.n) { return; }
  let plane = i / (u.c * u.d);
  let r = i - plane * u.c * u.d;
  let oy = r / u.d;
  let ox = r - oy * u.d;
  let sy = max((f32(oy) + 0.5) * f32(u.a) / f32(u.c) - 0.5, 0.0);
  let sx = max((f32(ox) + 0.5) * f32(u.b) / f32(u.d) - 0.5, 0.0);
  let y0 = min(u32(floor(sy)), u.a - 1u);
  let x0 = min(u32(floor(sx)), u.b - 1u);
  let y1 = min(y0 + 1u, u.a - 1u);
  let x1 = min(x0 + 1u, u.b - 1u);
  let fy = sy - f32(y0);
  let fx = sx - f32(x0);
  let base = plane * u.a * u.b;
  let top = x[base + y0 * u.b + x0] * (1.0 - fx) + x[base + y0 * u.b + x1] * fx;
  let bot = x[base + y1 * u.b + x0] * (1.0 - fx) + x[base + y1 * u.b + x1] * fx;
  out[i] = top * (1.0 - fy) + bot * fy;
}

// Channel sum: out[b, p] = Σ_c x[b, c, p]  (n = B*hw, a = hw, b = C)
@compute @workgroup_size(256)
fn channel_sum(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_id(gid, nwg, 256u);
  if (i >= u.n) { return; }
  let s = i / u.a;
  let p = i - s * u.a;
  var acc = 0.0;
  for (var k = 0u; k < u.b; k++) { acc += x[(s * u.b + k) * u.a + p]; }
  out[i] = acc;
}
