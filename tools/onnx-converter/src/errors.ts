/** A model (or part of it) that cannot be converted faithfully. */
export class ConversionError extends Error {
  override readonly name = 'ConversionError';
}

/** Error about one layer: names the layer, its class and the reason. */
export function layerError(layer: { name: string; className: string }, reason: string): ConversionError {
  return new ConversionError(`layer '${layer.name}' (${layer.className}): ${reason}`);
}
