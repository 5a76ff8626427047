// Repack convolution weights W[g·kout_g + co][cin_g][tap] into [g][co block][ci][tap][TC]
// (zero-filled past the group's channel count) so that a conv thread reads the TC weights of
// one tap contiguously. `mode` bit 0 swaps the roles of the two channel axes (input gradient)
// and bit 1 flips the taps (stride-1 input gradient, which is a plain convolution of dY).
struct U { total: u32, groups: u32, kout: u32, cin: u32, taps: u32, nkb: u32, tc: u32, mode: u32, wk: u32, wc: u32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<uniform> u: U;
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
