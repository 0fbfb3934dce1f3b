// Model card (the contract every package shares).
export * from './card/model-card.js';

// Preprocessing: decoded 8-bit image -> model input, and map/mask resizing.
export type { RawImage } from './preprocess/raw-image.js';
export { preprocessImage, centerCropBox } from './preprocess/preprocess.js';
export { resizeMap, resizeMaskNearest, binarizeMask, resamplePlane } from './preprocess/resample.js';
export type { ResampleFilter, SourceBox } from './preprocess/resample.js';
