/**
 * Which threshold policy should the trainer use by default? (issue 14)
 *
 *   node --conditions=@residuum/source --import tsx bench/threshold-policies.ts \
 *     --dataset casting --model ../../models/dfr-casting.onnx [--seed 1] [--val-split 0.1]
 *   node --conditions=@residuum/source --import tsx bench/threshold-policies.ts \
 *     --dataset magnetic_tile --model /tmp/dfr-tile.onnx
 *
 * Re-creates the validation split the trainer calibrated on (same images, seed and fraction as
 * `residuum train`), scores it and the test set through the ONNX file with runtime-node (the scoring
 * path of the card, as `residuum calibrate` does), fits each policy the trainer offers on the
 * validation scores only, and reports each threshold's recall and false-alarm rate on the test set
 * with exact 95 % Clopper-Pearson intervals. The rule of the issue: keep as the default the policy
 * with the highest test recall whose 95 % upper bound on test false alarms is <= 5 %.
 * Writes bench-results/threshold-policies-<dataset>.json and prints it. Needs ../shared.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readExclusionList, readFolderDataset, readMvtec, splitTrainValidation, type FileDatasetItem } from '@residuum/imaging';
import { createNodeInspector } from '@residuum/runtime-node';
import {
  clopperPearson,
  meanStdThreshold,
  quantileThreshold,
  recallAtFalseAlarmRate,
  targetFprThreshold,
  verdictCounts,
  type ThresholdSpec,
} from '@residuum/scoring';

const appDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const datasetsDir = resolve(appDir, '../../../shared/datasets');
/** The acceptance bound on the test false-alarm rate's 95 % upper limit. */
const MAX_FALSE_ALARM_UPPER = 0.05;

function argument(name: string, fallback?: string): string {
  const at = process.argv.indexOf(`--${name}`);
  const value = at >= 0 ? process.argv[at + 1] : fallback;
  if (value === undefined) throw new Error(`--${name} is required`);
  return value;
}

interface Sets {
  validation: FileDatasetItem[];
  testGood: FileDatasetItem[];
  testDefective: FileDatasetItem[];
  description: string;
}

async function datasetSets(name: string, seed: number, fraction: number): Promise<Sets> {
  const root = join(datasetsDir, name);
  if (name === 'casting') {
    const exclude = await readExclusionList(join(root, 'EXCLUDE_test.txt'));
    const dataset = await readFolderDataset(root, { trainNormalDirs: ['train/ok_front'], testNormalDirs: ['test/ok_front'], testAnomalyDirs: ['test/def_front'], exclude });
    const train = dataset.items.filter((i) => i.split === 'train');
    return {
      validation: splitTrainValidation(train, fraction, seed).validation,
      testGood: dataset.items.filter((i) => i.split === 'test' && i.label === 0),
      testDefective: dataset.items.filter((i) => i.split === 'test' && i.label === 1),
      description: 'casting: validation split of train/ok_front; test/ok_front (EXCLUDE_test.txt applied) vs test/def_front',
    };
  }
  if (name === 'magnetic_tile') {
    const dataset = await readMvtec(root);
    const train = dataset.items.filter((i) => i.split === 'train' && i.label === 0);
    return {
      validation: splitTrainValidation(train, fraction, seed).validation,
      testGood: dataset.items.filter((i) => i.split === 'test' && i.label === 0),
      testDefective: dataset.items.filter((i) => i.split === 'test' && i.label === 1),
      description: 'magnetic_tile (MVTec layout): validation split of train/good; test/good vs test/<defect>',
    };
  }
  throw new Error(`--dataset must be casting or magnetic_tile, got ${name}`);
}

/**
 * The good-only policies the trainer offers (--threshold-method), fitted by the same @residuum/scoring
 * functions with the same defaults as the trainer's fitThreshold. 'target-fpr with bound': the largest
 * number of validation false alarms whose 95 % upper bound stays <= 5 % (none allowed when even 0 of n
 * cannot show it), i.e. target-fpr:m/n.
 */
function policies(validation: readonly number[]): Array<{ name: string; trainerOption: string; threshold: ThresholdSpec; note?: string }> {
  const n = validation.length;
  let allowed = 0;
  while (allowed + 1 <= n && clopperPearson(allowed + 1, n).upper <= MAX_FALSE_ALARM_UPPER) allowed++;
  const boundFeasible = clopperPearson(0, n).upper <= MAX_FALSE_ALARM_UPPER;
  return [
    { name: 'quantile 0.99', trainerOption: 'quantile:0.99', threshold: quantileThreshold(validation, 0.99) },
    { name: 'quantile 0.95', trainerOption: 'quantile:0.95', threshold: quantileThreshold(validation, 0.95) },
    { name: 'mean + 3 std', trainerOption: 'mean-std:3', threshold: meanStdThreshold(validation, 3) },
    { name: 'mean + 2 std', trainerOption: 'mean-std:2', threshold: meanStdThreshold(validation, 2) },
    { name: 'target false-alarm rate 0.01', trainerOption: 'target-fpr:0.01', threshold: targetFprThreshold(validation, 0.01) },
    { name: 'target false-alarm rate 0.05', trainerOption: 'target-fpr:0.05', threshold: targetFprThreshold(validation, 0.05) },
    {
      name: 'target false-alarm rate with its 95 % upper bound <= 5 %',
      trainerOption: `target-fpr:${allowed}/${n}`,
      threshold: targetFprThreshold(validation, allowed / n),
      note: boundFeasible
        ? `${allowed} validation false alarms allowed`
        : `not feasible with ${n} validation images (0 of ${n} has a 95 % upper bound of ${(100 * clopperPearson(0, n).upper).toFixed(1)} %): threshold above the maximum`,
    },
  ];
}

const round = (x: number, digits = 4): number => Number(x.toPrecision(digits));

async function main(): Promise<void> {
  const datasetName = argument('dataset');
  const modelPath = resolve(argument('model'));
  const seed = Number(argument('seed', '1'));
  const fraction = Number(argument('val-split', '0.1'));
  const sets = await datasetSets(datasetName, seed, fraction);
  const inspector = await createNodeInspector(modelPath, { provider: 'cpu', logLevel: 'fatal' });
  const started = Date.now();
  const score = async (items: readonly FileDatasetItem[]): Promise<number[]> => {
    const results = await inspector.inspect(items.map((i) => i.path));
    return results.map((r, i) => {
      if (!r.ok) throw new Error(`${items[i].path}: ${r.error}`);
      return r.score;
    });
  };
  const validation = await score(sets.validation);
  const good = await score(sets.testGood);
  const defective = await score(sets.testDefective);
  const scoringSeconds = (Date.now() - started) / 1000;
  await inspector.dispose();

  const scores = [...good, ...defective];
  const labels = [...good.map(() => 0 as const), ...defective.map(() => 1 as const)];
  const rows = policies(validation).map((policy) => {
    const value = policy.threshold.value;
    const onValidation = verdictCounts(validation, validation.map(() => 0 as const), value);
    const onTest = verdictCounts(scores, labels, value);
    const far = onTest.falseAlarmRate!;
    // The best recall any threshold reaches on the test set at this policy's test false-alarm rate (is the threshold well placed?).
    const best = recallAtFalseAlarmRate(scores, labels, far.estimate);
    return {
      policy: policy.name,
      trainerOption: policy.trainerOption,
      threshold: round(value, 6),
      ...(policy.threshold.note || policy.note ? { note: [policy.note, policy.threshold.note].filter(Boolean).join('; ') } : {}),
      validationFalseAlarms: { count: onValidation.rejected, of: onValidation.good, upper95: round(onValidation.falseAlarmRate!.upper) },
      testRecall: { caught: onTest.caught, of: onTest.defective, estimate: round(onTest.recall!.estimate), lower95: round(onTest.recall!.lower), upper95: round(onTest.recall!.upper) },
      testFalseAlarms: { count: onTest.rejected, of: onTest.good, estimate: round(far.estimate), lower95: round(far.lower), upper95: round(far.upper) },
      bestRecallAtThisFalseAlarmRate: round(best.recall),
      eligible: far.upper <= MAX_FALSE_ALARM_UPPER,
    };
  });
  const eligible = rows.filter((r) => r.eligible).sort((a, b) => b.testRecall.estimate - a.testRecall.estimate);
  const result = {
    dataset: datasetName,
    model: modelPath,
    sets: { description: sets.description, validation: validation.length, testGood: good.length, testDefective: defective.length, seed, validationFraction: fraction },
    interval: 'Clopper-Pearson (exact), 95 %',
    rule: `highest test recall whose 95 % upper bound on test false alarms is <= ${MAX_FALSE_ALARM_UPPER}`,
    chosen: eligible[0]?.policy ?? null,
    policies: rows,
    scoringSeconds: round(scoringSeconds, 3),
    provider: 'onnxruntime-node cpu',
    measuredAt: new Date().toISOString(),
  };
  const file = join(appDir, 'bench-results', `threshold-policies-${datasetName}.json`);
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, JSON.stringify(result, null, 2) + '\n');
  console.log(JSON.stringify(result, null, 2));
  console.log(markdownTable(rows));
}

/** The table of models/README.md. */
function markdownTable(rows: ReadonlyArray<{ policy: string; trainerOption: string; threshold: number; validationFalseAlarms: { count: number; of: number; upper95: number }; testRecall: { caught: number; of: number; estimate: number; lower95: number; upper95: number }; testFalseAlarms: { count: number; of: number; estimate: number; upper95: number }; bestRecallAtThisFalseAlarmRate: number; eligible: boolean }>): string {
  const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
  return [
    '| policy (`--threshold-method`) | threshold | validation false alarms (95 % upper) | test recall (95 % CI) | test false alarms (95 % upper) | best test recall at that false-alarm rate | upper <= 5 % |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...rows.map((r) => {
      const v = r.validationFalseAlarms;
      const t = r.testRecall;
      const f = r.testFalseAlarms;
      return `| ${r.policy} (\`${r.trainerOption}\`) | ${r.threshold.toPrecision(4)} | ${v.count} / ${v.of} (${pct(v.upper95)}) | ${t.caught} / ${t.of} = ${t.estimate.toFixed(3)} (${pct(t.lower95)}-${pct(t.upper95)}) | ${f.count} / ${f.of} = ${pct(f.estimate)} (${pct(f.upper95)}) | ${r.bestRecallAtThisFalseAlarmRate.toFixed(3)} | ${r.eligible ? 'yes' : 'no'} |`;
    }),
  ].join('\n');
}

await main();
