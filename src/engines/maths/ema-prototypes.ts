/**
 * The EMA prototype update (`prototypeUpdate: 'ema'`), which both engines run on the layer's arrays after the
 * training pass: it reads only z and the cosines, so one loop in float64 serves every engine and layer kind.
 */
import { NORM_EPSILON } from './ops';

/**
 * Moves each prototype toward the normalised mean of the batch rows assigned to it (the row's class and, within
 * it, the most similar of the class's prototypes); prototypes no row was assigned to stay.
 */
export function emaPrototypes(prototypes: Float32Array, units: number, m: number, z: Float32Array, cos: Float32Array, labels: Int32Array, rate: number): void {
  const rows = prototypes.length / units;
  const sums = new Float64Array(rows * units);
  const present = new Uint8Array(rows);
  for (let b = 0; b < labels.length; b++) {
    let row = labels[b] * m;
    if (m > 1) {
      let best = -Infinity;
      for (let j = 0; j < m; j++) {
        const c = cos[b * rows + labels[b] * m + j];
        if (c > best) {
          best = c;
          row = labels[b] * m + j;
        }
      }
    }
    present[row] = 1;
    for (let u = 0; u < units; u++) sums[row * units + u] += z[b * units + u];
  }
  const target = new Float64Array(units);
  for (let r = 0; r < rows; r++) {
    if (!present[r]) continue;
    const o = r * units;
    let s = 0;
    for (let u = 0; u < units; u++) s += sums[o + u] * sums[o + u];
    const inv = 1 / Math.max(Math.sqrt(s), NORM_EPSILON);
    let n = 0;
    for (let u = 0; u < units; u++) {
      target[u] = (1 - rate) * prototypes[o + u] + rate * sums[o + u] * inv;
      n += target[u] * target[u];
    }
    const invN = 1 / Math.max(Math.sqrt(n), NORM_EPSILON);
    for (let u = 0; u < units; u++) prototypes[o + u] = target[u] * invN;
  }
}
