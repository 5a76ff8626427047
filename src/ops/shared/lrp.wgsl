// The element-wise pieces of the modified-gradient rules (LRP, excitation backprop): what the
// conv and matmul launches do not do. Bindings: 0 = uniforms, 1 = the output (read_write), 2.. =
// inputs in order; each section's uniform block `u` is declared in TypeScript (lrp-kernels.ts).

//#section io
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> a: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;

//#section io3
@group(0) @binding(4) var<storage, read> m: array<f32>;

//#section input_mod
// out = an input modifier of a (x, x⁺, x⁻, ones, the sample's low or high bound from b[2s], b[2s+1]).
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_id(gid, nwg, 256u);
  if (i >= u.n) { return; }
  let v = a[i];
  let s = i / u.per;
  switch u.mode {
    case 1u: { out[i] = max(v, 0.0); }
    case 2u: { out[i] = min(v, 0.0); }
    case 3u: { out[i] = 1.0; }
    case 4u: { out[i] = b[2u * s]; }
    case 5u: { out[i] = b[2u * s + 1u]; }
    default: { out[i] = v; }
  }
}

//#section param_mod
// out = cw·w + cp·w⁺ + cn·w⁻ + c1 (Zennit's parameter modifiers: W⁺, W⁻, W + γW⁺, all ones).
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_id(gid, nwg, 256u);
  if (i >= u.n) { return; }
  let w = a[i];
  out[i] = u.cw * w + u.cp * max(w, 0.0) + u.cn * min(w, 0.0) + u.c1;
}

//#section axpy
// out += f·a
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_id(gid, nwg, 256u);
  if (i < u.n) { out[i] = out[i] + u.f * a[i]; }
}

//#section quotient
// out = [mask of m]·a / stab(b). stab 0: z + 1e-6·sign(z), sign(0) = +1 (Zennit); 1: z + 1e-20
// (TorchRay); 2: the plain quotient, 0 where z = 0. mask 0: none, 1: m > 0, 2: m < 0.
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_id(gid, nwg, 256u);
  if (i >= u.n) { return; }
  let z = b[i];
  var keep = true;
  if (u.mask == 1u) { keep = m[i] > 0.0; }
  if (u.mask == 2u) { keep = m[i] < 0.0; }
  var q = 0.0;
  switch u.stab {
    case 0u: { q = a[i] / (z + select(-1e-6, 1e-6, z >= 0.0)); }
    case 1u: { q = a[i] / (z + 1e-20); }
    default: { q = select(0.0, a[i] / z, z != 0.0); }
  }
  out[i] = select(0.0, q, keep);
}

//#section mac
// out += f·a⊙b (the reducer's terms: a modified input times a transposed pass)
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_id(gid, nwg, 256u);
  if (i < u.n) { out[i] = out[i] + u.f * a[i] * b[i]; }
}

//#section scale_by
// out *= a (input times gradient, in place)
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_id(gid, nwg, 256u);
  if (i < u.n) { out[i] = out[i] * a[i]; }
}
