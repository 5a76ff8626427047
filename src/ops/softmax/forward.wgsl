//#section softmax
// Softmax / LogSoftmax along one axis, one workgroup per row: a row is D elements `inner` apart.
// Numerically stable: the row maximum is subtracted before exponentiating.
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

const WG: u32 = 64u;
var<workgroup> red: array<f32, 64>;

fn reduce(v: f32, lid: u32, is_max: bool) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      let o = red[lid + s];
      red[lid] = select(red[lid] + o, max(red[lid], o), is_max);
    }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_id) lid3: vec3u, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= u.rows) {
    return;
  }
  let lid = lid3.x;
  let base = (row / u.inner) * u.D * u.inner + row % u.inner;
  var m = -0x1.fffffep+127f;
  for (var j = lid; j < u.D; j += WG) {
    m = max(m, x[base + j * u.inner]);
  }
  m = reduce(m, lid, true);
  var s = 0.0;
  for (var j = lid; j < u.D; j += WG) {
    s += exp(x[base + j * u.inner] - m);
  }
  s = reduce(s, lid, false);
  for (var j = lid; j < u.D; j += WG) {
    let v = x[base + j * u.inner] - m;
    y[base + j * u.inner] = {{OUT}};
  }
}
