#!/usr/bin/env node
// `npm test`: architecture check, every project's vitest suite through Nx, then one
// summary line over all projects ("N passed, N failed, N skipped") for CI logs.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const projectDirs = ['packages', 'tools', 'apps'].flatMap((top) =>
  readdirSync(join(root, top)).map((d) => join(root, top, d)),
);
for (const dir of projectDirs) rmSync(join(dir, 'test-results'), { recursive: true, force: true });

const run = (cmd, args) => spawnSync(cmd, args, { stdio: 'inherit', cwd: root, env: { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true', NX_TUI: 'false' } }).status ?? 1;
let status = run('node', ['scripts/check-architecture.mjs']);
const extra = process.argv.slice(2);
status = run('npx', ['nx', 'run-many', '-t', 'test', '--parallel=1', '--outputStyle=stream', ...extra]) || status;

let passed = 0, failed = 0, skipped = 0, suites = 0;
for (const dir of projectDirs) {
  const file = join(dir, 'test-results', 'vitest.json');
  if (!existsSync(file)) continue;
  const r = JSON.parse(readFileSync(file, 'utf8'));
  suites += 1;
  passed += r.numPassedTests ?? 0;
  failed += r.numFailedTests ?? 0;
  skipped += (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
}
console.log(`\nTest summary over ${suites} projects:`);
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
if (suites === 0 || passed === 0) { console.error('No tests ran.'); status = status || 1; }
process.exit(failed > 0 ? 1 : status);
