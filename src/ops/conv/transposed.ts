// The transposed convolution (dX = convT(dY, W), and AE's transposed passes) split by output
// phase into dense stride-1 convolutions, for the tiled implicit GEMM (tiled.ts).
//
// Transposed, input pixel iy receives from output row oy through tap kh when
// oy·sh − padT + kh·dh = iy, i.e. when (iy + padT − kh·dh) is a multiple of sh. Grouping the input
// rows by phase py = (iy + padT) mod sh, the taps that reach a phase are those with
// kh·dh ≡ py (mod sh): an arithmetic progression of step q = sh / gcd(sh, dh) (possibly empty).
// Over the phase's rows iy = r0 + j·sh they read oy = j + base − (kh·dh − py)/sh, which moves by
// dh / gcd(sh, dh) from one of those taps to the next: a stride-1 convolution over the phase's
// sub-grid, with that dilation and a padding, and with its taps a strided slice of the flipped
// kernel. Each axis splits on its own; a phase is a pair of axis phases. Every phase is dense, so
// the GEMM's inner loops see no div/mod and no skipped taps (the gather kernel tests every tap of
// every pixel against the stride instead; tfjs-webgpu's conv_backprop_mm divides and tests
// `fract(xR) > 0` per tap inside its implicit GEMM, so at stride 2 three taps in four are wasted
// work there). The phases cost sh·sw GEMMs of 1/(sh·sw) the pixels each, and no wasted tap.
// Stride 1 is the single phase of the complementary-padding convolution.
import type { ConvParams } from './params.js';

/** One axis of one phase. */
export interface AxisPhase {
  /** First destination (input-side) index of the phase, and how many there are (every s-th). */
  first: number; count: number;
  /** Taps reaching it, their dilation as a stride-1 convolution, and the source offset as a padding. */
  taps: number; dil: number; pad: number;
  /** The phase's first tap in the flipped kernel, and the step between its taps there. */
  t0: number; tstep: number;
}

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
const mod = (a: number, m: number) => ((a % m) + m) % m;

/**
 * Phase `ph` of one axis: stride s, dilation d, kernel k, the forward padding at the axis start,
 * `size` the destination (input-side) extent. A phase no tap reaches has taps = 0: its pixels
 * receive nothing, but are still written (zero contributions).
 */
export function axisPhase(ph: number, s: number, d: number, k: number, pad: number, size: number): AxisPhase {
  const first = mod(ph - pad, s);
  const count = first >= size ? 0 : Math.ceil((size - first) / s);
  const q = s / gcd(s, d);
  let k0 = -1;
  for (let t = 0; t < Math.min(k, q); t++) if ((t * d) % s === ph) { k0 = t; break; }
  const taps = k0 < 0 ? 0 : Math.ceil((k - k0) / q);
  if (taps === 0) return { first, count, taps: 0, dil: 1, pad: 0, t0: 0, tstep: 0 };
  // Visit the taps last to first: the source offset then grows with the tap index, as a forward
  // convolution's does, and the flipped kernel holds them in increasing order.
  const kl = k0 + (taps - 1) * q;
  const base = (first + pad - ph) / s;
  const offLast = (kl * d - ph) / s;
  return { first, count, taps, dil: d / gcd(s, d), pad: offLast - base, t0: k - 1 - kl, tstep: q };
}

/** One phase of the transposed pass: its rows and columns. */
export interface Phase { y: AxisPhase; x: AxisPhase }

/** The phases of p's transposed pass that hold destination pixels, row phase major. */
export function transposedPhases(p: ConvParams): Phase[] {
  const out: Phase[] = [];
  for (let py = 0; py < p.sh; py++) {
    const y = axisPhase(py, p.sh, p.dh, p.kh, p.padT, p.h);
    if (y.count === 0) continue;
    for (let px = 0; px < p.sw; px++) {
      const x = axisPhase(px, p.sw, p.dw, p.kw, p.padL, p.w);
      if (x.count > 0) out.push({ y, x });
    }
  }
  return out;
}
