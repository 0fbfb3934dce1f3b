/**
 * Time of the greedy k-center coreset (PatchCore's training cost) on synthetic patch features:
 *   npx tsx --conditions=@residuum/source bench/coreset.ts [--patches 50000] [--dim 1536] [--fraction 0.1] [--projection 128] [--threads 2]
 * Defaults: layer2 + layer3 ResNet-50 features (1536 wide), 50,000 patches (64 images at 28 x 28),
 * a 10 % bank, projected to 128 dimensions. Features are seeded Gaussian mixtures (the time does not
 * depend on the values). Writes bench-results/coreset.json and prints it; cpuSeconds (the whole process,
 * generating the features included) tells a loaded machine from a slow kernel.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { greedyCoreset } from '../src/families/patchcore/index.js';
import { createRandom } from '../src/random.js';

const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const argument = (name: string, fallback: string): number => {
  const at = process.argv.indexOf(`--${name}`);
  return Number(at >= 0 ? process.argv[at + 1] : fallback);
};

const patches = argument('patches', '50000');
const dim = argument('dim', '1536');
const fraction = argument('fraction', '0.1');
const projection = argument('projection', '128');
const threads = argument('threads', '2');
const size = Math.max(1, Math.round(patches * fraction));

const random = createRandom(1);
const centers = Float32Array.from({ length: 64 * dim }, () => random.uniform(-1, 1));
const features = new Float32Array(patches * dim);
for (let i = 0; i < patches; i++) {
  const c = random.int(64);
  for (let d = 0; d < dim; d++) features[i * dim + d] = centers[c * dim + d] + 0.3 * random.uniform(-1, 1);
}

const started = Date.now();
const result = await greedyCoreset(features, patches, dim, { size, projectionDim: projection, seed: 1, threads });
const totalMs = Date.now() - started;
const report = {
  patches,
  featureDim: dim,
  projectionDim: result.distanceDim,
  coresetSize: result.indices.length,
  threads,
  projectionMs: result.timings.projectionMs,
  selectionMs: result.timings.selectionMs,
  msPerStep: Number((result.timings.selectionMs / result.indices.length).toFixed(3)),
  // Each step reads every projected point once: ns per patch and step, to scale to other sizes.
  nsPerPatchStep: Number(((result.timings.selectionMs * 1e6) / (result.indices.length * patches)).toFixed(3)),
  totalMs,
  kernel: 'projection: onnxruntime-node CPU MatMul (converter coreset-kernels); steps: JavaScript loop',
  cpuSeconds: Number((process.cpuUsage().user / 1e6 + process.cpuUsage().system / 1e6).toFixed(1)),
  measuredAt: new Date().toISOString(),
};
const file = join(packageDir, 'bench-results', 'coreset.json');
await mkdir(dirname(file), { recursive: true });
await writeFile(file, JSON.stringify(report, null, 2) + '\n');
console.log(JSON.stringify(report, null, 2));
