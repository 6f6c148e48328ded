/**
 * ONNX graphs of one HFF layer, generated from the layer's definition (src/engines/maths/dense.ts) with GraphOps:
 * the forward pass (as `hff export` writes it) and the training pass with the local-loss gradients used by the
 * onnx engine's training step.
 *
 * Parameters are graph inputs (not initializers) so that one session serves a layer for its whole life while the
 * engine updates the parameters in place. Batch size and prototype rows are symbolic.
 */
import { type Conv2dLayerSpec, type EngineLayerSpec, type LayerSpec, inputWidth, isConv2dSpec, passedWidth, prototypeWidth, weightRows } from '../types';
import { type Dim, GraphBuilder } from '../../onnx/graph-builder';
import { conv2dForward, conv2dTraining } from '../maths/conv2d';
import { denseInference, denseTraining } from '../maths/dense';
import { mapSize } from '../maths/ops';
import { cosines } from '../maths/local-loss';
import { GraphOps } from './graph-ops';

/** Inputs x[batch, in], weight[in, units], bias[units], prototypes[rows, units]; outputs z and cos. */
export function layerForwardModel(spec: LayerSpec, withPrototypes: boolean): Uint8Array {
  const g = new GraphBuilder('hff_layer_forward');
  const ops = new GraphOps(g);
  const x = g.input('x', 'float', ['batch', spec.inputSize]);
  const w = g.input('weight', 'float', [spec.inputSize, spec.units]);
  const b = g.input('bias', 'float', [spec.units]);
  const z = ops.name(denseInference(ops, spec, x, w, b), 'z');
  g.output('z', 'float', ['batch', spec.units]);
  if (withPrototypes) {
    const p = g.input('prototypes', 'float', ['rows', spec.units]);
    ops.name(cosines(ops, z, p), 'cos');
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
  const ops = new GraphOps(g);
  const x = g.input('x', 'float', ['batch', spec.inputSize]);
  const w = g.floatTensor('weight', [spec.inputSize, spec.units], weight);
  const b = g.floatTensor('bias', [spec.units], bias);
  const z = ops.name(denseInference(ops, spec, x, w, b), 'z');
  g.output('z', 'float', ['batch', spec.units]);
  const p = g.input('prototypes', 'float', ['rows', spec.units]);
  ops.name(cosines(ops, z, p), 'cos');
  g.output('cos', 'float', ['batch', 'rows']);
  return g.build();
}

/**
 * From this many held values (count x dim) on, a matcher keeps its rows as int8 (one scale per row) and multiplies
 * with ORT's DynamicQuantizeMatMul. Matching one input against 100 taught classes of 16 prototypes in a 3000-wide
 * representation is a matrix-vector product over 19 MB of float32, bound by memory bandwidth: int8 reads a quarter of
 * that and ran 7x faster here (AMD EPYC, 0.09 against 0.65 ms), for dot products within about 1e-3 of float32 on unit
 * rows. Smaller matrices stay exact: they are cheap, and what tests and exports compare.
 */
export const QUANTIZED_MATCHER_FROM = 1 << 20;

/** Input x[batch, dim]; output dots[batch, count] = x rows^T, with the rows as a constant. */
export function matcherModel(rows: Float32Array, count: number, dim: number): Uint8Array {
  const g = new GraphBuilder('hff_row_matcher');
  const x = g.input('x', 'float', ['batch', dim]);
  g.output('dots', 'float', ['batch', count]);
  if (count * dim < QUANTIZED_MATCHER_FROM) {
    const r = g.floatTensor('rows', [count, dim], rows);
    g.op('Gemm', [x, r], { transB: 1 }, 'dots');
    return g.build();
  }
  const { columns, scales } = quantizeRows(rows, count, dim);
  const b = g.int8Tensor('rows_int8', [dim, count], columns);
  const s = g.floatTensor('rows_scale', [count], scales);
  g.op('DynamicQuantizeMatMul', [x, b, s], {}, 'dots', 'com.microsoft');
  return g.build({ otherDomains: [{ domain: 'com.microsoft', version: 1 }] });
}

/** Symmetric int8 per row, laid out dim x count (one column per row) as DynamicQuantizeMatMul takes it. */
export function quantizeRows(rows: Float32Array, count: number, dim: number): { columns: Int8Array; scales: Float32Array } {
  const columns = new Int8Array(count * dim);
  const scales = new Float32Array(count);
  for (let r = 0; r < count; r++) {
    let largest = 0;
    for (let j = 0; j < dim; j++) largest = Math.max(largest, Math.abs(rows[r * dim + j]));
    const scale = largest > 0 ? largest / 127 : 1;
    scales[r] = scale;
    for (let j = 0; j < dim; j++) columns[j * count + r] = Math.round(rows[r * dim + j] / scale);
  }
  return { columns, scales };
}

/** The inputs of a training graph: the batch, the parameters and the loss targets (shift only with a margin). */
function trainingInputs(g: GraphBuilder, spec: EngineLayerSpec) {
  const width = prototypeWidth(spec);
  const x = g.input('x', 'float', ['batch', inputWidth(spec)]);
  const weight = g.input('weight', 'float', [weightRows(spec), width]);
  const bias = g.input('bias', 'float', [width]);
  const prototypes = g.input('prototypes', 'float', ['rows', width]);
  const onehot = g.input('onehot', 'float', ['batch', 'classes']);
  const gradScale = g.input('gradScale', 'float', []);
  const shift = spec.margin !== 0 ? g.input('shift', 'float', ['batch', 'rows']) : undefined;
  return { x, params: { weight, bias, prototypes }, targets: { onehot, shift, gradScale } };
}

/**
 * The training graph of one layer: inputs x, weight, bias, prototypes, onehot[batch, classes], gradScale and, only
 * when the margin is non-zero, shift[batch, rows] (the loss targets, src/engines/maths/local-loss.ts). Outputs z
 * (the layer's output before the update), cos, logits, and the gradients gradWeight, gradBias and gradPrototypes
 * (tangent to the sphere). Loss, accuracy and the optimiser run in the engine, on these outputs.
 */
export function layerTrainModel(spec: LayerSpec): Uint8Array {
  const g = new GraphBuilder('hff_layer_train');
  const ops = new GraphOps(g);
  const { x, params, targets } = trainingInputs(g, spec);
  const r = denseTraining(ops, spec, x, params, targets);
  const outputs: [string, string, Dim[]][] = [
    [r.z, 'z', ['batch', spec.units]],
    [r.cos, 'cos', ['batch', 'rows']],
    [r.logits, 'logits', ['batch', 'classes']],
    [r.gradWeight, 'gradWeight', [spec.inputSize, spec.units]],
    [r.gradBias, 'gradBias', [spec.units]],
    [r.gradPrototypes, 'gradPrototypes', ['rows', spec.units]],
  ];
  for (const [value, name, shape] of outputs) g.output(ops.name(value, name), 'float', shape);
  return g.build();
}

/**
 * The forward graph of a convolutional block: inputs x[batch, H*W*C], weight[k*k*C, filters], bias[filters],
 * prototypes[rows, filters]; outputs z (the unit pooled vector), cos, and output (the unit pooled maps, passed up).
 * With `frozen`, the weight and bias are constants instead of inputs, as layerFrozenForwardModel's: ORT then folds
 * the filter's reshaping away and runs Conv and MaxPool in its blocked NCHWc layout with prepacked filters.
 */
export function conv2dForwardModel(spec: Conv2dLayerSpec, frozen?: { weight: Float32Array; bias: Float32Array }): Uint8Array {
  const g = new GraphBuilder(frozen ? 'hff_conv2d_forward_frozen' : 'hff_conv2d_forward');
  const ops = new GraphOps(g);
  const x = g.input('x', 'float', ['batch', mapSize(spec.input)]);
  const w = frozen ? g.floatTensor('weight', [weightRows(spec), spec.filters], frozen.weight) : g.input('weight', 'float', [weightRows(spec), spec.filters]);
  const b = frozen ? g.floatTensor('bias', [spec.filters], frozen.bias) : g.input('bias', 'float', [spec.filters]);
  const p = g.input('prototypes', 'float', ['rows', spec.filters]);
  const f = conv2dForward(ops, spec, x, w, b);
  const z = ops.name(f.z, 'z');
  ops.name(cosines(ops, z, p), 'cos');
  ops.name(f.output, 'output');
  g.output('z', 'float', ['batch', spec.filters]);
  g.output('cos', 'float', ['batch', 'rows']);
  g.output('output', 'float', ['batch', passedWidth(spec)]);
  return g.build();
}

/** The training graph of a convolutional block: layerTrainModel's inputs and outputs, plus output (what it passes up). */
export function conv2dTrainModel(spec: Conv2dLayerSpec): Uint8Array {
  const g = new GraphBuilder('hff_conv2d_train');
  const ops = new GraphOps(g, { poolIndices: true });
  const { x, params, targets } = trainingInputs(g, spec);
  const r = conv2dTraining(ops, spec, x, params, targets);
  const outputs: [string, string, Dim[]][] = [
    [r.z, 'z', ['batch', spec.filters]],
    [r.output, 'output', ['batch', passedWidth(spec)]],
    [r.cos, 'cos', ['batch', 'rows']],
    [r.logits, 'logits', ['batch', 'classes']],
    [r.gradWeight, 'gradWeight', [weightRows(spec), spec.filters]],
    [r.gradBias, 'gradBias', [spec.filters]],
    [r.gradPrototypes, 'gradPrototypes', ['rows', spec.filters]],
  ];
  for (const [value, name, shape] of outputs) g.output(ops.name(value, name), 'float', shape);
  return g.build();
}

/**
 * Layer `index` of a network, inference only, with its weight and bias as constants (`layers.<index>.weight`,
 * `.bias`): its z, and what it passes up (z, or a convolutional block's unit pooled maps, in HWC order as the
 * engines pass them).
 */
export function constantLayerForward(
  ops: GraphOps,
  index: number,
  spec: EngineLayerSpec,
  x: string,
  weight: Float32Array,
  bias: Float32Array,
): { z: string; passed: string } {
  const g = ops.graph;
  const w = g.floatTensor(`layers.${index}.weight`, [weightRows(spec), prototypeWidth(spec)], weight);
  const b = g.floatTensor(`layers.${index}.bias`, [prototypeWidth(spec)], bias);
  if (!isConv2dSpec(spec)) {
    const z = denseInference(ops, spec, x, w, b);
    return { z, passed: z };
  }
  const f = conv2dForward(ops, spec, x, w, b);
  return { z: f.z, passed: f.output };
}

/**
 * The forward graph of a whole stack of layers with unchanging weights (constants, as in the frozen single-layer
 * graphs), for predictions that read only the top layer: input x[batch, first layer's input] and the top layer's
 * prototypes[rows, width]; outputs the top layer's z, cos and output. In one graph, a convolutional block hands its
 * maps to the block above without leaving ORT's layout (GraphOps.toMaps), and only the top layer's scores are made.
 */
export function stackFrozenForwardModel(layers: readonly { spec: EngineLayerSpec; weight: Float32Array; bias: Float32Array }[]): Uint8Array {
  const g = new GraphBuilder('hff_stack_forward_frozen');
  const ops = new GraphOps(g);
  let x = g.input('x', 'float', ['batch', inputWidth(layers[0].spec)]);
  let z = x;
  layers.forEach(({ spec, weight, bias }, i) => {
    ({ z, passed: x } = constantLayerForward(ops, i, spec, x, weight, bias));
  });
  const top = layers[layers.length - 1].spec;
  const p = g.input('prototypes', 'float', ['rows', prototypeWidth(top)]);
  const cos = cosines(ops, z, p);
  const outputs: [string, string, Dim[]][] = [
    [z, 'z', ['batch', prototypeWidth(top)]],
    [cos, 'cos', ['batch', 'rows']],
  ];
  for (const [value, name, shape] of outputs) g.output(ops.name(value, name), 'float', shape);
  // A dense top layer passes up z itself; a block its unit maps. The rows of the blocks below are not made.
  if (x !== z) g.output(ops.name(x, 'output'), 'float', ['batch', passedWidth(top)]);
  return g.build({ prune: true });
}
