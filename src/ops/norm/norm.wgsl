//#section batchnorm
// Inference batch normalization: y = (x − mean) · scale / sqrt(var + eps) + bias, with the
// parameters indexed per channel, or per activation (all non-batch dims) for spatial = 0.
struct U {
  total: u32, C: u32, inner: u32, per_activation: u32,
  eps: f32, _p0: u32, _p1: u32, _p2: u32,
}
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> scale: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read> mean: array<f32>;
@group(0) @binding(5) var<storage, read> variance: array<f32>;
@group(0) @binding(6) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_id(gid, nwg, 64u);
  if (i >= u.total) {
    return;
  }
  var c = (i / u.inner) % u.C;
  if (u.per_activation != 0u) {
    c = i % (u.C * u.inner);
  }
  y[i] = (x[i] - mean[c]) * scale[c] / sqrt(variance[c] + u.eps) + bias[c];
}

//#section lrn
// Local response normalization across channels (ONNX): the window holds floor((size−1)/2)
// channels before c and ceil((size−1)/2) after, and alpha is divided by size.
struct U {
  total: u32, C: u32, inner: u32, size: u32,
  alpha: f32, beta: f32, bias: f32, _p0: u32,
}
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_id(gid, nwg, 64u);
  if (i >= u.total) {
    return;
  }
  let c = i32((i / u.inner) % u.C);
  let base = i - u32(c) * u.inner;
  let lo = max(c - i32((u.size - 1u) / 2u), 0);
  let hi = min(c + i32(u.size / 2u), i32(u.C) - 1);
  var s = 0.0;
  for (var k = lo; k <= hi; k++) {
    let v = x[base + u32(k) * u.inner];
    s += v * v;
  }
  y[i] = x[i] / pow(u.bias + u.alpha / f32(u.size) * s, u.beta);
}
