//#section unary
// Element-wise unary activation; the expression `{{EXPR}}` of `v` is the variant (one pipeline per op).
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
{{EXTRA_BINDINGS}}

fn op(v: f32) -> f32 {
  return {{EXPR}};
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_id(gid, nwg, 64u);
  if (i >= u.total) {
    return;
  }
  y[i] = op(x[i]);
}

//#section bounds
// Bounds of an activation that takes them (Clip): uniforms, or one-element buffers at run time.
fn lo() -> f32 {
  return {{LO}};
}

fn hi() -> f32 {
  return {{HI}};
}

//#section math
// Helpers of the activation expressions (WGSL has no erf, expm1 or log1p), shared by the forward
// and gradient kernels. Each is accurate to a few float32 ulps relative, on both tails.

// erf(x) for |x| < 0.5: its Taylor series to x¹⁷ (truncation below 1e-9 relative).
fn erf_series(x: f32) -> f32 {
  let s = x * x;
  return x * (1.1283791671e+00 + s * (-3.7612638903e-01 + s * (1.1283791671e-01 + s * (-2.6866170645e-02
    + s * (5.2239776254e-03 + s * (-8.5483270235e-04 + s * (1.2055332982e-04 + s * (-1.4925650358e-05
    + s * 1.6462114366e-06))))))));
}

// erfc(z) for z ≥ 0 (Numerical Recipes' erfcc, a Chebyshev fit: fractional error < 1.2e-7).
fn erfc_pos(z: f32) -> f32 {
  let t = 1.0 / (1.0 + 0.5 * z);
  let p = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806
    + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  return t * exp(p - z * z);
}

fn erf_f(x: f32) -> f32 {
  if (abs(x) < 0.5) {
    return erf_series(x);
  }
  return sign(x) * (1.0 - erfc_pos(abs(x)));
}

// Φ(x) = erfc(−x/√2)/2, the standard normal CDF, relative-accurate on the negative tail.
fn phi(x: f32) -> f32 {
  let z = x * 0.70710678118654752;
  if (abs(z) < 0.5) {
    return 0.5 + 0.5 * erf_series(z);
  }
  if (z < 0.0) {
    return 0.5 * erfc_pos(-z);
  }
  return 1.0 - 0.5 * erfc_pos(z);
}

// Gelu: x Φ(x), or (tanh form) x σ(2z), z = √(2/π)(x + 0.044715 x³).
fn gelu(x: f32, tanh_form: bool) -> f32 {
  if (tanh_form) {
    let z = 0.7978845608028654 * (x + 0.044715 * x * x * x);
    return x / (1.0 + exp(-2.0 * z));
  }
  return x * phi(x);
}

fn gelu_grad(x: f32, tanh_form: bool) -> f32 {
  if (tanh_form) {
    // Beyond |x| = 10 the derivative is 0 or 1 in float32; clamping keeps x³ finite.
    let c = clamp(x, -10.0, 10.0);
    let s = 1.0 / (1.0 + exp(-2.0 * 0.7978845608028654 * (c + 0.044715 * c * c * c)));
    return s + 2.0 * c * s * (1.0 - s) * 0.7978845608028654 * (1.0 + 3.0 * 0.044715 * c * c);
  }
  return phi(x) + x * 0.3989422804014327 * exp(-0.5 * x * x);
}

// eˣ − 1: its Taylor series near 0, where exp(x) − 1 would cancel.
fn expm1_f(x: f32) -> f32 {
  if (abs(x) < 0.5) {
    return x * (1.0 + x * (0.5 + x * (1.6666666666666667e-1 + x * (4.1666666666666667e-2 + x * (8.3333333333333333e-3
      + x * (1.3888888888888889e-3 + x * (1.9841269841269841e-4 + x * 2.4801587301587302e-5)))))));
  }
  return exp(x) - 1.0;
}

// log(1 + t) for t in [0, 1]: 2 atanh(s), s = t/(2 + t) ≤ 1/3, by its series (no log near 1).
fn log1p_f(t: f32) -> f32 {
  let s = t / (2.0 + t);
  let q = s * s;
  return 2.0 * s * (1.0 + q * (0.33333333333333333 + q * (0.2 + q * (0.14285714285714286 + q * (0.11111111111111111
    + q * (0.090909090909090909 + q * (0.076923076923076923 + q * 0.066666666666666667)))))));
}

// tanh(softplus(x)) = n / (n + 2) with n = eˣ(eˣ + 2); 1 in float32 from x ≈ 9, so eˣ is capped.
fn mish_t(x: f32) -> f32 {
  let e = exp(min(x, 20.0));
  let n = e * (e + 2.0);
  return n / (n + 2.0);
}

// d/dx x tanh(softplus(x)) = t + x (1 − t²) σ(x).
fn mish_grad(x: f32) -> f32 {
  let e = exp(min(x, 20.0));
  let n = e * (e + 2.0);
  let t = n / (n + 2.0);
  return t + x * (1.0 - t * t) * (e / (1.0 + e));
}

//#section offset_of
// Σ_d coord_d(i) · u.ss[d], with the coordinates of i in the row-major extents `dims` (rank u.rank).
fn offset_of(i: u32, dims: array<vec4u, 2>) -> u32 {
  var rem = i;
  var o = 0u;
  for (var d: i32 = i32(u.rank) - 1; d >= 0; d--) {
    let s = dims[u32(d) / 4u][u32(d) % 4u];
    o += (rem % s) * u.ss[u32(d) / 4u][u32(d) % 4u];
    rem = rem / s;
  }
  return o;
}

//#section slope_at
// PRelu's slope at element i of x (ONNX unidirectional broadcasting): `shape` is x's shape
// coalesced to `rank` axes, `ss` the slope's strides read at x's coordinates.
fn slope_at(i: u32) -> f32 {
  return slope[offset_of(i, u.shape)];
}

//#section prelu
// PRelu: y = x < 0 ? slope·x : x.
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> slope: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_id(gid, nwg, 64u);
  if (i >= u.total) {
    return;
  }
  let v = x[i];
  y[i] = select(v, slope_at(i) * v, v < 0.0);
}
