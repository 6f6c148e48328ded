/**
 * LayerOps on tfjs tensors, evaluated as they are called: the tfjs engine runs the layer definitions
 * (src/engines/maths) with them inside tf.tidy. Gradients are the definitions' hand-written ones, not autodiff,
 * which is several times slower on the wasm backend.
 */
import type * as tfTypes from '@tensorflow/tfjs';
import { tf } from './tf';
import { type LayerOps, NORM_EPSILON } from '../maths/ops';

type Tensor = tfTypes.Tensor;
type Tensor2D = tfTypes.Tensor2D;

export class TfjsOps implements LayerOps<Tensor> {
  /**
   * @param heldTransposes transposes the caller already holds (a layer keeps its prototypes' between updates):
   *   matMul uses them instead of transposing again.
   */
  constructor(private readonly heldTransposes: ReadonlyMap<Tensor, Tensor> = new Map()) {}

  affine(x: Tensor, weight: Tensor, bias: Tensor): Tensor {
    const t = tf();
    return t.add(t.matMul(x as Tensor2D, weight as Tensor2D), bias);
  }

  /**
   * Transposes are done as separate ops: the wasm backend sends transposed operands to a naive loop that is about
   * ten times slower than its XNNPACK path for plain operands. A product with no rows or columns (a layer grown by
   * teaching starts with no prototypes) is zeros: XNNPACK refuses it.
   */
  matMul(a: Tensor, b: Tensor, transposeA: boolean, transposeB: boolean): Tensor {
    const t = tf();
    const [aRows, aColumns] = (a as Tensor2D).shape;
    const [bRows, bColumns] = (b as Tensor2D).shape;
    const rows = transposeA ? aColumns : aRows;
    const columns = transposeB ? bRows : bColumns;
    if (rows === 0 || columns === 0) return t.zeros([rows, columns]);
    const left = transposeA ? t.transpose(a) : a;
    const right = transposeB ? (this.heldTransposes.get(b) ?? t.transpose(b)) : b;
    return t.matMul(left as Tensor2D, right as Tensor2D);
  }

  sub(a: Tensor, b: Tensor): Tensor {
    return tf().sub(a, b);
  }

  mul(a: Tensor, b: Tensor): Tensor {
    return tf().mul(a, b);
  }

  div(a: Tensor, b: Tensor): Tensor {
    return tf().div(a, b);
  }

  scalar(value: number): Tensor {
    return tf().scalar(value);
  }

  relu(x: Tensor): Tensor {
    return tf().relu(x);
  }

  leakyRelu(x: Tensor, slope: number): Tensor {
    return tf().leakyRelu(x, slope);
  }

  tanh(x: Tensor): Tensor {
    return tf().tanh(x);
  }

  positiveGate(output: Tensor, gradient: Tensor, negativeSlope: number): Tensor {
    const t = tf();
    if (negativeSlope === 0) return t.mul(gradient, t.step(output, 0));
    return t.where(t.greater(output, 0), gradient, t.mul(gradient, negativeSlope));
  }

  rowSums(x: Tensor): Tensor {
    return tf().sum(x, 1, true);
  }

  rowMeans(x: Tensor): Tensor {
    return tf().mean(x, 1, true);
  }

  columnSums(x: Tensor): Tensor {
    return tf().sum(x, 0);
  }

  /** Spelled out because tf.norm costs three times as much on wasm. */
  rowNorms(x: Tensor): Tensor {
    const t = tf();
    return t.sqrt(t.maximum(t.sum(t.square(x), 1, true), NORM_EPSILON * NORM_EPSILON));
  }

  normalizeRows(x: Tensor): Tensor {
    return tf().div(x, this.rowNorms(x));
  }

  softmax(x: Tensor): Tensor {
    return tf().softmax(x);
  }

  groupLogSumExp(x: Tensor, size: number): Tensor {
    return tf().logSumExp(this.groups(x, size), 2);
  }

  groupLogSumExpGradient(x: Tensor, upstream: Tensor, size: number): Tensor {
    const t = tf();
    return t.reshape(t.mul(t.expandDims(upstream, 2), t.softmax(this.groups(x, size))), x.shape);
  }

  private groups(x: Tensor, size: number): Tensor {
    const [rows, columns] = (x as Tensor2D).shape;
    return tf().reshape(x, [rows, columns / size, size]);
  }
}
