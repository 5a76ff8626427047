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
