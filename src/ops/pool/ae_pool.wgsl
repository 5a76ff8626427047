//#section zrule
// AE pooling z-rule (spec §2.3), assembled after pool.wgsl's `common` section (uniform struct U,
// window geometry): x̂ = x⁺ + 1e-9, Z = pool(x̂), S = safe_div(R, Z), R_in = x̂ ⊙ (∂pool/∂x̂)ᵀ S.
// Taps outside the input are padding, which is no input: it never wins a max and adds nothing.
// The S buffer holds what each window hands to one tap: S itself for max, and for average
// S / count = R / Σ x̂ (the divisor, count_include_pad or not, cancels between Z and ∂pool/∂x̂).
const NONE: u32 = 0xffffffffu;

fn xhat(v: f32) -> f32 {
  return max(v, 0.0) + 1e-9;
}

fn safe_div(a: f32, b: f32) -> f32 {
  if (b == 0.0) {
    return 0.0;
  }
  return a / b;
}

//#section s_window
// One thread per window. Max keeps the first largest x̂ in row-major window order, so a window of
// non-positive inputs (all x̂ equal) routes to its first in-input tap.
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> r: array<f32>;
@group(0) @binding(3) var<storage, read_write> s: array<f32>;
{{ARG_BINDING}}

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
  var acc = 0.0;
  var idx = NONE;
  for (var a = 0u; a < u.kh; a++) {
    let h = win.h0 + i32(a * u.dh);
    for (var b = 0u; b < u.kw; b++) {
      let w = win.w0 + i32(b * u.dw);
      if (inside(h, w)) {
        let at = u32(h) * u.W + u32(w);
        let v = xhat(x[base + at]);
        {{ACCUMULATE}}
      }
    }
  }
  {{FINISH}}
}

//#section s_global
// One workgroup per plane: strided partial results, then a tree reduction. For max, each thread
// visits its taps in increasing order and the tree prefers the lower index among equal values,
// so ties go to the first position.
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> r: array<f32>;
@group(0) @binding(3) var<storage, read_write> s: array<f32>;
{{ARG_BINDING}}
var<workgroup> part: array<f32, 64>;
var<workgroup> part_idx: array<u32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let plane = wid.x + wid.y * nwg.x;
  let n = u.H * u.W;
  var acc = 0.0;
  var idx = NONE;
  if (plane < u.total) {
    for (var at = lid.x; at < n; at += WG) {
      let v = xhat(x[plane * n + at]);
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
    {{GLOBAL_FINISH}}
  }
}

//#section gather
// R_in = x̂ ⊙ Σ over the windows containing the element of what each hands to it (gather form of
// the pooling transpose, no atomics; see pool.wgsl's backward section for the window algebra).
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> s: array<f32>;
@group(0) @binding(3) var<storage, read_write> rin: array<f32>;
{{ARG_BINDING}}

fn contribution(o: u32, at: u32) -> f32 {
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
    acc = contribution(ob, at);
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
        acc += contribution(ob + oh * u.OW + u32(nw) / u.sw, at);
      }
    }
  }
  rin[i] = xhat(x[i]) * acc;
}
