//#section reduce
// Gradient of a broadcast MatMul operand: the batched product gives one gradient per output
// batch; an operand that was broadcast along some batch dims receives their sum. One thread per
// element of the reduced gradient. Batch dims occupy 8 slots (unused: extent 1, strides 0).
// Per dim d: extent, stride in the full gradient (in batches), stride in the reduced output
// (0 for summed dims) and stride within the space of summed dims (0 for kept dims).
@group(0) @binding(1) var<storage, read> full: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let o = linear_id(gid, nwg, 64u);
  if (o >= u.total) {
    return;
  }
  let ob = o / u.inner;
  let e = o % u.inner;
  var base = 0u;
  for (var d = 0u; d < 8u; d++) {
    let os = u.ostride[d / 4u][d % 4u];
    if (os != 0u) {
      base += ((ob / os) % u.size[d / 4u][d % 4u]) * u.fstride[d / 4u][d % 4u];
    }
  }
  var acc = 0.0;
  for (var t = 0u; t < u.nred; t++) {
    var off = base;
    for (var d = 0u; d < 8u; d++) {
      let rs = u.rstride[d / 4u][d % 4u];
      if (rs != 0u) {
        off += ((t / rs) % u.size[d / 4u][d % 4u]) * u.fstride[d / 4u][d % 4u];
      }
    }
    acc += full[off * u.inner + e];
  }
  out[o] = acc;
}
