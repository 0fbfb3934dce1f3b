/**
 * `residuum report --central postgres://... --since 24h --out plant.html`: the plant report from
 * the central database that line services replicate to (serve --central).
 */
import { InvalidArgumentError, type Command } from 'commander';
import type { CommandContext } from './context.js';
import { renderPlantReport } from '../report/plant-report.js';
import { CliError } from '../util/errors.js';
import { ExitCode, type ExitCodeValue } from '../util/exit-codes.js';
import { prepareOutputFile, writeOutputFile, writtenWord } from '../output/index.js';

const UNITS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000 };

export function parseDuration(value: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([mhd])$/.exec(value.trim());
  if (!match || Number(match[1]) <= 0) throw new InvalidArgumentError('--since must be a duration such as 90m, 24h or 7d.');
  return Number(match[1]) * UNITS[match[2]];
}

export function addReportCommand(program: Command, context: () => CommandContext, setExit: (code: ExitCodeValue) => void): void {
  program
    .command('report')
    .description('plant report from the central database: defect rate per line, station and model version over time, top anomalies')
    .requiredOption('--central <url>', 'the central PostgreSQL database (postgres://user:pass@host/db)')
    .option('--since <duration>', 'period before now (90m, 24h, 7d)', parseDuration, 86_400_000)
    .option('--out <file>', 'HTML report to write', 'plant.html')
    .option('--force', 'replace --out even if residuum did not write it')
    .action(async (options: { central: string; since: number; out: string; force?: boolean }) => {
      setExit(await runReport(options, context()));
    });
}

async function runReport(options: { central: string; since: number; out: string; force?: boolean }, context: CommandContext): Promise<ExitCodeValue> {
  const { loadPlantReport, checkUrl, ConfigError, POSTGRES_SCHEMES, PlantReportError } = await import('@residuum/line-service');
  try {
    checkUrl(options.central, '--central', POSTGRES_SCHEMES);
  } catch (error) {
    if (error instanceof ConfigError) throw new CliError(error.message);
    throw error;
  }
  const out = await prepareOutputFile(options.out, '--out', { cwd: context.io.cwd, force: Boolean(options.force), kind: 'plant-report-html' });
  let data;
  try {
    data = await loadPlantReport(options.central, options.since);
  } catch (error) {
    if (error instanceof PlantReportError) throw new CliError(error.message);
    throw error;
  }
  await writeOutputFile(out, renderPlantReport({ ...data, generator: context.generator, generatedAt: new Date().toISOString() }));
  const results = data.groups.reduce((sum, g) => sum + g.results, 0);
  context.io.stdout(`plant report: ${results} results from ${new Set(data.groups.map((g) => g.line)).size} lines since ${data.since} -> ${options.out} (${writtenWord(out)})\n`);
  return ExitCode.ok;
}
