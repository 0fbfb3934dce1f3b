import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { BackendUnavailableError, initBackend } from '../../src/backend/index.js';

describe('initBackend', () => {
  it("'auto' skips the absent native backends with their real import errors and never picks cpu", async () => {
    const selection = await initBackend('auto');
    // This machine has no libtensorflow: both tfjs-node flavours are optional and not installed.
    expect(selection.backend).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(selection.skipped.map((s) => s.name)).toEqual(['tensorflow-gpu', 'tensorflow']);
    expect(selection.skipped[0].reason).toMatch(/@tensorflow\/tfjs-node-gpu could not be loaded: .*(Cannot find|not found|ERR_MODULE_NOT_FOUND)/i);
    expect(selection.skipped[1].reason).toMatch(/@tensorflow\/tfjs-node could not be loaded: /);
    expect(selection.reason).toMatch(/wasm/);
  });

  it('forcing an unavailable native backend fails with a clear error', async () => {
    await expect(initBackend('tensorflow')).rejects.toThrow(BackendUnavailableError);
    await expect(initBackend('tensorflow-gpu')).rejects.toThrow(/'tensorflow-gpu' was requested but is unavailable: @tensorflow\/tfjs-node-gpu could not be loaded/);
  });

  it("'cpu' only when forced, and it says why it is a bad idea", async () => {
    const selection = await initBackend('cpu');
    expect(selection.backend).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    expect(selection.reason).toMatch(/100x slower/);
    const wasm = await initBackend('wasm');
    expect(wasm.backend).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
  });

  it('refuses the stock wasm kernels once ours are registered in this thread, instead of mislabelling them', async () => {
    await initBackend('wasm');
    await expect(initBackend('wasm', { wasmCustomKernels: false })).rejects.toThrow(/already registered in this thread; use a fresh process/);
  });

  it('rejects an unknown request naming the valid ones', async () => {
    await expect(initBackend('gpu' as never)).rejects.toThrow(/unknown backend "gpu"; expected one of auto, tensorflow-gpu, tensorflow, wasm, cpu/);
  });
});
