// Direct 2-D convolution (and its input-gradient gather) for one group of channels.
// One invocation computes TP consecutive outputs of one row × TC output channels, so every
// loaded input value feeds TC multiply-adds and every weight TP. The unrolled parts (prelude,
// accumulators, loop body, store) are generated per variant in src/kernels/conv.ts; shapes stay uniforms.
// Weights arrive packed as [group][channel block][cin][tap][TC] so the TC weights of one tap
// are contiguous. With subgroups, each lane loads one of every 8 consecutive weights and the
// others are taken with subgroupBroadcast: a uniform value costs one load per 8 lanes.
// Threads past the end are clamped onto the last tile instead of returning, which keeps the
// loops in uniform control flow (required by subgroup operations) and only the store is masked.
struct U {
  n: u32, cin: u32, h: u32, w: u32,
  kout: u32, oh: u32, ow: u32, groups: u32,
  kh: u32, kw: u32, sh: u32, sw: u32,
  dh: u32, dw: u32, pad_t: i32, pad_l: i32,
  tiles_w: u32, ntiles: u32, nkb: u32, has_bias: u32,
}
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> wp: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

fn fetch(base: u32, r: i32, c: i32, ok: bool) -> f32 {
  return select(0.0, x[base + u32(select(0, r * i32(u.w) + c, ok))], ok);
}

@compute @workgroup_size($WG)
fn main(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u$LANE_ARG) {
  let t = wid.x * $WGu + lid.x;
  let tile = min(t, u.ntiles - 1u);
  let orow = tile / u.tiles_w;
  let ocol0 = (tile % u.tiles_w) * $TPu;
  let g = wid.y / u.nkb;
  let kb = wid.y % u.nkb;
  let n = wid.z;
  let plane = u.h * u.w;
  let taps = u.kh * u.kw;
  var xoff = (n * u.groups + g) * u.cin * plane;
  var woff = (g * u.nkb + kb) * u.cin * taps * $TCu$LANE_OFF;
$PRELUDE
$ACC
  for (var ci = 0u; ci < u.cin; ci++) {
$BODY
    xoff += plane;
  }
  let live = t < u.ntiles;
  let ybase = ((n * u.groups + g) * u.kout) * u.oh * u.ow + orow * u.ow;
$STORE
}
