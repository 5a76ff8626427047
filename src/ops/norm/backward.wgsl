//#section rule
// BatchNormalization backward rules (inference form), run by forward.wgsl's `per_element`:
// out = {{RULE}}.
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> r: array<f32>;
@group(0) @binding(3) var<storage, read> scale: array<f32>;
@group(0) @binding(4) var<storage, read> aux: array<f32>;

fn store(i: u32, c: u32) {
  out[i] = {{RULE}};
}

//#section normalise_grad
// The true gradient of a row normaliser (forward.wgsl's `row_stats`), through the mean and the
// variance: with g = dy·γ and x̂ = (x − mean)·ρ, dx = ρ (g − mean(g) − x̂ · mean(g x̂)).
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> r: array<f32>;
@group(0) @binding(3) var<storage, read> scale: array<f32>;
@group(0) @binding(4) var<storage, read> x: array<f32>;

fn row_body(row: u32, base: u32, st: vec2f, lid: u32) {
  var a = 0.0;
  var b = 0.0;
  for (var k = lid; k < u.inner; k += 64u) {
    let i = base + k;
    let g = r[i] * scale[(i / u.sdiv) % u.smod];
    a += g;
    b += g * (x[i] - st.x) * st.y;
  }
  let n = f32(u.inner);
  let ma = row_sum(a, lid) / n;
  let mb = row_sum(b, lid) / n;
  for (var k = lid; k < u.inner; k += 64u) {
    let i = base + k;
    let g = r[i] * scale[(i / u.sdiv) % u.smod];
    out[i] = st.y * (g - ma - (x[i] - st.x) * st.y * mb);
  }
}

//#section normalise_mask
// AE at a row normaliser (spec §2.11, the BatchNormalization rule of §2.2): R where x ≠ 0 and γ ≠ 0.
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> r: array<f32>;
@group(0) @binding(3) var<storage, read> scale: array<f32>;
@group(0) @binding(4) var<storage, read> x: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_id(gid, nwg, 256u);
  if (i >= u.total) {
    return;
  }
  out[i] = select(0.0, r[i], x[i] != 0.0 && scale[(i / u.sdiv) % u.smod] != 0.0);
}
