//#section unary
// Element-wise unary activation; the expression `{{EXPR}}` of `v` is the variant (one pipeline per op).
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
{{EXTRA_BINDINGS}}

fn op(v: f32) -> f32 {
  return {{EXPR}};
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_id(gid, nwg, 64u);
  if (i >= u.total) {
    return;
  }
  y[i] = op(x[i]);
}

//#section bounds
// Bounds of an activation that takes them (Clip): uniforms, or one-element buffers at run time.
fn lo() -> f32 {
  return {{LO}};
}

fn hi() -> f32 {
  return {{HI}};
}
