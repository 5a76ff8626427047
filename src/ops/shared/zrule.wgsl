//#section zrule
// The z-rule's helpers (spec §2.3), shared by the pooling and reduction families: the positive part
// plus the stabiliser, and a division that gives exactly 0 where the denominator is 0.
fn xhat(v: f32) -> f32 {
  return max(v, 0.0) + 1e-9;
}

fn safe_div(a: f32, b: f32) -> f32 {
  if (b == 0.0) {
    return 0.0;
  }
  return a / b;
}
