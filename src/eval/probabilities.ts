// From logits to class probabilities and predicted labels, per the model's output kind.
const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));

export function probabilities(logits: Float32Array, output: 'sigmoid' | 'softmax'): Float32Array {
  if (output === 'sigmoid') return logits.map(sigmoid);
  const m = Math.max(...logits);
  const e = logits.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

/** Predicted labels: p ≥ 0.5 (sigmoid), the top class (softmax). */
export function predictedLabels(p: Float32Array, output: 'sigmoid' | 'softmax'): number[] {
  if (output === 'softmax') return [p.indexOf(Math.max(...p))];
  const out: number[] = [];
  p.forEach((v, i) => { if (v >= 0.5) out.push(i); });
  return out;
}
