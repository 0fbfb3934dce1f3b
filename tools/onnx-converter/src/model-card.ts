import { METADATA_PREFIX, modelCardToMetadata, type ModelCard } from '@residuum/scoring';
import { replaceMetadata } from './onnx-model.js';

/**
 * An existing Residuum ONNX file with a new model card (validated by scoring's card code, the
 * same metadata the converter writes at export); the graph and weights are copied byte for byte.
 * The input bytes are not modified.
 */
export function withModelCard(onnxBytes: Uint8Array, card: ModelCard): Uint8Array {
  return replaceMetadata(onnxBytes, modelCardToMetadata(card), METADATA_PREFIX);
}
