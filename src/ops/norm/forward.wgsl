//#section param_index
// BatchNormalization parameters are indexed per channel, or per activation (every non-batch
// element) for the old spatial = 0 form.
fn param_index(i: u32) -> u32 {
  if (u.per_activation != 0u) {
    return i % (u.C * u.inner);
  }
  return (i / u.inner) % u.C;
}

//#section per_element
// One thread per element of u.total, each handed to the variant's `fn store(i, c)` with c its
// BatchNormalization parameter index.
@compute @workgroup_size({{WG}})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_id(gid, nwg, {{WG}}u);
  if (i >= u.total) {
    return;
  }
  store(i, param_index(i));
}

//#section batchnorm
// Inference batch normalization: y = (x − mean) · scale / sqrt(var + eps) + bias.
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> scale: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read> mean: array<f32>;
@group(0) @binding(5) var<storage, read> variance: array<f32>;
@group(0) @binding(6) var<storage, read_write> y: array<f32>;

fn store(i: u32, c: u32) {
  y[i] = (x[i] - mean[c]) * scale[c] / sqrt(variance[c] + u.eps) + bias[c];
}

//#section lrn
// Local response normalization across channels (ONNX): the window holds floor((size−1)/2)
// channels before c and ceil((size−1)/2) after, and alpha is divided by size.
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
