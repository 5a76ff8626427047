// The procedural multi-object benchmark with exact ground truth, and the dataset folder format.
export { CLASSES, CLASS_NAMES } from './classes.js';
export type { ClassDef } from './classes.js';
export { mulberry32, hashInts, hashString } from '../rng.js';
export {
  renderScene, sampleScene, rasterizeScene, objectLayer, resolveSize,
  DIFFICULT_AREA, MIN_VISIBLE, MIN_SIDE,
} from './scene.js';
export type {
  Scene, SceneSpec, SceneObject, SceneOptions, ObjectSpec, ObjectLayer, AnnotatedImage, AnnotatedObject,
  RasterOptions, Size,
} from './scene.js';
export { renderSingle, buildMosaic, renderMosaic } from './mosaic.js';
export type { Mosaic, GridInfo } from './mosaic.js';
export {
  DatasetWriter, readDataset, validateAnnotations, loadImage, loadMask, decodeMaskPng, checkMask,
  encodeRgbPng, encodeMaskPng, splitFor, FORMAT_NAME, FORMAT_VERSION, MASK_VOID, SPLITS,
} from './format.js';
export type { Annotations, Dataset, ImageRecord, ObjectRecord, Split, ReadOptions } from './format.js';
export { generateDataset, imageSeed } from './generate.js';
export type { GenerateOptions, GenerateResult } from './generate.js';
