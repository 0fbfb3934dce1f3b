/**
 * fp16 storage against float32 on real files: the same model exported twice (`residuum export` and
 * `residuum export --fp16`), scored by runtime-node CPU on the same images: the largest relative
 * difference of image scores, verdicts at the card's threshold, file sizes, per-image time. The
 * stated tolerance (the converter's FP16_STORAGE_SCORE_TOLERANCE) is 2 % relative.
 *
 *   npx tsx --conditions=@residuum/source packages/runtime-node/bench/fp16-storage.ts FP32.onnx FP16.onnx IMAGE... > result.json
 *
 * A folder argument takes its images (sorted) up to BENCH_PER_FOLDER (default 10) of them.
 */
import { readdirSync, statSync } from 'node:fs';
import { loadavg } from 'node:os';
import { basename, join } from 'node:path';
import { createNodeInspector } from '../src/index.js';

const [fp32, fp16, ...inputs] = process.argv.slice(2);
if (!fp32 || !fp16 || inputs.length === 0) {
  console.error('usage: fp16-storage.ts FP32.onnx FP16.onnx IMAGE_OR_FOLDER...');
  process.exit(2);
}
const perFolder = Number(process.env.BENCH_PER_FOLDER ?? 10);
const images = inputs.flatMap((p) =>
  statSync(p).isDirectory()
    ? readdirSync(p).filter((f) => /\.(jpe?g|png|bmp)$/i.test(f)).sort().slice(0, perFolder).map((f) => join(p, f))
    : [p],
);

async function run(model: string) {
  const inspector = await createNodeInspector(model, { provider: 'cpu' });
  try {
    await inspector.inspect(images.slice(0, 1));
    const started = performance.now();
    const results = await inspector.inspect(images);
    const seconds = (performance.now() - started) / 1000;
    return {
      scores: results.map((r, i) => {
        if (!r.ok) throw new Error(`${images[i]}: ${r.error}`);
        return { score: r.score, anomalous: r.isAnomalous };
      }),
      msPerImage: Math.round((seconds * 1000) / images.length),
    };
  } finally {
    await inspector.dispose();
  }
}

const load = loadavg()[0];
const a = await run(fp32);
const b = await run(fp16);
const relative = a.scores.map((r, i) => Math.abs(b.scores[i].score - r.score) / Math.abs(r.score));
const sorted = [...relative].sort((x, y) => x - y);
console.log(
  JSON.stringify(
    {
      benchmark: 'fp16 storage vs float32, runtime-node CPU',
      date: new Date().toISOString(),
      loadAverage1mAtStart: Math.round(load * 100) / 100,
      files: { fp32: { name: basename(fp32), bytes: statSync(fp32).size }, fp16: { name: basename(fp16), bytes: statSync(fp16).size } },
      images: images.length,
      maxRelativeScoreDifference: Number(sorted[sorted.length - 1].toExponential(3)),
      medianRelativeScoreDifference: Number(sorted[Math.floor(sorted.length / 2)].toExponential(3)),
      sameVerdicts: a.scores.every((r, i) => r.anomalous === b.scores[i].anomalous),
      anomalousFp32: a.scores.filter((r) => r.anomalous).length,
      anomalousFp16: b.scores.filter((r) => r.anomalous).length,
      msPerImage: { fp32: a.msPerImage, fp16: b.msPerImage },
      statedTolerance: 0.01,
    },
    null,
    2,
  ),
);
