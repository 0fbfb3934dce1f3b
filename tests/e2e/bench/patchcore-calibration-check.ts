/**
 * Calibration == runtime on a real PatchCore run (not a unit test): rebuilds the run's validation split
 * (same dataset, preprocessing and seed as the card says), scores those images with runtime-node on the
 * exported file, and compares the scores' statistics with the card's calibration (which the trainer
 * computed from the TF.js head's outputs through scoreImageOutputs).
 *
 *   npx tsx --conditions=@residuum/source tests/e2e/bench/patchcore-calibration-check.ts MODEL.onnx DATA [LAYOUT=mvtec]
 */
import { createNodeInspector } from '@residuum/runtime-node';
import { calibrationStats, isAnomalous } from '@residuum/scoring';
import { createDatasetSource } from '@residuum/train';

const [model, data, layout = 'mvtec'] = process.argv.slice(2);
if (!model || !data) {
  console.error('usage: patchcore-calibration-check.ts MODEL.onnx DATA [LAYOUT]');
  process.exit(2);
}
const inspector = await createNodeInspector(model, { provider: 'cpu', threads: 2, batchSize: 8 });
const card = inspector.card;
const source = await createDatasetSource({ root: data, layout: layout as 'mvtec' | 'folder', preprocessing: card.preprocessing, validationFraction: 0.1, seed: card.training.seed });
const { channels, height, width } = { channels: card.preprocessing.channels, height: card.preprocessing.height, width: card.preprocessing.width };
const plane = height * width;
const tensors: Array<{ source: string; input: { data: Float32Array; channels: number; height: number; width: number } }> = [];
for await (const batch of source.validationBatches(8)) {
  for (let i = 0; i < batch.count; i++) {
    const chw = new Float32Array(channels * plane);
    for (let p = 0; p < plane; p++) for (let c = 0; c < channels; c++) chw[c * plane + p] = batch.data[(i * plane + p) * channels + c];
    tensors.push({ source: `validation-${tensors.length}`, input: { data: chw, channels, height, width } });
  }
}
const results = await inspector.inspectTensors(tensors);
await inspector.dispose();
const scores = results.map((r) => {
  if (!r.ok) throw new Error(r.error);
  return r.score;
});
const stats = calibrationStats(scores);
const relative = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);
console.log(
  JSON.stringify(
    {
      model,
      images: scores.length,
      cardCount: card.calibration.count,
      relativeDifference: { min: relative(stats.min, card.calibration.min), max: relative(stats.max, card.calibration.max), mean: relative(stats.mean, card.calibration.mean), std: relative(stats.std, card.calibration.std) },
      verdictsAtThreshold: { anomalous: scores.filter((s) => isAnomalous(s, card.threshold.value)).length, threshold: card.threshold.value },
    },
    null,
    2,
  ),
);
