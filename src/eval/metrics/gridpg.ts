// Grid pointing game (Rao, Böhle, Schiele, "Towards better understanding attribution methods",
// CVPR 2022): the input is a 2×2 mosaic of images of distinct classes, the map explains one of them,
// and the score is the share of POSITIVE attribution that falls in that image's cell. Negative
// attribution is evidence against the class, not localisation, so it is clipped away as in the paper.
// A map with no positive attribution at all localises nothing: it scores 0 (not NaN), so methods that
// produce empty maps are penalised rather than dropped from the mean.
// Cells split the map at floor(k·H/rows) and floor(k·W/cols), exact for the even sizes mosaics use;
// cells are numbered row-major (0 = top-left, 1 = top-right, 2 = bottom-left, 3 = bottom-right).
import type { Map2D } from './types.js';

export interface GridOptions {
  readonly rows?: number;
  readonly cols?: number;
}

export interface CellRect {
  readonly y0: number;
  readonly y1: number;
  readonly x0: number;
  readonly x1: number;
}

export function gridCell(height: number, width: number, cell: number, { rows = 2, cols = 2 }: GridOptions = {}): CellRect {
  if (!Number.isInteger(cell) || cell < 0 || cell >= rows * cols) {
    throw new Error(`GridPG: cell ${cell} outside a ${rows}×${cols} grid`);
  }
  const r = Math.floor(cell / cols), c = cell % cols;
  return {
    y0: Math.floor((r * height) / rows), y1: Math.floor(((r + 1) * height) / rows),
    x0: Math.floor((c * width) / cols), x1: Math.floor(((c + 1) * width) / cols),
  };
}

/** Positive attribution inside the target cell / total positive attribution; 0 when there is none. */
export function gridPointingGame(map: Map2D, targetCell: number, opts: GridOptions = {}): number {
  const { y0, y1, x0, x1 } = gridCell(map.height, map.width, targetCell, opts);
  let inside = 0, total = 0;
  for (let y = 0; y < map.height; y++) {
    const inRow = y >= y0 && y < y1;
    for (let x = 0; x < map.width; x++) {
      const v = map.data[y * map.width + x];
      if (!(v > 0)) continue;
      total += v;
      if (inRow && x >= x0 && x < x1) inside += v;
    }
  }
  return total > 0 ? inside / total : 0;
}
