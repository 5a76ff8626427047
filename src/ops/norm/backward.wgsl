//#section rule
// BatchNormalization backward rules (inference form), one thread per element of the signal:
// out = {{RULE}} (param_index from forward.wgsl).
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> r: array<f32>;
@group(0) @binding(3) var<storage, read> scale: array<f32>;
@group(0) @binding(4) var<storage, read> aux: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_id(gid, nwg, 256u);
  if (i < u.total) {
    let c = param_index(i);
    out[i] = {{RULE}};
  }
}
