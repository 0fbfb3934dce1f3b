import { defineConfig } from 'vitest/config';
import { sharedConfig } from '../../vitest.shared.js';

// Vitest passes ssr.resolve.conditions to the test processes as Node's --conditions. With
// `import` among them, Node's require() inside CommonJS packages picks ESM entry points: pg's
// require('pg-pool') then gets a module namespace instead of the class. Node resolves `import`
// and `require` by itself, so this package's tests leave `import` out (replaced, not merged).
const conditions = ['@residuum/source', 'node', 'default'];

export default defineConfig({ ...sharedConfig, ssr: { ...sharedConfig.ssr, resolve: { ...sharedConfig.ssr?.resolve, conditions } } });
