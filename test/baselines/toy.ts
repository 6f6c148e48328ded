/** Tiny synthetic classification data for the baseline and bench tests. */
import { SeededRandom } from '../../src/hff/random';

export interface ToyData {
  n: number;
  inputSize: number;
  images: Float32Array;
  labels: Int32Array;
}

/**
 * `classes` Gaussian clusters in [0,1]^inputSize, well separated. The first `classes` coordinates carry no
 * signal (Forward-Forward overwrites them with the label).
 */
export function toyClusters(n: number, inputSize: number, classes: number, seed = 3, spread = 0.08): ToyData {
  const random = new SeededRandom(seed);
  const centres: Float32Array[] = [];
  for (let c = 0; c < classes; c++) {
    centres.push(Float32Array.from({ length: inputSize }, (_, i) => (i < classes ? 0 : random.next() < 0.5 ? 0.2 : 0.8)));
  }
  const images = new Float32Array(n * inputSize);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % classes;
    labels[i] = c;
    for (let j = classes; j < inputSize; j++) {
      images[i * inputSize + j] = Math.min(1, Math.max(0, centres[c][j] + random.gaussian() * spread));
    }
  }
  return { n, inputSize, images, labels };
}

export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < a.length; i++) {
    diff += (a[i] - b[i]) ** 2;
    norm += b[i] ** 2;
  }
  return Math.sqrt(diff) / Math.max(Math.sqrt(norm), 1e-12);
}

/** Central finite differences of `loss` with respect to every entry of `values` (changed in place, restored). */
export function numericGradient(values: Float64Array, loss: () => number, eps = 1e-6): Float64Array {
  const out = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const keep = values[i];
    values[i] = keep + eps;
    const up = loss();
    values[i] = keep - eps;
    const down = loss();
    values[i] = keep;
    out[i] = (up - down) / (2 * eps);
  }
  return out;
}

export const softplus = (z: number): number => Math.max(z, 0) + Math.log1p(Math.exp(-Math.abs(z)));
