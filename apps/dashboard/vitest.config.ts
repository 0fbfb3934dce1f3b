import { mergeConfig } from 'vitest/config';
import { sharedConfig } from '../../vitest.shared.js';

// Each test file starts its own chromium: one at a time, so 2 busy CI cores are not
// shared by three browsers (keeps the timing-free tests far from their timeouts).
export default mergeConfig(sharedConfig, { test: { fileParallelism: false } });
