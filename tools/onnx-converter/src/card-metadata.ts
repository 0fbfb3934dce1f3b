/**
 * Model card <-> ONNX metadata_props, per the project convention: `residuum.card` holds the
 * whole card as JSON (authoritative), plus `residuum.schema_version` and `residuum.family`.
 */
import { MODEL_CARD_SCHEMA_VERSION, type ModelCard } from '@residuum/scoring';

export function cardMetadataEntries(card: ModelCard): Record<string, string> {
  return {
    'residuum.card': JSON.stringify(card),
    'residuum.schema_version': String(MODEL_CARD_SCHEMA_VERSION),
    'residuum.family': card.family,
  };
}
