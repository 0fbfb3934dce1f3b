#!/usr/bin/env node
// `npm test`: provisions what the tests need (scripts/requirements.mjs: installs the missing
// Debian packages when root with apt-get, otherwise stops before any test with one message),
// the architecture check, the scripts' own tests, every project's vitest suite through Nx,
// then one summary line over all projects ("N passed, N failed, N skipped") for CI logs.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

import { REQUIREMENTS, aptInstallCommand, onPath, planProvisioning } from './requirements.mjs';

const root = new URL('..', import.meta.url).pathname;

const host = { isRoot: process.getuid?.() === 0, hasAptGet: onPath('apt-get') };
const plan = planProvisioning(REQUIREMENTS, host);
if (plan.action === 'install') {
  console.log(`== npm test: installing what the tests need: ${plan.packages.join(' ')} (apt-get, as root)`);
  const aptEnv = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const [apt, args] = aptInstallCommand(plan.packages);
  const updated = spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env: aptEnv }).status === 0;
  const installed = updated && spawnSync(apt, args, { stdio: ['ignore', 'ignore', 'inherit'], env: aptEnv }).status === 0;
  const after = planProvisioning(REQUIREMENTS, { isRoot: false, hasAptGet: host.hasAptGet });
  if (!installed || after.action !== 'none') {
    console.error(after.action === 'stop' ? after.message : `apt-get install ${plan.packages.join(' ')} failed`);
    process.exit(1);
  }
} else if (plan.action === 'stop') {
  console.error(plan.message);
  process.exit(1);
}
const projectDirs = ['packages', 'tools', 'apps', 'tests'].flatMap((top) =>
  readdirSync(join(root, top)).map((d) => join(root, top, d)),
);
for (const dir of projectDirs) rmSync(join(dir, 'test-results'), { recursive: true, force: true });

const run = (cmd, args) => spawnSync(cmd, args, { stdio: 'inherit', cwd: root, env: { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true', NX_TUI: 'false' } }).status ?? 1;
let status = run('node', ['scripts/check-architecture.mjs']);
// The scripts' own tests (node:test; they count in the summary below).
const scriptTests = spawnSync('node', ['--test', '--test-reporter=tap', 'scripts/requirements.test.mjs'], { cwd: root, encoding: 'utf8' });
process.stdout.write(scriptTests.stdout.split('\n').filter((line) => /^(not )?ok |^# (pass|fail)/.test(line)).map((l) => `scripts: ${l}`).join('\n') + '\n');
const tapCount = (key) => Number(new RegExp(`^# ${key} (\\d+)$`, 'm').exec(scriptTests.stdout)?.[1] ?? 0);
if (scriptTests.status !== 0) status = status || 1;
const extra = process.argv.slice(2);
status = run('npx', ['nx', 'run-many', '-t', 'test', '--parallel=1', '--outputStyle=stream', ...extra]) || status;

let passed = tapCount('pass'), failed = tapCount('fail'), skipped = tapCount('skipped') + tapCount('todo'), suites = 0;
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
