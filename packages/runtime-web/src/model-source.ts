/** Where a model comes from in the browser: a URL, a dropped file, or bytes already in memory. */
export type ModelSource = string | URL | File | Blob | ArrayBuffer | Uint8Array;

export interface ModelBytes {
  bytes: Uint8Array;
  /** URL or file name, for messages. */
  label: string;
}

/** Reads the model's bytes; every failure names the source and the reason. */
export async function readModelBytes(model: ModelSource): Promise<ModelBytes> {
  if (model instanceof Uint8Array) return { bytes: model, label: 'model bytes' };
  if (model instanceof ArrayBuffer) return { bytes: new Uint8Array(model), label: 'model bytes' };
  if (typeof Blob !== 'undefined' && model instanceof Blob) {
    const label = typeof File !== 'undefined' && model instanceof File ? model.name : 'model blob';
    try {
      return { bytes: new Uint8Array(await model.arrayBuffer()), label };
    } catch (error) {
      throw new Error(`could not read model file ${label}: ${errorMessage(error)}`);
    }
  }
  if (typeof model === 'string' || model instanceof URL) {
    const url = String(model);
    let response: Response;
    try {
      response = await fetch(url);
    } catch (error) {
      throw new Error(`could not fetch model ${url}: ${errorMessage(error)}`);
    }
    if (!response.ok) throw new Error(`could not fetch model ${url}: HTTP ${response.status} ${response.statusText}`.trim());
    return { bytes: new Uint8Array(await response.arrayBuffer()), label: url };
  }
  throw new TypeError(
    `model must be a URL string, URL, File, Blob, ArrayBuffer or Uint8Array, got ${describeValue(model)}`,
  );
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value !== 'object') return typeof value;
  return (value as object).constructor?.name ?? 'an object';
}
