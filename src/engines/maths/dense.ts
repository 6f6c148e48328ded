/**
 * The dense HFF layer kind, written once against LayerOps: its forward pass, and its training pass (forward,
 * the shared local loss, and the hand-written gradients of the weight and bias). The tfjs engine evaluates these
 * on tensors, the onnx engine generates its graphs from them, and the tests run them in float64.
 *
 *   xc = x - rowmean(x)  (optional)     xn = xc / ||xc||  (optional)     h = act(xn W + b)
 *   local loss of h (./local-loss.ts) -> dH      dA = act'(.) dH      dW = xn^T dA      db = sum over rows of dA
 */
import type { LayerSpec } from '../types';
import { activate, activationGradient } from './activation';
import { type LossTargets, type UnitRows, localLoss, unitRows } from './local-loss';
import type { LayerOps } from './ops';

export interface DenseForward<V> extends UnitRows<V> {
  /** The input as the dense map sees it (centred and normalised when the layer says so). */
  xn: V;
  h: V;
}

export interface DenseTraining<V> {
  z: V;
  cos: V;
  logits: V;
  gradWeight: V;
  gradBias: V;
  gradPrototypes: V;
}

function preparedInput<V>(ops: LayerOps<V>, spec: LayerSpec, x: V): V {
  const centred = spec.centerInput ? ops.sub(x, ops.rowMeans(x)) : x;
  return spec.normalizeInput ? ops.normalizeRows(centred) : centred;
}

/** act(xn W + b): the layer's output before its normalisation to z. */
export function denseActivations<V>(ops: LayerOps<V>, spec: LayerSpec, xn: V, weight: V, bias: V): V {
  return activate(ops, spec.activation, ops.affine(xn, weight, bias));
}

/** The forward pass with the values its gradients need. */
export function denseForward<V>(ops: LayerOps<V>, spec: LayerSpec, x: V, weight: V, bias: V): DenseForward<V> {
  const xn = preparedInput(ops, spec, x);
  const h = denseActivations(ops, spec, xn, weight, bias);
  return { xn, h, ...unitRows(ops, h) };
}

/** The forward pass for prediction: just z, each normalisation as one op where the engine has it. */
export function denseInference<V>(ops: LayerOps<V>, spec: LayerSpec, x: V, weight: V, bias: V): V {
  return ops.normalizeRows(denseActivations(ops, spec, preparedInput(ops, spec, x), weight, bias));
}

/** Forward pass, local loss and the gradients of all three parameters for one batch. */
export function denseTraining<V>(
  ops: LayerOps<V>,
  spec: LayerSpec,
  x: V,
  params: { weight: V; bias: V; prototypes: V },
  targets: LossTargets<V>,
): DenseTraining<V> {
  const f = denseForward(ops, spec, x, params.weight, params.bias);
  const loss = localLoss(ops, spec, f, params.prototypes, targets);
  const dA = activationGradient(ops, spec.activation, f.h, loss.dRows);
  return {
    z: f.z,
    cos: loss.cos,
    logits: loss.logits,
    gradWeight: ops.matMul(f.xn, dA, true, false),
    gradBias: ops.columnSums(dA),
    gradPrototypes: loss.dPrototypes,
  };
}
