/**
 * ONNX graphs of one HFF layer: the forward pass (shared with `hff export`) and the local-loss gradients used
 * by the onnx engine's training step. The math is the tfjs engine's (src/engines/tfjs/tfjs-engine.ts):
 *
 *   xc = x - rowmean(x)  (optional)             xn = xc / max(||xc||, 1e-12)  (optional)
 *   h = act(xn W + b)                           z = h / max(||h||, 1e-12)
 *   cos = z P^T                                 logits_c = LSE_m((cos_cm - margin [c = y]) / tau)
 *   dLogits = (softmax(logits) - onehot) / B, through the LSE weights and 1/tau to dCos
 *   dP = tangent part of dCos^T z     dH = (dZ - z <z, dZ>) / ||h||     dW = xn^T dA     db = sum_rows dA
 *
 * Parameters are graph inputs (not initializers) so that one session serves a layer for its whole life while the
 * engine updates the parameters in place. Batch size and prototype rows are symbolic.
 */
import type { LayerSpec } from '../types';
import { GraphBuilder } from '../../onnx/graph-builder';

export const NORM_EPSILON = 1e-12;
export const LEAKY_SLOPE = 0.01;

export interface ForwardValues {
  xn: string;
  h: string;
  hNorm: string;
  z: string;
}

/** Row-wise L2 norm clamped at 1e-12, kept as a column (opset 13: ReduceL2 takes axes as an attribute). */
export function rowNorm(g: GraphBuilder, x: string): string {
  return g.op('Max', [g.op('ReduceL2', [x], { axes: [1], keepdims: 1 }), g.float(NORM_EPSILON)]);
}

export function activation(g: GraphBuilder, a: string, kind: LayerSpec['activation']): string {
  switch (kind) {
    case 'relu':
      return g.op('Relu', [a]);
    case 'leaky-relu':
      return g.op('LeakyRelu', [a], { alpha: { float: LEAKY_SLOPE } });
    case 'tanh':
      return g.op('Tanh', [a]);
  }
}

/** x minus each row's mean when the layer centres its input (opset 13: ReduceMean takes axes as an attribute). */
function centeredInput(g: GraphBuilder, spec: LayerSpec, x: string): string {
  return spec.centerInput ? g.op('Sub', [x, g.op('ReduceMean', [x], { axes: [1], keepdims: 1 })]) : x;
}

/** The dense map, activation and normalisation of one layer. */
export function forwardNodes(g: GraphBuilder, spec: LayerSpec, x: string, w: string, b: string, zName?: string): ForwardValues {
  const xc = centeredInput(g, spec, x);
  const xn = spec.normalizeInput ? g.op('Div', [xc, rowNorm(g, xc)]) : xc;
  const h = activation(g, g.op('Gemm', [xn, w, b]), spec.activation);
  const hNorm = rowNorm(g, h);
  return { xn, h, hNorm, z: g.op('Div', [h, hNorm], {}, zName) };
}

/**
 * The same forward pass for inference, with each row normalisation as one LpNormalization node (fewer nodes
 * per layer, which is most of the cost at batch 1). It differs from x / max(||x||, 1e-12) only for rows whose
 * norm is below 1e-12 (zero rows give zeros either way).
 */
export function inferenceNodes(g: GraphBuilder, spec: LayerSpec, x: string, w: string, b: string, zName?: string): string {
  const xc = centeredInput(g, spec, x);
  const xn = spec.normalizeInput ? g.op('LpNormalization', [xc], { axis: 1, p: 2 }) : xc;
  const h = activation(g, g.op('Gemm', [xn, w, b]), spec.activation);
  return g.op('LpNormalization', [h], { axis: 1, p: 2 }, zName);
}

/** Cosines of unit rows z to unit prototype rows p. */
export function cosineNodes(g: GraphBuilder, z: string, p: string): string {
  return g.op('Gemm', [z, p], { transB: 1 });
}

/** Inputs x[batch, in], weight[in, units], bias[units], prototypes[rows, units]; outputs z and cos. */
export function layerForwardModel(spec: LayerSpec, withPrototypes: boolean): Uint8Array {
  const g = new GraphBuilder('hff_layer_forward');
  const x = g.input('x', 'float', ['batch', spec.inputSize]);
  const w = g.input('weight', 'float', [spec.inputSize, spec.units]);
  const b = g.input('bias', 'float', [spec.units]);
  const z = inferenceNodes(g, spec, x, w, b, 'z');
  g.output('z', 'float', ['batch', spec.units]);
  if (withPrototypes) {
    const p = g.input('prototypes', 'float', ['rows', spec.units]);
    g.op('Gemm', [z, p], { transB: 1 }, 'cos');
    g.output('cos', 'float', ['batch', 'rows']);
  }
  return g.build();
}

/**
 * The forward graph with the weight and bias as initializers, for a layer whose weights stopped changing: ORT
 * prepacks constant weights for its GEMM kernels (about twice as fast at batch 64 as weights fed as inputs).
 * Prototypes remain an input (teaching changes them often, and they are small).
 */
export function layerFrozenForwardModel(spec: LayerSpec, weight: Float32Array, bias: Float32Array): Uint8Array {
  const g = new GraphBuilder('hff_layer_forward_frozen');
  const x = g.input('x', 'float', ['batch', spec.inputSize]);
  const w = g.floatTensor('weight', [spec.inputSize, spec.units], weight);
  const b = g.floatTensor('bias', [spec.units], bias);
  const z = inferenceNodes(g, spec, x, w, b, 'z');
  g.output('z', 'float', ['batch', spec.units]);
  const p = g.input('prototypes', 'float', ['rows', spec.units]);
  g.op('Gemm', [z, p], { transB: 1 }, 'cos');
  g.output('cos', 'float', ['batch', 'rows']);
  return g.build();
}

/** Input x[batch, dim]; output dots[batch, count] = x rows^T, with the rows as a constant. */
export function matcherModel(rows: Float32Array, count: number, dim: number): Uint8Array {
  const g = new GraphBuilder('hff_row_matcher');
  const x = g.input('x', 'float', ['batch', dim]);
  const r = g.floatTensor('rows', [count, dim], rows);
  g.op('Gemm', [x, r], { transB: 1 }, 'dots');
  g.output('dots', 'float', ['batch', count]);
  return g.build();
}

/**
 * The training graph of one layer: inputs x, weight, bias, prototypes, onehot[batch, classes],
 * shift[batch, rows] (margin on the true class's rows; only when the margin is non-zero) and gradScale (a scalar,
 * 1 / (batch * tau)). Outputs z (the layer's output before the update), cos, logits, and the gradients
 * gradWeight, gradBias and gradPrototypes (tangent to the sphere). Loss, accuracy and the optimiser run in the
 * engine, on these outputs.
 */
export function layerTrainModel(spec: LayerSpec): Uint8Array {
  const g = new GraphBuilder('hff_layer_train');
  const m = spec.prototypesPerClass;
  const x = g.input('x', 'float', ['batch', spec.inputSize]);
  const w = g.input('weight', 'float', [spec.inputSize, spec.units]);
  const b = g.input('bias', 'float', [spec.units]);
  const p = g.input('prototypes', 'float', ['rows', spec.units]);
  const onehot = g.input('onehot', 'float', ['batch', 'classes']);
  const gradScale = g.input('gradScale', 'float', []);
  const f = forwardNodes(g, spec, x, w, b, 'z');
  g.output('z', 'float', ['batch', spec.units]);
  const cos = g.op('Gemm', [f.z, p], { transB: 1 }, 'cos');
  g.output('cos', 'float', ['batch', 'rows']);
  let shifted = cos;
  if (spec.margin !== 0) {
    const shift = g.input('shift', 'float', ['batch', 'rows']);
    shifted = g.op('Sub', [cos, shift]);
  }
  const scaled = g.op('Mul', [shifted, g.float(1 / spec.tau)]);
  let perClass = '';
  if (m === 1) {
    g.alias(scaled, 'logits');
  } else {
    perClass = g.op('Reshape', [scaled, g.ints([0, -1, m])]);
    g.op('ReduceLogSumExp', [perClass], { axes: [2], keepdims: 0 }, 'logits');
  }
  g.output('logits', 'float', ['batch', 'classes']);
  // dL/dlogits times tau (the 1/tau of the cosine scale is folded into gradScale).
  const dLogits = g.op('Mul', [g.op('Sub', [g.op('Softmax', ['logits'], { axis: 1 }), onehot]), gradScale]);
  let dCos = dLogits;
  if (m > 1) {
    const within = g.op('Softmax', [perClass], { axis: 2 });
    const expanded = g.op('Unsqueeze', [dLogits, g.ints([2])]);
    dCos = g.op('Reshape', [g.op('Mul', [expanded, within]), g.ints([0, -1])]);
  }
  const dZ = g.op('MatMul', [dCos, p]);
  const dPRaw = g.op('MatMul', [g.op('Transpose', [dCos], { perm: [1, 0] }), f.z]);
  const radialP = g.op('ReduceSum', [g.op('Mul', [p, dPRaw]), g.ints([1])], { keepdims: 1 });
  g.op('Sub', [dPRaw, g.op('Mul', [p, radialP])], {}, 'gradPrototypes');
  g.output('gradPrototypes', 'float', ['rows', spec.units]);
  const radialZ = g.op('ReduceSum', [g.op('Mul', [f.z, dZ]), g.ints([1])], { keepdims: 1 });
  const dH = g.op('Div', [g.op('Sub', [dZ, g.op('Mul', [f.z, radialZ])]), f.hNorm]);
  // The activation's derivative from its output: relu/leaky-relu are positive exactly where their input is.
  let dA: string;
  switch (spec.activation) {
    case 'relu':
      dA = g.op('Where', [g.op('Greater', [f.h, g.float(0)]), dH, g.float(0)]);
      break;
    case 'leaky-relu':
      dA = g.op('Where', [g.op('Greater', [f.h, g.float(0)]), dH, g.op('Mul', [dH, g.float(LEAKY_SLOPE)])]);
      break;
    case 'tanh':
      dA = g.op('Mul', [dH, g.op('Sub', [g.float(1), g.op('Mul', [f.h, f.h])])]);
      break;
  }
  g.op('Gemm', [f.xn, dA], { transA: 1 }, 'gradWeight');
  g.output('gradWeight', 'float', [spec.inputSize, spec.units]);
  g.op('ReduceSum', [dA, g.ints([0])], { keepdims: 0 }, 'gradBias');
  g.output('gradBias', 'float', [spec.units]);
  return g.build();
}
