//#section common
// Reductions over any axes (see geometry.ts): the input is seen as merged groups of kept and
// reduced axes; unused slots of the uniform arrays are size 1 / stride 0 after the real groups,
// so the decompositions below need no rank.
const WG: u32 = 64u;
const NONE: u32 = 0xffffffffu;

fn at8(a: array<vec4u, 2>, d: u32) -> u32 {
  return a[d >> 2u][d & 3u];
}

// Index i decomposed over the groups `dims` (innermost last), dotted with `str`.
fn offset_of(i: u32, dims: array<vec4u, 2>, str: array<vec4u, 2>) -> u32 {
  var rem = i;
  var off = 0u;
  for (var d = 8u; d > 0u; d--) {
    let n = at8(dims, d - 1u);
    off += (rem % n) * at8(str, d - 1u);
    rem /= n;
  }
  return off;
}

// Input offset of output o's first element: o over the kept groups.
fn kept_base(o: u32) -> u32 {
  return offset_of(o, u.kdims, u.kstr);
}

// Offset of the k-th reduced element from kept_base: row-major order over the reduced groups.
fn red_off(k: u32) -> u32 {
  return offset_of(k, u.rdims, u.rstr);
}

// Output index of input element i: i over the input's groups, output strides (0 where reduced).
fn out_index(i: u32) -> u32 {
  return offset_of(i, u.idims, u.ostr);
}


//#section reduce
// One workgroup per output: strided partial results (each thread visits its k in increasing
// order), then a tree that prefers the lower k among equal values, so an arg-max/min is the first
// reduced element in row-major order. Per variant (kernels.ts): LOAD maps an input value (|x|, x²,
// x̂), ACCUMULATE and COMBINE are the reduction, FINISH stores from `acc` (and `at`, the winning k).
@group(0) @binding(1) var<storage, read> x: array<f32>;
{{BINDINGS}}
var<workgroup> part: array<f32, 64>;
var<workgroup> part_k: array<u32, 64>;

fn load(v: f32) -> f32 {
  return {{LOAD}};
}

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_id) lid3: vec3u, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let o = wid.x + wid.y * nwg.x;
  let lid = lid3.x;
  var acc = u.init;
  var at = NONE;
  if (o < u.outs) {
    let base = kept_base(o);
    for (var k = lid; k < u.count; k += WG) {
      let v = load(x[base + red_off(k)]);
      {{ACCUMULATE}}
    }
  }
  part[lid] = acc;
  part_k[lid] = at;
  workgroupBarrier();
  for (var half = WG / 2u; half > 0u; half >>= 1u) {
    if (lid < half) {
      let a = part[lid];
      let ka = part_k[lid];
      let b = part[lid + half];
      let kb = part_k[lid + half];
      {{COMBINE}}
    }
    workgroupBarrier();
  }
  if (lid == 0u && o < u.outs) {
    let acc = part[0];
    let at = part_k[0];
    {{FINISH}}
  }
}
