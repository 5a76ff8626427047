// Backward kernels of the layout family (rules in copy-rules.ts and pad-rules.ts). Plain data
// movement reuses the forward copy and pad kernels (forward.wgsl); what they cannot express lives
// here. Uniform blocks are declared in TypeScript.

//#section pad_fold
// Assembled after forward.wgsl's pad_index (map_index of the mode).
// Gradient of a reflect/edge/wrap Pad along one axis: out[o, k, i] = Σ over padded positions c
// whose source index is k of src[o, c, i]. The source of c is c − begin when that lies inside
// [0, len) (the direct term); only the padded margins can map elsewhere, so only they are scanned.
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let j = linear_id(gid, nwg, 256u);
  if (j >= u.n) { return; }
  let o = j / (u.len * u.inner);
  let rest = j - o * u.len * u.inner;
  let k = i32(rest / u.inner);
  let i = rest - u32(k) * u.inner;
  let n = i32(u.len);
  let plen = i32(u.plen);
  let base = o * u.plen * u.inner + i;
  var acc = 0.0;
  let c0 = k + u.begin;
  if (c0 >= 0 && c0 < plen) { acc += src[base + u32(c0) * u.inner]; }
  for (var c = 0; c < min(u.begin, plen); c++) {
    if (map_index(c - u.begin, n) == k) { acc += src[base + u32(c) * u.inner]; }
  }
  for (var c = max(u.begin + n, 0); c < plen; c++) {
    if (map_index(c - u.begin, n) == k) { acc += src[base + u32(c) * u.inner]; }
  }
  out[j] = acc;
}
