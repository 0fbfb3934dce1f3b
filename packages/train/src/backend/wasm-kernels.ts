import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

/**
 * Training kernels for tfjs-backend-wasm 4.22, built from the backend's own XNNPACK kernels:
 * - Conv2DBackpropFilter (not registered at all upstream, tfjs issue #8474): dW is a Conv2D of the transposed
 *   input (channels as batch, batch as channels) with the transposed output gradient as filter, dilation = stride.
 * - Conv2DBackpropInput (upstream is a naive loop; also the forward pass of Conv2DTranspose): stride 1 is a
 *   Conv2D of dy with the flipped, in/out-swapped kernel; stride s > 1 is one Conv2D of the undilated dy
 *   producing all s*s output phases as channels (sub-pixel form), then DepthToSpace.
 * - Conv2D, FusedConv2D: 'same' padding is passed to XNNPACK as explicit padding (its SAME mode is wrong for
 *   some strided shapes).
 * - MaxPoolGrad: upstream routes gradients to the wrong positions; this one follows the cpu backend (first maximum).
 * - Tile: upstream is an element-wise index loop; this one copies whole blocks (memmove) in the wasm heap.
 *   The batch-norm gradient tiles [1,1,1,C] to the full activation shape at every BN layer.
 */

type Padding = 'same' | 'valid' | number | tf.backend_util.ExplicitPadding;
type Pair = [number, number];

interface ConvGeometry {
  strides: Pair;
  pad: Padding;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  dataFormat?: 'NHWC' | 'NCHW';
}

function runKernel(backend: BackendWasm, kernelName: string, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap): tf.TensorInfo {
  const kernel = tf.getKernel(kernelName, 'wasm');
  if (kernel === undefined) throw new Error(`wasm training kernels: the wasm backend has no '${kernelName}' kernel`);
  const result = kernel.kernelFunc({ inputs, attrs, backend });
  if (Array.isArray(result)) throw new Error(`wasm training kernels: '${kernelName}' returned several outputs`);
  return result;
}

/** Frees intermediate results of runKernel calls (they are not tracked by the tf engine). */
function release(backend: BackendWasm, ...infos: tf.TensorInfo[]): void {
  for (const info of infos) backend.disposeData(info.dataId);
}

function transpose(backend: BackendWasm, x: tf.TensorInfo, perm: number[]): tf.TensorInfo {
  return runKernel(backend, 'Transpose', { x }, { perm });
}

function reshape(backend: BackendWasm, x: tf.TensorInfo, shape: number[]): tf.TensorInfo {
  return runKernel(backend, 'Reshape', { x }, { shape });
}

function slice(backend: BackendWasm, x: tf.TensorInfo, begin: number[], size: number[]): tf.TensorInfo {
  return runKernel(backend, 'Slice', { x }, { begin, size });
}

function conv2d(backend: BackendWasm, x: tf.TensorInfo, filter: tf.TensorInfo, strides: Pair, dilations: Pair, pads: [Pair, Pair]): tf.TensorInfo {
  const pad: tf.backend_util.ExplicitPadding = [[0, 0], pads[0], pads[1], [0, 0]];
  return runKernel(backend, 'Conv2D', { x, filter }, { strides, dilations, pad, dataFormat: 'NHWC' });
}

function requireChannelsLast(kernelName: string, dataFormat: string | undefined): void {
  if (dataFormat !== undefined && dataFormat !== 'NHWC') {
    throw new Error(`wasm ${kernelName}: dataFormat '${dataFormat}' is not supported, use 'NHWC' (channelsLast)`);
  }
}

/** Crops `info` (rank 4) to the given height/width from the top-left corner when it is larger; frees the original. */
function cropSpatial(backend: BackendWasm, info: tf.TensorInfo, height: number, width: number): tf.TensorInfo {
  const [n, h, w, c] = info.shape;
  if (h === height && w === width) return info;
  const cropped = slice(backend, info, [0, 0, 0, 0], [n, height, width, c]);
  release(backend, info);
  return cropped;
}

function conv2DBackpropFilter(args: { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const backend = args.backend as BackendWasm;
  const { x, dy } = args.inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = args.attrs as unknown as ConvGeometry & {
    filterShape: [number, number, number, number];
  };
  requireChannelsLast('Conv2DBackpropFilter', dataFormat);
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number], filterShape, strides, 1, pad, dimRoundingMode, false, 'channelsLast');
  const { filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw, outHeight: oh, outWidth: ow, inHeight: ih, inWidth: iw } = info;
  const padTop = info.padInfo.top;
  const padLeft = info.padInfo.left;
  // Output rows of the re-expressed conv = ih + padTop + padBottom - ((oh-1)*sh + 1) + 1 must reach fh.
  const padBottom = Math.max(0, fh - 1 + (oh - 1) * sh + 1 - ih - padTop);
  const padRight = Math.max(0, fw - 1 + (ow - 1) * sw + 1 - iw - padLeft);

  const xT = transpose(backend, x, [3, 1, 2, 0]); // [Cin, H, W, N]
  const dyT = transpose(backend, dy, [1, 2, 0, 3]); // [OH, OW, N, Cout]
  const full = conv2d(backend, xT, dyT, [1, 1], [sh, sw], [[padTop, padBottom], [padLeft, padRight]]); // [Cin, >=fh, >=fw, Cout]
  release(backend, xT, dyT);
  const grad = cropSpatial(backend, full, fh, fw);
  const result = transpose(backend, grad, [1, 2, 0, 3]); // [fh, fw, Cin, Cout]
  release(backend, grad);
  return result;
}

/**
 * Builds the filter of the sub-pixel form of Conv2DBackpropInput for one spatial axis pair.
 * For stride s, output row h = s*q + r receives tap a of W from dy row q + m where a = r + padTop - s*m.
 * G[j, k, o, (rh*s + rw)*Cin + i] = W[rh + padTop - s*(mMinH + j), rw + padLeft - s*(mMinW + k), i, o] (0 outside).
 */
function subPixelFilter(
  w: Float32Array, fh: number, fw: number, cin: number, cout: number,
  sh: number, sw: number, padTop: number, padLeft: number, mMinH: number, mMinW: number, kh: number, kw: number,
): Float32Array {
  const phases = sh * sw;
  const g = new Float32Array(kh * kw * cout * phases * cin);
  const gOutChannels = phases * cin;
  for (let j = 0; j < kh; j++) {
    for (let k = 0; k < kw; k++) {
      for (let rh = 0; rh < sh; rh++) {
        const a = rh + padTop - sh * (mMinH + j);
        if (a < 0 || a >= fh) continue;
        for (let rw = 0; rw < sw; rw++) {
          const b = rw + padLeft - sw * (mMinW + k);
          if (b < 0 || b >= fw) continue;
          const phaseOffset = (rh * sw + rw) * cin;
          for (let i = 0; i < cin; i++) {
            const wBase = ((a * fw + b) * cin + i) * cout;
            for (let o = 0; o < cout; o++) {
              g[((j * kw + k) * cout + o) * gOutChannels + phaseOffset + i] = w[wBase + o];
            }
          }
        }
      }
    }
  }
  return g;
}

function conv2DBackpropInput(args: { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const backend = args.backend as BackendWasm;
  const { dy, filter } = args.inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
  const { strides, pad, dataFormat, dimRoundingMode, inputShape } = args.attrs as unknown as ConvGeometry & {
    inputShape: [number, number, number, number];
  };
  requireChannelsLast('Conv2DBackpropInput', dataFormat);
  const filterShape = filter.shape as [number, number, number, number];
  const info = tf.backend_util.computeConv2DInfo(inputShape, filterShape, strides, 1, pad, dimRoundingMode, false, 'channelsLast');
  const { batchSize, filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw, outHeight: oh, outWidth: ow, inHeight: ih, inWidth: iw, inChannels: cin, outChannels: cout } = info;
  const padTop = info.padInfo.top;
  const padLeft = info.padInfo.left;
  if (padTop >= fh || padLeft >= fw) {
    throw new Error(`wasm Conv2DBackpropInput: padding (${padTop}, ${padLeft}) not smaller than the filter (${fh}x${fw}) is not supported`);
  }
  const w = backend.typedArrayFromHeap(filter) as Float32Array;

  // dy row q + m feeds output row s*q + r for m in [mMin, mMax] over all phases r.
  const mMinH = Math.floor((padTop - fh) / sh) + 1;
  const mMinW = Math.floor((padLeft - fw) / sw) + 1;
  const mMaxH = Math.floor((sh - 1 + padTop) / sh);
  const mMaxW = Math.floor((sw - 1 + padLeft) / sw);
  const kh = mMaxH - mMinH + 1;
  const kw = mMaxW - mMinW + 1;
  const rowsQ = Math.ceil(ih / sh);
  const colsQ = Math.ceil(iw / sw);
  const g = subPixelFilter(w, fh, fw, cin, cout, sh, sw, padTop, padLeft, mMinH, mMinW, kh, kw);
  const gInfo = backend.makeOutput([kh, kw, cout, sh * sw * cin], 'float32');
  (backend.typedArrayFromHeap(gInfo) as Float32Array).set(g);

  const convPadTop = -mMinH;
  const convPadLeft = -mMinW;
  const convPadBottom = Math.max(0, rowsQ + kh - 1 - oh - convPadTop);
  const convPadRight = Math.max(0, colsQ + kw - 1 - ow - convPadLeft);
  const phasesOut = conv2d(backend, dy, gInfo, [1, 1], [1, 1], [[convPadTop, convPadBottom], [convPadLeft, convPadRight]]);
  release(backend, gInfo);
  const phases = cropSpatial(backend, phasesOut, rowsQ, colsQ); // [N, rowsQ, colsQ, sh*sw*Cin]
  if (sh === 1 && sw === 1) return phases;
  let spatial: tf.TensorInfo;
  if (sh === sw) {
    spatial = runKernel(backend, 'DepthToSpace', { x: phases }, { blockSize: sh, dataFormat: 'NHWC' });
  } else {
    // [N, Q, Q', sh, sw, Cin] -> [N, Q, sh, Q', sw, Cin]
    const six = reshape(backend, phases, [batchSize, rowsQ, colsQ, sh, sw, cin]);
    const moved = transpose(backend, six, [0, 1, 3, 2, 4, 5]);
    release(backend, six);
    spatial = reshape(backend, moved, [batchSize, rowsQ * sh, colsQ * sw, cin]);
    release(backend, moved);
  }
  release(backend, phases);
  return cropSpatial(backend, spatial, ih, iw);
}

function tile(args: { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const backend = args.backend as BackendWasm;
  const { x } = args.inputs as { x: tf.TensorInfo };
  const { reps } = args.attrs as unknown as { reps: number[] };
  if (x.dtype === 'string' || x.dtype === 'complex64') {
    throw new Error(`wasm Tile: dtype '${x.dtype}' is not supported`);
  }
  const outShape = x.shape.map((size, axis) => size * reps[axis]);
  const out = backend.makeOutput(outShape, x.dtype);
  const outSize = outShape.reduce((a, b) => a * b, 1);
  if (outSize === 0) return out;
  const target = backend.typedArrayFromHeap(out);
  target.set(backend.typedArrayFromHeap(x));
  // Expand axis by axis from the innermost: the data of shape `current` sits at the start of `target`;
  // moving outer blocks from the last to the first never overwrites a block not yet moved.
  const current = [...x.shape];
  for (let axis = current.length - 1; axis >= 0; axis--) {
    const rep = reps[axis];
    if (rep === 1) continue;
    let block = 1;
    for (let k = axis; k < current.length; k++) block *= current[k];
    let outer = 1;
    for (let k = 0; k < axis; k++) outer *= current[k];
    const grown = block * rep;
    for (let j = outer - 1; j >= 0; j--) {
      const destination = j * grown;
      if (j !== 0) target.copyWithin(destination, j * block, j * block + block);
      let filled = block;
      while (filled < grown) {
        const count = Math.min(filled, grown - filled);
        target.copyWithin(destination + filled, destination, destination + count);
        filled += count;
      }
    }
    current[axis] *= rep;
  }
  return out;
}

function maxPoolGrad(args: { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const backend = args.backend as BackendWasm;
  const { dy, input } = args.inputs as { dy: tf.TensorInfo; input: tf.TensorInfo };
  const { filterSize, strides, pad, dimRoundingMode } = args.attrs as unknown as {
    filterSize: number | Pair; strides: number | Pair; pad: Padding; dimRoundingMode?: 'floor' | 'round' | 'ceil';
  };
  const info = tf.backend_util.computePool2DInfo(input.shape as [number, number, number, number], filterSize, strides, 1, pad, dimRoundingMode);
  const { batchSize, inHeight, inWidth, inChannels: channels, outHeight, outWidth, strideHeight, strideWidth } = info;
  const { effectiveFilterHeight: filterHeight, effectiveFilterWidth: filterWidth } = info;
  const padTop = info.padInfo.top;
  const padLeft = info.padInfo.left;
  const out = backend.makeOutput(input.shape, 'float32');
  const dx = backend.typedArrayFromHeap(out) as Float32Array;
  dx.fill(0);
  const x = backend.typedArrayFromHeap(input) as Float32Array;
  const g = backend.typedArrayFromHeap(dy) as Float32Array;
  const best = new Float32Array(channels);
  const bestIndex = new Int32Array(channels);
  for (let n = 0; n < batchSize; n++) {
    for (let oh = 0; oh < outHeight; oh++) {
      const h0 = oh * strideHeight - padTop;
      for (let ow = 0; ow < outWidth; ow++) {
        const w0 = ow * strideWidth - padLeft;
        best.fill(Number.NEGATIVE_INFINITY);
        bestIndex.fill(-1);
        // Row-major window scan with a strict '>' keeps the first maximum, as the cpu backend does.
        for (let fr = 0; fr < filterHeight; fr++) {
          const h = h0 + fr;
          if (h < 0 || h >= inHeight) continue;
          for (let fc = 0; fc < filterWidth; fc++) {
            const w = w0 + fc;
            if (w < 0 || w >= inWidth) continue;
            const base = ((n * inHeight + h) * inWidth + w) * channels;
            for (let c = 0; c < channels; c++) {
              const value = x[base + c];
              if (value > best[c] || bestIndex[c] < 0) {
                best[c] = value;
                bestIndex[c] = base + c;
              }
            }
          }
        }
        const dyBase = ((n * outHeight + oh) * outWidth + ow) * channels;
        for (let c = 0; c < channels; c++) if (bestIndex[c] >= 0) dx[bestIndex[c]] += g[dyBase + c];
      }
    }
  }
  return out;
}

/**
 * XNNPACK's own TF-SAME padding mode gives wrong results for some strided shapes (e.g. 6x8 input, 5x1 kernel,
 * stride 2): convolutions get 'same' converted to the equivalent explicit padding before the stock kernel runs.
 */
function withExplicitSamePadding(kernelName: 'Conv2D' | 'FusedConv2D'): tf.KernelConfig {
  const stock = tf.getKernel(kernelName, 'wasm');
  if (stock === undefined) throw new Error(`wasm training kernels: the wasm backend has no '${kernelName}' kernel`);
  const kernelFunc: tf.KernelFunc = (args) => {
    const attrs = args.attrs as unknown as ConvGeometry & { dilations?: number | Pair };
    if (attrs.pad !== 'same') return stock.kernelFunc(args);
    const { x, filter } = args.inputs as { x: tf.TensorInfo; filter: tf.TensorInfo };
    const info = tf.backend_util.computeConv2DInfo(
      x.shape as [number, number, number, number], filter.shape as [number, number, number, number],
      attrs.strides, attrs.dilations ?? 1, 'same', attrs.dimRoundingMode, false, 'channelsLast');
    const pad: tf.backend_util.ExplicitPadding = [[0, 0], [info.padInfo.top, info.padInfo.bottom], [info.padInfo.left, info.padInfo.right], [0, 0]];
    return stock.kernelFunc({ ...args, attrs: { ...args.attrs, pad } });
  };
  return { ...stock, kernelFunc };
}

let registered = false;

export const WASM_TRAINING_KERNELS = ['Conv2D', 'FusedConv2D', 'Conv2DBackpropFilter', 'Conv2DBackpropInput', 'Tile', 'MaxPoolGrad'] as const;

/** Registers (or replaces) the training kernels on the 'wasm' backend. Idempotent. */
export function registerWasmTrainingKernels(): void {
  if (registered) return;
  const configs: tf.KernelConfig[] = [
    withExplicitSamePadding('Conv2D'),
    withExplicitSamePadding('FusedConv2D'),
    { kernelName: 'MaxPoolGrad', backendName: 'wasm', kernelFunc: maxPoolGrad as tf.KernelFunc },
    { kernelName: 'Conv2DBackpropFilter', backendName: 'wasm', kernelFunc: conv2DBackpropFilter as tf.KernelFunc },
    { kernelName: 'Conv2DBackpropInput', backendName: 'wasm', kernelFunc: conv2DBackpropInput as tf.KernelFunc },
    { kernelName: 'Tile', backendName: 'wasm', kernelFunc: tile as tf.KernelFunc },
  ];
  for (const config of configs) {
    if (tf.getKernel(config.kernelName, 'wasm') !== undefined) tf.unregisterKernel(config.kernelName, 'wasm');
    tf.registerKernel(config);
  }
  registered = true;
}
