// Data movement. Assembled per variant: {{RANK}} is the (coalesced) rank, part of the pipeline key.
// The uniform block `u` of each kernel is declared in TypeScript (copies.ts, pad.ts).

//#section strided
// y[obase + Σ c_d·ost_d] = x[ibase + Σ c_d·ist_d] over the index space `shape`: Transpose (permuted
// strides), Slice (scaled, possibly negative strides), Expand/Tile (zero strides), Concat and
// Gather (a strided block of the output per input / per run of indices). The STORE placeholder is
// '=' for the copy, '+=' for the accumulating variant (Gather's gradient with repeated indices: one
// dispatch never writes an element twice, and successive dispatches are ordered).
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

const RANK: i32 = {{RANK}};

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_id(gid, nwg, 256u);
  if (i >= u.n) { return; }
  var rem = i;
  var io = u.ibase;
  var oo = u.obase;
  for (var d: i32 = RANK - 1; d >= 0; d--) {
    let q = u32(d) / 4u;
    let r = u32(d) % 4u;
    let dim = u.shape[q][r];
    let c = rem % dim;
    rem = rem / dim;
    io += i32(c) * u.ist[q][r];
    oo += c * u.ost[q][r];
  }
  y[oo] {{STORE}} x[u32(io)];
}

//#section pad_index
// Source index of padded coordinate k outside [0, n) along an axis of length n, by the mode's map
// (the MAP placeholder); used by Pad forward and by the gradient's fold (backward.wgsl).

// Mirror without repeating the edge, period 2(n−1), as numpy's 'reflect'.
fn reflect_index(k: i32, n: i32) -> i32 {
  if (n == 1) { return 0; }
  let p = 2 * (n - 1);
  var m = k % p;
  if (m < 0) { m += p; }
  return select(m, p - m, m >= n);
}

fn map_index(k: i32, n: i32) -> i32 {
  {{MAP}}
}

//#section pad
// Pad with negative pads cropping: input coordinate = output coordinate − begin, then mapped by
// the mode when it falls outside the input.
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

const RANK: i32 = {{RANK}};
const CONSTANT: bool = {{CONSTANT}};
{{VALUE_DECL}}


@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_id(gid, nwg, 256u);
  if (i >= u.n) { return; }
  var rem = i;
  var io = 0;
  for (var d: i32 = RANK - 1; d >= 0; d--) {
    let q = u32(d) / 4u;
    let r = u32(d) % 4u;
    let dim = u.oshape[q][r];
    let c = i32(rem % dim);
    rem = rem / dim;
    let n = u.ishape[q][r];
    var k = c - u.begin[q][r];
    if (k < 0 || k >= n) {
      if (CONSTANT) {
        y[i] = {{VALUE}};
        return;
      }
      k = map_index(k, n);
    }
    io += k * u.ist[q][r];
  }
  y[i] = x[u32(io)];
}

//#section concat
// Concat and its backward rules in one dispatch for up to 4 parts: a thread per element i of the
// output (forward) or of R (backward), seen as [outer, total] rows in which part j occupies
// columns [off_j, off_j + blk_j); element (row, col) is element row·blk_j + col − off_j of part j.
// BINDINGS and PARTS are generated per mode in concat.ts: the forward copy (y = part values), AE's
// masked split (part j gets R where x_j ≠ 0, spec §2.8) and the gradient's split.
{{BINDINGS}}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear_id(gid, nwg, 256u);
  if (i >= u.n) { return; }
  let row = i / u.total;
  let col = i % u.total;
{{PARTS}}
}

//#section concat_sums
// AE's masked split of Concat with each part's per-sample sums (concat.ts recordConcatMaskSums): a
// workgroup per (part j, sample s) walks the part's values of the sample in the order of
// sample_pos_neg (shared/attribution.wgsl) and reduces ΣR⁺, ΣR⁻ by its tree (TREE), so the sums
// are that kernel's bits; part j's sums land at j·stride (ΣR⁺), + neg (ΣR⁻), + 2·neg (a zeroed u32
// counter for the consumer).
{{BINDINGS}}
{{TREE}}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) li: u32) {
  let j = wid.x;
  let s = wid.y;
  var a = 0.0;
  var t = 0.0;
{{PARTS}}
  let tot = pos_neg_tree(li, a, t);
  if (li == 0u) {
    let base = j * u.stride + s;
    sums[base] = tot.x;
    sums[base + u.neg] = tot.y;
    sums[base + 2u * u.neg] = 0.0; // the counter: 0.0's bits are u32 0
  }
}
