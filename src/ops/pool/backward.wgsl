//#section gather
// Gather form of the pooling transpose: each input element (u.total planes of H×W) sums over the
// windows that contain it what each hands to it (no atomics). The windows containing row h are
// oh = (h + pt − a·dh) / sh where divisible. Bindings: 1 `sig` (one value per window), 2 `dst`,
// then the variant's.
@group(0) @binding(1) var<storage, read> sig: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;
{{BINDINGS}}

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
  {{STORE}}
}
