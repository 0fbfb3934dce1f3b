// Decoding: sharp (BMP: bmp-ts) to a native-size RawImage; all resizing is @residuum/scoring's.
export { ImageDecodeError, DatasetError, type ImageDecodeFailure } from './errors.js';
export { IMAGE_EXTENSIONS } from './format.js';
export { MAX_IMAGE_PIXELS, MAX_IMAGE_PIXELS_ENV, maxImagePixels } from './pixel-limit.js';
export {
  decodeImage,
  loadModelInput,
  loadMask,
  type DecodeOptions,
  type ImageInput,
  type MaskOptions,
  type ModelInput,
  type TensorLayout,
} from './decode.js';

// Datasets: readers, split, streaming batches, fingerprint.
export type {
  Dataset,
  DatasetItem,
  DatasetReport,
  FileDatasetItem,
  IdxDatasetItem,
  IdxImages,
  Label,
  Split,
} from './datasets/types.js';
export { isFileItem } from './datasets/types.js';
export { readMvtec, type MvtecOptions } from './datasets/mvtec.js';
export { readFolderDataset, type FolderDatasetOptions } from './datasets/folder.js';
export { readMnist, type MnistOptions } from './datasets/mnist.js';
export { readExclusionList } from './datasets/exclusions.js';
export { splitTrainValidation, type TrainValidationSplit } from './datasets/split.js';
export {
  batches,
  ImageBatchStream,
  type BatchOptions,
  type BatchRunReport,
  type ImageBatch,
  type SkippedItem,
} from './datasets/batches.js';
export { fingerprintFiles, type FileRef } from './datasets/fingerprint.js';

// Pictures of maps: PNG, viridis heatmap, overlay, side by side.
export {
  encodePng,
  type PngOptions,
  writePng,
  modelTensorToImage,
  renderHeatmap,
  renderHeatmapOverlay,
  sideBySide,
  type HeatmapOptions,
  type MapImage,
  type OverlayOptions,
} from './encode.js';
