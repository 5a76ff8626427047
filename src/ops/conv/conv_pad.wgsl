// Zero-padded, shifted copy of a convolution input: dst[nc][r][c] = src[nc][r - pad_t][c - pad_l]
// (0 outside the source) for r < hp, c < wp, in destination planes of `dplane` ≥ hp·wp values
// (the tail zero-filled). The conv3x3 kernel uses it for planes whose rows are whole vec4s and
// need no bounds tests, the conv1x1 kernel for planes of a multiple of 4 values.
// The pads may be negative (input-gradient launches).
struct U { total: u32, h: u32, w: u32, hp: u32, wp: u32, dplane: u32, pad_t: i32, pad_l: i32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_id(gid, nwg, 256u);
  if (i >= u.total) { return; }
  let k = i % u.dplane;
  let nc = i / u.dplane;
  let r = k / u.wp;
  let c = k % u.wp;
  let sr = i32(r) - u.pad_t;
  let sc = i32(c) - u.pad_l;
  var v = 0.0;
  if (r < u.hp && sr >= 0 && sr < i32(u.h) && sc >= 0 && sc < i32(u.w)) {
    v = src[(nc * u.h + u32(sr)) * u.w + u32(sc)];
  }
  dst[i] = v;
}
