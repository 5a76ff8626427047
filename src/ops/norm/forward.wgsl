//#section param_index
// BatchNormalization parameters are indexed per channel, or per activation (every non-batch
// element) for the old spatial = 0 form.
fn param_index(i: u32) -> u32 {
  if (u.per_activation != 0u) {
    return i % (u.C * u.inner);
  }
  return (i / u.inner) % u.C;
}

//#section per_element
// One thread per element of u.total, each handed to the variant's `fn store(i, c)` with c its
// BatchNormalization parameter index.
@compute @workgroup_size({{WG}})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_id(gid, nwg, {{WG}}u);
  if (i >= u.total) {
    return;
  }
  store(i, param_index(i));
}

//#section batchnorm
// Inference batch normalization: y = (x − mean) · scale / sqrt(var + eps) + bias.
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> scale: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read> mean: array<f32>;
@group(0) @binding(5) var<storage, read> variance: array<f32>;
@group(0) @binding(6) var<storage, read_write> y: array<f32>;

fn store(i: u32, c: u32) {
  y[i] = (x[i] - mean[c]) * scale[c] / sqrt(variance[c] + u.eps) + bias[c];
}

//#section lrn
// Local response normalization across channels (ONNX): the window holds floor((size−1)/2)
// channels before c and ceil((size−1)/2) after, and alpha is divided by size.
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_id(gid, nwg, 64u);
  if (i >= u.total) {
    return;
  }
  let c = i32((i / u.inner) % u.C);
  let base = i - u32(c) * u.inner;
  let lo = max(c - i32((u.size - 1u) / 2u), 0);
  let hi = min(c + i32(u.size / 2u), i32(u.C) - 1);
  var s = 0.0;
  for (var k = lo; k <= hi; k++) {
    let v = x[base + u32(k) * u.inner];
    s += v * v;
  }
  y[i] = x[i] / pow(u.bias + u.alpha / f32(u.size) * s, u.beta);
}

//#section row_stats
// LayerNormalization, GroupNormalization, InstanceNormalization: x viewed as u.rows contiguous
// rows of u.inner elements, each normalised by its own mean and variance. One workgroup of 64
// threads per row (the runtime folds large counts into y); parameters are indexed per element i
// of the whole tensor as (i / div) % mod.
var<workgroup> part: array<f32, 64>;

fn row_sum(v: f32, lid: u32) -> f32 {
  part[lid] = v;
  workgroupBarrier();
  for (var s = 32u; s > 0u; s = s >> 1u) {
    if (lid < s) {
      part[lid] += part[lid + s];
    }
    workgroupBarrier();
  }
  let r = part[0];
  workgroupBarrier();
  return r;
}

// (mean, 1/sqrt(var + eps)) of the row starting at `base`, two passes (no cancellation).
fn row_stats(base: u32, lid: u32) -> vec2f {
  var s = 0.0;
  for (var k = lid; k < u.inner; k += 64u) {
    s += x[base + k];
  }
  let mean = row_sum(s, lid) / f32(u.inner);
  var q = 0.0;
  for (var k = lid; k < u.inner; k += 64u) {
    let d = x[base + k] - mean;
    q += d * d;
  }
  return vec2f(mean, inverseSqrt(row_sum(q, lid) / f32(u.inner) + u.eps));
}

// The entry point: each variant's `row_body` gets its row, the row's first element and statistics.
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= u.rows) {
    return;
  }
  let base = row * u.inner;
  row_body(row, base, row_stats(base, lid), lid);
}

//#section normalise
// y = (x − mean) / sqrt(var + eps) · scale + bias; the STATS variant writes LayerNormalization's Mean and
// InvStdDev outputs (one value per row) where the node has them.
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> scale: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
{{STATS_BINDINGS}}

fn row_body(row: u32, base: u32, st: vec2f, lid: u32) {
  for (var k = lid; k < u.inner; k += 64u) {
    let i = base + k;
    var b = 0.0;
    if (u.has_bias != 0u) {
      b = bias[(i / u.bdiv) % u.bmod];
    }
    y[i] = (x[i] - st.x) * st.y * scale[(i / u.sdiv) % u.smod] + b;
  }
  {{STATS}}
}
