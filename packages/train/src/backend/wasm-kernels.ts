import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

/**
 * Training kernels for tfjs-backend-wasm 4.22, built from the backend's own XNNPACK kernels:
 * - Conv2DBackpropFilter (not registered at all upstream, tfjs issue #8474): dW is a Conv2D of the transposed
 *   input (channels as batch, batch as channels) with the transposed output gradient as filter, dilation = stride.
 * - Conv2DBackpropInput (upstream is a naive loop; also the forward pass of Conv2DTranspose): stride 1 is a
 *   Conv2D of dy with the flipped, in/out-swapped kernel; stride s > 1 is one small Conv2D per output phase
 *   with only the taps that reach it (no multiplications by inserted zeros), interleaved into the output;
 *   the single sub-pixel Conv2D (all phases as channels) remains for paddings the phase form cannot express.
 * - Conv2D, FusedConv2D: 'same' padding is passed to XNNPACK as explicit padding (its SAME mode is wrong for
 *   some strided shapes).
 * - MaxPoolGrad: upstream routes gradients to the wrong positions; this one follows the cpu backend (first maximum).
 * - Sum, Mean over leading axes (batch-norm statistics and gradients): a row-accumulating loop instead of
 *   the stock transpose-then-reduce.
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
  const { batchSize: n, filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw, outHeight: oh, outWidth: ow, inHeight: ih, inWidth: iw, inChannels: cin, outChannels: cout } = info;
  const padTop = info.padInfo.top;
  const padLeft = info.padInfo.left;
  // With very few output channels the GEMM below degenerates to a GEMV (N = Cout): the conv form is ~2x faster there.
  if (cout < 8) return conv2DBackpropFilterConvForm(backend, x, dy, info);
  // dW[a, b] = X_ab^T dY: X_ab [Cin, N*OH*OW] is the input seen by tap (a, b), dY [N*OH*OW, Cout] is dy as stored.
  // XNNPACK's GEMM runs these at full speed (~35 GFLOP/s here); a transposed-A matmul or the conv form of dW
  // (kernel = whole image, 8-16 channels per tap) reaches only 2-10 GFLOP/s.
  const xT = transpose(backend, x, [3, 0, 1, 2]); // [Cin, N, H, W]: tap rows become contiguous runs
  // With a column stride, each row is regrouped by column phase (w mod sw) once, so that every tap reads
  // contiguous runs (memcpy) instead of strided elements.
  const phaseLength: number[] = [];
  const phaseOffset: number[] = [];
  for (let phase = 0, offset = 0; phase < sw; phase++) {
    phaseOffset.push(offset);
    phaseLength.push(Math.ceil((iw - phase) / sw));
    offset += phaseLength[phase];
  }
  let grouped = xT;
  if (sw > 1) {
    grouped = backend.makeOutput(xT.shape, 'float32');
    const target = backend.typedArrayFromHeap(grouped) as Float32Array;
    const source = backend.typedArrayFromHeap(xT) as Float32Array;
    const rowCount = cin * n * ih;
    for (let r = 0; r < rowCount; r++) {
      const base = r * iw;
      for (let phase = 0; phase < sw; phase++) {
        let k = base + phaseOffset[phase];
        for (let w = phase; w < iw; w += sw) target[k++] = source[base + w];
      }
    }
    release(backend, xT);
  }
  const rows = n * oh * ow;
  const dyMatrix = runKernel(backend, 'Reshape', { x: dy }, { shape: [1, rows, cout] });
  const out = backend.makeOutput([fh, fw, cin, cout], 'float32');
  const batchMatMul = tf.getKernel('BatchMatMul', 'wasm');
  if (batchMatMul === undefined) throw new Error("wasm training kernels: the wasm backend has no 'BatchMatMul' kernel");
  // Few input channels make a GEMV per tap (M = Cin); stacking taps as extra rows keeps M >= 32.
  const taps = fh * fw;
  const group = Math.min(taps, Math.max(1, Math.ceil(32 / cin)));
  for (let first = 0; first < taps; first += group) {
    const count = Math.min(group, taps - first);
    const stacked = backend.makeOutput([1, count * cin, rows], 'float32');
    // Views are taken after each allocation: growing the wasm memory detaches older ones.
    const target = backend.typedArrayFromHeap(stacked) as Float32Array;
    const source = backend.typedArrayFromHeap(grouped) as Float32Array;
    for (let t = first; t < first + count; t++) {
      const a = Math.floor(t / fw);
      const b = t - a * fw;
      const tapBase = (t - first) * cin * rows;
      // Input column w = col*sw + b - padLeft = (col + shift)*sw + phase: position col + shift of that phase.
      const phase = (((b - padLeft) % sw) + sw) % sw;
      const shift = Math.floor((b - padLeft) / sw);
      const colStart = Math.max(0, -shift);
      const colEnd = Math.min(ow, phaseLength[phase] - shift);
      for (let c = 0; c < cin; c++) {
        for (let img = 0; img < n; img++) {
          const sourceImage = (c * n + img) * ih * iw;
          for (let row = 0; row < oh; row++) {
            const destination = tapBase + ((c * n + img) * oh + row) * ow;
            const h = row * sh + a - padTop;
            if (h < 0 || h >= ih || colEnd <= colStart) {
              target.fill(0, destination, destination + ow);
              continue;
            }
            if (colStart > 0) target.fill(0, destination, destination + colStart);
            if (colEnd < ow) target.fill(0, destination + colEnd, destination + ow);
            const sourceRow = sourceImage + h * iw + phaseOffset[phase] + colStart + shift;
            target.set(source.subarray(sourceRow, sourceRow + colEnd - colStart), destination + colStart);
          }
        }
      }
    }
    const product = batchMatMul.kernelFunc({ inputs: { a: stacked, b: dyMatrix }, backend, attrs: { transposeA: false, transposeB: false } }) as tf.TensorInfo;
    // [count*Cin, Cout] rows are exactly taps first..first+count-1 of the [fh, fw, Cin, Cout] result.
    (backend.typedArrayFromHeap(out) as Float32Array).set(backend.typedArrayFromHeap(product) as Float32Array, first * cin * cout);
    release(backend, stacked, product);
  }
  release(backend, grouped, dyMatrix);
  return out;
}

/**
 * dW as a Conv2D of the transposed input (channels as batch, batch as channels) with the transposed output
 * gradient as filter, dilation = stride.
 */
function conv2DBackpropFilterConvForm(backend: BackendWasm, x: tf.TensorInfo, dy: tf.TensorInfo, info: tf.backend_util.Conv2DInfo): tf.TensorInfo {
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
 * The stock BatchMatMul handles transposeA/transposeB with a naive loop (~3 GFLOP/s against ~40 without):
 * transpose the operand explicitly (a fast copy) and run the untransposed GEMM. Dense-layer gradients need this.
 */
function batchMatMulWithoutTransposes(): tf.KernelConfig {
  const stock = tf.getKernel('BatchMatMul', 'wasm');
  if (stock === undefined) throw new Error("wasm training kernels: the wasm backend has no 'BatchMatMul' kernel");
  const kernelFunc: tf.KernelFunc = (args) => {
    const backend = args.backend as BackendWasm;
    const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    const { transposeA, transposeB } = args.attrs as unknown as { transposeA: boolean; transposeB: boolean };
    if (!transposeA && !transposeB) return stock.kernelFunc(args);
    const swapLast = (info: tf.TensorInfo): number[] => {
      const perm = info.shape.map((_, i) => i);
      const r = perm.length;
      [perm[r - 2], perm[r - 1]] = [perm[r - 1], perm[r - 2]];
      return perm;
    };
    const aPlain = transposeA ? transpose(backend, a, swapLast(a)) : a;
    const bPlain = transposeB ? transpose(backend, b, swapLast(b)) : b;
    const result = stock.kernelFunc({ inputs: { a: aPlain, b: bPlain }, backend, attrs: { transposeA: false, transposeB: false } });
    if (transposeA) release(backend, aPlain);
    if (transposeB) release(backend, bPlain);
    return result;
  };
  return { ...stock, kernelFunc };
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

/**
 * Conv2DBackpropInput with stride > 1 as one small Conv2D per output phase (h mod sh, w mod sw), each with
 * only the filter taps that reach that phase (k3 s2: 2x2, 2x1, 1x2 and 1x1 taps, 9 in all, against 16 for
 * the single sub-pixel conv), interleaved into the output. Returns null when a phase would need dy rows
 * before the first one (negative padding; only for kernels smaller than the stride with large padding).
 */
function backpropInputByPhases(backend: BackendWasm, dy: tf.TensorInfo, w: Float32Array, info: tf.backend_util.Conv2DInfo): tf.TensorInfo | null {
  const { batchSize, filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw, outHeight: oh, outWidth: ow, inHeight: ih, inWidth: iw, inChannels: cin, outChannels: cout } = info;
  const padTop = info.padInfo.top;
  const padLeft = info.padInfo.left;
  // Output row h = sh*q + r gets tap a = r + padTop - sh*m from dy row q + m, for m in [mLow, mHigh].
  const window = (r: number, pad: number, stride: number, size: number): { low: number; count: number } => {
    const low = Math.ceil((r + pad - size + 1) / stride);
    const high = Math.floor((r + pad) / stride);
    return { low, count: Math.max(0, high - low + 1) };
  };
  const rowWindows = Array.from({ length: sh }, (_, r) => window(r, padTop, sh, fh));
  const colWindows = Array.from({ length: sw }, (_, r) => window(r, padLeft, sw, fw));
  if ([...rowWindows, ...colWindows].some((win) => win.count > 0 && win.low > 0)) return null;

  const out = backend.makeOutput([batchSize, ih, iw, cin], 'float32');
  (backend.typedArrayFromHeap(out) as Float32Array).fill(0);
  for (let rh = 0; rh < sh; rh++) {
    const rows = Math.ceil((ih - rh) / sh);
    const rowWindow = rowWindows[rh];
    if (rows <= 0 || rowWindow.count === 0) continue;
    for (let rw = 0; rw < sw; rw++) {
      const cols = Math.ceil((iw - rw) / sw);
      const colWindow = colWindows[rw];
      if (cols <= 0 || colWindow.count === 0) continue;
      const kh = rowWindow.count;
      const kw = colWindow.count;
      // Phase filter G[j, k, o, i] = W[rh + padTop - sh*(low_h + j), rw + padLeft - sw*(low_w + k), i, o].
      const g = new Float32Array(kh * kw * cout * cin);
      for (let j = 0; j < kh; j++) {
        const a = rh + padTop - sh * (rowWindow.low + j);
        for (let k = 0; k < kw; k++) {
          const b = rw + padLeft - sw * (colWindow.low + k);
          for (let i = 0; i < cin; i++) {
            const wBase = ((a * fw + b) * cin + i) * cout;
            for (let o = 0; o < cout; o++) g[((j * kw + k) * cout + o) * cin + i] = w[wBase + o];
          }
        }
      }
      const gInfo = backend.makeOutput([kh, kw, cout, cin], 'float32');
      (backend.typedArrayFromHeap(gInfo) as Float32Array).set(g);
      const top = -rowWindow.low;
      const left = -colWindow.low;
      const bottom = Math.max(0, rows + kh - 1 - oh - top);
      const right = Math.max(0, cols + kw - 1 - ow - left);
      const phase = conv2d(backend, dy, gInfo, [1, 1], [1, 1], [[top, bottom], [left, right]]);
      release(backend, gInfo);
      const target = backend.typedArrayFromHeap(out) as Float32Array;
      const source = backend.typedArrayFromHeap(phase) as Float32Array;
      const phaseRows = phase.shape[1];
      const phaseCols = phase.shape[2];
      for (let n = 0; n < batchSize; n++) {
        for (let q = 0; q < rows; q++) {
          const h = q * sh + rh;
          for (let p = 0; p < cols; p++) {
            const start = ((n * phaseRows + q) * phaseCols + p) * cin;
            target.set(source.subarray(start, start + cin), ((n * ih + h) * iw + p * sw + rw) * cin);
          }
        }
      }
      release(backend, phase);
    }
  }
  return out;
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
  // A copy, not a heap view: the phase path allocates outputs, and growing the wasm memory detaches views
  // (the filter then read as NaN in the middle of a step).
  const w = (backend.typedArrayFromHeap(filter) as Float32Array).slice();
  if (sh > 1 || sw > 1) {
    const byPhases = backpropInputByPhases(backend, dy, w, info);
    if (byPhases !== null) return byPhases;
  }

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
  if (sh === 1 && sw === 1) return cropSpatial(backend, phasesOut, ih, iw);
  // The stock DepthToSpace is an element loop (~350 ms for 4M floats); interleaving channel runs is ~50x faster.
  const out = backend.makeOutput([batchSize, ih, iw, cin], 'float32');
  const target = backend.typedArrayFromHeap(out) as Float32Array;
  const source = backend.typedArrayFromHeap(phasesOut) as Float32Array;
  const sourceRows = phasesOut.shape[1];
  const sourceCols = phasesOut.shape[2];
  const sourceChannels = sh * sw * cin;
  for (let n = 0; n < batchSize; n++) {
    for (let h = 0; h < ih; h++) {
      const q = Math.floor(h / sh);
      const rh = h - q * sh;
      for (let w = 0; w < iw; w++) {
        const p = Math.floor(w / sw);
        const start = ((n * sourceRows + q) * sourceCols + p) * sourceChannels + (rh * sw + (w - p * sw)) * cin;
        target.set(source.subarray(start, start + cin), ((n * ih + h) * iw + w) * cin);
      }
    }
  }
  release(backend, phasesOut);
  return out;
}

/** Axes of a reduction when they are exactly the leading ones [0..k-1] of a float32 tensor (BN statistics, bias grads). */
function leadingAxes(x: tf.TensorInfo, axis: number | number[]): number | null {
  if (x.dtype !== 'float32') return null;
  const axes = tf.util.parseAxisParam(axis, x.shape).sort((a, b) => a - b);
  if (axes.length === 0 || axes.length >= x.shape.length) return null;
  for (let i = 0; i < axes.length; i++) if (axes[i] !== i) return null;
  return axes.length;
}

/** Sum/Mean over leading axes: the stock kernels transpose the tensor first, ~10x slower for BN-sized tensors. */
function leadingReduction(kernelName: 'Sum' | 'Mean'): tf.KernelConfig {
  const stock = tf.getKernel(kernelName, 'wasm');
  if (stock === undefined) throw new Error(`wasm training kernels: the wasm backend has no '${kernelName}' kernel`);
  const kernelFunc: tf.KernelFunc = (args) => {
    const backend = args.backend as BackendWasm;
    const { x } = args.inputs as { x: tf.TensorInfo };
    const { axis, keepDims } = args.attrs as unknown as { axis: number | number[]; keepDims: boolean };
    const count = leadingAxes(x, axis);
    if (count === null) return stock.kernelFunc(args);
    let outer = 1;
    for (let i = 0; i < count; i++) outer *= x.shape[i];
    const innerShape = x.shape.slice(count);
    const inner = innerShape.reduce((a, b) => a * b, 1);
    const out = backend.makeOutput(keepDims ? [...x.shape.slice(0, count).map(() => 1), ...innerShape] : innerShape, 'float32');
    const source = backend.typedArrayFromHeap(x) as Float32Array;
    const accumulator = new Float64Array(inner);
    // Four rows per pass: one accumulator load/store per four inputs (about 2x faster than row by row).
    let m = 0;
    for (; m + 4 <= outer; m += 4) {
      const b0 = m * inner;
      const b1 = b0 + inner;
      const b2 = b1 + inner;
      const b3 = b2 + inner;
      for (let c = 0; c < inner; c++) accumulator[c] += source[b0 + c] + source[b1 + c] + (source[b2 + c] + source[b3 + c]);
    }
    for (; m < outer; m++) {
      const base = m * inner;
      for (let c = 0; c < inner; c++) accumulator[c] += source[base + c];
    }
    const scale = kernelName === 'Mean' ? 1 / outer : 1;
    const target = backend.typedArrayFromHeap(out) as Float32Array;
    for (let c = 0; c < inner; c++) target[c] = accumulator[c] * scale;
    return out;
  };
  return { ...stock, kernelFunc };
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

export const WASM_TRAINING_KERNELS = ['Conv2D', 'FusedConv2D', 'Conv2DBackpropFilter', 'Conv2DBackpropInput', 'Tile', 'MaxPoolGrad', 'Sum', 'Mean', 'BatchMatMul'] as const;

/** Whether registerWasmTrainingKernels() ran in this thread (registration cannot be undone). */
export function wasmTrainingKernelsRegistered(): boolean {
  return registered;
}

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
    leadingReduction('Sum'),
    batchMatMulWithoutTransposes(),
    leadingReduction('Mean'),
  ];
  for (const config of configs) {
    if (tf.getKernel(config.kernelName, 'wasm') !== undefined) tf.unregisterKernel(config.kernelName, 'wasm');
    tf.registerKernel(config);
  }
  registered = true;
}
