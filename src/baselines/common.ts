/**
 * Shared pieces of the baseline models: parameters with optimiser moments, the same Adam / SGD update as the HFF
 * engine, matrix products with explicit transposes, seeded initialisation and the epoch loop.
 */
import type * as tfTypes from '@tensorflow/tfjs';
import { tf } from '../engines/tfjs/tf';
import type { OptimizerSlot } from '../engines/tfjs/optimizer';
import type { OptimizerSettings } from '../engines/types';
import { DEFAULTS } from '../hff/config';
import { SeededRandom } from '../hff/random';
import type { LearningRateSchedule } from '../hff/schedule';
import {
  augmentBatchInPlace,
  batchPlan,
  changesImages,
  gatherRows,
  type LabelledData,
  runBatches,
  type TrainingGeometry,
  yieldToEventLoop,
} from '../hff/training';

export type Tensor = tfTypes.Tensor;
export type Tensor1D = tfTypes.Tensor1D;
export type Tensor2D = tfTypes.Tensor2D;
export type Variable = tfTypes.Variable;

/** A trainable parameter with its optimiser moments; stepped by `optimizerStep`, as the HFF layers on tfjs are. */
export type Param = OptimizerSlot;

export function createParam(data: Float32Array, shape: number[]): Param {
  const t = tf();
  const initial = t.tensor(data, shape);
  const value = t.variable(initial, true);
  initial.dispose();
  const moment = () => {
    const zeros = t.zerosLike(value);
    const variable = t.variable(zeros, false);
    zeros.dispose();
    return variable;
  };
  return { param: value, m: moment(), v: moment() };
}

export function disposeParam(p: Param): void {
  p.param.dispose();
  p.m.dispose();
  p.v.dispose();
}

/** Optimiser settings completed from the library defaults (the same as an HFF network's). */
export function resolveOptimizer(partial: Partial<OptimizerSettings> = {}): OptimizerSettings {
  const o = { ...DEFAULTS.optimizer, ...partial };
  if (!(o.learningRate > 0)) throw new Error(`optimizer.learningRate must be a positive number, got ${o.learningRate}`);
  if (o.kind !== 'adam' && o.kind !== 'sgd') throw new Error(`optimizer.kind must be adam or sgd, got ${JSON.stringify(o.kind)}`);
  return o;
}

/**
 * Matrix product with transposes done as separate ops: on the wasm backend a transposed operand sends matMul to
 * a naive loop about ten times slower than the XNNPACK path for plain operands.
 */
export function matMulT(a: Tensor2D, b: Tensor2D, transposeA = false, transposeB = false): Tensor2D {
  const t = tf();
  return t.matMul(transposeA ? t.transpose(a) : a, transposeB ? t.transpose(b) : b);
}

/** He-initialised dense weights (inputSize x units, row-major) from a seeded generator, as HFF initialises. */
export function heWeights(inputSize: number, units: number, random: SeededRandom): Float32Array {
  const scale = Math.sqrt(2 / inputSize);
  const w = new Float32Array(inputSize * units);
  for (let i = 0; i < w.length; i++) w[i] = random.gaussian() * scale;
  return w;
}

export function checkWidths(layers: number[]): number[] {
  if (!Array.isArray(layers) || layers.length === 0) throw new Error('layers must list at least one layer width');
  layers.forEach((w, i) => {
    if (!Number.isInteger(w) || w < 1) throw new Error(`layers[${i}] must be a positive integer, got ${JSON.stringify(w)}`);
  });
  return [...layers];
}

export function checkBatch(x: Float32Array, batch: number, inputSize: number): void {
  if (!Number.isInteger(batch) || batch < 1) throw new Error(`batch must be a positive integer, got ${batch}`);
  if (x.length !== batch * inputSize) throw new Error(`input: expected ${batch * inputSize} values, got ${x.length}`);
}

export function checkLabels(labels: Int32Array, batch: number, classes: number): void {
  if (labels.length !== batch) throw new Error(`expected ${batch} labels, got ${labels.length}`);
  for (const label of labels) {
    if (!(label >= 0 && label < classes)) throw new Error(`label ${label} is outside 0..${classes - 1}`);
  }
}

/** Index of the largest value in each row of a batch x k score matrix. */
export function argMaxRows(scores: Float32Array, batch: number, k: number): Int32Array {
  const out = new Int32Array(batch);
  for (let b = 0; b < batch; b++) {
    let best = 0;
    let bestValue = -Infinity;
    for (let c = 0; c < k; c++) {
      const v = scores[b * k + c];
      if (v > bestValue) {
        bestValue = v;
        best = c;
      }
    }
    out[b] = best;
  }
  return out;
}

/** What the shared epoch loop needs from a model. */
export interface BatchTrainable {
  readonly inputSize: number;
  readonly classes: number;
  /** Read at every step, so that a learning-rate schedule can change it between steps. */
  readonly config: { optimizer: { learningRate: number } };
  trainBatch(x: Float32Array, batch: number, labels: Int32Array): { loss: number };
}

export interface BaselineTrainOptions {
  epochs?: number;
  batchSize?: number;
  /** Shuffle seed; the same seed gives the same data order as `trainNetwork` with that seed. */
  seed?: number;
  onEpoch?: (summary: { epoch: number; epochs: number; loss: number; seconds: number }) => void;
  signal?: AbortSignal;
  /** As `trainNetwork`'s (default cosine), so that every method of a benchmark trains under the same schedule. */
  learningRateSchedule?: LearningRateSchedule;
  /**
   * Random shifts, turns and resizing of the training images, as `trainNetwork` does them (zero fill: the baselines
   * do not centre their input), so that a benchmark can show every method the same augmented data.
   */
  augment?: { shape: [number, number, number]; geometry: TrainingGeometry };
}

export interface BaselineTrainSummary {
  epochs: { epoch: number; loss: number; seconds: number }[];
  cancelled: boolean;
}

/**
 * Mini-batch epochs through `runBatches`, the loop of HFF's `trainNetwork`: with the same seed every method sees the
 * same batches in the same order.
 */
export async function trainEpochs(model: BatchTrainable, data: LabelledData, options: BaselineTrainOptions = {}): Promise<BaselineTrainSummary> {
  if (data.inputSize !== model.inputSize) {
    throw new Error(`the data has vectors of length ${data.inputSize} but the model takes ${model.inputSize}`);
  }
  if (data.n < 1) throw new Error('no training examples');
  checkLabels(data.labels, data.n, model.classes);
  const { epochs, batchSize } = batchPlan(data.n, options.epochs, options.batchSize);
  const summary: BaselineTrainSummary = { epochs: [], cancelled: false };
  let started = 0;
  let lossSum = 0;
  const random = new SeededRandom(options.seed ?? DEFAULTS.seed);
  const { augment } = options;
  const augments = augment !== undefined && changesImages(augment.geometry);
  const completed = await runBatches(
    {
      data,
      epochs,
      batchSize,
      random,
      schedule: options.learningRateSchedule,
      optimizer: model.config.optimizer,
      signal: options.signal,
    },
    {
      epochStart: () => {
        started = Date.now();
        lossSum = 0;
      },
      batch: ({ x, y, count }) => {
        if (augments) augmentBatchInPlace(x, count, augment.shape, augment.geometry, random);
        lossSum += model.trainBatch(x, count, y).loss * count;
      },
      epochEnd: (epoch) => {
        const e = { epoch, loss: lossSum / data.n, seconds: (Date.now() - started) / 1000 };
        summary.epochs.push(e);
        options.onEpoch?.({ ...e, epochs });
      },
    },
  );
  summary.cancelled = !completed;
  return summary;
}

/** Test accuracy of a model that predicts class indices, in chunks of `batchSize` rows. */
export async function evaluateIndices(
  predict: (x: Float32Array, batch: number) => Int32Array,
  data: LabelledData,
  batchSize = 500,
): Promise<{ accuracy: number; correct: number; n: number }> {
  const order = Int32Array.from({ length: data.n }, (_, i) => i);
  let correct = 0;
  for (let start = 0; start < data.n; start += batchSize) {
    const count = Math.min(batchSize, data.n - start);
    const { x, y } = gatherRows(data, order, start, count);
    const p = predict(x, count);
    for (let i = 0; i < count; i++) if (p[i] === y[i]) correct += 1;
    await yieldToEventLoop();
  }
  return { accuracy: data.n ? correct / data.n : NaN, correct, n: data.n };
}

/** A layer's weight matrix: rows x units. */
export interface WeightShape {
  rows: number;
  units: number;
}

/** The weight shapes of a stack of dense layers of these widths on `inputSize` inputs. */
export function denseShapes(inputSize: number, widths: readonly number[]): WeightShape[] {
  return widths.map((units, i) => ({ rows: i === 0 ? inputSize : widths[i - 1], units }));
}

/** Weights and biases of layers, as plain arrays (weight rows x units, row-major). */
export interface DenseParams {
  layers: { weight: Float32Array; bias: Float32Array }[];
}

/**
 * The parameters both baselines keep: a weight matrix and a bias per layer as tfjs variables, with reading,
 * disposal and the step counter of their optimiser.
 */
export abstract class DenseStack {
  protected readonly weights: Param[] = [];
  protected readonly biases: Param[] = [];
  protected step = 0;
  private disposed = false;

  /** @param shapes each layer's weight shape: rows (a dense layer's inputs, a convolution's kernel taps x channels) x units */
  protected constructor(
    private readonly kind: string,
    shapes: readonly WeightShape[],
    params: DenseParams,
  ) {
    if (params.layers.length !== shapes.length) throw new Error(`expected ${shapes.length} layers of parameters, got ${params.layers.length}`);
    shapes.forEach(({ rows, units }, i) => {
      const p = params.layers[i];
      if (p.weight.length !== rows * units || p.bias.length !== units) {
        throw new Error(`layer ${i}: expected a ${rows}x${units} weight and ${units} biases`);
      }
      this.weights.push(createParam(p.weight, [rows, units]));
      this.biases.push(createParam(p.bias, [units]));
    });
  }

  readParams(): DenseParams {
    this.checkUsable();
    return {
      layers: this.weights.map((w, i) => ({
        weight: Float32Array.from(w.param.dataSync() as Float32Array),
        bias: Float32Array.from(this.biases[i].param.dataSync() as Float32Array),
      })),
    };
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.weights.forEach(disposeParam);
    this.biases.forEach(disposeParam);
  }

  protected checkUsable(): void {
    if (this.disposed) throw new Error(`${this.kind} used after it was disposed`);
  }
}
