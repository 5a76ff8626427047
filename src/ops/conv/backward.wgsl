//#section geo
// AE convolution rules (spec §2.4–2.6), one group's channels at a time. Each pass is a direct
// loop over channels and taps; a thread owns TP consecutive columns of one row for a block of TC
// channels of one group (output channels in the forward passes, input channels in the transposed
// ones), so every input value it loads serves TC channels and every weight TP columns. Shapes
// travel as uniforms: cin/kout are per group, c/k totals, nkb = channel blocks per group. Padded
// taps are skipped: they are no neurons. Every pass reads W at binding 1; the forward passes are
// the `window` skeleton (x at binding 2), the transposed ones the `gather` skeleton (the signal
// gathered at binding 2), each with its variant's hooks.
@group(0) @binding(1) var<storage, read> wt: array<f32>;

const TP = 4u;
const TC = {{TC}}u;
// flags: which sections are formed (the ablation switches) and whether C is kept for the shift.
const F_CONTRIB = 1u;
const F_ACTIVATED = 2u;
const F_INACTIVATED = 4u;
const F_KEEP_C = 8u;
const F_ACC = 16u;
const F_PSHIFT = 32u;

fn safe_div(a: f32, b: f32) -> f32 {
  return select(a / b, 0.0, b == 0.0);
}

fn on(f: u32) -> bool {
  return (u.flags & f) != 0u;
}

/** Thread t → (sample, group, channel block, row) and its first column; `rows` is the row count. */
struct Coords { n: u32, g: u32, kb: u32, row: u32, col0: u32 }

fn coords(t: u32, rows: u32) -> Coords {
  let rest = t / u.tiles;
  let rest2 = rest / rows;
  let blk = rest2 % (u.groups * u.nkb);
  return Coords(rest2 / (u.groups * u.nkb), blk / u.nkb, blk % u.nkb, rest % rows, (t % u.tiles) * TP);
}

/** Output row reached from input row `ih` through tap `kh` of the transposed pass, or -1. */
fn src_row(ih: u32, kh: u32) -> i32 {
  let th = i32(ih) + u.pad_t - i32(kh * u.dh);
  if (th < 0 || th % i32(u.sh) != 0 || th / i32(u.sh) >= i32(u.oh)) {
    return -1;
  }
  return th / i32(u.sh);
}

fn src_col(iw: u32, kw: u32) -> i32 {
  let tw = i32(iw) + u.pad_l - i32(kw * u.dw);
  if (tw < 0 || tw % i32(u.sw) != 0 || tw / i32(u.sw) >= i32(u.ow)) {
    return -1;
  }
  return tw / i32(u.sw);
}

/** Weight of (output channel co, in-group input channel ci, tap). */
fn wat(co: u32, ci: u32, tap: u32) -> f32 {
  return wt[(co * u.cin + ci) * u.kh * u.kw + tap];
}

//#section window
// A forward pass over the window of each output pixel: a thread owns TP columns of one output row
// for a block of TC output channels, and visits every input channel and non-padded tap. The
// variant supplies its bindings and five hooks (sections <variant>.pre, .load, .weight, .combine,
// .store): its accumulators and what the thread reads first, the window value `xv[p]` of the
// loaded `v` (`ok[p]`: the tap is no padding), the weight of output channel `co` at (ci, tap) as
// the variant uses it, how it enters the accumulators of channel j at column p, and the output
// `obase + col` of channel j from them.
@group(0) @binding(2) var<storage, read> x: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let t = linear_id(gid, nwg, 64u);
  if (t >= u.total) {
    return;
  }
  let q = coords(t, u.oh);
{{PRE}}
  let rb = i32(q.row * u.sh) - u.pad_t;
  let cb = i32(q.col0 * u.sw) - u.pad_l;
  let plane = u.h * u.w;
  var xoff = (q.n * u.c + q.g * u.cin) * plane;
  for (var ci = 0u; ci < u.cin; ci++) {
    for (var kh = 0u; kh < u.kh; kh++) {
      let ir = rb + i32(kh * u.dh);
      if (ir < 0 || ir >= i32(u.h)) {
        continue;
      }
      let xrow = xoff + u32(ir) * u.w;
      for (var kw = 0u; kw < u.kw; kw++) {
        var xv: array<f32, TP>;
        var ok: array<bool, TP>;
        for (var p = 0u; p < TP; p++) {
          let ic = cb + i32(kw * u.dw + p * u.sw);
          ok[p] = ic >= 0 && ic < i32(u.w);
          let v = x[xrow + u32(select(0, ic, ok[p]))];
{{LOAD}}
        }
        for (var j = 0u; j < TC; j++) {
          let co = q.g * u.kout + min(q.kb * TC + j, u.kout - 1u);
{{WEIGHT}}
          for (var p = 0u; p < TP; p++) {
{{COMBINE}}
          }
        }
      }
    }
    xoff += plane;
  }
  for (var j = 0u; j < TC; j++) {
    let cl = q.kb * TC + j;
    if (cl >= u.kout) {
      break;
    }
    let obase = ((q.n * u.k + q.g * u.kout + cl) * u.oh + q.row) * u.ow;
    for (var p = 0u; p < TP; p++) {
      let col = q.col0 + p;
      if (col < u.ow) {
{{STORE}}
      }
    }
  }
}

//#section fwd_ae
// Spec §2.4 steps 1–2, 4–5 forward: Z = conv(x⁺, |W|), Za = conv(a, |W|) and Zb = conv(b, |W|) in
// one pass over the window. On a non-padded tap b = 1 − a, so the window's valid-tap sum of |W|
// splits between Za and Zb: each tap adds |w| to exactly one of them (no third convolution and no
// cancellation of Σ|W| − Za). The epilogue forms the scaled sections directly:
// S = (S_c, S_a, S_b) with S_c = safe_div(ratio·P, Z)[R>0] + safe_div(Q, Z)[R<0] (the supports are
// disjoint, so one transposed pass carries both), S_a = safe_div(P, Za), S_b = safe_div(Q, Zb).
@group(0) @binding(3) var<storage, read> r: array<f32>;
@group(0) @binding(4) var<storage, read> spos: array<f32>;
@group(0) @binding(5) var<storage, read> sneg: array<f32>;
@group(0) @binding(6) var<storage, read_write> s: array<vec4f>;

//#section fwd_ae.pre
  var z: array<array<f32, TP>, TC>;
  var za: array<array<f32, TP>, TC>;
  var zb: array<array<f32, TP>, TC>;
  let sp = spos[q.n];
  let sn = sneg[q.n];
//#section fwd_ae.load
          xv[p] = select(0.0, v, ok[p]);
//#section fwd_ae.weight
          let aw = abs(wat(co, ci, kh * u.kw + kw));
//#section fwd_ae.combine
            z[j][p] = fma(aw, max(xv[p], 0.0), z[j][p]);
            za[j][p] += select(0.0, aw, ok[p] && xv[p] > 0.0);
            zb[j][p] += select(0.0, aw, ok[p] && xv[p] <= 0.0);
//#section fwd_ae.store
        let rv = r[obase + col];
        // P = R⁺ / ΣR⁺ (sums to +1), Q = −R⁻ / ΣR⁻ (sums to −1); an empty section is zero.
        let pv = select(0.0, safe_div(rv, sp), rv > 0.0);
        let qv = select(0.0, -safe_div(rv, sn), rv < 0.0);
        var sc = 0.0;
        if (rv > 0.0) {
          sc = safe_div(u.ratio * pv, z[j][p]);
        } else if (rv < 0.0) {
          sc = safe_div(qv, z[j][p]);
        }
        s[obase + col] = vec4f(
          select(0.0, sc, on(F_CONTRIB)),
          select(0.0, safe_div(pv, za[j][p]), on(F_ACTIVATED)),
          select(0.0, safe_div(qv, zb[j][p]), on(F_INACTIVATED)),
          0.0);

//#section fwd_zb
// zB forward (spec §2.6): Z = conv(x, W) − conv(L, W⁺) − conv(Hi, W⁻). Zero padding pads x, L and
// Hi alike, so the bounds' convolutions are L and Hi times the valid-tap sums of W⁺ and W⁻; per
// tap that is w·(x − L) for w > 0 and w·(x − Hi) otherwise, one pass and no large cancelling sums.
// The epilogue writes S = safe_div(R, Z).
@group(0) @binding(3) var<storage, read> r: array<f32>;
@group(0) @binding(4) var<storage, read> bounds: array<vec2f>;
@group(0) @binding(5) var<storage, read_write> s: array<f32>;

//#section fwd_zb.pre
  let lh = bounds[q.n];
  var z: array<array<f32, TP>, TC>;
//#section fwd_zb.load
          xv[p] = v;
//#section fwd_zb.weight
          let wv = wat(co, ci, kh * u.kw + kw);
          let bound = select(lh.y, lh.x, wv > 0.0);
//#section fwd_zb.combine
            z[j][p] = fma(wv, select(0.0, xv[p] - bound, ok[p]), z[j][p]);
//#section fwd_zb.store
        s[obase + col] = safe_div(r[obase + col], z[j][p]);

//#section gather
// The transposed pass as a gather per input pixel (no atomics): a thread owns TP columns of one
// input row for a block of TC input channels, and visits every tap whose source output pixel exists
// and every output channel of its group; two accumulators share the weight and signal loads. Taps
// outer, output channels inner: the row/column arithmetic is done once per tap. The variant
// supplies the binding `s` at 2 (with `alias Sig`, the signal's element type), its other bindings,
// and four hooks (sections <variant>.pre, .weight, .combine, .store): what the thread
// reads first, the tap's weight `wv` of input channel i as the variant uses it, how the gathered
// values `sv[p]` enter acc0[i][p] and acc1[i][p], and the input pixel `base + col` from them; an
// optional fifth (.post) runs once after the stores.
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let t = linear_id(gid, nwg, 64u);
  if (t >= u.total) {
    return;
  }
  let q = coords(t, u.h);
  let plane = u.h * u.w;
  let xrow = (q.n * u.c + q.g * u.cin) * plane + q.row * u.w;
{{PRE}}
  var acc0: array<array<f32, TP>, TC>;
  var acc1: array<array<f32, TP>, TC>;
  let oplane = u.oh * u.ow;
  for (var kh = 0u; kh < u.kh; kh++) {
    let orow = src_row(q.row, kh);
    if (orow < 0) {
      continue;
    }
    for (var kw = 0u; kw < u.kw; kw++) {
      var oc: array<i32, TP>;
      var hit = false;
      for (var p = 0u; p < TP; p++) {
        oc[p] = src_col(q.col0 + p, kw);
        hit = hit || oc[p] >= 0;
      }
      if (!hit) {
        continue;
      }
      let tap = kh * u.kw + kw;
      for (var j = 0u; j < u.kout; j++) {
        let co = q.g * u.kout + j;
        let srow = (q.n * u.k + co) * oplane + u32(orow) * u.ow;
        var sv: array<Sig, TP>;
        for (var p = 0u; p < TP; p++) {
          sv[p] = select(Sig(0.0), s[srow + u32(max(oc[p], 0))], oc[p] >= 0);
        }
        for (var i = 0u; i < TC; i++) {
          let wv = wat(co, min(q.kb * TC + i, u.cin - 1u), tap);
{{WEIGHT}}
          for (var p = 0u; p < TP; p++) {
{{COMBINE}}
          }
        }
      }
    }
  }
  for (var i = 0u; i < TC; i++) {
    let cl = q.kb * TC + i;
    if (cl >= u.cin) {
      break;
    }
    let base = xrow + cl * plane;
    for (var p = 0u; p < TP; p++) {
      let col = q.col0 + p;
      if (col < u.w) {
{{STORE}}
      }
    }
  }
{{POST}}
}

//#section back_ae
// The AE transposed pass: acc0 = c = convT(S_c, |W|) and acc1 = ab = the masked redistribution
// convT(x>0 ? S_a : S_b, |W|), which is A + B at once (a and b partition the input). Output:
// x⁺·c + ab, or, when the shift follows, ab with C = x⁺·c kept apart, and the per-sample count
// of its non-zero entries added to nz[n] (one atomic add per thread; an integer count is the same
// in any order, and the same value as a float sum of ones below 2²⁴).
@group(0) @binding(2) var<storage, read> s: array<vec4f>;
@group(0) @binding(3) var<storage, read> x: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<storage, read_write> cterm: array<f32>;
@group(0) @binding(6) var<storage, read_write> nz: array<atomic<u32>>;
alias Sig = vec4f;

//#section back_ae.pre
  var count = 0u;
  var act: array<array<bool, TP>, TC>;
  for (var i = 0u; i < TC; i++) {
    let ci = min(q.kb * TC + i, u.cin - 1u);
    for (var p = 0u; p < TP; p++) {
      act[i][p] = x[xrow + ci * plane + min(q.col0 + p, u.w - 1u)] > 0.0;
    }
  }
//#section back_ae.weight
          let aw = abs(wv);
//#section back_ae.combine
            acc0[i][p] = fma(aw, sv[p].x, acc0[i][p]);
            acc1[i][p] = fma(aw, select(sv[p].z, sv[p].y, act[i][p]), acc1[i][p]);
//#section back_ae.store
        let cv = max(x[base + col], 0.0) * acc0[i][p];
        if (on(F_KEEP_C)) {
          cterm[base + col] = cv;
          count += select(0u, 1u, cv != 0.0);
          out[base + col] = acc1[i][p];
        } else if (on(F_ACC)) {
          // Added into the fork's pending sum (rules.ts): acc + result, the walker's sum. With
          // F_PSHIFT that sum is another conv rule's A + B whose shift was deferred to here
          // (cterm and nz are then that rule's C and count): the shift section's expression first.
          var v = out[base + col];
          if (on(F_PSHIFT)) {
            let pc = cterm[base + col];
            if (pc != 0.0) {
              v += pc - 1.0 / f32(atomicLoad(&nz[q.n]));
            }
          }
          out[base + col] = v + (cv + acc1[i][p]);
        } else {
          out[base + col] = cv + acc1[i][p];
        }

//#section back_ae.post
  if (on(F_KEEP_C) && count != 0u) {
    atomicAdd(&nz[q.n], count);
  }

//#section back_zb
// zB transposed pass: acc0 = tp = convT(S, W⁺), acc1 = tn = convT(S, W⁻) (convT(S, W) = tp + tn by
// linearity), R_in = x·(tp + tn) − L·tp − Hi·tn, evaluated as (x − L)·tp + (x − Hi)·tn.
@group(0) @binding(2) var<storage, read> s: array<f32>;
@group(0) @binding(3) var<storage, read> x: array<f32>;
@group(0) @binding(4) var<storage, read> bounds: array<vec2f>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;
alias Sig = f32;

//#section back_zb.pre
  let lh = bounds[q.n];
//#section back_zb.weight
          let wp = max(wv, 0.0);
          let wn = min(wv, 0.0);
//#section back_zb.combine
            acc0[i][p] = fma(wp, sv[p], acc0[i][p]);
            acc1[i][p] = fma(wn, sv[p], acc1[i][p]);
//#section back_zb.store
        let v = x[base + col];
        out[base + col] = (v - lh.x) * acc0[i][p] + (v - lh.y) * acc1[i][p];

//#section back_grad
// The gradient's input gradient for strided convolutions (input-grad.ts) on the shuffle variant,
// and on the tiled one for fewer than 8 input channels a group: acc0 = dX = convT(dY, W) with the
// weights as they are; acc1 is unused. (Stride-1 input gradients are plain convolutions of dY on
// the forward kernels; the tiled variant runs strided ones per output phase, tiled.ts.)
@group(0) @binding(2) var<storage, read> s: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
alias Sig = f32;

//#section back_grad.pre
//#section back_grad.weight
//#section back_grad.combine
            acc0[i][p] = fma(wv, sv[p], acc0[i][p]);
//#section back_grad.store
        out[base + col] = acc0[i][p];

//#section small
// Per-sample helpers: n samples of `per` elements each.

//#section minmax
// zB bounds: (min, max) of each sample of the model input, one workgroup per sample.
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> bounds: array<vec2f>;
var<workgroup> lo: array<f32, 256>;
var<workgroup> hi: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) li: u32) {
  let b = wid.x;
  var mn = 3.4e38;
  var mx = -3.4e38;
  for (var k = li; k < u.per; k += 256u) {
    let v = x[b * u.per + k];
    mn = min(mn, v);
    mx = max(mx, v);
  }
  lo[li] = mn;
  hi[li] = mx;
  workgroupBarrier();
  for (var w = 128u; w > 0u; w >>= 1u) {
    if (li < w) {
      lo[li] = min(lo[li], lo[li + w]);
      hi[li] = max(hi[li], hi[li + w]);
    }
    workgroupBarrier();
  }
  if (li == 0u) {
    bounds[b] = vec2f(lo[0], hi[0]);
  }
}

//#section shift
// Spec §2.4 step 3 and the sum: A + B (in AB) + (C ≠ 0 ? C − 1/k : 0), k = the per-sample count of
// non-zero C (CT: u32 counted by back_ae, or f32 summed by sample_sum), written over AB in place
// ('shift', AB = out) or added into a fork's pending sum ('shift_acc', AB a binding of its own:
// the same bits as the shift in place followed by the walker's sum).
@group(0) @binding(1) var<storage, read> cterm: array<f32>;
@group(0) @binding(2) var<storage, read> count: array<{{CT}}>;
{{AB_BINDING}}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_id(gid, nwg, 256u);
  if (i >= u.total) {
    return;
  }
  let cv = cterm[i];
  var v = {{AB}}[i];
  if (cv != 0.0) {
    v += cv - 1.0 / f32(count[i / u.per]);
  }
  out[i] = {{RESULT}};
}
