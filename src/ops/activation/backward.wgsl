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
