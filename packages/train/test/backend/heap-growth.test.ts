import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.js';

// Regression: Conv2DBackpropInput (the forward pass of Conv2DTranspose) used to keep a view of the
// filter on the wasm heap while allocating its outputs; when that allocation grew the heap, the view
// was detached and the filter read as NaN. A fresh process (vitest runs each file in its own fork)
// starts with a small heap, so growing outputs here force the growth.
describe('wasm training kernels while the wasm heap grows', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('Conv2DTranspose stride 2 stays finite and equals the cpu backend on ever larger outputs', async () => {
    for (const [n, size, channels] of [
      [2, 16, 64],
      [4, 32, 128],
      [8, 48, 128],
    ] as const) {
      const values = (backend: 'cpu' | 'wasm'): Promise<Float32Array> =>
        (async () => {
          await tf.setBackend(backend);
          const x = tf.randomUniform([n, size, size, channels], -1, 1, 'float32', 11) as tf.Tensor4D;
          const w = tf.randomUniform([3, 3, channels, channels], -0.1, 0.1, 'float32', 12) as tf.Tensor4D;
          const y = tf.conv2dTranspose(x, w, [n, size * 2, size * 2, channels], 2, 'same');
          const data = Float32Array.from(await y.data());
          tf.dispose([x, w, y]);
          return data;
        })();
      const wasm = await values('wasm');
      const cpu = await values('cpu');
      await tf.setBackend('wasm');
      expect(wasm.some(Number.isNaN), `NaN at ${n}x${size}x${size}x${channels}`).toBe(false);
      let worst = 0;
      for (let i = 0; i < cpu.length; i++) worst = Math.max(worst, Math.abs(wasm[i] - cpu[i]));
      expect(worst, `max |wasm - cpu| at ${n}x${size}x${size}x${channels}`).toBeLessThan(1e-4);
    }
  });
});
