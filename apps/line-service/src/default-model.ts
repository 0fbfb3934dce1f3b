import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * The embedded default model, models/default.onnx at the repository root (as the CLI's demo
 * resolves it): src/ and dist/ both sit one level below apps/line-service/.
 */
export function defaultModelPath(): string {
  const path = fileURLToPath(new URL('../../../models/default.onnx', import.meta.url));
  if (!existsSync(path)) throw new Error(`the embedded default model ${path} is missing; give the model: residuum serve MODEL.onnx`);
  return path;
}
