#!/usr/bin/env node
// The built CLI; run `npx nx run @residuum/cli:build` first (or `npm start -w apps/cli -- ...` from sources).
try {
  await import('../dist/main.js');
} catch (error) {
  if (error?.code === 'ERR_MODULE_NOT_FOUND' && String(error.message).includes('dist/main.js')) {
    process.stderr.write('residuum: error: the CLI is not built; run `npx nx run @residuum/cli:build` first\n');
    process.exit(2);
  }
  throw error;
}
