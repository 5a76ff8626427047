// The CAM family (baselines.md, "CAM family"): its method names, and the maps of the gradient CAMs
// at the layer — Grad-CAM (Captum), Grad-CAM++ and LayerCAM (pytorch-grad-cam) — from the layer's
// activation A and the logit's gradient g = ∂y_c/∂A of one gradient walk. Score-CAM (./scorecam.ts)
// and FullGrad (./fullgrad.ts) have stages of their own.
import type { AttrBackend } from './backend.js';

/** The CAM methods added to Grad-CAM (pytorch-grad-cam's GradCAMPlusPlus, ScoreCAM, LayerCAM, FullGrad). */
export type CamMethod = 'gradcam++' | 'scorecam' | 'layercam' | 'fullgrad';
export const CAM_METHODS: readonly CamMethod[] = ['gradcam++', 'scorecam', 'layercam', 'fullgrad'];

/** The CAMs whose map is a function of A and g at the layer. */
export type GradientCam = 'gradcam' | 'gradcam++' | 'layercam';

/** Score-CAM's channel score: the target's logit (pytorch-grad-cam) or the paper's softmax gain. */
export type ScoreMode = 'logit' | 'softmax-gain';
export const SCORE_MODES: readonly ScoreMode[] = ['logit', 'softmax-gain'];

/**
 * The (N·T)×1×h×w map at the layer, after the method's ReLU, and Grad-CAM's / Grad-CAM++'s
 * channel weights; `g` is consumed, `a` (the forward value) is not.
 */
export function gradientCamMap<T>(be: AttrBackend<T>, method: GradientCam, a: T, g: T): { cam: T; alpha?: T } {
  if (method === 'layercam') {
    const cam = be.layerCam(a, g);
    be.release(g);
    return { cam };
  }
  const alpha = method === 'gradcam' ? be.channelMean(g) : be.gradcamPlusPlusWeights(a, g);
  be.release(g);
  return { cam: be.cam(a, alpha), alpha };
}
