// AE of a MatMul with a constant weight on the last axis (spec §2.11 → §2.5, the 1×1 rule):
// element-wise stages around two matmul-kernel products (see ae.ts). Each stage is its bindings
// and a `body(i)`, run by the shared `main` over `u.total` elements.

//#section main
fn safe_div(a: f32, b: f32) -> f32 {
  return select(a / b, 0.0, b == 0.0);
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_id(gid, nwg, 256u);
  if (i < u.total) {
    body(i);
  }
}

//#section abs
// |W|.
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

fn body(i: u32) {
  out[i] = abs(w[i]);
}

//#section stack
// The three left operands: x⁺, a = [x > 0], b = [x ≤ 0].
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> xp: array<f32>;
@group(0) @binding(3) var<storage, read_write> xa: array<f32>;
@group(0) @binding(4) var<storage, read_write> xb: array<f32>;

fn body(i: u32) {
  let v = x[i];
  xp[i] = max(v, 0.0);
  xa[i] = select(0.0, 1.0, v > 0.0);
  xb[i] = select(0.0, 1.0, v <= 0.0);
}

//#section sections
// From R and Z, Za, Zb: S_c = safe_div(P, Z)[R>0] + safe_div(Q, Z)[R<0], S_a = safe_div(P, Za),
// S_b = safe_div(Q, Zb), each written over its Z in place; P = R⁺/ΣR⁺ and Q = −R⁻/ΣR⁻ per sample
// (`per` elements of R each). Flags: 1 contrib, 2 activated, 4 inactivated.
@group(0) @binding(1) var<storage, read> r: array<f32>;
@group(0) @binding(2) var<storage, read> sum_pos: array<f32>;
@group(0) @binding(3) var<storage, read> sum_neg: array<f32>;
@group(0) @binding(4) var<storage, read_write> z: array<f32>;
@group(0) @binding(5) var<storage, read_write> za: array<f32>;
@group(0) @binding(6) var<storage, read_write> zb: array<f32>;

fn body(i: u32) {
  let n = i / u.per;
  let rv = r[i];
  let pv = select(0.0, safe_div(rv, sum_pos[n]), rv > 0.0);
  let qv = select(0.0, -safe_div(rv, sum_neg[n]), rv < 0.0);
  let sc = select(select(0.0, safe_div(qv, z[i]), rv < 0.0), safe_div(pv, z[i]), rv > 0.0);
  z[i] = select(0.0, sc, (u.flags & 1u) != 0u);
  za[i] = select(0.0, safe_div(pv, za[i]), (u.flags & 2u) != 0u);
  zb[i] = select(0.0, safe_div(qv, zb[i]), (u.flags & 4u) != 0u);
}

//#section combine
// R_in = x⁺ ⊙ T_c + a ⊙ T_a + b ⊙ T_b, T = S·|W|ᵀ.
@group(0) @binding(1) var<storage, read> xin: array<f32>;
@group(0) @binding(2) var<storage, read> tc: array<f32>;
@group(0) @binding(3) var<storage, read> ta: array<f32>;
@group(0) @binding(4) var<storage, read> tb: array<f32>;
@group(0) @binding(5) var<storage, read_write> res: array<f32>;

fn body(i: u32) {
  let v = xin[i];
  res[i] = max(v, 0.0) * tc[i] + select(tb[i], ta[i], v > 0.0);
}
