/**
 * Runs the package's benchmarks one after the other (each in its own process, they load different backends):
 *   npm run bench                      -> train-throughput, then quality (quality needs ../shared)
 *   npm run bench -- throughput        -> only bench/train-throughput.ts
 *   npm run bench -- quality [--model cae ...] -> only bench/quality.ts with its options
 * Results: bench-results/*.json (each script prints its JSON too).
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const scripts = { throughput: 'train-throughput.ts', quality: 'quality.ts' } as const;
type BenchName = keyof typeof scripts;

function run(name: BenchName, args: string[]): Promise<number> {
  const script = fileURLToPath(new URL(`./${scripts[name]}`, import.meta.url));
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...process.execArgv, script, ...args], { stdio: 'inherit' });
    child.on('exit', (code) => resolve(code ?? 1));
  });
}

const [first, ...rest] = process.argv.slice(2);
const selected: BenchName[] = first === undefined ? ['throughput', 'quality'] : first in scripts ? [first as BenchName] : [];
if (selected.length === 0) {
  process.stderr.write(`bench: unknown benchmark ${JSON.stringify(first)}; expected one of ${Object.keys(scripts).join(', ')}\n`);
  process.exit(2);
}
let failed = 0;
for (const name of selected) {
  const code = await run(name, first === undefined ? [] : rest);
  if (code !== 0) {
    process.stderr.write(`bench: ${name} exited with code ${code}\n`);
    failed++;
  }
}
process.exit(failed === 0 ? 0 : 1);
