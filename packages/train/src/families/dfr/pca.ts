/**
 * PCA just far enough to pick DFR's latent width: the eigenvalues of the feature covariance
 * (Householder tridiagonalization + implicit QL, eigenvalues only, O(C^3) once: ~1 s for C = 720)
 * and the smallest number of components that keeps a given fraction of the variance.
 */

/** Eigenvalues of a symmetric n x n matrix (row-major, not modified), in descending order. */
export function symmetricEigenvalues(matrix: Float64Array | Float32Array, n: number): Float64Array {
  if (!Number.isInteger(n) || n < 1) throw new Error(`symmetricEigenvalues: n must be a positive integer, got ${n}`);
  if (matrix.length !== n * n) throw new Error(`symmetricEigenvalues: expected ${n * n} values for ${n}x${n}, got ${matrix.length}`);
  const a = Float64Array.from(matrix);
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  // Householder reduction to tridiagonal form (tred2 without accumulating the transformations).
  for (let i = n - 1; i > 0; i--) {
    const l = i - 1;
    let h = 0;
    if (l > 0) {
      let scale = 0;
      for (let k = 0; k <= l; k++) scale += Math.abs(a[i * n + k]);
      if (scale === 0) {
        e[i] = a[i * n + l];
      } else {
        for (let k = 0; k <= l; k++) {
          a[i * n + k] /= scale;
          h += a[i * n + k] * a[i * n + k];
        }
        let f = a[i * n + l];
        const g = f >= 0 ? -Math.sqrt(h) : Math.sqrt(h);
        e[i] = scale * g;
        h -= f * g;
        a[i * n + l] = f - g;
        f = 0;
        for (let j = 0; j <= l; j++) {
          let gj = 0;
          for (let k = 0; k <= j; k++) gj += a[j * n + k] * a[i * n + k];
          for (let k = j + 1; k <= l; k++) gj += a[k * n + j] * a[i * n + k];
          e[j] = gj / h;
          f += e[j] * a[i * n + j];
        }
        const hh = f / (h + h);
        for (let j = 0; j <= l; j++) {
          const fj = a[i * n + j];
          const gj = e[j] - hh * fj;
          e[j] = gj;
          for (let k = 0; k <= j; k++) a[j * n + k] -= fj * e[k] + gj * a[i * n + k];
        }
      }
    } else {
      e[i] = a[i * n + l];
    }
    d[i] = h;
  }
  for (let i = 0; i < n; i++) d[i] = a[i * n + i];
  // Implicit QL on the tridiagonal matrix (tqli without eigenvectors).
  for (let i = 1; i < n; i++) e[i - 1] = e[i];
  e[n - 1] = 0;
  for (let l = 0; l < n; l++) {
    let iterations = 0;
    let m: number;
    do {
      for (m = l; m < n - 1; m++) {
        const dd = Math.abs(d[m]) + Math.abs(d[m + 1]);
        if (Math.abs(e[m]) <= Number.EPSILON * dd) break;
      }
      if (m !== l) {
        if (iterations++ === 60) throw new Error('symmetricEigenvalues: QL iteration did not converge');
        let g = (d[l + 1] - d[l]) / (2 * e[l]);
        let r = Math.hypot(g, 1);
        g = d[m] - d[l] + e[l] / (g + (g >= 0 ? Math.abs(r) : -Math.abs(r)));
        let s = 1;
        let c = 1;
        let p = 0;
        let i: number;
        for (i = m - 1; i >= l; i--) {
          let f = s * e[i];
          const b = c * e[i];
          r = Math.hypot(f, g);
          e[i + 1] = r;
          if (r === 0) {
            d[i + 1] -= p;
            e[m] = 0;
            break;
          }
          s = f / r;
          c = g / r;
          g = d[i + 1] - p;
          r = (d[i] - g) * s + 2 * c * b;
          p = s * r;
          d[i + 1] = g + p;
          g = c * r - b;
          f = 0;
        }
        if (r === 0 && i >= l) continue;
        d[l] -= p;
        e[l] = g;
        e[m] = 0;
      }
    } while (m !== l);
  }
  return d.sort().reverse();
}

/**
 * The smallest k whose k largest eigenvalues hold at least `fraction` of the total variance
 * (negative round-off eigenvalues count as 0).
 */
export function componentsForVariance(eigenvaluesDescending: ArrayLike<number>, fraction: number): number {
  if (!(fraction > 0 && fraction <= 1)) throw new Error(`variance fraction must be in (0, 1], got ${fraction}`);
  let total = 0;
  for (let i = 0; i < eigenvaluesDescending.length; i++) total += Math.max(0, eigenvaluesDescending[i]);
  if (!(total > 0)) throw new Error('PCA: the features have no variance (all training feature vectors are equal)');
  let cumulative = 0;
  for (let i = 0; i < eigenvaluesDescending.length; i++) {
    cumulative += Math.max(0, eigenvaluesDescending[i]);
    // A relative tolerance so that an exact boundary (e.g. 0.9 of the total) is not missed by round-off.
    if (cumulative >= fraction * total * (1 - 1e-9)) return i + 1;
  }
  return eigenvaluesDescending.length;
}

/** Covariance (C x C, float64) of `count` row vectors of length `dim` (row-major). */
export function covarianceMatrix(vectors: Float32Array, count: number, dim: number): Float64Array {
  if (vectors.length !== count * dim) throw new Error(`covarianceMatrix: expected ${count * dim} values (${count} x ${dim}), got ${vectors.length}`);
  if (count < 2) throw new Error(`covarianceMatrix: need at least 2 vectors, got ${count}`);
  const mean = new Float64Array(dim);
  for (let r = 0; r < count; r++) for (let c = 0; c < dim; c++) mean[c] += vectors[r * dim + c];
  for (let c = 0; c < dim; c++) mean[c] /= count;
  const cov = new Float64Array(dim * dim);
  const centred = new Float64Array(dim);
  for (let r = 0; r < count; r++) {
    for (let c = 0; c < dim; c++) centred[c] = vectors[r * dim + c] - mean[c];
    for (let i = 0; i < dim; i++) {
      const ci = centred[i];
      if (ci === 0) continue;
      const row = i * dim;
      for (let j = i; j < dim; j++) cov[row + j] += ci * centred[j];
    }
  }
  for (let i = 0; i < dim; i++) {
    for (let j = i; j < dim; j++) {
      const v = cov[i * dim + j] / (count - 1);
      cov[i * dim + j] = v;
      cov[j * dim + i] = v;
    }
  }
  return cov;
}

/** Latent width by PCA: components keeping `fraction` of the variance of the feature vectors. */
export function pcaLatentWidth(vectors: Float32Array, count: number, dim: number, fraction: number): { width: number; eigenvalues: Float64Array } {
  const eigenvalues = symmetricEigenvalues(covarianceMatrix(vectors, count, dim), dim);
  return { width: componentsForVariance(eigenvalues, fraction), eigenvalues };
}
