/**
 * The optimiser step of everything trained on tfjs (the HFF layers of the tfjs engine and the baselines), written
 * once: Adam with bias correction and decoupled weight decay, or SGD with momentum. The onnx engine runs the same
 * update as fused loops (src/engines/onnx/kernels.ts, simd-adam.ts); test/engines/optimizer.test.ts checks all of
 * them against one float64 reference.
 */
import type * as tfTypes from '@tensorflow/tfjs';
import type { OptimizerSettings } from '../types';
import { tf } from './tf';

/** A trainable parameter with its optimiser moments (Adam: m and v; SGD with momentum: m). */
export interface OptimizerSlot {
  param: tfTypes.Variable;
  m: tfTypes.Variable;
  v: tfTypes.Variable;
}

/** One step on `s` with gradient `grad`; `step` is the 1-based step count. Call inside tidy. */
export function optimizerStep(s: OptimizerSlot, grad: tfTypes.Tensor, o: OptimizerSettings, step: number, weightDecay: number): void {
  const t = tf();
  if (o.kind === 'adam') {
    const m = t.add(t.mul(s.m, o.beta1), t.mul(grad, 1 - o.beta1));
    const v = t.add(t.mul(s.v, o.beta2), t.mul(t.square(grad), 1 - o.beta2));
    s.m.assign(m);
    s.v.assign(v);
    const mHat = t.div(m, 1 - Math.pow(o.beta1, step));
    const vHat = t.div(v, 1 - Math.pow(o.beta2, step));
    let update = t.div(mHat, t.add(t.sqrt(vHat), o.epsilon));
    if (weightDecay > 0) update = t.add(update, t.mul(s.param, weightDecay));
    s.param.assign(t.sub(s.param, t.mul(update, o.learningRate)));
  } else {
    let g = grad;
    if (weightDecay > 0) g = t.add(g, t.mul(s.param, weightDecay));
    const m = o.momentum > 0 ? t.add(t.mul(s.m, o.momentum), g) : g;
    if (o.momentum > 0) s.m.assign(m);
    s.param.assign(t.sub(s.param, t.mul(m, o.learningRate)));
  }
}
