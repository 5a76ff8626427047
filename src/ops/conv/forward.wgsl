//#section pixels
// Direct 2-D convolution (and its input-gradient gather) for one group of channels.
// One invocation computes TP consecutive outputs of one row × TC output channels, so every
// loaded input value feeds TC multiply-adds and every weight TP. The unrolled parts (prelude,
// accumulators, loop body, store) are generated per variant in kernels.ts; shapes stay uniforms.
// Weights arrive packed as [group][channel block][cin][tap][TC] so the TC weights of one tap
// are contiguous. With subgroups, each lane loads one of every 8 consecutive weights and the
// others are taken with subgroupBroadcast: a uniform value costs one load per 8 lanes.
// Threads past the end are clamped onto the last tile instead of returning, which keeps the
// loops in uniform control flow (required by subgroup operations) and only the store is masked.
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> wp: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

fn fetch(base: u32, r: i32, c: i32, ok: bool) -> f32 {
  return select(0.0, x[base + u32(select(0, r * i32(u.w) + c, ok))], ok);
}

@compute @workgroup_size({{WG}})
fn main(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u{{LANE_ARG}}) {
  let t = wid.x * {{WG}}u + lid.x;
  let tile = min(t, u.ntiles - 1u);
  let orow = tile / u.tiles_w;
  let ocol0 = (tile % u.tiles_w) * {{TP}}u;
  let g = wid.y / u.nkb;
  let kb = wid.y % u.nkb;
  let n = wid.z;
  let plane = u.h * u.w;
  let taps = u.kh * u.kw;
  var xoff = (n * u.groups + g) * u.cin * plane;
  var woff = (g * u.nkb + kb) * u.cin * taps * {{TC}}u{{LANE_OFF}};
{{PRELUDE}}
{{ACC}}
  for (var ci = 0u; ci < u.cin; ci++) {
{{BODY}}
    xoff += plane;
  }
  let live = t < u.ntiles;
  let ybase = ((n * u.groups + g) * u.kout) * u.oh * u.ow + orow * u.ow;
{{STORE}}
}

//#section lanes3x3
// 3×3 stride-1 convolution with output channels on lanes, for one group of channels.
// Measured on lavapipe (software Vulkan): every storage-buffer load costs as much as tens of
// FMAs, whether its address is uniform or not, while subgroup shuffles are nearly free. So a
// workgroup of 64 lanes computes 64 output channels (one per lane) of an R×CC pixel tile, and
// per input channel each lane loads NLD vec4s of the window (each as 4 values of a window row,
// zero where the row or column lies outside the source: the padding is a bounds test on
// offsets computed once, no padded copy), plus the nine loads of its own weights: the NLD·8
// vec4s of an 8-lane group cover the (R+2)×(CC+2) input window, and each value reaches the
// lanes that need it through subgroupShuffle. Every value then feeds up to nine FMAs per lane.
// Weights are read straight from W, whose nine taps per (output, input) channel pair are
// contiguous: repacking them costs a pass that small planes never repay.
// The prelude (window offsets), accumulators, loop body and stores are generated in kernels.ts.
// The window loads only need groups of 8 consecutive subgroup lanes: any subgroup size ≥ 8 works.
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
{{EXTRA}}
@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wid: vec3u,
        @builtin(subgroup_invocation_id) sl: u32) {
  let r0 = (wid.x / u.tiles_w) * {{R}}u;
  let c0 = (wid.x % u.tiles_w) * {{CC}}u;
  let g = wid.y / u.nkb;
  let kb = wid.y % u.nkb;
  let n = wid.z;
  let co = kb * 64u + li;
  let lane = sl & 7u;
  let sb = sl - lane;
  let plane = u.h * u.w;
  // This lane's vec4 of the window: row lane / VPR of each load, columns 4·(lane % VPR) + 0..3.
  let wr = i32(r0 + lane / {{VPR}}u) - u.pad_t;
  let wc = i32(c0 + (lane % {{VPR}}u) * 4u) - u.pad_l;
{{PRELUDE}}
  var xoff = (n * u.groups + g) * u.cin * plane;
  var woff = g * u.wgroup + min(co, u.kout - 1u) * u.wsco;
{{ACC}}
  for (var ci = 0u; ci < u.cin; ci++) {
{{BODY}}
    xoff += plane;
    woff += u.wsci;
  }
  if (co < u.kout) {
    let b = select(0.0, bias[min(g * u.kout + co, arrayLength(&bias) - 1u)], u.has_bias != 0u);
    let yb = ((n * u.groups + g) * u.kout + co) * u.oh * u.ow;
{{STORE}}
  }
}

//#section lanes1x1
// 1×1 stride-1 unpadded convolution (a matrix product per image) with pixels on lanes.
// On lavapipe every storage-buffer load costs as much as tens of FMAs (see the lanes3x3 section), so
// per input channel a lane issues one vec4 load of its 4 consecutive pixels and TC/8 scalar loads of
// weights: the 8 lanes of a group load the weights of TC output channels between them and pass
// them round with subgroupShuffle. Each lane then does TC vec4 FMAs (TC channels × 4 pixels).
// Planes whose length is a multiple of 4 are read as vec4s; others as 4 values, zero past the
// plane's end (variant `.odd`: no padded copy of the input).
// The accumulators, loop body and stores are generated in kernels.ts.
@group(0) @binding(1) var<storage, read> x: array<{{XT}}>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
{{EXTRA}}

@compute @workgroup_size({{WG}})
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wid: vec3u,
        @builtin(subgroup_invocation_id) sl: u32) {
  // Lanes past the plane are clamped onto its last vec4 so that every lane stays in the loop
  // (subgroup operations need them) and only the store is masked.
  let q = min(wid.x * {{WG}}u + li, u.plane4 - 1u);
  let live = wid.x * {{WG}}u + li < u.plane4;
  let g = wid.y / u.nkb;
  let kb = wid.y % u.nkb;
  let n = wid.z;
  let lane = sl & 7u;
  let sb = sl - lane;
{{XOFF}}
  // This lane loads the weights of channels kb·TC + lane + 8j.
  var woff = g * u.wgroup;
{{WOFFS}}
{{ACC}}
  for (var ci = 0u; ci < u.cin; ci++) {
{{BODY}}
    xoff += {{XSTEP}};
    woff += u.wsci;
  }
  let p0 = q * 4u;
  let yb = (n * u.groups + g) * u.kout * u.plane;
{{STORE}}
}

//#section pack
// Repack convolution weights W[g·kout_g + co][cin_g][tap] into [g][co block][ci][tap][TC]
// (zero-filled past the group's channel count) so that a conv thread reads the TC weights of
// one tap contiguously. `mode` bit 0 swaps the roles of the two channel axes (input gradient)
// and bit 1 flips the taps (stride-1 input gradient, which is a plain convolution of dY).
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> packed: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_id(gid, nwg, 256u);
  if (i >= u.total) { return; }
  // i = (((g * nkb + kb) * cin + ci) * taps + tap) * tc + j; the tail past the last block is padding.
  let j = i % u.tc;
  var r = i / u.tc;
  let tap = r % u.taps; r = r / u.taps;
  let ci = r % u.cin; r = r / u.cin;
  let kb = r % u.nkb;
  let g = r / u.nkb;
  let co = kb * u.tc + j;
  var v = 0.0;
  if (g < u.groups && co < u.kout) {
    // Source layout: [groups·wk][wc][taps]; forward reads (co, ci), the gradient (ci, co).
    let st = select(tap, u.taps - 1u - tap, (u.mode & 2u) != 0u);
    if ((u.mode & 1u) == 0u) {
      v = w[((g * u.wk + co) * u.wc + ci) * u.taps + st];
    } else {
      v = w[((g * u.wk + ci) * u.wc + co) * u.taps + st];
    }
  }
  packed[i] = v;
}
