export { ImageDecodeError, DatasetError, type ImageDecodeFailure } from './errors.js';
export { IMAGE_EXTENSIONS } from './format.js';
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
