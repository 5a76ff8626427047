// 3×3 stride-1 convolution with output channels on lanes, for one group of channels.
// Measured on lavapipe (software Vulkan): every storage-buffer load costs as much as tens of
// FMAs, whether its address is uniform or not, while subgroup shuffles are nearly free. So a
// workgroup of 64 lanes computes 64 output channels (one per lane) of a $Ru×$CCu pixel tile, and
// per input channel each lane issues only $NLDu vec4 loads of x plus the nine loads of its own
// weights: the $NLDu·8 loaded vec4s of an 8-lane group cover the (R+2)×(CC+2) input window,
// and each value reaches the lanes that need it through subgroupShuffle. Every value then feeds
// up to nine FMAs per lane. x is a zero-padded copy (conv_pad.wgsl) with vec4-aligned rows, so
// the loop has no bounds tests. Weights are read straight from W, whose nine taps per (output,
// input) channel pair are contiguous: repacking them costs a pass that small planes never repay.
// The accumulators, loop body and stores are generated in conv.ts.
// The window loads only need groups of 8 consecutive subgroup lanes: any subgroup size ≥ 8 works.
struct U {
  n: u32, cin: u32, kout: u32, groups: u32,
  oh: u32, ow: u32, hp: u32, wp4: u32,
  tiles_w: u32, nkb: u32, has_bias: u32, pad0: u32,
  pad1: u32, wsco: u32, wsci: u32, wgroup: u32,
}
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> x: array<vec4f>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wid: vec3u,
        @builtin(subgroup_invocation_id) sl: u32) {
  let r0 = (wid.x / u.tiles_w) * $Ru;
  let c0 = (wid.x % u.tiles_w) * $CCu;
  let g = wid.y / u.nkb;
  let kb = wid.y % u.nkb;
  let n = wid.z;
  let co = kb * 64u + li;
  let lane = sl & 7u;
  let sb = sl - lane;
  let plane4 = u.hp * u.wp4;
  // This lane's vec4 of the window: row lane / VPR of each load, column lane % VPR.
  var xoff = (n * u.groups + g) * u.cin * plane4 + (r0 + lane / $VPRu) * u.wp4 + c0 / 4u + lane % $VPRu;
  var woff = g * u.wgroup + min(co, u.kout - 1u) * u.wsco;
$ACC
  for (var ci = 0u; ci < u.cin; ci++) {
$BODY
    xoff += plane4;
    woff += u.wsci;
  }
  if (co < u.kout) {
    let b = select(0.0, bias[min(g * u.kout + co, arrayLength(&bias) - 1u)], u.has_bias != 0u);
    let yb = ((n * u.groups + g) * u.kout + co) * u.oh * u.ow;
$STORE
  }
}
