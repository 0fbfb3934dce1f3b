#!/usr/bin/env node
/** residuum-convert RUN_DIR --out model.onnx [--fp16] [--no-scoring-head] */
import { parseArgs } from 'node:util';
import { convertRunDir } from './run-dir.js';

const usage = 'usage: residuum-convert RUN_DIR --out model.onnx [--fp16] [--no-scoring-head]';

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { out: { type: 'string', short: 'o' }, fp16: { type: 'boolean', default: false }, 'no-scoring-head': { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h' } },
    });
  } catch (error) {
    console.error(`${(error as Error).message}\n${usage}`);
    return 2;
  }
  if (parsed.values.help) {
    console.log(usage);
    return 0;
  }
  if (parsed.positionals.length !== 1 || !parsed.values.out) {
    console.error(usage);
    return 2;
  }
  try {
    const result = await convertRunDir(parsed.positionals[0], { outFile: parsed.values.out, fp16: parsed.values.fp16, scoringHead: !parsed.values['no-scoring-head'] });
    const r = result.report;
    console.log(`wrote ${result.outFile} (${result.onnx.byteLength} bytes, IR ${r.irVersion}, opset ${r.opsetVersion}${r.fp16 ? ', fp16' : ''})`);
    console.log(`nodes ${r.nodes}, initializers ${r.initializers}, folded BatchNorms ${r.foldedBatchNorms}`);
    console.log(`outputs: ${r.outputs.map((o) => `${o.name} ${JSON.stringify(o.shape)}`).join(', ')}`);
    console.log('output' in r.scoringHead ? `scoring head: ${r.scoringHead.output} (the anomaly map computed in the graph)` : `no scoring head: ${r.scoringHead.skipped}`);
    if (r.mcMaskInputs.length > 0) console.log(`MC-Dropout mask inputs: ${r.mcMaskInputs.map((m) => `${m.name} ${JSON.stringify(m.shape)} rate ${m.rate}`).join(', ')}`);
    for (const warning of r.warnings) console.log(`warning: ${warning}`);
    return 0;
  } catch (error) {
    console.error(`residuum-convert: ${(error as Error).message}`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
