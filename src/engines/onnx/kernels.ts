/**
 * The optimiser updates of the onnx engine, as single passes over the parameter arrays. ORT's CPU
 * provider runs each elementwise op as its own pass over memory (about a dozen for Adam), so one fused loop here
 * is several times cheaper than the same update as graph nodes. Float64 arithmetic, rounded once on store.
 */
import type { OptimizerSettings } from '../types';

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
