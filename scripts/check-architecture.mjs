#!/usr/bin/env node
// Enforces the dependency direction of the monorepo:
//   apps -> runtimes / train / tools -> imaging -> scoring, and nothing imports an app
//   (except the CLI, which launches the line service).
// Also keeps @residuum/scoring isomorphic: no Node built-ins, no native modules.
import { readFileSync, readdirSync, statSync, existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { builtinModules } from 'node:module';

const root = new URL('..', import.meta.url).pathname;
const layers = {
  '@residuum/scoring': 0,
  '@residuum/imaging': 1,
  '@residuum/inspection': 1,
  '@residuum/train': 2,
  '@residuum/onnx-converter': 2,
  '@residuum/runtime-node': 3,
  '@residuum/runtime-web': 3,
  // The embeddable DOM panel: any Inspector, drawn with scoring's colour maps.
  '@residuum/inspection-panel': 2,
  '@residuum/line-service': 4,
  '@residuum/dashboard': 4,
  // The CLI launches the line service (`residuum serve`): the one app another app may import.
  '@residuum/cli': 5,
  // End-to-end checks across packages (train -> export -> run): the top; nothing imports it.
  '@residuum/e2e': 6,
};
// Which workspace packages each package may import (besides lower layers in general).
const forbidden = {
  '@residuum/scoring': /^(node:|sharp$|onnxruntime|@tensorflow)/,
  '@residuum/runtime-web': /^(node:|sharp$|onnxruntime-node|@residuum\/imaging)/,
  '@residuum/inspection': /^(node:|sharp$|onnxruntime|@tensorflow|@residuum\/imaging)/,
  '@residuum/inspection-panel': /^(node:|sharp$|onnxruntime|@tensorflow|@residuum\/imaging)/,
};
const isomorphic = ['@residuum/scoring', '@residuum/inspection', '@residuum/inspection-panel', '@residuum/runtime-web'];
const problems = [];
const packageDirs = ['packages', 'tools', 'apps', 'tests'].flatMap((top) =>
  readdirSync(join(root, top)).map((d) => join(root, top, d)).filter((d) => existsSync(join(d, 'package.json'))),
);
const nodeBuiltins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

function* sourceFiles(dir) {
  for (const entry of readdirSync(dir)) {
    if (entry === 'node_modules' || entry === 'dist' || entry === 'fixtures') continue;
    const full = join(dir, entry);
    if (statSync(full).isDirectory()) yield* sourceFiles(full);
    else if (/\.(ts|tsx|mts|js|mjs)$/.test(entry)) yield full;
  }
}

// Product code (src/) may import lower layers it lists in dependencies. Tests and benchmarks
// (test/, bench/, *.test.ts) may also import their own layer and what devDependencies list (a
// runtime's parity test against the other runtime), never a higher layer: a check that needs
// train + converter + runtime together lives in the end-to-end package (tests/e2e), the top layer.
const checkedFolders = [
  { folder: 'src', kind: 'src' },
  { folder: 'test', kind: 'test' },
  { folder: 'bench', kind: 'test' },
];

for (const dir of packageDirs) {
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  const myLayer = layers[pkg.name];
  if (myLayer === undefined) { problems.push(`${pkg.name}: not in the layer table of scripts/check-architecture.mjs`); continue; }
  for (const { folder, kind: folderKind } of checkedFolders) {
    const top = join(dir, folder);
    if (!existsSync(top)) continue;
    for (const file of sourceFiles(top)) {
      const kind = folderKind === 'src' && /\.test\.ts$/.test(file) ? 'test' : folderKind;
      if (folderKind === 'src' && !/\.(ts|tsx|mts)$/.test(file)) continue;
      const declared = kind === 'src' ? (pkg.dependencies ?? {}) : { ...pkg.dependencies, ...pkg.devDependencies };
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/(?:import|export)[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)) {
        const spec = m[1] ?? m[2];
        const where = relative(root, file);
        const target = spec.startsWith('@residuum/') ? spec.split('/').slice(0, 2).join('/') : null;
        if (target && target !== pkg.name) {
          const theirLayer = layers[target];
          if (theirLayer === undefined) problems.push(`${where}: imports unknown package ${target}`);
          else if (kind === 'src' ? theirLayer >= myLayer : theirLayer > myLayer) {
            problems.push(`${where}: ${pkg.name} (layer ${myLayer}) must not import ${target} (layer ${theirLayer})${kind === 'test' ? ' in its tests or benchmarks' : ''}`);
          }
          if (!declared[target]) {
            problems.push(`${where}: imports ${target} but ${pkg.name}/package.json does not list it in ${kind === 'src' ? 'dependencies' : 'dependencies or devDependencies'}`);
          }
        }
        const rule = forbidden[pkg.name];
        if (kind === 'src' && rule && (rule.test(spec) || (isomorphic.includes(pkg.name) && nodeBuiltins.has(spec)))) {
          problems.push(`${where}: ${pkg.name} must stay isomorphic but imports '${spec}'`);
        }
      }
    }
  }
}
if (problems.length) {
  console.error(`Architecture check failed (${problems.length}):\n  ` + problems.join('\n  '));
  process.exit(1);
}
console.log(`Architecture check passed: ${packageDirs.length} packages, dependencies point one way.`);
