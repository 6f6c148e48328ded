/** Small vector helpers on plain Float32Array rows, used outside the engine (prototype bookkeeping). */

export function normalizeInPlace(v: Float32Array): Float32Array {
  let sum = 0;
  for (let i = 0; i < v.length; i++) sum += v[i] * v[i];
  const norm = Math.sqrt(sum);
  if (norm > 0) for (let i = 0; i < v.length; i++) v[i] /= norm;
  return v;
}

export function row(matrix: Float32Array, index: number, width: number): Float32Array {
  return matrix.subarray(index * width, (index + 1) * width);
}

export function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** Unit-length random rows from a seeded generator. */
export function randomUnitRows(rows: number, width: number, gaussian: () => number): Float32Array {
  const out = new Float32Array(rows * width);
  for (let i = 0; i < out.length; i++) out[i] = gaussian();
  for (let r = 0; r < rows; r++) normalizeInPlace(row(out, r, width));
  return out;
}

/** The largest float32 magnitude: a larger float64 becomes Infinity when stored in a Float32Array. */
export const FLOAT32_MAX = 3.4028234663852886e38;

/**
 * Throws unless every value is finite and stays finite as float32 (|x| <= 3.4e38): models hold float32, and one
 * value such as 1e39 would turn into Infinity there and NaN in whatever learns from it.
 */
export function assertFinite(what: string, values: ArrayLike<number>): void {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(Math.fround(values[i]))) {
      const v = values[i];
      const why = Number.isFinite(v) ? 'outside the float32 range' : 'not a finite number';
      throw new Error(`${what} contains ${v} at index ${i}, ${why}; every value must be a finite number within ±${FLOAT32_MAX.toPrecision(3)}`);
    }
  }
}
