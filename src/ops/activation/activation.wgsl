//#section unary
// Element-wise unary activation; the op body is the variant (one pipeline per op).
struct U {
  total: u32, _p0: u32, _p1: u32, _p2: u32,
  alpha: f32, lo: f32, hi: f32, _p3: u32,
}
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
{{EXTRA_BINDINGS}}

fn op(v: f32) -> f32 {
  {{BODY}}
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_id(gid, nwg, 64u);
  if (i >= u.total) {
    return;
  }
  y[i] = op(x[i]);
}
