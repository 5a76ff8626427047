// 1×1 stride-1 unpadded convolution (a matrix product per image) with pixels on lanes.
// On lavapipe every storage-buffer load costs as much as tens of FMAs (see conv3x3.wgsl), so
// per input channel a lane issues one vec4 load of its 4 consecutive pixels and $TC8u scalar loads of
// weights: the 8 lanes of a group load the weights of $TCu output channels between them and pass
// them round with subgroupShuffle. Each lane then does $TCu vec4 FMAs ($TCu channels × 4 pixels).
// Planes are read as vec4s, so their length is a multiple of 4 (conv.ts pads them otherwise).
// The accumulators, loop body and stores are generated in conv.ts.
struct U {
  n: u32, cin: u32, kout: u32, groups: u32,
  plane: u32, plane4: u32, nkb: u32, has_bias: u32,
  wsco: u32, wsci: u32, wgroup: u32, pad0: u32,
}
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> x: array<vec4f>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

@compute @workgroup_size($WG)
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wid: vec3u,
        @builtin(subgroup_invocation_id) sl: u32) {
  // Lanes past the plane are clamped onto its last vec4 so that every lane stays in the loop
  // (subgroup operations need them) and only the store is masked.
  let q = min(wid.x * $WGu + li, u.plane4 - 1u);
  let live = wid.x * $WGu + li < u.plane4;
  let g = wid.y / u.nkb;
  let kb = wid.y % u.nkb;
  let n = wid.z;
  let lane = sl & 7u;
  let sb = sl - lane;
  var xoff = (n * u.groups + g) * u.cin * u.plane4 + q;
  // This lane loads the weights of channels kb·TC + lane + 8j.
  var woff = g * u.wgroup;
$WOFFS
$ACC
  for (var ci = 0u; ci < u.cin; ci++) {
$BODY
    xoff += u.plane4;
    woff += u.wsci;
  }
  let p0 = q * 4u;
  let yb = (n * u.groups + g) * u.kout * u.plane;
$STORE
}
