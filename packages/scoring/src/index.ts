// Model card (the contract every package shares).
export * from './card/model-card.js';

// Preprocessing: decoded 8-bit image -> model input, and map/mask resizing.
export type { RawImage } from './preprocess/raw-image.js';
export { preprocessImage, centerCropBox } from './preprocess/preprocess.js';
export { resizeMap, resizeMaskNearest, binarizeMask, resamplePlane } from './preprocess/resample.js';
export type { ResampleFilter, SourceBox } from './preprocess/resample.js';

// Card validation and the ONNX metadata round trip.
export { validateModelCard, parseModelCard, modelCardToMetadata, modelCardFromMetadata, ModelCardError, METADATA_KEYS } from './card/validate.js';

// Colour: viridis heatmaps and overlays (RGBA, isomorphic).
export { colorizeMap, overlayHeatmap, type ColorRange } from './color/colormap.js';
export { VIRIDIS_RGB } from './color/viridis.js';
