// The benchmark's object classes. Each pairs a silhouette with its own surface pattern, so a model
// can tell classes apart by shape, by texture, or (best) both; colours are drawn per object and
// carry no class information. Silhouettes are sized so the shape fits the unit disc (`extent` is
// its farthest point from the centre); objects are sized by area, so no class is systematically
// smaller than another.
import { sdBox, sdCircle, sdHeartUnit, sdHexagon, sdRhombus, sdStar5, sdTriangle, type Sdf } from './sdf.js';
import type { TextureName } from './texture.js';

export interface ClassDef {
  name: string;
  shape: string;
  texture: TextureName;
  /** Signed distance in local units (the shape fits the unit disc). */
  sdf: Sdf;
  /** Farthest silhouette point from the local origin, in local units. */
  extent: number;
  /** Silhouette area in square local units (sizes objects by target image-area fraction). */
  area: number;
  /** Pattern frequency range (repeats per local unit). */
  freq: [number, number];
}

export const CLASSES: readonly ClassDef[] = [
  { name: 'dotted-disc', shape: 'disc', texture: 'dots', sdf: (x, y) => sdCircle(x, y, 0.9), extent: 0.9, area: 2.545, freq: [2.2, 3.5] },
  { name: 'striped-square', shape: 'square', texture: 'stripes', sdf: (x, y) => sdBox(x, y, 0.66, 0.66), extent: 0.934, area: 1.742, freq: [2, 3.2] },
  { name: 'checkered-triangle', shape: 'triangle', texture: 'checker', sdf: (x, y) => sdTriangle(x, y, 0.86), extent: 1.0, area: 1.293, freq: [1.6, 2.6] },
  { name: 'gradient-star', shape: 'five-pointed star', texture: 'radialGradient', sdf: (x, y) => sdStar5(x, y, 1.0, 0.5), extent: 1.0, area: 1.47, freq: [1, 1] },
  { name: 'spoked-ring', shape: 'ring (annulus)', texture: 'spokes', sdf: (x, y) => Math.abs(sdCircle(x, y, 0.7)) - 0.25, extent: 0.95, area: 2.199, freq: [2.5, 4] },
  { name: 'hatched-cross', shape: 'plus-shaped cross', texture: 'crosshatch', sdf: (x, y) => Math.min(sdBox(x, y, 0.93, 0.31), sdBox(x, y, 0.31, 0.93)), extent: 0.98, area: 1.928, freq: [2.5, 3.5] },
  { name: 'wavy-hexagon', shape: 'hexagon', texture: 'waves', sdf: (x, y) => sdHexagon(x, y, 0.8), extent: 0.924, area: 2.215, freq: [2.2, 3.2] },
  { name: 'ringed-crescent', shape: 'crescent', texture: 'rings', sdf: (x, y) => Math.max(sdCircle(x, y, 0.95), -sdCircle(x - 0.42, y, 0.78)), extent: 0.95, area: 1.243, freq: [3, 4.5] },
  { name: 'chevron-diamond', shape: 'diamond (rhombus)', texture: 'chevrons', sdf: (x, y) => sdRhombus(x, y, 0.62, 0.97), extent: 0.97, area: 1.203, freq: [2.5, 3.5] },
  { name: 'brick-heart', shape: 'heart', texture: 'bricks', sdf: (x, y) => 1.4 * sdHeartUnit(x / 1.4, y / 1.4 + 0.55), extent: 0.95, area: 1.75, freq: [2.5, 3.5] },
];

export const CLASS_NAMES: readonly string[] = CLASSES.map((c) => c.name);
