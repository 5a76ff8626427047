//#section common
// 2-D pooling over N·C planes of H×W (1-D pooling is H = 1). Window (oh, ow) covers input rows
// oh·sh − pt + i·dh, i < kh (columns likewise); taps outside the input are padding, which never
// wins a max. The padded extent [−pt, H + pb) bounds what count_include_pad counts: taps past it,
// which only ceil_mode windows reach, are never counted.
struct U {
  total: u32, H: u32, W: u32, OH: u32,
  OW: u32, kh: u32, kw: u32, sh: u32,
  sw: u32, dh: u32, dw: u32, pt: i32,
  pl: i32, pb: i32, pr: i32, cip: u32,
  is_global: u32, _p0: u32, _p1: u32, _p2: u32,
}
@group(0) @binding(0) var<uniform> u: U;

const WG: u32 = 64u;
const LOWEST: f32 = -0x1.fffffep+127f;

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

//#section forward
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_id(gid, nwg, WG);
  if (i >= u.total) {
    return;
  }
  let ow = i % u.OW;
  let oh = (i / u.OW) % u.OH;
  let plane = i / (u.OW * u.OH);
  let base = plane * u.H * u.W;
  let win = window(oh, ow);
  var acc = {{INIT}};
  for (var a = 0u; a < u.kh; a++) {
    let h = win.h0 + i32(a * u.dh);
    for (var b = 0u; b < u.kw; b++) {
      let w = win.w0 + i32(b * u.dw);
      if (inside(h, w)) {
        let v = x[base + u32(h) * u.W + u32(w)];
        {{ACCUMULATE}}
      }
    }
  }
  y[i] = {{FINISH}};
}

//#section global
// One workgroup per plane: strided partial results, then a tree reduction.
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
var<workgroup> part: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let plane = wid.x + wid.y * nwg.x;
  let n = u.H * u.W;
  var acc = {{INIT}};
  if (plane < u.total) {
    for (var k = lid.x; k < n; k += WG) {
      let v = x[plane * n + k];
      {{ACCUMULATE}}
    }
  }
  part[lid.x] = acc;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid.x < s) {
      let v = part[lid.x + s];
      acc = part[lid.x];
      {{ACCUMULATE}}
      part[lid.x] = acc;
    }
    workgroupBarrier();
  }
  if (lid.x == 0u && plane < u.total) {
    acc = part[0];
    y[plane] = {{GLOBAL_FINISH}};
  }
}

//#section argmax
// Plane-relative flat index (h·W + w) of each window's maximum; ties go to the first tap in
// row-major window order, padding never wins.
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> arg: array<u32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_id(gid, nwg, WG);
  if (i >= u.total) {
    return;
  }
  let ow = i % u.OW;
  let oh = (i / u.OW) % u.OH;
  let plane = i / (u.OW * u.OH);
  let base = plane * u.H * u.W;
  let win = window(oh, ow);
  var best = LOWEST;
  var idx = 0xffffffffu;
  for (var a = 0u; a < u.kh; a++) {
    let h = win.h0 + i32(a * u.dh);
    for (var b = 0u; b < u.kw; b++) {
      let w = win.w0 + i32(b * u.dw);
      if (inside(h, w)) {
        let at = u32(h) * u.W + u32(w);
        let v = x[base + at];
        if (idx == 0xffffffffu || v > best) {
          best = max(v, LOWEST);
          idx = at;
        }
      }
    }
  }
  arg[i] = idx;
}

//#section backward
// Gather form of the pooling transpose: each input element sums over the windows that contain
// it (no atomics). The windows containing row h are oh = (h + pt − a·dh) / sh where divisible.
@group(0) @binding(1) var<storage, read> gy: array<f32>;
@group(0) @binding(2) var<storage, read_write> gx: array<f32>;
{{EXTRA_BINDING}}

fn contribution(o: u32, oh: u32, ow: u32, at: u32) -> f32 {
  {{CONTRIBUTION}}
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_id(gid, nwg, WG);
  let n = u.H * u.W;
  if (i >= u.total * n) {
    return;
  }
  let plane = i / n;
  let at = i % n;
  let h = i32(at / u.W);
  let w = i32(at % u.W);
  let ob = plane * u.OH * u.OW;
  var acc = 0.0;
  if (u.is_global != 0u) {
    acc = contribution(ob, 0u, 0u, at);
  } else {
    for (var a = 0u; a < u.kh; a++) {
      let nh = h + u.pt - i32(a * u.dh);
      if (nh < 0 || nh % i32(u.sh) != 0 || u32(nh) / u.sh >= u.OH) {
        continue;
      }
      let oh = u32(nh) / u.sh;
      for (var b = 0u; b < u.kw; b++) {
        let nw = w + u.pl - i32(b * u.dw);
        if (nw < 0 || nw % i32(u.sw) != 0 || u32(nw) / u.sw >= u.OW) {
          continue;
        }
        let ow = u32(nw) / u.sw;
        acc += contribution(ob + oh * u.OW + ow, oh, ow, at);
      }
    }
  }
  gx[i] = acc;
}
