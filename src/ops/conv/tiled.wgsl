//#section pack
// W [groups·wk][wc][taps] repacked as the GEMM's left operand, [g][tap][ci (cin_p)][co (kout_p)],
// zero past the group's channels: a K-tile row of one tap is then BM contiguous output channels,
// loaded as vec4s with no bounds test (cin_p and kout_p are multiples of BK and BM). `flip`
// reverses the taps and the strides swap the channel axes (the stride-1 input gradient).
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> wp: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_id(gid, nwg, 256u);
  if (i >= u.total) { return; }
  let co = i % u.kout_p;
  var r = i / u.kout_p;
  let ci = r % u.cin_p; r = r / u.cin_p;
  let t = r % u.taps;
  let g = r / u.taps;
  var v = 0.0;
  if (co < u.kout && ci < u.cin) {
    let tap = select(t, u.taps - 1u - t, u.flip != 0u);
    v = w[g * u.wgroup + co * u.wsco + ci * u.wsci + tap];
  }
  wp[i] = v;
}

//#section conv
// Implicit GEMM: Y[g·kout + co, pixel] = Σ_{tap, ci} Wp[g, tap, ci, co] · X[ci, pixel shifted by tap].
// One workgroup owns a BM (output channels) × BN (output pixels, the batch folded in) tile; each
// thread 4 channels × 4 pixels. The reduction runs over taps (outer) and BK-channel slices (inner),
// each staged through workgroup memory: the weights as vec4 rows, the inputs gathered one value
// per thread and row. A thread's loaded pixel is fixed, so its batch index and window origin are
// computed once; the inner loops add offsets only.
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> wp: array<vec4f>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

const BM = {{BM}}u;
const BN = {{BN}}u;
const BK = {{BK}}u;
const NT = {{NT}}u;
const BM4 = BM / 4u;
const BN4 = BN / 4u;
// Input rows (of BK) each thread gathers per slice, at a stride of NT / BN rows.
const RB = BK * BN / NT;

var<workgroup> As: array<vec4f, BK * BM4>;
var<workgroup> Bs: array<vec4f, BK * BN4>;

@compute @workgroup_size(NT)
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  // Pixel tiles fold over x and y (there may be more than 65535); z = group · channel tiles.
  let tile = wid.x + wid.y * nwg.x;
  if (tile >= u.ntiles) { return; }
  let g = wid.z / u.nmt;
  let m0 = (wid.z % u.nmt) * BM;
  let p0 = tile * BN;
  let plane = u.oh * u.ow;
  let hw = u.h * u.w;

  // This thread's gathered pixel: column lp of the B tile, rows kr0 + j·(NT / BN).
  let lp = li % BN;
  let kr0 = li / BN;
  let q = p0 + lp;
  let live = q < u.npix;
  let qn = q / plane;
  let qr = q % plane;
  let ih0 = i32((qr / u.ow) * u.sh) - u.pad_t;
  let iw0 = i32((qr % u.ow) * u.sw) - u.pad_l;
  let xn = (qn * u.groups + g) * u.cin * hw;

  // This thread's outputs: channels m0 + ty·4 + i, pixels p0 + tx·4 + j.
  let tx = li % BN4;
  let ty = li / BN4;
  var acc0 = vec4f(0.0);
  var acc1 = vec4f(0.0);
  var acc2 = vec4f(0.0);
  var acc3 = vec4f(0.0);

  let taps = u.kh * u.kw;
  for (var kh = 0u; kh < u.kh; kh++) {
    let ih = ih0 + i32(kh * u.dh);
    let rok = live && ih >= 0 && ih < i32(u.h);
    for (var kw = 0u; kw < u.kw; kw++) {
      let iw = iw0 + i32(kw * u.dw);
      let ok = rok && iw >= 0 && iw < i32(u.w);
      let xo = xn + u32(ih) * u.w + u32(iw);
      // vec4 row of (g, tap, ci = 0) at this workgroup's first channel.
      var wo = ((g * taps + kh * u.kw + kw) * u.cin_p) * u.kout_p4 + m0 / 4u;
      for (var c0 = 0u; c0 < u.cin; c0 += BK) {
        for (var i = li; i < BK * BM4; i += NT) {
          As[i] = wp[wo + (i / BM4) * u.kout_p4 + i % BM4];
        }
        for (var j = 0u; j < RB; j++) {
          let k = kr0 + j * (NT / BN);
          let ci = c0 + k;
          var v = 0.0;
          if (ok && ci < u.cin) { v = x[xo + ci * hw]; }
          Bs[k * BN4 + lp / 4u][lp % 4u] = v;
        }
        workgroupBarrier();
        for (var k = 0u; k < BK; k++) {
          let a = As[k * BM4 + ty];
          let b = Bs[k * BN4 + tx];
          acc0 = fma(vec4f(a.x), b, acc0);
          acc1 = fma(vec4f(a.y), b, acc1);
          acc2 = fma(vec4f(a.z), b, acc2);
          acc3 = fma(vec4f(a.w), b, acc3);
        }
        workgroupBarrier();
        wo += BK * u.kout_p4;
      }
    }
  }

  // Epilogue: bias, and the scatter of the 4 pixels back into N×K×OH×OW.
  let kt = u.groups * u.kout;
  for (var j = 0u; j < 4u; j++) {
    let p = p0 + tx * 4u + j;
    if (p >= u.npix) { break; }
    let yb = (p / plane) * kt * plane + p % plane;
    for (var i = 0u; i < 4u; i++) {
      let co = m0 + ty * 4u + i;
      if (co < u.kout) {
        let oc = g * u.kout + co;
        let b = select(0.0, bias[min(oc, arrayLength(&bias) - 1u)], u.has_bias != 0u);
        var a = acc0;
        if (i == 1u) { a = acc1; } else if (i == 2u) { a = acc2; } else if (i == 3u) { a = acc3; }
        y[yb + oc * plane] = a[j] + b;
      }
    }
  }
}
