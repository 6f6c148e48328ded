/**
 * LayerOps on tfjs tensors, evaluated as they are called: the tfjs engine runs the layer definitions
 * (src/engines/maths) with them inside tf.tidy. Gradients are the definitions' hand-written ones, not autodiff,
 * which is several times slower on the wasm backend.
 */
import type * as tfTypes from '@tensorflow/tfjs';
import { tf } from './tf';
import { type LayerOps, NORM_EPSILON } from '../maths/ops';
import type { MapShape } from '../types';

type Tensor = tfTypes.Tensor;
type Tensor2D = tfTypes.Tensor2D;
type Tensor4D = tfTypes.Tensor4D;

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

  /** Maps are NHWC, the layout of tfjs's convolutions: rows in HWC order reshape to them without a copy. */
  toMaps(rows: Tensor, shape: MapShape): Tensor {
    return tf().reshape(rows, [-1, shape.height, shape.width, shape.channels]);
  }

  fromMaps(maps: Tensor): Tensor {
    return tf().reshape(maps, [maps.shape[0], -1]);
  }

  conv2d(maps: Tensor, shape: MapShape, filter: Tensor, bias: Tensor, kernel: number): Tensor {
    const t = tf();
    const kernel4d = t.reshape(filter, [kernel, kernel, shape.channels, -1]) as Tensor4D;
    return t.fused.conv2d({ x: maps as Tensor4D, filter: kernel4d, strides: 1, pad: 'same', bias });
  }

  /**
   * The wasm backend has no filter-gradient kernel, so this is the convolution it does have, with the batch as the
   * channels: the padded input [channels, H + 2p, W + 2p, batch] convolved ('valid') with the output gradient as a
   * [H, W, batch, filters] kernel gives [channels, kernel, kernel, filters].
   */
  conv2dFilterGradient(maps: Tensor, shape: MapShape, gradient: Tensor, filters: number, kernel: number): Tensor {
    const t = tf();
    const pad = (kernel - 1) / 2;
    const input = t.pad(t.transpose(maps, [3, 1, 2, 0]), [
      [0, 0],
      [pad, pad],
      [pad, pad],
      [0, 0],
    ]) as Tensor4D;
    const byChannel = t.conv2d(input, t.transpose(gradient, [1, 2, 0, 3]) as Tensor4D, 1, 'valid');
    return t.reshape(t.transpose(byChannel, [1, 2, 0, 3]), [kernel * kernel * shape.channels, filters]);
  }

  /** A forward convolution: on wasm, Conv2DBackpropInput (tf.conv2dTranspose) is ten times slower (1.8 s against 0.15 s at 128x16x16x64). */
  conv2dInputGradient(gradient: Tensor, shape: MapShape, filter: Tensor, kernel: number): Tensor {
    const t = tf();
    const turned = t.transpose(t.reverse(t.reshape(filter, [kernel, kernel, shape.channels, -1]), [0, 1]), [0, 1, 3, 2]) as Tensor4D;
    return t.conv2d(gradient as Tensor4D, turned, 1, 'same');
  }

  mapChannelSums(maps: Tensor): Tensor {
    return tf().sum(maps, [0, 1, 2]);
  }

  maxPool(maps: Tensor, _shape: MapShape, size: number): Tensor {
    return tf().maxPool(maps as Tensor4D, size, size, 'valid');
  }

  /**
   * Written out with argMax over each window's values rather than with the backends' gradient kernels: on wasm,
   * MaxPoolGrad and MaxPoolWithArgmax take the maximum of a window of negative values to be 0 (tfjs 4.22). The
   * one-hot is cast rather than asked for as float32, which the wasm OneHot ignores (it writes integer bits).
   */
  maxPoolGradient(maps: Tensor, _pooled: Tensor, gradient: Tensor, shape: MapShape, size: number): Tensor {
    const t = tf();
    const { height, width, channels } = shape;
    const batch = maps.shape[0];
    const ph = Math.floor(height / size);
    const pw = Math.floor(width / size);
    const covered = ph * size === height && pw * size === width ? maps : t.slice(maps, [0, 0, 0, 0], [batch, ph * size, pw * size, channels]);
    const windows = t.reshape(t.transpose(t.reshape(covered, [batch, ph, size, pw, size, channels]), [0, 1, 3, 5, 2, 4]), [
      batch,
      ph,
      pw,
      channels,
      size * size,
    ]);
    const first = t.cast(t.oneHot(t.argMax(windows, 4), size * size), 'float32');
    const routed = t.mul(first, t.expandDims(gradient, 4));
    const back = t.reshape(t.transpose(t.reshape(routed, [batch, ph, pw, channels, size, size]), [0, 1, 4, 2, 5, 3]), [batch, ph * size, pw * size, channels]);
    if (back.shape[1] === height && back.shape[2] === width) return back;
    return t.pad(back, [
      [0, 0],
      [0, height - ph * size],
      [0, width - pw * size],
      [0, 0],
    ]);
  }

  globalAveragePool(maps: Tensor): Tensor {
    return tf().mean(maps, [1, 2]);
  }

  globalAveragePoolGradient(gradient: Tensor, shape: MapShape): Tensor {
    const t = tf();
    const batch = gradient.shape[0];
    const spread = t.mul(t.reshape(gradient, [batch, 1, 1, shape.channels]), 1 / (shape.height * shape.width));
    return t.broadcastTo(spread, [batch, shape.height, shape.width, shape.channels]);
  }

  private groups(x: Tensor, size: number): Tensor {
    const [rows, columns] = (x as Tensor2D).shape;
    return tf().reshape(x, [rows, columns / size, size]);
  }
}
