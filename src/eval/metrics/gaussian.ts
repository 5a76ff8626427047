// Separable Gaussian filter, used to soften the insertion masks (paper §5.4) and as SSIM's window.
// Conventions follow scipy.ndimage.gaussian_filter so results can be cross-checked there: the kernel
// is truncated at 4σ (radius = round(4σ)), normalised to sum 1, and borders use 'reflect'
// (half-sample symmetric: d c b a | a b c d | d c b a). With a symmetric kernel that boundary makes
// the filter a symmetric matrix, so it preserves the total mass exactly: a smoothed 0/1 mask still
// covers the same area, and insertion at k% inserts k% of the pixels' worth of image.

/** Normalised 1-D Gaussian taps, length 2·radius + 1. */
export function gaussianKernel(sigma: number, radius = Math.round(4 * sigma)): Float64Array {
  const k = new Float64Array(2 * radius + 1);
  let s = 0;
  for (let i = -radius; i <= radius; i++) s += k[i + radius] = Math.exp(-(i * i) / (2 * sigma * sigma));
  for (let i = 0; i < k.length; i++) k[i] /= s;
  return k;
}

function reflect(m: number, n: number): number {
  const k = ((m % (2 * n)) + 2 * n) % (2 * n);
  return k < n ? k : 2 * n - 1 - k;
}

/** Gaussian smoothing of an H×W plane (σ in pixels; σ ≤ 0 returns a copy). */
export function gaussianBlur(data: Float32Array, height: number, width: number, sigma: number): Float32Array {
  if (!(sigma > 0)) return Float32Array.from(data);
  const k = gaussianKernel(sigma), r = (k.length - 1) / 2;
  const tmp = new Float64Array(height * width), out = new Float32Array(height * width);
  // Index tables so the reflection costs nothing in the inner loops.
  const rx = Int32Array.from({ length: width + 2 * r }, (_, i) => reflect(i - r, width));
  const ry = Int32Array.from({ length: height + 2 * r }, (_, i) => reflect(i - r, height));
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let x = 0; x < width; x++) {
      let s = 0;
      for (let t = 0; t < k.length; t++) s += k[t] * data[row + rx[x + t]];
      tmp[row + x] = s;
    }
  }
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let s = 0;
      for (let t = 0; t < k.length; t++) s += k[t] * tmp[ry[y + t] * width + x];
      out[y * width + x] = s;
    }
  }
  return out;
}
