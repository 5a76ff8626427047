//#section grad
// Gradient of an element-wise activation: out = {{GRAD}}, an expression of the incoming signal
// dy and v, the forward input x (or, for activations whose derivative reads better from it, the output y).
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> sig: array<f32>;
@group(0) @binding(3) var<storage, read> fwd: array<f32>;

fn grad(dy: f32, v: f32) -> f32 {
  return {{GRAD}};
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_id(gid, nwg, 256u);
  if (i < u.total) { out[i] = grad(sig[i], fwd[i]); }
}

//#section prelu_grad_x
// PRelu's gradient at x: dy where x > 0, dy·slope elsewhere (forward.wgsl's `slope_at`).
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> sig: array<f32>;
@group(0) @binding(3) var<storage, read> x: array<f32>;
@group(0) @binding(4) var<storage, read> slope: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_id(gid, nwg, 256u);
  if (i >= u.total) {
    return;
  }
  out[i] = select(sig[i] * slope_at(i), sig[i], x[i] > 0.0);
}

//#section prelu_grad_slope
// PRelu's gradient at a runtime slope: out[j] = Σ over the axes the slope is broadcast along of
// dy · min(x, 0). One thread per slope element: `shape` is the slope's shape aligned to dy's rank,
// `red` the extent of each broadcast axis (1 elsewhere), `m` their product, `ss` dy's strides
// (forward.wgsl's `offset_of`).
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> sig: array<f32>;
@group(0) @binding(3) var<storage, read> x: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let j = linear_id(gid, nwg, 64u);
  if (j >= u.total) {
    return;
  }
  let base = offset_of(j, u.shape);
  var acc = 0.0;
  for (var m = 0u; m < u.m; m++) {
    let o = base + offset_of(m, u.red);
    acc += sig[o] * min(x[o], 0.0);
  }
  out[j] = acc;
}
