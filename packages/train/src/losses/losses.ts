import * as tf from '@tensorflow/tfjs';
import { gaussianKernel, SSIM_DEFAULTS, type SsimOptions, ssimStabilizers } from '@residuum/scoring';

export type ReconstructionLoss = 'mse' | 'l1' | 'ssim';
export const RECONSTRUCTION_LOSSES: readonly ReconstructionLoss[] = ['mse', 'l1', 'ssim'];

export type { SsimOptions };

/** The normalized Gaussian window of `size` taps (odd), the one @residuum/scoring's SSIM uses. */
function gaussianTaps(size: number, sigma: number): number[] {
  return Array.from(gaussianKernel(sigma, (size - 1) / 2));
}

/**
 * 'valid' separable Gaussian blur of every channel. Channels go into the batch and the blur is two
 * plain conv2d passes, because depthwise-conv gradients are not registered on the wasm backend.
 */
function gaussianBlurValid(x: tf.Tensor4D, taps: number[]): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  const size = taps.length;
  const planes = c === 1 ? x : (tf.transpose(x, [0, 3, 1, 2]).reshape([n * c, h, w, 1]) as tf.Tensor4D);
  const vertical = tf.tensor4d(taps, [size, 1, 1, 1]);
  const horizontal = tf.tensor4d(taps, [1, size, 1, 1]);
  const blurred = tf.conv2d(tf.conv2d(planes, vertical, 1, 'valid'), horizontal, 1, 'valid');
  if (c === 1) return blurred;
  const [, bh, bw] = blurred.shape;
  return tf.transpose(blurred.reshape([n, c, bh, bw]), [0, 2, 3, 1]) as tf.Tensor4D;
}

/**
 * Per-position SSIM map (NHWC, 'valid' Gaussian window as in Wang et al. / Bergmann et al.'s
 * AE-SSIM: window 11, sigma 1.5, c1 = (0.01 L)^2, c2 = (0.03 L)^2), per channel.
 */
export function ssimMap(a: tf.Tensor4D, b: tf.Tensor4D, options: SsimOptions = {}): tf.Tensor4D {
  const windowSize = options.windowSize ?? SSIM_DEFAULTS.windowSize;
  const sigma = options.sigma ?? SSIM_DEFAULTS.sigma;
  const range = options.dynamicRange ?? SSIM_DEFAULTS.dynamicRange;
  return tf.tidy(() => {
    const [, height, width] = a.shape;
    // Small images (unit tests) cannot hold an 11-px window: shrink it to fit, odd size.
    const size = Math.max(1, Math.min(windowSize, height - ((height + 1) % 2), width - ((width + 1) % 2)));
    const taps = gaussianTaps(size, sigma);
    const blur = (x: tf.Tensor4D): tf.Tensor4D => gaussianBlurValid(x, taps);
    const { c1, c2 } = ssimStabilizers(range);
    const muA = blur(a);
    const muB = blur(b);
    const muA2 = tf.square(muA);
    const muB2 = tf.square(muB);
    const muAB = tf.mul(muA, muB);
    const varA = tf.sub(blur(tf.square(a)), muA2);
    const varB = tf.sub(blur(tf.square(b)), muB2);
    const covAB = tf.sub(blur(tf.mul(a, b)), muAB);
    const numerator = tf.mul(tf.add(tf.mul(muAB, 2), c1), tf.add(tf.mul(covAB, 2), c2));
    const denominator = tf.mul(tf.add(tf.add(muA2, muB2), c1), tf.add(tf.add(varA, varB), c2));
    return tf.div(numerator, denominator) as tf.Tensor4D;
  });
}

export function reconstructionLoss(kind: ReconstructionLoss, reconstruction: tf.Tensor4D, target: tf.Tensor4D): tf.Scalar {
  return tf.tidy(() => {
    switch (kind) {
      case 'mse':
        return tf.mean(tf.squaredDifference(reconstruction, target)) as tf.Scalar;
      case 'l1':
        return tf.mean(tf.abs(tf.sub(reconstruction, target))) as tf.Scalar;
      case 'ssim':
        return tf.sub(1, tf.mean(ssimMap(reconstruction, target))) as tf.Scalar;
      default:
        throw new Error(`unknown loss '${String(kind)}' (expected one of ${RECONSTRUCTION_LOSSES.join(', ')})`);
    }
  });
}

/** KL(q(z|x) || N(0, I)), summed over latent dimensions, averaged over the batch. */
export function gaussianKl(mean: tf.Tensor, logVar: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    const perDim = tf.sub(tf.add(tf.square(mean), tf.exp(logVar)), tf.add(logVar, 1));
    return tf.mul(tf.mean(tf.sum(perDim, -1)), 0.5) as tf.Scalar;
  });
}
