import { fileURLToPath } from 'node:url';
import { defineConfig, mergeConfig } from 'vitest/config';

// Workspace packages export their TypeScript sources under the "@residuum/source"
// condition, so tests run against src/ without a prior build.
const conditions = ['@residuum/source', 'module', 'node', 'import', 'default'];
// Vitest hands ssr.resolve.conditions to the test processes as Node's --conditions. With `import`
// among them, require() inside CommonJS packages picks ESM entry points (pg's require('pg-pool')
// gets a module namespace, not the class). Node adds `import` / `require` by itself.
const nodeConditions = conditions.filter((condition) => condition !== 'import');

export const sharedConfig = defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions: nodeConditions, externalConditions: ['node', 'import', 'default'] } },
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    reporters: ['default', 'json'],
    outputFile: { json: 'test-results/vitest.json' },
  },
});

/** For projects whose tests read ../shared: one line and no test when it is absent (scripts/require-shared-data.mjs). */
export const sharedDataConfig = mergeConfig(sharedConfig, {
  test: { globalSetup: [fileURLToPath(new URL('./scripts/require-shared-data.mjs', import.meta.url))] },
});
