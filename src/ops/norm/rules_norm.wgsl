//#section common
// BatchNormalization backward rules (inference form). Parameters are indexed per channel, or per
// activation (every non-batch element) for the old spatial = 0 form.
struct U {
  total: u32, C: u32, inner: u32, per_activation: u32,
  eps: f32, _p0: u32, _p1: u32, _p2: u32,
}
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> r: array<f32>;
@group(0) @binding(3) var<storage, read> scale: array<f32>;

fn param_index(i: u32) -> u32 {
  if (u.per_activation != 0u) {
    return i % (u.C * u.inner);
  }
  return (i / u.inner) % u.C;
}

//#section grad
// dx = dy · γ / sqrt(var + ε): BN is affine in x at inference.
@group(0) @binding(4) var<storage, read> variance: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_id(gid, nwg, 256u);
  if (i < u.total) {
    let c = param_index(i);
    out[i] = r[i] * scale[c] / sqrt(variance[c] + u.eps);
  }
}

//#section ae
// AE (spec §2.2): R_in = R ⊙ [x ≠ 0] ⊙ [γ ≠ 0].
@group(0) @binding(4) var<storage, read> x: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_id(gid, nwg, 256u);
  if (i < u.total) {
    out[i] = select(0.0, r[i], x[i] != 0.0 && scale[param_index(i)] != 0.0);
  }
}
