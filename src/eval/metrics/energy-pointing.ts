// Energy-based pointing game (Wang et al., "Score-CAM", CVPR Workshops 2020): instead of the single
// maximum, the share of the map's energy that lies in the ground-truth box/mask,
// Σ_in L / (Σ_in L + Σ_out L). Score-CAM's maps are non-negative after their ReLU; for signed maps we
// take the positive part (the energy of positive evidence), so negative relevance neither adds to nor
// cancels the energy. A map with no positive energy scores 0.
import { regionMask, type Map2D, type Region } from './types.js';

export function energyPointingGame(map: Map2D, region: Region): number {
  const mask = regionMask(region, map.height, map.width);
  let inside = 0, total = 0;
  for (let i = 0; i < map.data.length; i++) {
    const v = map.data[i];
    if (!(v > 0)) continue;
    total += v;
    if (mask[i]) inside += v;
  }
  return total > 0 ? inside / total : 0;
}
