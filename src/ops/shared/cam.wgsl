// The CAM family's kernels (baselines.md, "CAM family"; reference pytorch-grad-cam). Each is one
// section assembled after `io` (0 = uniforms, 1 = the output, 2.. = inputs in order); the uniform
// block `u` is declared in TypeScript (cam.ts).

//#section io
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> y: array<f32>;
@group(0) @binding(4) var<storage, read> z: array<f32>;

//#section gradcampp_weights
// Grad-CAM++'s channel weights, one thread per (sample, channel) row of hw values (n rows):
// x = A, y = g; w = Σ_p relu(g)·g² / (2g² + (Σ_p A)·g³ + 1e-6), a term 0 where g = 0. The
// products are formed in the reference's order (g³ = g²·g).
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_id(gid, nwg, 64u);
  if (i >= u.n) { return; }
  var sa = 0.0;
  for (var p = 0u; p < u.hw; p++) { sa += x[i * u.hw + p]; }
  var w = 0.0;
  for (var p = 0u; p < u.hw; p++) {
    let g = y[i * u.hw + p];
    let g2 = g * g;
    let a = select(0.0, g2 / (2.0 * g2 + sa * (g2 * g) + 1e-6), g != 0.0);
    w += max(g, 0.0) * a;
  }
  out[i] = w;
}

//#section layercam
// LayerCAM's map, one thread per (sample, pixel) (n = B·hw, c = C): relu(Σ_k relu(g_k)·A_k),
// x = A, y = g.
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_id(gid, nwg, 64u);
  if (i >= u.n) { return; }
  let s = i / u.hw;
  let p = i - s * u.hw;
  var acc = 0.0;
  for (var k = 0u; k < u.c; k++) {
    let j = (s * u.c + k) * u.hw + p;
    acc += max(y[j], 0.0) * x[j];
  }
  out[i] = max(acc, 0.0);
}

//#section align_corners
// Bilinear sample of plane `pl` (h×w, in x) at output pixel (oy, ox) of an oh×ow grid with
// align_corners = true (torch's UpsamplingBilinear2d): src = dst·(in − 1)/(out − 1).
fn upsampled(pl: u32, oy: u32, ox: u32) -> f32 {
  let ry = select(0.0, f32(u.h - 1u) / f32(u.oh - 1u), u.oh > 1u);
  let rx = select(0.0, f32(u.w - 1u) / f32(u.ow - 1u), u.ow > 1u);
  let sy = ry * f32(oy);
  let sx = rx * f32(ox);
  let y0 = min(u32(sy), u.h - 1u);
  let x0 = min(u32(sx), u.w - 1u);
  let y1 = min(y0 + 1u, u.h - 1u);
  let x1 = min(x0 + 1u, u.w - 1u);
  let ly = sy - f32(y0);
  let lx = sx - f32(x0);
  let b = pl * u.h * u.w;
  let top = (1.0 - lx) * x[b + y0 * u.w + x0] + lx * x[b + y0 * u.w + x1];
  let bot = (1.0 - lx) * x[b + y1 * u.w + x0] + lx * x[b + y1 * u.w + x1];
  return (1.0 - ly) * top + ly * bot;
}

//#section minmax_walk
// Min and max of every plane (plane_size() values each, read by plane_value), one workgroup per
// plane: out[2·pl] = min, out[2·pl + 1] = max. Score-CAM's upsampled maps and FullGrad's terms.
var<workgroup> lo: array<f32, 256>;
var<workgroup> hi: array<f32, 256>;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) li: u32) {
  let pl = wid.x;
  var mn = 3.40282346e38;
  var mx = -3.40282346e38;
  for (var q = li; q < plane_size(); q += 256u) {
    let v = plane_value(pl, q);
    mn = min(mn, v);
    mx = max(mx, v);
  }
  lo[li] = mn;
  hi[li] = mx;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s >>= 1u) {
    if (li < s) {
      lo[li] = min(lo[li], lo[li + s]);
      hi[li] = max(hi[li], hi[li + s]);
    }
    workgroupBarrier();
  }
  if (li == 0u) {
    out[2u * pl] = lo[0];
    out[2u * pl + 1u] = hi[0];
  }
}

//#section upsampled_value
// Score-CAM: the planes of x (h×w) upsampled to oh×ow with align_corners = true.
fn plane_size() -> u32 { return u.oh * u.ow; }
fn plane_value(pl: u32, q: u32) -> f32 { return upsampled(pl, q / u.ow, q % u.ow); }

//#section masked_inputs
// Score-CAM's masked inputs of input `img` (x: its layer output, planes n·K + k; y: the model
// input, N×C×oh×ow; z: upsampled_minmax of x): masked image j of m (n = m·C·oh·ow threads) is
// y[img] ⊙ (up(A_k) − min)/(max − min + 1e-8) with k = min(k0 + j, klast) (copies of the last
// mask pad a fixed batch).
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_id(gid, nwg, 256u);
  if (i >= u.n) { return; }
  let hw = u.oh * u.ow;
  let per = u.c * hw;
  let j = i / per;
  let r = i - j * per;
  let p = r % hw;
  let pl = u.img * u.k + min(u.k0 + j, u.klast);
  let mn = z[2u * pl];
  let mask = (upsampled(pl, p / u.ow, p % u.ow) - mn) / (z[2u * pl + 1u] - mn + 1e-8);
  out[i] = y[u.img * per + r] * mask;
}

//#section term_value
// FullGrad: TERM over planes of hw values (c channels per sample); TERM reads element `i` of plane `pl`.
fn plane_size() -> u32 { return u.hw; }
fn plane_value(pl: u32, q: u32) -> f32 {
  let i = pl * u.hw + q;
  return {{TERM}};
}

//#section normalised_channel_sum
// FullGrad: Σ_k of every plane's TERM min-max normalised as pytorch-grad-cam's scale_cam_image,
// (v − min)/(1e-7 + (max − min)), one thread per (sample, pixel) (n = B·hw, c = C); z holds
// plane_minmax's pairs.
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let t = linear_id(gid, nwg, 64u);
  if (t >= u.n) { return; }
  let s = t / u.hw;
  let p = t - s * u.hw;
  var acc = 0.0;
  for (var k = 0u; k < u.c; k++) {
    let pl = s * u.c + k;
    let i = pl * u.hw + p;
    let mn = z[2u * pl];
    acc += ({{TERM}} - mn) / (1e-7 + (z[2u * pl + 1u] - mn));
  }
  out[t] = acc;
}
