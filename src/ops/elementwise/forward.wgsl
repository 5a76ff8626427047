// Element-wise kernels over up to three broadcast operands a0..a2 (one thread per output element).
// Assembled per variant (the key names op, index mode and rank): {{BINDINGS}} declares x0.. and y,
// {{LOADS}} reads a0.. (or takes a constant scalar operand from u.k), {{EXPR}} is the op. The
// uniform block `u` is declared in TypeScript (forward.ts, with the meaning of each field).

//#section header
{{BINDINGS}}

const RANK: i32 = {{RANK}};

fn nan_f32() -> f32 { return bitcast<f32>(u.nan_bits); }
fn inf_f32() -> f32 { return bitcast<f32>(u.inf_bits); }

// WGSL's pow is exp2(b·log2(a)): undefined for a < 0 and for 0^0. ONNX (C powf) gives a real result
// for a negative base with an integer exponent, and the common exponents get exact forms.
fn pow_onnx(a: f32, b: f32) -> f32 {
  if (b == 0.0) { return 1.0; }
  if (b == 1.0) { return a; }
  if (b == 2.0) { return a * a; }
  if (b == 0.5) { return sqrt(a); }
  if (a == 0.0) { return select(0.0, inf_f32(), b < 0.0); }
  let m = pow(abs(a), b);
  if (a > 0.0) { return m; }
  if (b != floor(b)) { return nan_f32(); }
  let odd = abs(b - 2.0 * floor(b * 0.5)) == 1.0;
  return select(m, -m, odd);
}

// Nearest float16 value (ties to even) of an f32, on the bits: unpack2x16float(pack2x16float(x))
// may be folded away by the compiler, and WGSL lets the conversion round either way.
fn round_f16(x: f32) -> f32 {
  let bits = bitcast<u32>(x);
  let sign = bits & 0x80000000u;
  let a = bits & 0x7fffffffu;
  if (a > 0x7f800000u) { return x; }
  if (a >= 0x477ff000u) { return bitcast<f32>(sign | 0x7f800000u); }
  if (a < 0x38800000u) {
    // f16 subnormals are multiples of 2^-24; scaling by powers of two is exact, round() ties to even.
    return bitcast<f32>(sign | bitcast<u32>(round(abs(x) * 16777216.0) / 16777216.0));
  }
  let r = (a + 0xfffu + ((a >> 13u) & 1u)) & 0xffffe000u;
  return bitcast<f32>(sign | r);
}

fn offsets_same(i: u32) -> vec3<u32> {
  return vec3<u32>(i);
}

fn offsets_flat(i: u32) -> vec3<u32> {
  return vec3<u32>((i / u.blk[0].x) % u.blk[0].y, (i / u.blk[1].x) % u.blk[1].y, (i / u.blk[2].x) % u.blk[2].y);
}

fn offsets_strided(i: u32) -> vec3<u32> {
  var rem = i;
  var o = vec3<u32>(0u);
  for (var d: i32 = RANK - 1; d >= 0; d--) {
    let q = u32(d) / 4u;
    let r = u32(d) % 4u;
    let dim = u.shape[q][r];
    let c = rem % dim;
    rem = rem / dim;
    o += c * vec3<u32>(u.st[q][r], u.st[2u + q][r], u.st[4u + q][r]);
  }
  return o;
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_id(gid, nwg, 256u);
  if (i >= u.n) { return; }
  let o = {{OFFSETS}}(i);
  {{LOADS}}
  y[i] = {{EXPR}};
}
