//#section spread
// The transpose of a reduction, gather form: one thread per input element i reads what its output
// o(i) hands back (`g`, from `src`) and stores VALUE, per variant (kernels.ts): a scale, an
// arg-max test, x-dependent factors. o(i) is `out_index` of the common section.
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;
{{BINDINGS}}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_id(gid, nwg, WG);
  if (i >= u.total) {
    return;
  }
  let o = out_index(i);
  let g = src[o];
  dst[i] = {{VALUE}};
}
