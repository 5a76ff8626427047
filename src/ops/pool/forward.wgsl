//#section common
// 2-D pooling over N·C planes of H×W (1-D pooling is H = 1). Window (oh, ow) covers input rows
// oh·sh − pt + i·dh, i < kh (columns likewise); taps outside the input are padding, which never
// wins a max. The padded extent [−pt, H + pb) bounds what count_include_pad counts: taps past it,
// which only ceil_mode windows reach, are never counted.
const WG: u32 = 64u;
const LOWEST: f32 = -0x1.fffffep+127f;
const NONE: u32 = 0xffffffffu;

struct Window {
  h0: i32,
  w0: i32,
}

fn window(oh: u32, ow: u32) -> Window {
  return Window(i32(oh * u.sh) - u.pt, i32(ow * u.sw) - u.pl);
}

fn inside(h: i32, w: i32) -> bool {
  return h >= 0 && h < i32(u.H) && w >= 0 && w < i32(u.W);
}

// Taps of a window that average pooling divides by.
fn avg_count(win: Window) -> f32 {
  var n = 0u;
  for (var i = 0u; i < u.kh; i++) {
    let h = win.h0 + i32(i * u.dh);
    for (var j = 0u; j < u.kw; j++) {
      let w = win.w0 + i32(j * u.dw);
      if (u.cip != 0u) {
        if (h >= -u.pt && h < i32(u.H) + u.pb && w >= -u.pl && w < i32(u.W) + u.pr) {
          n++;
        }
      } else if (inside(h, w)) {
        n++;
      }
    }
  }
  return f32(max(n, 1u));
}

//#section window
// The window walk, one thread per window (u.total of them): the in-input taps in row-major window
// order, each as its plane-relative index `at` and value `v` = {{LOAD}}, folded into `acc` (and, for
// an arg-max, `idx`) by the variant's hooks. Used by the forward pools, the max-pool arg-max and
// the AE z-rule's S pass.
{{BINDINGS}}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_id(gid, nwg, WG);
  if (i >= u.total) {
    return;
  }
  let ow = i % u.OW;
  let oh = (i / u.OW) % u.OH;
  let base = (i / (u.OW * u.OH)) * u.H * u.W;
  let win = window(oh, ow);
  var acc = {{INIT}};
  var idx = NONE;
  for (var a = 0u; a < u.kh; a++) {
    let h = win.h0 + i32(a * u.dh);
    for (var b = 0u; b < u.kw; b++) {
      let w = win.w0 + i32(b * u.dw);
      if (inside(h, w)) {
        let at = u32(h) * u.W + u32(w);
        let v = {{LOAD}};
        {{ACCUMULATE}}
      }
    }
  }
  {{FINISH}}
}

//#section global
// The global walk, one workgroup per plane (u.total of them): strided partial results over the
// plane's taps `at` (values `v` = {{LOAD}}), then a tree reduction of (part, part_idx) in which
// COMBINE folds the pair (v, j) of the upper half into the lower. For a max with arg-max, each
// thread visits its taps in increasing order and the tree prefers the lower index among equal
// values, so ties go to the first position.
{{BINDINGS}}
var<workgroup> part: array<f32, 64>;
var<workgroup> part_idx: array<u32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let plane = wid.x + wid.y * nwg.x;
  let n = u.H * u.W;
  let base = plane * n;
  var acc = {{INIT}};
  var idx = NONE;
  if (plane < u.total) {
    for (var at = lid.x; at < n; at += WG) {
      let v = {{LOAD}};
      {{ACCUMULATE}}
    }
  }
  part[lid.x] = acc;
  part_idx[lid.x] = idx;
  workgroupBarrier();
  for (var half = WG / 2u; half > 0u; half >>= 1u) {
    if (lid.x < half) {
      let v = part[lid.x + half];
      let j = part_idx[lid.x + half];
      {{COMBINE}}
    }
    workgroupBarrier();
  }
  if (lid.x == 0u && plane < u.total) {
    {{FINISH}}
  }
}
