/**
 * The optimiser and prototype updates of the onnx engine, as single passes over the parameter arrays. ORT's CPU
 * provider runs each elementwise op as its own pass over memory (about a dozen for Adam), so one fused loop here
 * is several times cheaper than the same update as graph nodes. Float64 arithmetic, rounded once on store.
 */
import type { OptimizerSettings } from '../types';

const NORM_EPSILON = 1e-12;

/** Adam with bias correction and decoupled weight decay, in place; `step` counts from 1. */
export function adamUpdate(
  param: Float32Array,
  grad: Float32Array,
  m: Float32Array,
  v: Float32Array,
  o: OptimizerSettings,
  step: number,
  weightDecay: number,
): void {
  const b1 = o.beta1;
  const b2 = o.beta2;
  const a1 = 1 - b1;
  const a2 = 1 - b2;
  const c1 = 1 / (1 - Math.pow(b1, step));
  const c2 = 1 / (1 - Math.pow(b2, step));
  const lr = o.learningRate;
  const eps = o.epsilon;
  const n = param.length;
  if (weightDecay > 0) {
    for (let i = 0; i < n; i++) {
      const g = grad[i];
      const mi = b1 * m[i] + a1 * g;
      const vi = b2 * v[i] + a2 * g * g;
      m[i] = mi;
      v[i] = vi;
      const p = param[i];
      param[i] = p - lr * ((mi * c1) / (Math.sqrt(vi * c2) + eps) + weightDecay * p);
    }
  } else {
    for (let i = 0; i < n; i++) {
      const g = grad[i];
      const mi = b1 * m[i] + a1 * g;
      const vi = b2 * v[i] + a2 * g * g;
      m[i] = mi;
      v[i] = vi;
      param[i] -= (lr * (mi * c1)) / (Math.sqrt(vi * c2) + eps);
    }
  }
}

/** SGD with optional momentum (m) and weight decay added to the gradient, in place. */
export function sgdUpdate(param: Float32Array, grad: Float32Array, m: Float32Array, o: OptimizerSettings, weightDecay: number): void {
  const lr = o.learningRate;
  const mu = o.momentum;
  const n = param.length;
  for (let i = 0; i < n; i++) {
    const g = weightDecay > 0 ? grad[i] + weightDecay * param[i] : grad[i];
    let step = g;
    if (mu > 0) {
      step = mu * m[i] + g;
      m[i] = step;
    }
    param[i] -= lr * step;
  }
}

/**
 * Mean cross-entropy of softmax(logits) and the number of rows whose highest logit is the label (first maximum
 * wins ties, as tfjs argMax).
 */
export function lossAndCorrect(logits: Float32Array, labels: Int32Array, classes: number): { loss: number; correct: number } {
  const batch = labels.length;
  let total = 0;
  let correct = 0;
  for (let b = 0; b < batch; b++) {
    const o = b * classes;
    let max = -Infinity;
    let arg = 0;
    for (let c = 0; c < classes; c++) {
      if (logits[o + c] > max) {
        max = logits[o + c];
        arg = c;
      }
    }
    let sum = 0;
    for (let c = 0; c < classes; c++) sum += Math.exp(logits[o + c] - max);
    total += max + Math.log(sum) - logits[o + labels[b]];
    if (arg === labels[b]) correct += 1;
  }
  return { loss: total / batch, correct };
}

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
