/**
 * The backprop baseline: an MLP with the same hidden widths as the HFF network (dense + ReLU, He initialisation)
 * and a linear softmax head, trained end to end by cross-entropy with hand-written backprop gradients (explicit
 * transposes, see `matMulT`) and the same optimiser as HFF (Adam, learning rate 0.001 by default). Inputs are the
 * dataset's [0,1] pixels as they are.
 */
import { tf } from '../engines/tfjs/tf';
import { optimizerStep } from '../engines/tfjs/optimizer';
import type { OptimizerSettings } from '../engines/types';
import { DEFAULTS } from '../hff/config';
import { SeededRandom } from '../hff/random';
import { type DenseParams, DenseStack, argMaxRows, checkBatch, checkLabels, checkWidths, heWeights, matMulT, resolveOptimizer, type Tensor2D } from './common';

export interface BackpropOptions {
  inputSize: number;
  classes: number;
  /** Hidden layer widths; default the HFF default widths. */
  layers?: number[];
  optimizer?: Partial<OptimizerSettings>;
  seed?: number;
}

export interface BackpropConfig {
  inputSize: number;
  classes: number;
  layers: number[];
  optimizer: OptimizerSettings;
  seed: number;
}

/** Parameters: hidden layers then the head: weight (inputSize x units, row-major) and bias. */
export type BackpropParams = DenseParams;

export class BackpropMlp extends DenseStack {
  readonly config: BackpropConfig;
  /** Hidden layers, then the linear head last. */

  private constructor(config: BackpropConfig, params: BackpropParams) {
    super('backprop MLP', config.inputSize, [...config.layers, config.classes], params);
    this.config = config;
  }

  static resolveConfig(options: BackpropOptions): BackpropConfig {
    const { inputSize, classes } = options;
    if (!Number.isInteger(inputSize) || inputSize < 1) throw new Error(`inputSize must be a positive integer, got ${inputSize}`);
    if (!Number.isInteger(classes) || classes < 2) throw new Error(`classes must be an integer >= 2, got ${classes}`);
    return {
      inputSize,
      classes,
      layers: checkWidths(options.layers ?? DEFAULTS.layers),
      optimizer: resolveOptimizer(options.optimizer),
      seed: Math.floor(options.seed ?? DEFAULTS.seed),
    };
  }

  /** He-initialised hidden layers and a head with variance 1/fan-in (seeded), zero biases. */
  static create(options: BackpropOptions): BackpropMlp {
    const config = BackpropMlp.resolveConfig(options);
    const random = new SeededRandom(config.seed);
    const layers: BackpropParams['layers'] = [];
    let inputSize = config.inputSize;
    for (const units of config.layers) {
      layers.push({ weight: heWeights(inputSize, units, random), bias: new Float32Array(units) });
      inputSize = units;
    }
    const head = heWeights(inputSize, config.classes, random).map((v) => v / Math.SQRT2);
    layers.push({ weight: head, bias: new Float32Array(config.classes) });
    return new BackpropMlp(config, { layers });
  }

  static fromParams(options: BackpropOptions, params: BackpropParams): BackpropMlp {
    return new BackpropMlp(BackpropMlp.resolveConfig(options), params);
  }

  get inputSize(): number {
    return this.config.inputSize;
  }

  get classes(): number {
    return this.config.classes;
  }

  /** One Adam step on the mean cross-entropy of the batch; returns the loss before the step. */
  trainBatch(x: Float32Array, batch: number, labels: Int32Array): { loss: number } {
    this.checkUsable();
    checkBatch(x, batch, this.config.inputSize);
    checkLabels(labels, batch, this.config.classes);
    const t = tf();
    this.step += 1;
    const lossTensor = t.tidy(() => {
      const hidden = this.weights.length - 1;
      // Forward, keeping each layer's input and pre-activation.
      const inputs: Tensor2D[] = [];
      const pre: Tensor2D[] = [];
      let h: Tensor2D = t.tensor2d(x, [batch, this.config.inputSize]);
      for (let l = 0; l < hidden; l++) {
        inputs.push(h);
        const a = t.add(t.matMul(h, this.weights[l].param as Tensor2D), this.biases[l].param) as Tensor2D;
        pre.push(a);
        h = t.relu(a);
      }
      inputs.push(h);
      const logits = t.add(t.matMul(h, this.weights[hidden].param as Tensor2D), this.biases[hidden].param) as Tensor2D;
      const oneHot = t.oneHot(t.tensor1d(labels, 'int32'), this.config.classes).toFloat();
      const logProb = t.logSoftmax(logits);
      const loss = t.neg(t.mean(t.sum(t.mul(oneHot, logProb), 1)));
      // Backward: dL/dlogits = (softmax - onehot) / batch, then down through the layers.
      let d = t.div(t.sub(t.exp(logProb), oneHot), batch) as Tensor2D;
      const grads: { dW: Tensor2D; dB: ReturnType<typeof t.sum> }[] = [];
      for (let l = hidden; l >= 0; l--) {
        grads[l] = { dW: matMulT(inputs[l], d, true, false), dB: t.sum(d, 0) };
        if (l > 0) {
          const dH = matMulT(d, this.weights[l].param as Tensor2D, false, true);
          d = t.mul(dH, t.step(pre[l - 1], 0)) as Tensor2D;
        }
      }
      grads.forEach((g, l) => {
        optimizerStep(this.weights[l], g.dW, this.config.optimizer, this.step, this.config.optimizer.weightDecay);
        optimizerStep(this.biases[l], g.dB, this.config.optimizer, this.step, 0);
      });
      return loss;
    });
    const loss = (lossTensor.dataSync() as Float32Array)[0];
    lossTensor.dispose();
    return { loss };
  }

  /** Class logits: batch x classes, row-major (one forward pass). */
  logits(x: Float32Array, batch: number): Float32Array {
    this.checkUsable();
    checkBatch(x, batch, this.config.inputSize);
    const t = tf();
    const result = t.tidy(() => {
      let h: Tensor2D = t.tensor2d(x, [batch, this.config.inputSize]);
      const last = this.weights.length - 1;
      this.weights.forEach((w, l) => {
        const a = t.add(t.matMul(h, w.param as Tensor2D), this.biases[l].param) as Tensor2D;
        h = l < last ? t.relu(a) : a;
      });
      return h;
    });
    const out = result.dataSync() as Float32Array;
    result.dispose();
    return out;
  }

  predict(x: Float32Array, batch: number): Int32Array {
    return argMaxRows(this.logits(x, batch), batch, this.config.classes);
  }
}
