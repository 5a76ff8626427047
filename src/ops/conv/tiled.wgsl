//#section pack
// W [groups·wk][wc][taps] repacked as the GEMM's left operand, [g][tap][ci (cin_p)][co (kout_p)],
// zero past the group's channels: a K-tile row of one tap is then BM contiguous output channels,
// loaded as vec4s with no bounds test (cin_p and kout_p are multiples of BK and BM). `flip`
// reverses the taps and the strides swap the channel axes (the transposed passes: every phase of
// a strided one reads its taps from this one packing, transposed.ts); `absw` takes |W| (AE's
// general rule).
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
    // The AE passes read |W|.
    if (u.absw != 0u) { v = abs(v); }
  }
  wp[i] = v;
}

//#section conv
// Implicit GEMM: D[g·kout + co, pixel] = Σ_{tap, ci} Wp[g, tap, ci, co] · S[ci, pixel shifted by tap],
// D and S being the launch's destination and source (Y and x forward; dX and dY, or the AE
// sections and R_in, transposed). One workgroup owns a BM (destination channels) × BN
// (destination pixels, the batch folded in) tile; each thread 4 channels × 4 pixels. The
// reduction runs over taps (outer) and BK-channel slices (inner), staged through workgroup
// memory: the weights as vec4 rows, the source gathered one value per thread and row. A thread's
// gathered pixel is fixed, so its batch index and window origin are computed once; the inner loops
// add offsets only.
//   Phases: a dispatch holds up to MAX_PHASES (tiled.ts) dense GEMMs (z = phase · groups · channel
// tiles; x·y covers the largest phase's pixel tiles, the others' spare workgroups return at once:
// phases differ by a row or column at most). The forward side has one. A strided transposed pass has sh·sw (transposed.ts): the destination
// pixels of one phase (iy ≡ py − pad (mod sh), likewise x) form a sub-grid (first row r0, every
// dst_rs-th row) reached by a subset of the taps, each of which reads the source at a fixed
// offset: a stride-1 convolution over that subset, whose taps sit in the packed W at tap0 +
// kh·tap_sy + kw·tap_sx. The phase's geometry comes from the table u.ph (2 vec4s a phase: oh, ow,
// kh, kw | pad_t, pad_l, tap0, dst0 = r0·dst_w + c0), so no div or mod enters the inner loops.
// The pass (plain, fwd_ae, fwd_zb; grad, back_ae, back_zb) supplies its bindings and hooks:
//   <pass>.smem: its source tiles in workgroup memory, beside As (the weights);
//   <pass>.acc: its accumulators (4 vec4 rows each: acc[i][j] is channel i, pixel j), and what a
//     thread reads once (sample `qn` of its gathered pixel);
//   <pass>.stage: the source value `v` (gathered at `xo + ci·hw` when `ok`) into tile slot (e, c);
//   <pass>.fma: one K step, `a` the 4 weights, `e` the tile row of the thread's 4 pixels;
//   <pass>.store: destination element `idx` (sample `pn`) of channel `oc` from accumulator i, pixel j.
const BM = {{BM}}u;
const BN = {{BN}}u;
const BK = {{BK}}u;
const NT = {{NT}}u;
const BM4 = BM / 4u;
const BN4 = BN / 4u;
// Source rows (of BK) each thread gathers per slice, at a stride of NT / BN rows.
const RB = BK * BN / NT;

@group(0) @binding(2) var<storage, read> wp: array<vec4f>;
var<workgroup> As: array<vec4f, BK * BM4>;
{{SMEM}}
fn safe_div(a: f32, b: f32) -> f32 {
  return select(a / b, 0.0, b == 0.0);
}

@compute @workgroup_size(NT)
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  // Pixel tiles fold over x and y (there may be more than 65535); z = phase · group · channel tiles.
  let gm = u.groups * u.nmt;
  let ph = wid.z / gm;
  let p0v = vec4u(u.ph[2u * ph]);
  let p1v = u.ph[2u * ph + 1u];
  let oh = p0v.x;
  let ow = p0v.y;
  let npix = u.n * oh * ow;
  let tile = wid.x + wid.y * nwg.x;
  if (tile * BN >= npix) { return; }
  let g = (wid.z % gm) / u.nmt;
  let m0 = (wid.z % u.nmt) * BM;
  let p0 = tile * BN;
  let plane = oh * ow;
  let hw = u.h * u.w;

  // This thread's gathered pixel: column lp of the source tile, rows kr0 + j·(NT / BN).
  let lp = li % BN;
  let kr0 = li / BN;
  let q = p0 + lp;
  let live = q < npix;
  let qn = q / plane;
  let qr = q % plane;
  let ih0 = i32((qr / ow) * u.sh) - p1v.x;
  let iw0 = i32((qr % ow) * u.sw) - p1v.y;
  let xn = (qn * u.tgt * u.groups + g) * u.cin * hw;

  // This thread's outputs: channels m0 + ty·4 + i, pixels p0 + tx·4 + j.
  let tx = li % BN4;
  let ty = li / BN4;
{{ACC}}

  let nkh = p0v.z;
  let nkw = p0v.w;
  for (var kh = 0u; kh < nkh; kh++) {
    let ih = ih0 + i32(kh * u.dh);
    let rok = live && ih >= 0 && ih < i32(u.h);
    for (var kw = 0u; kw < nkw; kw++) {
      let iw = iw0 + i32(kw * u.dw);
      let ok = rok && iw >= 0 && iw < i32(u.w);
      let xo = xn + u32(ih) * u.w + u32(iw);
      // vec4 row of (g, tap, ci = 0) at this workgroup's first channel.
      var wo = ((g * u.taps + u32(p1v.z) + kh * u.tap_sy + kw * u.tap_sx) * u.cin_p) * u.kout_p4 + m0 / 4u;
      for (var c0 = 0u; c0 < u.cin; c0 += BK) {
        for (var i = li; i < BK * BM4; i += NT) {
          As[i] = wp[wo + (i / BM4) * u.kout_p4 + i % BM4];
        }
        for (var j = 0u; j < RB; j++) {
          let k = kr0 + j * (NT / BN);
          let ci = c0 + k;
          let inside = ok && ci < u.cin;
          let e = k * BN4 + lp / 4u;
          let c = lp % 4u;
{{STAGE}}
        }
        workgroupBarrier();
        for (var k = 0u; k < BK; k++) {
          let a = As[k * BM4 + ty];
          let e = k * BN4 + tx;
{{FMA}}
        }
        workgroupBarrier();
        wo += BK * u.kout_p4;
      }
    }
  }

  // Epilogue: the scatter of the 4 pixels back into N×channels×(dst plane) — the phase's pixel
  // (y, x) at row r0 + y·dst_rs, column c0 + x·dst_cs — and the pass's store, once per copy t of the
  // sample: with T targets per input (u.tgt) the source holds each sample T times (sample-major)
  // and a target-independent GEMM (AE's Z, Za, Zb) runs on the first copy only.
  let kt = u.groups * u.kout;
  for (var j = 0u; j < 4u; j++) {
    let p = p0 + tx * 4u + j;
    if (p >= npix) { break; }
    let pr = p % plane;
    let dpix = u32(p1v.w) + (pr / ow) * u.dst_rs * u.dst_w + (pr % ow) * u.dst_cs;
    for (var t = 0u; t < u.tgt; t++) {
      let pn = (p / plane) * u.tgt + t;
      let yb = pn * kt * u.dst_plane + dpix;
      for (var i = 0u; i < 4u; i++) {
        let co = m0 + ty * 4u + i;
        if (co < u.kout) {
          let oc = g * u.kout + co;
          let idx = yb + oc * u.dst_plane;
{{STORE}}
        }
      }
    }
  }
}

//#section plain
// The convolution itself: D = conv(S, W) (+ bias). Forward, or the input gradient: at stride 1 one
// convolution of dY with the transposed, flipped W (kernels.ts), strided one per phase (the
// `grad` pass, transposed.ts), without a bias.
@group(0) @binding(1) var<storage, read> xs: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
//#section plain.smem
var<workgroup> Bs: array<vec4f, BK * BN4>;
//#section plain.acc
  var acc: array<vec4f, 4>;
//#section plain.stage
          var v = 0.0;
          if (inside) { v = xs[xo + ci * hw]; }
          Bs[e][c] = v;
//#section plain.fma
          let b = Bs[e];
          acc[0] = fma(vec4f(a.x), b, acc[0]);
          acc[1] = fma(vec4f(a.y), b, acc[1]);
          acc[2] = fma(vec4f(a.z), b, acc[2]);
          acc[3] = fma(vec4f(a.w), b, acc[3]);
//#section plain.store
        let bv = select(0.0, bias[min(oc, arrayLength(&bias) - 1u)], u.has_bias != 0u);
        y[idx] = acc[i][j] + bv;

//#section fwd_ae
// AE's forward-side pass (backward.wgsl's fwd_ae, same semantics): with Wp = |W|, Z = conv(x⁺, |W|),
// Za = conv(a, |W|), Zb = conv(b, |W|) as three GEMMs sharing each weight tile; on a non-padded tap
// exactly one of a, b is 1, a padded tap (`inside` false) adds to neither. The epilogue forms the
// sections S = (S_c, S_a, S_b) from R and the per-sample ΣR⁺, ΣR⁻.
@group(0) @binding(1) var<storage, read> xs: array<f32>;
@group(0) @binding(3) var<storage, read> r: array<f32>;
@group(0) @binding(4) var<storage, read> spos: array<f32>;
@group(0) @binding(5) var<storage, read> sneg: array<f32>;
@group(0) @binding(6) var<storage, read_write> s: array<vec4f>;
const F_CONTRIB = 1u;
const F_ACTIVATED = 2u;
const F_INACTIVATED = 4u;
fn on(f: u32) -> bool {
  return (u.flags & f) != 0u;
}
//#section fwd_ae.smem
var<workgroup> Bx: array<vec4f, BK * BN4>;
var<workgroup> Ba: array<vec4f, BK * BN4>;
var<workgroup> Bb: array<vec4f, BK * BN4>;
//#section fwd_ae.acc
  var z: array<vec4f, 4>;
  var za: array<vec4f, 4>;
  var zb: array<vec4f, 4>;
//#section fwd_ae.stage
          var v = 0.0;
          if (inside) { v = xs[xo + ci * hw]; }
          Bx[e][c] = max(v, 0.0);
          Ba[e][c] = select(0.0, 1.0, inside && v > 0.0);
          Bb[e][c] = select(0.0, 1.0, inside && v <= 0.0);
//#section fwd_ae.fma
          let bx = Bx[e];
          let ba = Ba[e];
          let bb = Bb[e];
          z[0] = fma(vec4f(a.x), bx, z[0]);
          z[1] = fma(vec4f(a.y), bx, z[1]);
          z[2] = fma(vec4f(a.z), bx, z[2]);
          z[3] = fma(vec4f(a.w), bx, z[3]);
          za[0] = fma(vec4f(a.x), ba, za[0]);
          za[1] = fma(vec4f(a.y), ba, za[1]);
          za[2] = fma(vec4f(a.z), ba, za[2]);
          za[3] = fma(vec4f(a.w), ba, za[3]);
          zb[0] = fma(vec4f(a.x), bb, zb[0]);
          zb[1] = fma(vec4f(a.y), bb, zb[1]);
          zb[2] = fma(vec4f(a.z), bb, zb[2]);
          zb[3] = fma(vec4f(a.w), bb, zb[3]);
//#section fwd_ae.store
        let rv = r[idx];
        // P = R⁺ / ΣR⁺ (sums to +1), Q = −R⁻ / ΣR⁻ (sums to −1); an empty section is zero.
        let pv = select(0.0, safe_div(rv, spos[pn]), rv > 0.0);
        let qv = select(0.0, -safe_div(rv, sneg[pn]), rv < 0.0);
        var sc = 0.0;
        if (rv > 0.0) {
          sc = safe_div(u.ratio * pv, z[i][j]);
        } else if (rv < 0.0) {
          sc = safe_div(qv, z[i][j]);
        }
        s[idx] = vec4f(
          select(0.0, sc, on(F_CONTRIB)),
          select(0.0, safe_div(pv, za[i][j]), on(F_ACTIVATED)),
          select(0.0, safe_div(qv, zb[i][j]), on(F_INACTIVATED)),
          0.0);

//#section back_ae
// AE's transposed pass (backward.wgsl's back_ae, same semantics), as convolutions (one per phase)
// of the sections with the transposed, flipped |W|: c = convT(S_c), and convT(S_a), convT(S_b) as
// three GEMMs sharing each weight tile (one vec4 load of S feeds all three); the epilogue picks
// convT(S_a) where x > 0 and convT(S_b) elsewhere (a and b partition the input), and writes
// x⁺·c + ab, or, when the shift follows, ab with C = x⁺·c kept apart.
@group(0) @binding(1) var<storage, read> xs: array<vec4f>;
@group(0) @binding(3) var<storage, read> x: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<storage, read_write> cterm: array<f32>;
const F_KEEP_C = 8u;
//#section back_ae.smem
var<workgroup> Bc: array<vec4f, BK * BN4>;
var<workgroup> Ba: array<vec4f, BK * BN4>;
var<workgroup> Bb: array<vec4f, BK * BN4>;
//#section back_ae.acc
  var ac: array<vec4f, 4>;
  var aa: array<vec4f, 4>;
  var ab: array<vec4f, 4>;
//#section back_ae.stage
          var v = vec4f(0.0);
          if (inside) { v = xs[xo + ci * hw]; }
          Bc[e][c] = v.x;
          Ba[e][c] = v.y;
          Bb[e][c] = v.z;
//#section back_ae.fma
          let bc = Bc[e];
          let ba = Ba[e];
          let bb = Bb[e];
          ac[0] = fma(vec4f(a.x), bc, ac[0]);
          ac[1] = fma(vec4f(a.y), bc, ac[1]);
          ac[2] = fma(vec4f(a.z), bc, ac[2]);
          ac[3] = fma(vec4f(a.w), bc, ac[3]);
          aa[0] = fma(vec4f(a.x), ba, aa[0]);
          aa[1] = fma(vec4f(a.y), ba, aa[1]);
          aa[2] = fma(vec4f(a.z), ba, aa[2]);
          aa[3] = fma(vec4f(a.w), ba, aa[3]);
          ab[0] = fma(vec4f(a.x), bb, ab[0]);
          ab[1] = fma(vec4f(a.y), bb, ab[1]);
          ab[2] = fma(vec4f(a.z), bb, ab[2]);
          ab[3] = fma(vec4f(a.w), bb, ab[3]);
//#section back_ae.store
        let xv = x[idx];
        let cv = max(xv, 0.0) * ac[i][j];
        let sel = select(ab[i][j], aa[i][j], xv > 0.0);
        if ((u.flags & F_KEEP_C) != 0u) {
          cterm[idx] = cv;
          out[idx] = sel;
        } else {
          out[idx] = cv + sel;
        }

//#section fwd_zb
// zB forward (backward.wgsl's fwd_zb, same semantics, spec §2.6): Z = conv(x − L, W⁺) +
// conv(x − Hi, W⁻), x − L and x − Hi zero on padded taps, as two GEMMs sharing each W tile (the
// tile holds W; W⁺ and W⁻ are split in registers) and each gathered x. Every term is ≥ 0, as in
// the direct kernel: no large cancelling sums. The epilogue writes S = safe_div(R, Z).
@group(0) @binding(1) var<storage, read> xs: array<f32>;
@group(0) @binding(3) var<storage, read> r: array<f32>;
@group(0) @binding(4) var<storage, read> bounds: array<vec2f>;
@group(0) @binding(5) var<storage, read_write> s: array<f32>;
//#section fwd_zb.smem
var<workgroup> Bl: array<vec4f, BK * BN4>;
var<workgroup> Bh: array<vec4f, BK * BN4>;
//#section fwd_zb.acc
  var z: array<vec4f, 4>;
  // (L, Hi) of the gathered pixel's sample (clamped: a pixel past the end gathers nothing).
  let lh = bounds[min(qn, arrayLength(&bounds) - 1u)];
//#section fwd_zb.stage
          var v = 0.0;
          if (inside) { v = xs[xo + ci * hw]; }
          Bl[e][c] = select(0.0, v - lh.x, inside);
          Bh[e][c] = select(0.0, v - lh.y, inside);
//#section fwd_zb.fma
          let ap = max(a, vec4f(0.0));
          let an = min(a, vec4f(0.0));
          let bl = Bl[e];
          let bh = Bh[e];
          z[0] = fma(vec4f(ap.x), bl, fma(vec4f(an.x), bh, z[0]));
          z[1] = fma(vec4f(ap.y), bl, fma(vec4f(an.y), bh, z[1]));
          z[2] = fma(vec4f(ap.z), bl, fma(vec4f(an.z), bh, z[2]));
          z[3] = fma(vec4f(ap.w), bl, fma(vec4f(an.w), bh, z[3]));
//#section fwd_zb.store
        s[idx] = safe_div(r[idx], z[i][j]);

//#section back_zb
// zB transposed pass (backward.wgsl's back_zb, same semantics), per phase: tp = convT(S, W⁺) and
// tn = convT(S, W⁻) as two GEMMs sharing each W tile (split in registers) and each S tile;
// R_in = (x − L)·tp + (x − Hi)·tn.
@group(0) @binding(1) var<storage, read> xs: array<f32>;
@group(0) @binding(3) var<storage, read> x: array<f32>;
@group(0) @binding(4) var<storage, read> bounds: array<vec2f>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;
//#section back_zb.smem
var<workgroup> Bs: array<vec4f, BK * BN4>;
//#section back_zb.acc
  var tp: array<vec4f, 4>;
  var tn: array<vec4f, 4>;
//#section back_zb.stage
          var v = 0.0;
          if (inside) { v = xs[xo + ci * hw]; }
          Bs[e][c] = v;
//#section back_zb.fma
          let ap = max(a, vec4f(0.0));
          let an = min(a, vec4f(0.0));
          let b = Bs[e];
          tp[0] = fma(vec4f(ap.x), b, tp[0]);
          tp[1] = fma(vec4f(ap.y), b, tp[1]);
          tp[2] = fma(vec4f(ap.z), b, tp[2]);
          tp[3] = fma(vec4f(ap.w), b, tp[3]);
          tn[0] = fma(vec4f(an.x), b, tn[0]);
          tn[1] = fma(vec4f(an.y), b, tn[1]);
          tn[2] = fma(vec4f(an.z), b, tn[2]);
          tn[3] = fma(vec4f(an.w), b, tn[3]);
//#section back_zb.store
        let xv = x[idx];
        let lh = bounds[pn];
        out[idx] = (xv - lh.x) * tp[i][j] + (xv - lh.y) * tn[i][j];
