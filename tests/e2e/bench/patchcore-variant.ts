/**
 * One PatchCore training with library settings the CLI does not expose (not a unit test), to compare
 * variants on a dataset; then `residuum export` and `residuum evaluate` the run folder.
 *
 *   npx tsx --conditions=@residuum/source tests/e2e/bench/patchcore-variant.ts DATA LAYOUT OUT '{"reduction":"random-projection"}'
 */
import { getBackbone } from '@residuum/onnx-converter';
import { PATCHCORE_DEFAULTS, trainPatchCore, type PatchCoreTrainOptions } from '@residuum/train';

const [data, layout, out, settingsText = '{}'] = process.argv.slice(2);
if (!data || !layout || !out) {
  console.error('usage: patchcore-variant.ts DATA LAYOUT(folder|mvtec) OUT [SETTINGS_JSON]');
  process.exit(2);
}
const settings = JSON.parse(settingsText) as Partial<PatchCoreTrainOptions> & { normalDir?: string[] };
const size = settings.size ?? PATCHCORE_DEFAULTS.size;
const backbone = await getBackbone('resnet50', { size, onProgress: (m) => console.error(`backbone: ${m}`) });
const { width: _width, height: _height, ...preprocessing } = backbone.manifest.preprocessing;
const result = await trainPatchCore({
  ...settings,
  out,
  data,
  layout: layout as 'folder' | 'mvtec',
  size,
  backend: 'wasm',
  backbone: { onnxPath: backbone.onnxPath, taps: [...PATCHCORE_DEFAULTS.layers], preprocessing, name: 'resnet50' },
});
console.log(JSON.stringify({ settings, patchcore: result.patchcore, timings: result.timings }, null, 2));
