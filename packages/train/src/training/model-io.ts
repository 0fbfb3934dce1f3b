/**
 * tf.io in a folder without tfjs-node: `model.json` (topology + weights manifest, the tf.io
 * model.json format) and `weights.bin` (all weights concatenated in manifest order).
 * Writes go to temporary files renamed into place, so a crash never leaves a half-written model.
 */
import * as tf from '@tensorflow/tfjs';
// Importing the layers registers the custom classes before any model is deserialized.
import '../layers/index.js';
import { readRunModel, RUN_FILES, writeRunModel } from '../run-folder/index.js';

function joinWeightData(data: tf.io.WeightData): ArrayBuffer {
  return Array.isArray(data) ? tf.io.concatenateArrayBuffers(data) : data;
}

/** Saves a Layers model as DIR/model.json + DIR/weights.bin (the run folder's model files). */
export async function saveModelToDir(model: tf.LayersModel, dir: string): Promise<void> {
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      if (artifacts.modelTopology == null || artifacts.weightSpecs == null || artifacts.weightData == null) {
        throw new Error(`saving model to ${dir}: tf.io produced no topology or weights`);
      }
      const weights = new Uint8Array(joinWeightData(artifacts.weightData));
      const modelJson = {
        modelTopology: artifacts.modelTopology as object,
        format: artifacts.format ?? 'layers-model',
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy ?? null,
        weightsManifest: [{ paths: [`./${RUN_FILES.weights}`], weights: artifacts.weightSpecs }],
      };
      await writeRunModel(dir, { modelJson, weights });
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON', weightDataBytes: weights.byteLength } };
    }),
  );
}

/** Loads DIR/model.json + the weight files it lists (custom Residuum layers included). */
export async function loadModelFromDir(dir: string): Promise<tf.LayersModel> {
  const { modelJson, weights } = await readRunModel(dir);
  const weightSpecs = modelJson.weightsManifest.flatMap((group) => group.weights) as tf.io.WeightsManifestEntry[];
  const weightData = weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength) as ArrayBuffer;
  return tf.loadLayersModel(tf.io.fromMemory({ modelTopology: modelJson.modelTopology, weightSpecs, weightData }));
}
