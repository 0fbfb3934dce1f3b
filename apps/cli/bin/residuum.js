#!/usr/bin/env -S node --single-threaded-gc
// --single-threaded-gc: on a 2-core line PC, V8's concurrent GC threads compete with onnxruntime's, and its
// concurrent-marking trigger starts a full GC every 0.5-1 s in `residuum serve`; this flag took the DFR's
// 1-client p99 from 53-56 ms to 39-47 ms (apps/line-service/README.md). NODE_OPTIONS refuses it, hence here.
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
