/** The layer activations and their derivatives, shared by every layer kind (./dense.ts, ./conv2d.ts). */
import type { Activation } from '../types';
import { LEAKY_SLOPE, type LayerOps } from './ops';

export function activate<V>(ops: LayerOps<V>, activation: Activation, a: V): V {
  switch (activation) {
    case 'relu':
      return ops.relu(a);
    case 'leaky-relu':
      return ops.leakyRelu(a, LEAKY_SLOPE);
    case 'tanh':
      return ops.tanh(a);
  }
}

/** dL/da from dL/dh, through the activation's derivative written with its output h = act(a). */
export function activationGradient<V>(ops: LayerOps<V>, activation: Activation, h: V, dH: V): V {
  switch (activation) {
    case 'relu':
      return ops.positiveGate(h, dH, 0);
    case 'leaky-relu':
      return ops.positiveGate(h, dH, LEAKY_SLOPE);
    case 'tanh':
      return ops.mul(dH, ops.sub(ops.scalar(1), ops.mul(h, h)));
  }
}
