/**
 * LayerOps whose values are ONNX graph values: running a layer definition (src/engines/maths) with them adds its
 * nodes to a GraphBuilder, which is how the onnx engine's graphs and `hff export` are generated. Opset 13 forms
 * (ReduceSum takes axes as an input, ReduceMean/ReduceL2/ReduceLogSumExp as an attribute).
 */
import type { GraphBuilder } from '../../onnx/graph-builder';
import { type LayerOps, NORM_EPSILON } from '../maths/ops';
import type { MapShape } from '../types';

export class GraphOps implements LayerOps<string> {
  /** [rows, groups, size] reshapes already emitted, by `${value}:${size}`, so that a value is grouped once. */
  private readonly grouped = new Map<string, string>();

  /** The argmax indices of each max-pooled value, which its gradient routes by. */
  private readonly poolIndices = new Map<string, string>();

  /** Rows made by fromMaps, and unit rows made of those by normalizeRows: the NCHW maps each came from. */
  private readonly rowsOfMaps = new Map<string, string>();
  private readonly unitRowsOfMaps = new Map<string, string>();

  /**
   * @param poolIndices MaxPool also gives the argmax indices that maxPoolGradient routes by: for training graphs only,
   *   since ORT's MaxPool is slower with that second output and cannot then use its blocked (NCHWc) kernels.
   */
  constructor(
    readonly graph: GraphBuilder,
    private readonly options: { poolIndices?: boolean } = {},
  ) {}

  /** Gives `value` the name `name` (of a graph output) without a copy. */
  name(value: string, name: string): string {
    return this.graph.rename(value, name);
  }

  affine(x: string, weight: string, bias: string): string {
    return this.graph.op('Gemm', [x, weight, bias]);
  }

  matMul(a: string, b: string, transposeA: boolean, transposeB: boolean): string {
    if (!transposeA && !transposeB) return this.graph.op('MatMul', [a, b]);
    return this.graph.op('Gemm', [a, b], { ...(transposeA ? { transA: 1 } : {}), ...(transposeB ? { transB: 1 } : {}) });
  }

  sub(a: string, b: string): string {
    return this.graph.op('Sub', [a, b]);
  }

  mul(a: string, b: string): string {
    return this.graph.op('Mul', [a, b]);
  }

  div(a: string, b: string): string {
    return this.graph.op('Div', [a, b]);
  }

  scalar(value: number): string {
    return this.graph.float(value);
  }

  relu(x: string): string {
    return this.graph.op('Relu', [x]);
  }

  leakyRelu(x: string, slope: number): string {
    return this.graph.op('LeakyRelu', [x], { alpha: { float: slope } });
  }

  tanh(x: string): string {
    return this.graph.op('Tanh', [x]);
  }

  positiveGate(output: string, gradient: string, negativeSlope: number): string {
    const elsewhere = negativeSlope === 0 ? this.graph.float(0) : this.mul(gradient, this.graph.float(negativeSlope));
    return this.graph.op('Where', [this.graph.op('Greater', [output, this.graph.float(0)]), gradient, elsewhere]);
  }

  rowSums(x: string): string {
    return this.graph.op('ReduceSum', [x, this.graph.ints([1])], { keepdims: 1 });
  }

  rowMeans(x: string): string {
    return this.graph.op('ReduceMean', [x], { axes: [1], keepdims: 1 });
  }

  columnSums(x: string): string {
    return this.graph.op('ReduceSum', [x, this.graph.ints([0])], { keepdims: 0 });
  }

  rowNorms(x: string): string {
    return this.graph.op('Max', [this.graph.op('ReduceL2', [x], { axes: [1], keepdims: 1 }), this.graph.float(NORM_EPSILON)]);
  }

  normalizeRows(x: string): string {
    const unit = this.graph.op('LpNormalization', [x], { axis: 1, p: 2 });
    const maps = this.rowsOfMaps.get(x);
    if (maps !== undefined) this.unitRowsOfMaps.set(unit, maps);
    return unit;
  }

  softmax(x: string): string {
    return this.graph.op('Softmax', [x], { axis: 1 });
  }

  groupLogSumExp(x: string, size: number): string {
    return this.graph.op('ReduceLogSumExp', [this.groups(x, size)], { axes: [2], keepdims: 0 });
  }

  groupLogSumExpGradient(x: string, upstream: string, size: number): string {
    const weights = this.graph.op('Softmax', [this.groups(x, size)], { axis: 2 });
    const spread = this.graph.op('Mul', [this.graph.op('Unsqueeze', [upstream, this.graph.ints([2])]), weights]);
    return this.graph.op('Reshape', [spread, this.graph.ints([0, -1])]);
  }

  /**
   * Maps are NCHW, the only layout of ONNX's Conv and MaxPool. Unit rows of maps made in this graph (a block's
   * output, when the block above is in the same graph) are normalised in NCHW instead, with no transposes: a row's
   * norm does not depend on the order of its values. (ORT cannot cancel the two transposes around the normalisation.)
   */
  toMaps(rows: string, shape: MapShape): string {
    const g = this.graph;
    const maps = this.unitRowsOfMaps.get(rows);
    if (maps !== undefined) {
      const unit = g.op('LpNormalization', [g.op('Reshape', [maps, g.ints([0, -1])])], { axis: 1, p: 2 });
      return g.op('Reshape', [unit, g.ints([0, shape.channels, shape.height, shape.width])]);
    }
    const nhwc = g.op('Reshape', [rows, g.ints([0, shape.height, shape.width, shape.channels])]);
    return g.op('Transpose', [nhwc], { perm: [0, 3, 1, 2] });
  }

  fromMaps(maps: string): string {
    const rows = this.graph.op('Reshape', [this.graph.op('Transpose', [maps], { perm: [0, 2, 3, 1] }), this.graph.ints([0, -1])]);
    this.rowsOfMaps.set(rows, maps);
    return rows;
  }

  conv2d(maps: string, shape: MapShape, filter: string, bias: string, kernel: number): string {
    const hwio = this.graph.op('Reshape', [filter, this.graph.ints([kernel, kernel, shape.channels, -1])]);
    const oihw = this.graph.op('Transpose', [hwio], { perm: [3, 2, 0, 1] });
    const pad = (kernel - 1) / 2;
    return this.graph.op('Conv', [maps, oihw, bias], { kernel_shape: [kernel, kernel], pads: [pad, pad, pad, pad] });
  }

  /**
   * A Conv with batch and channels swapped: the input as [channels, batch, H, W] convolved with the output gradient
   * as a [filters, batch, H, W] kernel, padded as the forward pass, gives [channels, filters, kernel, kernel].
   */
  conv2dFilterGradient(maps: string, shape: MapShape, gradient: string, filters: number, kernel: number): string {
    const swap = (value: string) => this.graph.op('Transpose', [value], { perm: [1, 0, 2, 3] });
    const pad = (kernel - 1) / 2;
    const byChannel = this.graph.op('Conv', [swap(maps), swap(gradient)], { pads: [pad, pad, pad, pad] });
    const hwio = this.graph.op('Transpose', [byChannel], { perm: [2, 3, 0, 1] });
    return this.graph.op('Reshape', [hwio, this.graph.ints([kernel * kernel * shape.channels, filters])]);
  }

  /** ConvTranspose takes the forward pass's [filters, channels, k, k] kernel as it is. */
  conv2dInputGradient(gradient: string, shape: MapShape, filter: string, kernel: number): string {
    const hwio = this.graph.op('Reshape', [filter, this.graph.ints([kernel, kernel, shape.channels, -1])]);
    const oihw = this.graph.op('Transpose', [hwio], { perm: [3, 2, 0, 1] });
    const pad = (kernel - 1) / 2;
    return this.graph.op('ConvTranspose', [gradient, oihw], { kernel_shape: [kernel, kernel], pads: [pad, pad, pad, pad] });
  }

  mapChannelSums(maps: string): string {
    return this.graph.op('ReduceSum', [maps, this.graph.ints([0, 2, 3])], { keepdims: 0 });
  }

  maxPool(maps: string, _shape: MapShape, size: number): string {
    const attributes = { kernel_shape: [size, size], strides: [size, size] };
    if (!this.options.poolIndices) return this.graph.op('MaxPool', [maps], attributes);
    const [pooled, indices] = this.graph.opN('MaxPool', [maps], 2, attributes);
    this.poolIndices.set(pooled, indices);
    return pooled;
  }

  /** Scatters the gradient to the maxima MaxPool found (its indices count over the whole flattened batch). */
  maxPoolGradient(maps: string, pooled: string, gradient: string): string {
    const indices = this.poolIndices.get(pooled);
    if (!indices) throw new Error(`internal: ${pooled} is not the output of maxPool in this graph, or its GraphOps has no poolIndices`);
    const g = this.graph;
    const flat = g.ints([-1]);
    const shape = g.op('Shape', [maps]);
    const zeros = g.op('Reshape', [g.op('ConstantOfShape', [shape]), flat]);
    const routed = g.op('ScatterElements', [zeros, g.op('Reshape', [indices, flat]), g.op('Reshape', [gradient, flat])], { axis: 0 });
    return g.op('Reshape', [routed, shape]);
  }

  globalAveragePool(maps: string): string {
    return this.graph.op('ReduceMean', [maps], { axes: [2, 3], keepdims: 0 });
  }

  globalAveragePoolGradient(gradient: string, shape: MapShape): string {
    const g = this.graph;
    const column = g.op('Unsqueeze', [gradient, g.ints([2, 3])]);
    const spread = this.mul(column, g.float(1 / (shape.height * shape.width)));
    return g.op('Expand', [spread, g.ints([1, shape.channels, shape.height, shape.width])]);
  }

  private groups(x: string, size: number): string {
    const key = `${x}:${size}`;
    let view = this.grouped.get(key);
    if (!view) {
      view = this.graph.op('Reshape', [x, this.graph.ints([0, -1, size])]);
      this.grouped.set(key, view);
    }
    return view;
  }
}
