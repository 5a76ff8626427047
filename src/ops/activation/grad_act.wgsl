// Gradients of element-wise activations: out = dy · f'(x). Variant chosen by pipeline entry point.
// u.n = elements; u.f0/u.f1 = Clip bounds or LeakyRelu slope.
struct U { n: u32, p: u32, q: u32, r: u32, f0: f32, f1: f32, f2: f32, f3: f32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read> x: array<f32>;

@compute @workgroup_size(256)
fn relu(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_id(gid, nwg, 256u);
  if (i < u.n) { out[i] = select(0.0, dy[i], x[i] > 0.0); }
}

@compute @workgroup_size(256)
fn clip(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_id(gid, nwg, 256u);
  if (i < u.n) { out[i] = select(0.0, dy[i], x[i] > u.f0 && x[i] < u.f1); }
}

@compute @workgroup_size(256)
fn leaky(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_id(gid, nwg, 256u);
  if (i < u.n) { out[i] = select(dy[i] * u.f0, dy[i], x[i] > 0.0); }
}

// Here x is the Sigmoid's output y: f' = y (1 - y).
@compute @workgroup_size(256)
fn sigmoid(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_id(gid, nwg, 256u);
  if (i < u.n) { out[i] = dy[i] * x[i] * (1.0 - x[i]); }
}
