import type { MapShape } from '../types';

/**
 * The primitive operations an HFF layer's maths is written against (./dense.ts, ./conv2d.ts, ./local-loss.ts).
 * Each engine supplies them for its own values: tfjs tensors (evaluated at once), ONNX graph values (the
 * definition then generates the engine's graphs), or float64 arrays (the tests' reference). Values are 2-D, rows
 * by columns, except that `columnSums` gives a vector, and biases are vectors; the binary operations broadcast a
 * column ([rows, 1]), a vector ([cols]) or a scalar against a matrix. Feature maps (`toMaps`) are in the engine's
 * own layout; the elementwise operations (activations, `positiveGate`, `mul` and `sub` of maps of one shape or of
 * maps and a scalar) take them too.
 *
 * A new layer kind adds the few primitives it needs here, implements them in each engine's ops and in the float64
 * reference, and writes one definition beside ./dense.ts that hands its output rows to `localLoss`.
 */
export interface LayerOps<V> {
  /** x W + b, with W [in, out] and b [out]. */
  affine(x: V, weight: V, bias: V): V;
  /** a b with either operand transposed first; engines pick their fastest form for each combination. */
  matMul(a: V, b: V, transposeA: boolean, transposeB: boolean): V;
  sub(a: V, b: V): V;
  mul(a: V, b: V): V;
  div(a: V, b: V): V;
  /** A scalar constant, broadcast by the binary operations. */
  scalar(value: number): V;
  relu(x: V): V;
  leakyRelu(x: V, slope: number): V;
  tanh(x: V): V;
  /** `gradient` where `output` is positive, `negativeSlope` times it elsewhere: the derivative of relu-like maps. */
  positiveGate(output: V, gradient: V, negativeSlope: number): V;
  /** Per row, the sum of its values, as a column. */
  rowSums(x: V): V;
  /** Per row, the mean of its values, as a column. */
  rowMeans(x: V): V;
  /** Per column, the sum over rows, as a vector. */
  columnSums(x: V): V;
  /** Per row, max(||row||, 1e-12), as a column. */
  rowNorms(x: V): V;
  /**
   * Each row divided by its L2 norm: the same as div(x, rowNorms(x)) except for rows whose norm is below 1e-12
   * (zero rows give zeros either way). For values no gradient flows through, which lets an engine use one fused op.
   */
  normalizeRows(x: V): V;
  /** Softmax of each row. */
  softmax(x: V): V;
  /** Per row, the LogSumExp of each group of `size` consecutive columns: [rows, cols / size]. */
  groupLogSumExp(x: V, size: number): V;
  /**
   * The gradient through groupLogSumExp(x, size): each column of `upstream` [rows, cols / size] spread over its
   * group of x by the group's softmax weights.
   */
  groupLogSumExpGradient(x: V, upstream: V, size: number): V;

  /**
   * Rows [batch, height * width * channels], each an image in HWC order (row-major, channels last, as the package's
   * images are), as feature maps in the engine's layout: NHWC for tfjs, NCHW for ONNX (its only Conv layout).
   */
  toMaps(rows: V, shape: MapShape): V;
  /** Feature maps back to rows in HWC order: what a convolutional layer passes up. */
  fromMaps(maps: V, shape: MapShape): V;
  /**
   * Stride-1 convolution with 'same' zero padding (odd kernel) plus a bias per filter. The filter is
   * [kernel * kernel * channels, filters]: the [kernel, kernel, channels, filters] kernel (HWIO) flattened, which is
   * also the weight of the equivalent dense map over each position's kernel-sized HWC patch.
   */
  conv2d(maps: V, shape: MapShape, filter: V, bias: V, kernel: number): V;
  /** dL/dfilter [kernel * kernel * channels, filters] of conv2d, from its input maps and dL/doutput (maps of `filters` channels). */
  conv2dFilterGradient(maps: V, shape: MapShape, gradient: V, filters: number, kernel: number): V;
  /**
   * dL/dmaps of conv2d (maps of `shape`) from dL/doutput (maps of `filters` channels): the gradient convolved with
   * the filter turned by 180 degrees, input and output channels swapped. Only backprop through a stack needs it
   * (src/baselines); an HFF block sends no gradient down.
   */
  conv2dInputGradient(gradient: V, shape: MapShape, filter: V, kernel: number): V;
  /** Per channel, the sum over the batch and every position: a vector, conv2d's bias gradient from dL/doutput. */
  mapChannelSums(maps: V, shape: MapShape): V;
  /** Max pooling over size x size windows, stride size, no padding: floor(height / size) x floor(width / size). */
  maxPool(maps: V, shape: MapShape, size: number): V;
  /**
   * dL/dmaps of maxPool from dL/dpooled: each window's gradient goes to its maximum (the first in row-major order
   * on ties); positions in no window (the cropped edge) get zero.
   */
  maxPoolGradient(maps: V, pooled: V, gradient: V, shape: MapShape, size: number): V;
  /** Per image and channel, the mean over positions: rows [batch, channels]. */
  globalAveragePool(maps: V, shape: MapShape): V;
  /** dL/dmaps of globalAveragePool from dL/drows [batch, channels]: each row value spread evenly over the positions. */
  globalAveragePoolGradient(gradient: V, shape: MapShape): V;
}

/** Values per image of maps of `shape`. */
export function mapSize(shape: MapShape): number {
  return shape.height * shape.width * shape.channels;
}

export const NORM_EPSILON = 1e-12;
export const LEAKY_SLOPE = 0.01;
