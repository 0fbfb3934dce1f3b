/**
 * tf.io in a folder without tfjs-node: `model.json` (topology + weights manifest, the tf.io
 * model.json format) and `weights.bin` (all weights concatenated in manifest order).
 * Writes go to temporary files renamed into place, so a crash never leaves a half-written model.
 */
import * as tf from '@tensorflow/tfjs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
// Importing the layers registers the custom classes before any model is deserialized.
import '../layers/index.js';

export const MODEL_JSON = 'model.json';
export const WEIGHTS_BIN = 'weights.bin';

function joinWeightData(data: tf.io.WeightData): ArrayBuffer {
  return Array.isArray(data) ? tf.io.concatenateArrayBuffers(data) : data;
}

export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const temporary = `${path}.tmp-${process.pid}`;
  await writeFile(temporary, data);
  await rename(temporary, path);
}

/** Saves a Layers model as DIR/model.json + DIR/weights.bin. */
export async function saveModelToDir(model: tf.LayersModel, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      if (artifacts.modelTopology == null || artifacts.weightSpecs == null || artifacts.weightData == null) {
        throw new Error(`saving model to ${dir}: tf.io produced no topology or weights`);
      }
      const weights = new Uint8Array(joinWeightData(artifacts.weightData));
      const modelJson = {
        modelTopology: artifacts.modelTopology,
        format: artifacts.format ?? 'layers-model',
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy ?? null,
        weightsManifest: [{ paths: [`./${WEIGHTS_BIN}`], weights: artifacts.weightSpecs }],
      };
      await writeFileAtomic(join(dir, WEIGHTS_BIN), weights);
      await writeFileAtomic(join(dir, MODEL_JSON), JSON.stringify(modelJson));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON', weightDataBytes: weights.byteLength } };
    }),
  );
}

interface ModelJsonFile {
  modelTopology: object;
  format?: string;
  generatedBy?: string;
  convertedBy?: string | null;
  weightsManifest: Array<{ paths: string[]; weights: tf.io.WeightsManifestEntry[] }>;
}

/** Loads DIR/model.json + the weight files it lists (custom Residuum layers included). */
export async function loadModelFromDir(dir: string): Promise<tf.LayersModel> {
  const jsonPath = join(dir, MODEL_JSON);
  let parsed: ModelJsonFile;
  try {
    parsed = JSON.parse(await readFile(jsonPath, 'utf8')) as ModelJsonFile;
  } catch (error) {
    throw new Error(`cannot read model ${jsonPath}: ${(error as Error).message}`);
  }
  if (parsed.modelTopology == null || !Array.isArray(parsed.weightsManifest)) {
    throw new Error(`${jsonPath} is not a tf.io model.json (no modelTopology or weightsManifest)`);
  }
  const weightSpecs: tf.io.WeightsManifestEntry[] = [];
  const buffers: ArrayBuffer[] = [];
  for (const group of parsed.weightsManifest) {
    weightSpecs.push(...group.weights);
    for (const path of group.paths) {
      const bytes = await readFile(join(dir, path)).catch((error: Error) => {
        throw new Error(`cannot read weights ${join(dir, path)} listed in ${jsonPath}: ${error.message}`);
      });
      buffers.push(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
    }
  }
  return tf.loadLayersModel(
    tf.io.fromMemory({ modelTopology: parsed.modelTopology, weightSpecs, weightData: tf.io.concatenateArrayBuffers(buffers) }),
  );
}
