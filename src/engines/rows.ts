/** Row arithmetic on plain Float32Array matrices that both engines do outside their tensor libraries. */
import { NORM_EPSILON } from './maths/ops';

/** Subtracts each row's mean from it, in place (the first layer's optional input centring). */
export function centerRowsInPlace(x: Float32Array, units: number): void {
  const rows = x.length / units;
  for (let r = 0; r < rows; r++) {
    const o = r * units;
    let s = 0;
    for (let u = 0; u < units; u++) s += x[o + u];
    const mean = s / units;
    for (let u = 0; u < units; u++) x[o + u] -= mean;
  }
}

/**
 * Divides each row of `x` (rows of `units` values) by max(||row||, 1e-12), in place, as the engines' graphs
 * normalise; returns the factor each row was multiplied by, for quantities that scale with the row.
 */
export function normalizeRowsInPlace(x: Float32Array, units: number): Float32Array {
  const rows = x.length / units;
  const scales = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    const o = r * units;
    let s = 0;
    for (let u = 0; u < units; u++) s += x[o + u] * x[o + u];
    const inv = 1 / Math.max(Math.sqrt(s), NORM_EPSILON);
    for (let u = 0; u < units; u++) x[o + u] *= inv;
    scales[r] = inv;
  }
  return scales;
}
