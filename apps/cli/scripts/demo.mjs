#!/usr/bin/env node
// The README's main job: inspect and evaluate the embedded casting sample with the default
// model, through the built CLI (no dev dependencies). Run from anywhere:
//   node apps/cli/scripts/demo.mjs [MODEL.onnx] [--out DIR]
// MODEL defaults to models/default.onnx (models/ also holds other shipped models, e.g. dfr-casting.onnx).
// Exit 0 when both commands ran (inspect's exit 1, "anomalies found", is the expected result
// on a sample that holds defective parts); otherwise the failing command's exit code.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const dist = new URL('../dist/index.js', import.meta.url);
if (!existsSync(fileURLToPath(dist))) {
  console.error('residuum demo: apps/cli is not built; run `npx nx run @residuum/cli:build` first');
  process.exit(2);
}
const { runCli, processIo } = await import(dist.href);

const args = process.argv.slice(2);
const outIndex = args.indexOf('--out');
const outDir = outIndex >= 0 ? args.splice(outIndex, 2)[1] : join(repo, 'demo-output');
let model = args[0];
if (!model) {
  model = join(repo, 'models', 'default.onnx');
  if (!existsSync(model)) {
    const found = readdirSync(join(repo, 'models')).filter((name) => name.endsWith('.onnx'));
    console.error(`residuum demo: models/default.onnx is missing (models/ has ${found.length ? found.join(', ') : 'no .onnx file'}); pass the model path`);
    process.exit(2);
  }
}
const sample = join(repo, 'models', 'samples', 'casting');
const io = { ...processIo(), cwd: repo };
const show = (path) => relative(repo, path) || '.';

console.log(`\n== residuum inspect ${show(model)} ${show(sample)}\n`);
const inspected = await runCli(['inspect', model, sample, '--maps', join(outDir, 'heatmaps'), '--json', join(outDir, 'inspect.json')], io);
if (inspected !== 0 && inspected !== 1) process.exit(inspected);

console.log(`\n== residuum evaluate ${show(model)} --data ${show(sample)} (ok_front good, def_front defective)\n`);
const evaluated = await runCli(
  ['evaluate', model, '--data', sample, '--normal-dir', 'ok_front', '--anomaly-dir', 'def_front', '--json', join(outDir, 'evaluate.json'), '--report', join(outDir, 'report.html')],
  io,
);
if (evaluated !== 0) process.exit(evaluated);
// The line manager's summary, from the evaluation just written.
const verdict = JSON.parse(readFileSync(join(outDir, 'evaluate.json'), 'utf8')).image.atThreshold;
console.log(
  `\nsummary at the model's threshold (${verdict.threshold.toPrecision(4)}): ${verdict.caught} caught, ${verdict.defective - verdict.caught} missed ` +
    `(of ${verdict.defective} defective), ${verdict.rejected} false alarms (of ${verdict.good} good)`,
);
console.log(`\nOpen ${show(join(outDir, 'report.html'))} in a browser; heatmaps are in ${show(join(outDir, 'heatmaps'))}/.`);
