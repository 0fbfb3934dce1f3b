// The provisioning decision of `npm test`, with fake checks: nothing is uninstalled.
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { REQUIREMENTS, onPath, planProvisioning } from './requirements.mjs';

const present = (name, packages) => ({ name, neededBy: 'tests', check: () => true, debianPackages: packages });
const absent = (name, packages) => ({ name, neededBy: 'tests', check: () => false, debianPackages: packages });

test('nothing to do when every check passes', () => {
  assert.deepEqual(planProvisioning([present('chromium', ['chromium'])], { isRoot: false, hasAptGet: false }), { action: 'none' });
});

test('as root with apt-get: installs exactly the missing packages, once each', () => {
  const plan = planProvisioning(
    [absent('chromium', ['chromium']), present('sklearn', ['python3-sklearn']), absent('onnx', ['python3-onnx', 'python3-numpy']), absent('numpy', ['python3-numpy'])],
    { isRoot: true, hasAptGet: true },
  );
  assert.equal(plan.action, 'install');
  assert.deepEqual(plan.packages, ['chromium', 'python3-onnx', 'python3-numpy']);
});

test('not root: stops with one message listing what is missing and the one install command', () => {
  const plan = planProvisioning([absent('chromium', ['chromium']), present('sklearn', ['python3-sklearn']), absent('onnx', ['python3-onnx'])], { isRoot: false, hasAptGet: true });
  assert.equal(plan.action, 'stop');
  assert.deepEqual(plan.missing.map((r) => r.name), ['chromium', 'onnx']);
  assert.match(plan.message, /no test was run/);
  assert.match(plan.message, /- chromium/);
  assert.doesNotMatch(plan.message, /sklearn/);
  assert.match(plan.message, /^Install with: sudo apt-get update && sudo apt-get install -y --no-install-recommends chromium python3-onnx$/m);
});

test('without apt-get it names the Debian packages instead of a command it cannot run', () => {
  const plan = planProvisioning([absent('onnx', ['python3-onnx'])], { isRoot: true, hasAptGet: false });
  assert.equal(plan.action, 'stop');
  assert.match(plan.message, /Install the Debian packages python3-onnx \(this system has no apt-get\)/);
});

test('something no package provides (the shared data) stops even as root, saying how to provide it', () => {
  const data = { name: 'the shared data', neededBy: 'dataset tests', check: () => false, howTo: 'place shared/ beside the repository' };
  const plan = planProvisioning([data, absent('chromium', ['chromium'])], { isRoot: true, hasAptGet: true });
  assert.equal(plan.action, 'stop');
  assert.match(plan.message, /the shared data \(needed by dataset tests\): place shared\/ beside the repository/);
  assert.match(plan.message, /Install with: apt-get update && apt-get install -y --no-install-recommends chromium$/m);
});

test('onPath finds executables on a fake PATH only', () => {
  const dir = mkdtempSync(join(tmpdir(), 'residuum-path-'));
  try {
    writeFileSync(join(dir, 'fake-tool'), '#!/bin/sh\n');
    chmodSync(join(dir, 'fake-tool'), 0o755);
    writeFileSync(join(dir, 'not-executable'), '');
    assert.equal(onPath('fake-tool', { PATH: dir }), true);
    assert.equal(onPath('not-executable', { PATH: dir }), false);
    assert.equal(onPath('fake-tool', { PATH: '/nonexistent' }), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the table: every entry has a check, and either Debian packages or how to provide it', () => {
  for (const r of REQUIREMENTS) {
    assert.equal(typeof r.check, 'function', r.name);
    assert.ok(r.debianPackages?.length || r.howTo, r.name);
  }
  assert.ok(REQUIREMENTS.some((r) => r.debianPackages?.includes('chromium')));
  assert.ok(REQUIREMENTS.some((r) => r.debianPackages?.includes('python3-onnx')));
  assert.ok(REQUIREMENTS.some((r) => r.debianPackages?.includes('python3-sklearn')));
});

test("vitest's global setup stops with one line when ../shared is absent (the scripts copied to a folder without it)", async () => {
  const { copyFileSync, mkdirSync } = await import('node:fs');
  const { pathToFileURL } = await import('node:url');
  const repo = join(mkdtempSync(join(tmpdir(), 'residuum-noshared-')), 'repo');
  try {
    mkdirSync(join(repo, 'scripts'), { recursive: true });
    for (const file of ['requirements.mjs', 'require-shared-data.mjs']) copyFileSync(new URL(file, import.meta.url), join(repo, 'scripts', file));
    const { default: setup } = await import(pathToFileURL(join(repo, 'scripts', 'require-shared-data.mjs')).href);
    assert.throws(setup, (error) => {
      assert.match(error.message, /^the shared data \(.*\/shared\/datasets and \.\.\/shared\/backbones\) is missing: the dataset, training and DFR tests need it; place .*\. No test of this project was run\.$/);
      assert.doesNotMatch(error.message, /\n/);
      return true;
    });
  } finally {
    rmSync(join(repo, '..'), { recursive: true, force: true });
  }
});
