/**
 * Vanilla Forward-Forward (Hinton, 2022, "The Forward-Forward Algorithm: Some Preliminary Investigations"), the
 * baseline HFF is compared against. Supervised variant:
 *
 * - The label is written into the input: the first `classes` input values are replaced by a one-hot vector
 *   (scaled by `labelValue`). Positive data carries the true label, negative data the same image with a wrong
 *   label drawn uniformly from the other classes (a fresh draw for every example at every step, from a seeded
 *   generator).
 * - Every layer is dense + ReLU. Its input is length-normalised first (to root-mean-square 1, i.e. length
 *   sqrt(width), as in Hinton's reference code; this removes the previous layer's goodness from the next layer's
 *   input and makes the scale independent of the width). The first layer's input is normalised the same way.
 * - Goodness of a layer = mean of its squared activations. Local loss = logistic around a threshold theta:
 *   softplus(theta - g) on positive rows and softplus(g - theta) on negative rows, averaged over the 2B rows.
 *   Every layer is trained at once on its own loss, on the detached output of the layer below (the same
 *   single-sweep schedule as HFF), with hand-written gradients and the same Adam as HFF.
 * - Prediction runs ONE FORWARD PASS PER CANDIDATE CLASS (K passes for K classes) and picks the class with the
 *   largest goodness summed over the layers (from `scoreFromLayer` on). That cost, K x L layer evaluations per
 *   input against HFF's L, is what the benchmark measures; the K passes are not fused into one matmul.
 *
 * Default hyper-parameters (chosen on MNIST subsets, see bench/RESULTS.md): threshold 1 on the mean-square
 * goodness (the RMS-normalised input makes a fresh He-initialised layer's goodness about 1), logistic slope 1,
 * label value 1, Adam with the HFF settings (learning rate 0.001), the HFF batch size (128 images, i.e. 128
 * positive + 128 negative rows), He initialisation, goodness summed over all layers. Thresholds 2 and 5, slopes 10
 * and 100, label values 3 and 10 and learning rates 0.003 and 0.01 were no better on a 10,000-image MNIST subset.
 */
import { tf } from '../engines/tfjs/tf';
import { optimizerStep } from '../engines/tfjs/optimizer';
import type { OptimizerSettings } from '../engines/types';
import { DEFAULTS } from '../hff/config';
import { SeededRandom } from '../hff/random';
import {
  type DenseParams,
  DenseStack,
  denseShapes,
  argMaxRows,
  checkBatch,
  checkLabels,
  checkWidths,
  heWeights,
  matMulT,
  resolveOptimizer,
  type Tensor,
  type Tensor1D,
  type Tensor2D,
} from './common';

export interface ForwardForwardOptions {
  inputSize: number;
  classes: number;
  /** Hidden layer widths; default the HFF default widths. */
  layers?: number[];
  /** Threshold on the mean-square goodness; default 1. */
  threshold?: number;
  /** Slope of the logistic: p(positive) = sigmoid(sharpness * (goodness - threshold)); default 1. */
  sharpness?: number;
  /** Value written at the label's position of the one-hot label block; default 1 (pixels are in [0,1]). */
  labelValue?: number;
  /** Sum the goodness of layers scoreFromLayer.. at prediction; default 0 (all layers). */
  scoreFromLayer?: number;
  optimizer?: Partial<OptimizerSettings>;
  /** Seed of the initial weights and of the negative-label draws. */
  seed?: number;
}

export interface ForwardForwardConfig {
  inputSize: number;
  classes: number;
  layers: number[];
  threshold: number;
  sharpness: number;
  labelValue: number;
  scoreFromLayer: number;
  optimizer: OptimizerSettings;
  seed: number;
}

export const FF_DEFAULTS = {
  threshold: 1,
  sharpness: 1,
  labelValue: 1,
  scoreFromLayer: 0,
};

/** Parameters per layer: weight (inputSize x units, row-major) and bias. */
export type ForwardForwardParams = DenseParams;

export interface FFTrainResult {
  /** Mean of the layers' local losses. */
  loss: number;
  losses: number[];
}

const RMS_EPSILON = 1e-8;

export class ForwardForwardNetwork extends DenseStack {
  readonly config: ForwardForwardConfig;
  private readonly random: SeededRandom;

  private constructor(config: ForwardForwardConfig, params: ForwardForwardParams) {
    super('forward-forward network', denseShapes(config.inputSize, config.layers), params);
    this.config = config;
    this.random = new SeededRandom(config.seed + 7919);
  }

  static resolveConfig(options: ForwardForwardOptions): ForwardForwardConfig {
    const { inputSize, classes } = options;
    if (!Number.isInteger(inputSize) || inputSize < 1) throw new Error(`inputSize must be a positive integer, got ${inputSize}`);
    if (!Number.isInteger(classes) || classes < 2) throw new Error(`classes must be an integer >= 2, got ${classes}`);
    if (classes >= inputSize) {
      throw new Error(`forward-forward writes the label into the first ${classes} input values, so it needs more than ${classes} inputs (got ${inputSize})`);
    }
    const layers = checkWidths(options.layers ?? DEFAULTS.layers);
    const threshold = options.threshold ?? FF_DEFAULTS.threshold;
    if (!(Number.isFinite(threshold) && threshold > 0)) throw new Error(`threshold must be a positive number, got ${threshold}`);
    const sharpness = options.sharpness ?? FF_DEFAULTS.sharpness;
    if (!(Number.isFinite(sharpness) && sharpness > 0)) throw new Error(`sharpness must be a positive number, got ${sharpness}`);
    const labelValue = options.labelValue ?? FF_DEFAULTS.labelValue;
    if (!(Number.isFinite(labelValue) && labelValue > 0)) throw new Error(`labelValue must be a positive number, got ${labelValue}`);
    const scoreFromLayer = options.scoreFromLayer ?? FF_DEFAULTS.scoreFromLayer;
    if (!(Number.isInteger(scoreFromLayer) && scoreFromLayer >= 0 && scoreFromLayer < layers.length)) {
      throw new Error(`scoreFromLayer must be a layer index 0..${layers.length - 1}, got ${scoreFromLayer}`);
    }
    return {
      inputSize,
      classes,
      layers,
      threshold,
      sharpness,
      labelValue,
      scoreFromLayer,
      optimizer: resolveOptimizer(options.optimizer),
      seed: Math.floor(options.seed ?? DEFAULTS.seed),
    };
  }

  /** A freshly He-initialised network (seeded). */
  static create(options: ForwardForwardOptions): ForwardForwardNetwork {
    const config = ForwardForwardNetwork.resolveConfig(options);
    const random = new SeededRandom(config.seed);
    const layers: ForwardForwardParams['layers'] = [];
    let inputSize = config.inputSize;
    for (const units of config.layers) {
      layers.push({ weight: heWeights(inputSize, units, random), bias: new Float32Array(units) });
      inputSize = units;
    }
    return new ForwardForwardNetwork(config, { layers });
  }

  /** A network with the given weights (for tests and reloading). */
  static fromParams(options: ForwardForwardOptions, params: ForwardForwardParams): ForwardForwardNetwork {
    return new ForwardForwardNetwork(ForwardForwardNetwork.resolveConfig(options), params);
  }

  get inputSize(): number {
    return this.config.inputSize;
  }

  get classes(): number {
    return this.config.classes;
  }

  /** A wrong label for each label, uniform over the other classes. */
  negativeLabels(labels: Int32Array): Int32Array {
    const k = this.config.classes;
    return labels.map((y) => {
      const r = this.random.int(k - 1);
      return r >= y ? r + 1 : r;
    });
  }

  /**
   * One step of every layer on positive rows (true labels) and negative rows (`negatives`, default a fresh
   * uniform draw of wrong labels).
   */
  trainBatch(x: Float32Array, batch: number, labels: Int32Array, negatives?: Int32Array): FFTrainResult {
    this.checkUsable();
    const { inputSize: d, classes: k, labelValue, threshold, sharpness } = this.config;
    checkBatch(x, batch, d);
    checkLabels(labels, batch, k);
    const neg = negatives ?? this.negativeLabels(labels);
    checkLabels(neg, batch, k);
    // Positive rows then negative rows, the label written into the first k values.
    const rows = 2 * batch;
    const input = new Float32Array(rows * d);
    input.set(x, 0);
    input.set(x, batch * d);
    for (let b = 0; b < batch; b++) {
      for (const [row, label] of [
        [b, labels[b]],
        [batch + b, neg[b]],
      ]) {
        input.fill(0, row * d, row * d + k);
        input[row * d + label] = labelValue;
      }
    }
    const sign = new Float32Array(rows);
    sign.fill(1, 0, batch);
    sign.fill(-1, batch);
    this.step += 1;
    const t = tf();
    const lossTensors = t.tidy(() => {
      const s = t.tensor1d(sign);
      let h: Tensor2D = t.tensor2d(input, [rows, d]);
      const losses: Tensor[] = [];
      this.weights.forEach((w, l) => {
        const units = this.config.layers[l];
        const xn = rmsNormalize(h);
        const a = t.add(t.matMul(xn, w.param as Tensor2D), this.biases[l].param) as Tensor2D;
        const out = t.relu(a);
        const g = t.mean(t.square(out), 1) as Tensor1D;
        // margin > 0 means the row is on the right side of the threshold.
        const margin = t.mul(s, t.mul(t.sub(g, threshold), sharpness));
        losses.push(t.mean(t.softplus(t.neg(margin))));
        // d softplus(-margin)/dg = -s * sharpness * sigmoid(-margin); dg/dout = 2 out / units; relu' folds into out.
        const dG = t.div(t.mul(t.mul(s, -sharpness), t.sigmoid(t.neg(margin))), rows);
        const dA = t.mul(t.expandDims(t.mul(dG, 2 / units), 1), out) as Tensor2D;
        const dW = matMulT(xn, dA, true, false);
        const dB = t.sum(dA, 0);
        optimizerStep(w, dW, this.config.optimizer, this.step, this.config.optimizer.weightDecay);
        optimizerStep(this.biases[l], dB, this.config.optimizer, this.step, 0);
        // The next layer learns on this layer's output before the update, detached.
        h = out;
      });
      return t.stack(losses);
    });
    const values = Array.from(lossTensors.dataSync() as Float32Array);
    lossTensors.dispose();
    return { loss: values.reduce((a, b) => a + b, 0) / values.length, losses: values };
  }

  /**
   * Goodness summed over the scored layers for every candidate class: batch x classes, row-major. Runs one full
   * forward pass of the batch per candidate class.
   */
  scores(x: Float32Array, batch: number): Float32Array {
    this.checkUsable();
    const { inputSize: d, classes: k, labelValue, scoreFromLayer } = this.config;
    checkBatch(x, batch, d);
    const t = tf();
    const mask = new Float32Array(d).fill(1, k);
    const result = t.tidy(() => {
      const base = t.mul(t.tensor2d(x, [batch, d]), t.tensor2d(mask, [1, d]));
      const perClass: Tensor[] = [];
      for (let c = 0; c < k; c++) {
        const label = new Float32Array(d);
        label[c] = labelValue;
        let h: Tensor2D = t.add(base, t.tensor2d(label, [1, d])) as Tensor2D;
        let total: Tensor | undefined;
        this.weights.forEach((w, l) => {
          h = t.relu(t.add(t.matMul(rmsNormalize(h), w.param as Tensor2D), this.biases[l].param)) as Tensor2D;
          if (l >= scoreFromLayer) {
            const g = t.mean(t.square(h), 1);
            total = total ? t.add(total, g) : g;
          }
        });
        perClass.push(total as Tensor);
      }
      return t.stack(perClass, 1);
    });
    const out = result.dataSync() as Float32Array;
    result.dispose();
    return out;
  }

  /** Predicted class index per row: the candidate label with the largest summed goodness (K forward passes). */
  predict(x: Float32Array, batch: number): Int32Array {
    return argMaxRows(this.scores(x, batch), batch, this.config.classes);
  }
}

/** Divides each row by its root-mean-square (length normalisation to sqrt(width)). */
function rmsNormalize(x: Tensor2D): Tensor2D {
  const t = tf();
  return t.div(x, t.sqrt(t.add(t.mean(t.square(x), 1, true), RMS_EPSILON))) as Tensor2D;
}
