// Cluttered backgrounds: a colour gradient, smooth value noise, hard half-plane edges, distractor
// line segments and arcs, and per-pixel grain. None of it is an object: distractors are bare
// strokes without the textured fill every class has, so they test whether an attribution method
// is drawn to edges rather than to evidence.
import { blend, type Canvas, coverage } from './canvas.js';
import { hypot } from './sdf.js';
import { type Rgb, randomColor } from './color.js';
import { hashInts, pixelHash, pixelNoise, type Rng, randInt, uniform } from '../rng.js';

export interface Stroke {
  kind: 'segment' | 'arc';
  /** Segment: endpoints. Arc: centre (x0, y0), radius r, angles a0..a1. */
  x0: number; y0: number; x1: number; y1: number;
  r: number; a0: number; a1: number;
  width: number;
  color: Rgb;
  opacity: number;
}

export interface EdgeStep {
  /** Unit normal and offset: pixels with nx·x + ny·y > offset are tinted. */
  nx: number; ny: number; offset: number;
  color: Rgb;
  opacity: number;
}

export interface BackgroundSpec {
  gradient: { from: Rgb; to: Rgb; angle: number };
  noise: { seed: number; cells: number; amplitude: number };
  grain: { seed: number; amplitude: number };
  edges: EdgeStep[];
  strokes: Stroke[];
}

export function sampleBackground(r: Rng, width: number, height: number): BackgroundSpec {
  const side = Math.min(width, height);
  const edges: EdgeStep[] = [];
  for (let i = randInt(r, 0, 2); i > 0; i--) {
    const a = uniform(r, 0, 2 * Math.PI);
    const nx = Math.cos(a), ny = Math.sin(a);
    const px = uniform(r, 0.2, 0.8) * width, py = uniform(r, 0.2, 0.8) * height;
    edges.push({ nx, ny, offset: nx * px + ny * py, color: randomColor(r), opacity: uniform(r, 0.25, 0.7) });
  }
  const strokes: Stroke[] = [];
  const nStrokes = randInt(r, 3, 12);
  for (let i = 0; i < nStrokes; i++) {
    const isArc = r() < 0.25;
    const width_ = uniform(r, 0.8, Math.max(1.2, side / 70));
    const color = randomColor(r);
    const opacity = uniform(r, 0.5, 1);
    if (isArc) {
      const a0 = uniform(r, 0, 2 * Math.PI);
      strokes.push({
        kind: 'arc', x0: uniform(r, 0, width), y0: uniform(r, 0, height), x1: 0, y1: 0,
        r: uniform(r, 0.08, 0.4) * side, a0, a1: a0 + uniform(r, 0.5, 3), width: width_, color, opacity,
      });
    } else {
      const x0 = uniform(r, 0, width), y0 = uniform(r, 0, height);
      const len = uniform(r, 0.1, 0.6) * side, a = uniform(r, 0, 2 * Math.PI);
      strokes.push({ kind: 'segment', x0, y0, x1: x0 + len * Math.cos(a), y1: y0 + len * Math.sin(a), r: 0, a0: 0, a1: 0, width: width_, color, opacity });
    }
  }
  return {
    gradient: { from: randomColor(r, [0, 0.8], [0.1, 0.95]), to: randomColor(r, [0, 0.8], [0.1, 0.95]), angle: uniform(r, 0, 2 * Math.PI) },
    noise: { seed: hashInts(Math.floor(r() * 2 ** 32)), cells: randInt(r, 3, 7), amplitude: uniform(r, 0.04, 0.18) },
    grain: { seed: hashInts(Math.floor(r() * 2 ** 32)), amplitude: uniform(r, 0.01, 0.06) },
    edges,
    strokes,
  };
}

export function renderBackground(cv: Canvas, bg: BackgroundSpec): void {
  const { width: W, height: H } = cv;
  const g = bg.gradient;
  const ca = Math.cos(g.angle), sa = Math.sin(g.angle);
  const halfSpan = (Math.abs(ca) * W + Math.abs(sa) * H) / 2;
  const n = bg.noise, cells = n.cells;
  // Value-noise lattice, one value per channel per node.
  const lattice = new Float32Array((cells + 1) * (cells + 1) * 3);
  for (let i = 0; i < lattice.length; i++) lattice[i] = pixelNoise(n.seed, i, 0, 0) - 0.5;
  const smooth = (t: number) => t * t * (3 - 2 * t);
  for (let y = 0; y < H; y++) {
    const fy = ((y + 0.5) / H) * cells, iy = Math.min(Math.floor(fy), cells - 1), ty = smooth(fy - iy);
    for (let x = 0; x < W; x++) {
      const t = 0.5 + (((x + 0.5 - W / 2) * ca + (y + 0.5 - H / 2) * sa) / halfSpan) * 0.5;
      const fx = ((x + 0.5) / W) * cells, ix = Math.min(Math.floor(fx), cells - 1), tx = smooth(fx - ix);
      const o = (y * W + x) * 3;
      const n00 = (iy * (cells + 1) + ix) * 3, n10 = n00 + 3, n01 = n00 + (cells + 1) * 3, n11 = n01 + 3;
      for (let c = 0; c < 3; c++) {
        const v = (lattice[n00 + c] * (1 - tx) + lattice[n10 + c] * tx) * (1 - ty) + (lattice[n01 + c] * (1 - tx) + lattice[n11 + c] * tx) * ty;
        cv.rgb[o + c] = g.from[c] + (g.to[c] - g.from[c]) * t + 2 * n.amplitude * v;
      }
    }
  }
  for (const e of bg.edges) {
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const d = e.offset - (e.nx * (x + 0.5) + e.ny * (y + 0.5));
        blend(cv, y * W + x, e.color, e.opacity * coverage(d));
      }
    }
  }
  for (const s of bg.strokes) drawStroke(cv, s);
  const gr = bg.grain;
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const o = (y * W + x) * 3;
      // One hash per pixel, 10 bits per channel.
      const h = pixelHash(gr.seed, x, y);
      cv.rgb[o] += 2 * gr.amplitude * ((h & 1023) / 1024 - 0.5);
      cv.rgb[o + 1] += 2 * gr.amplitude * (((h >>> 10) & 1023) / 1024 - 0.5);
      cv.rgb[o + 2] += 2 * gr.amplitude * (((h >>> 20) & 1023) / 1024 - 0.5);
    }
  }
}

function drawStroke(cv: Canvas, s: Stroke): void {
  const { width: W, height: H } = cv;
  // Per row, visit only the x-spans within `reach` of the stroke: long diagonal strokes would
  // otherwise cost their whole bounding box.
  const reach = s.width / 2 + 1;
  const cy0 = s.kind === 'segment' ? Math.min(s.y0, s.y1) - reach : s.y0 - s.r - reach;
  const cy1 = s.kind === 'segment' ? Math.max(s.y0, s.y1) + reach : s.y0 + s.r + reach;
  const y0 = Math.max(0, Math.floor(cy0)), y1 = Math.min(H, Math.ceil(cy1));
  const span = (y: number, lo: number, hi: number) => {
    const x0 = Math.max(0, Math.floor(lo)), x1 = Math.min(W, Math.ceil(hi));
    for (let x = x0; x < x1; x++) {
      const d = strokeDistance(s, x + 0.5, y + 0.5) - s.width / 2;
      blend(cv, y * W + x, s.color, s.opacity * coverage(d));
    }
  };
  for (let y = y0; y < y1; y++) {
    const py = y + 0.5;
    if (s.kind === 'segment') {
      // Segment points within `reach` in y of this row; their x ± reach bounds the span.
      const dy = s.y1 - s.y0, dx = s.x1 - s.x0;
      let t0 = 0, t1 = 1;
      if (Math.abs(dy) > 1e-9) {
        const a = (py - reach - s.y0) / dy, b = (py + reach - s.y0) / dy;
        t0 = Math.max(0, Math.min(a, b));
        t1 = Math.min(1, Math.max(a, b));
        if (t0 > t1) continue;
      } else if (Math.abs(py - s.y0) > reach) continue;
      const xa = s.x0 + t0 * dx, xb = s.x0 + t1 * dx;
      span(y, Math.min(xa, xb) - reach - 0.5, Math.max(xa, xb) + reach + 0.5);
    } else {
      // The annulus r ± reach cut by this row: one span, or two beside the hole.
      const dy = py - s.y0, ro = s.r + reach, ri = s.r - reach;
      if (Math.abs(dy) > ro) continue;
      const xo = Math.sqrt(ro * ro - dy * dy);
      if (ri > 0 && Math.abs(dy) < ri) {
        const xi = Math.sqrt(ri * ri - dy * dy);
        span(y, s.x0 - xo - 0.5, s.x0 - xi + 0.5);
        span(y, s.x0 + xi - 0.5, s.x0 + xo + 0.5);
      } else {
        span(y, s.x0 - xo - 0.5, s.x0 + xo + 0.5);
      }
    }
  }
}

function strokeDistance(s: Stroke, px: number, py: number): number {
  if (s.kind === 'segment') {
    const dx = s.x1 - s.x0, dy = s.y1 - s.y0;
    const h = Math.max(0, Math.min(1, ((px - s.x0) * dx + (py - s.y0) * dy) / (dx * dx + dy * dy || 1)));
    return hypot(px - s.x0 - h * dx, py - s.y0 - h * dy);
  }
  // Arc: distance to the circle within the angular range, else to the nearer endpoint.
  const a = Math.atan2(py - s.y0, px - s.x0);
  const rel = (((a - s.a0) % (2 * Math.PI)) + 2 * Math.PI) % (2 * Math.PI);
  if (rel <= s.a1 - s.a0) return Math.abs(hypot(px - s.x0, py - s.y0) - s.r);
  const e = (ang: number) => hypot(px - s.x0 - s.r * Math.cos(ang), py - s.y0 - s.r * Math.sin(ang));
  return Math.min(e(s.a0), e(s.a1));
}
