/**
 * The primitive operations an HFF layer's maths is written against (./dense.ts, ./local-loss.ts). Each engine
 * supplies them for its own values: tfjs tensors (evaluated at once), ONNX graph values (the definition then
 * generates the engine's graphs), or float64 arrays (the tests' reference). Values are 2-D, rows by columns,
 * except that `columnSums` gives a vector, and biases are vectors; the binary operations broadcast a column
 * ([rows, 1]), a vector ([cols]) or a scalar against a matrix.
 *
 * A new layer kind adds the few primitives it needs here (a convolutional kind: the convolution, its filter
 * gradient, pooling and the pooling gradient), implements them in each engine's ops and in the float64 reference,
 * and writes one definition beside ./dense.ts that hands its output rows to `localLoss` (./local-loss.ts).
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
}

export const NORM_EPSILON = 1e-12;
export const LEAKY_SLOPE = 0.01;
