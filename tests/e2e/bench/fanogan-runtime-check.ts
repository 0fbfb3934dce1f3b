/**
 * The exported f-AnoGAN ONNX scored by runtime-node on the real casting test set (files decoded and
 * preprocessed by runtime-node, scored with the embedded card), next to the trainer-side AUROC of
 * bench/fanogan-quality.ts. Run after it:
 *
 *   npx tsx --conditions=@residuum/source tests/e2e/bench/fanogan-runtime-check.ts [--tag long]
 *
 * Converts packages/train/bench-results/run-fanogan-casting-64[-tag] to model.onnx in that folder
 * first. Lives in the end-to-end package: it needs the trainer's run, the converter and runtime-node.
 */
import { readFolderDataset, readExclusionList } from '@residuum/imaging';
import { auroc } from '@residuum/scoring';
import { createNodeInspector } from '@residuum/runtime-node';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exportRunFolder } from '../../../tools/onnx-converter/test/helpers/run-folder.js';
const tagIndex = process.argv.indexOf('--tag');
const suffix = tagIndex >= 0 && process.argv[tagIndex + 1] ? `-${process.argv[tagIndex + 1]}` : '';
const trainDir = fileURLToPath(new URL('../../../packages/train', import.meta.url));
const runDir = join(trainDir, 'bench-results', `run-fanogan-casting-64${suffix}`);
const root = fileURLToPath(new URL('../../../../shared/datasets/casting', import.meta.url));
await exportRunFolder(runDir, { outFile: join(runDir, 'model.onnx') });
const ds = await readFolderDataset(root, { trainNormalDirs: ['train/ok_front'], testNormalDirs: ['test/ok_front'], testAnomalyDirs: ['test/def_front'], exclude: await readExclusionList(join(root, 'EXCLUDE_test.txt')) });
const test = ds.items.filter((i) => i.split === 'test');
const inspector = await createNodeInspector(join(runDir, 'model.onnx'), { provider: 'cpu', batchSize: 16 });
const results = await inspector.inspect(test.map((i) => (i as { path: string }).path));
await inspector.dispose();
const ok = results.filter((r) => r.ok);
const scores = results.map((r) => (r.ok ? r.score : NaN));
const bench = JSON.parse(await readFile(join(trainDir, 'bench-results', `fanogan-casting-64${suffix}.json`), 'utf8'));
console.log(JSON.stringify({ runDir, images: results.length, ok: ok.length, runtimeNodeImageAuroc: auroc(scores, test.map((i) => i.label) as Array<0 | 1>), trainerImageAuroc: bench.imageAuroc }));
