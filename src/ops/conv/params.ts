// A convolution's plan-time geometry, shared by the forward kernels, the input gradient and the rules.
/** Geometry of one convolution, always as 2-D (a 1-D conv has h = oh = kh = 1). */
export interface ConvParams {
  n: number; c: number; h: number; w: number;
  k: number; oh: number; ow: number;
  kh: number; kw: number;
  sh: number; sw: number;
  dh: number; dw: number;
  padT: number; padL: number; padB: number; padR: number;
  group: number;
  hasBias: boolean;
  /** The ONNX node was 1-D (N×C×L); shapes are reported with rank 3. */
  is1d: boolean;
}
