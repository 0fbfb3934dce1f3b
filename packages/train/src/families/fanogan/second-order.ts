/**
 * WGAN-GP differentiates the critic's input gradient with respect to the critic's weights. TF.js computes
 * second-order gradients by differentiating the backward ops, and LeakyReLU's backward pass uses a
 * `Greater` mask, a kernel with no registered gradient (TF.js 4.22 throws "gradient function not found
 * for Greater"). A comparison is piecewise constant, so its gradient is zero almost everywhere: registering
 * exactly that makes the penalty's gradient correct (checked against finite differences in the tests).
 */
import * as tf from '@tensorflow/tfjs';

const ZERO_GRADIENT_COMPARISONS = ['Greater', 'GreaterEqual', 'Less', 'LessEqual', 'Equal', 'NotEqual'] as const;

let registered = false;

/** Idempotent (TF.js keeps one global gradient registry and does not export its lookup). */
export function registerComparisonGradients(): void {
  if (registered) return;
  registered = true;
  for (const kernelName of ZERO_GRADIENT_COMPARISONS) {
    tf.registerGradient({
      kernelName,
      inputsToSave: ['a', 'b'],
      gradFunc: (_dy, saved) => ({ a: () => tf.zerosLike(saved[0]), b: () => tf.zerosLike(saved[1]) }),
    });
  }
}
