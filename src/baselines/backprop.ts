/**
 * The backprop baseline: the same layer stack as the HFF network, trained end to end by cross-entropy with
 * hand-written backprop gradients (./backprop-maths.ts) and the same optimiser as HFF (Adam, learning rate 0.001 by
 * default). Dense layers are dense + ReLU (He initialisation); convolutional blocks are HFF's
 * (src/engines/maths/conv2d.ts): 'same' convolution of stride 1 with a bias, ReLU, then max pooling. A linear softmax
 * head takes the last layer's output: a dense layer's activations, or a block's pooled maps flattened (HWC order;
 * what HFF's block passes up, before its unit-length scaling). Inputs are the dataset's [0,1] pixels as they are
 * (HFF's blocks take them so too). This class runs on tfjs; ./backprop-onnx.ts runs the same maths on onnxruntime.
 */
import { tf } from '../engines/tfjs/tf';
import { optimizerStep } from '../engines/tfjs/optimizer';
import type { LayerOps } from '../engines/maths/ops';
import { TfjsOps } from '../engines/tfjs/tfjs-ops';
import { type EngineLayerSpec, type LayerDescription, type OptimizerSettings, passedWidth, prototypeWidth, weightRows } from '../engines/types';
import { DEFAULTS, type LayerOption, layerSpecs, resolveConfig } from '../hff/config';
import { SeededRandom } from '../hff/random';
import { type BackpropValues, backpropGradients, backpropLogits } from './backprop-maths';
import { type DenseParams, DenseStack, type Tensor, type WeightShape, argMaxRows, checkBatch, checkLabels, heWeights, resolveOptimizer } from './common';

export interface BackpropOptions {
  inputSize: number;
  classes: number;
  /**
   * Hidden layers, bottom first, as an HFF network takes them: dense widths and convolutional blocks (on the images
   * or on another block; they need `inputShape`). Default the HFF default widths.
   */
  layers?: readonly LayerOption[];
  /** Height, width and channels of the images (needed by convolutional blocks). */
  inputShape?: [number, number, number];
  optimizer?: Partial<OptimizerSettings>;
  seed?: number;
}

export interface BackpropConfig {
  inputSize: number;
  classes: number;
  layers: LayerDescription[];
  inputShape?: [number, number, number];
  optimizer: OptimizerSettings;
  seed: number;
}

/** Parameters: hidden layers then the head: weight (rows x units, row-major; a block's [kernel, kernel, channels, filters]) and bias. */
export type BackpropParams = DenseParams;

/** The options checked and completed (the layer stack as an HFF network reads it, which also checks where blocks may sit). */
export function resolveBackpropConfig(options: BackpropOptions): BackpropConfig {
  const { inputSize, classes } = options;
  if (!Number.isInteger(inputSize) || inputSize < 1) throw new Error(`inputSize must be a positive integer, got ${inputSize}`);
  if (!Number.isInteger(classes) || classes < 2) throw new Error(`classes must be an integer >= 2, got ${classes}`);
  const network = resolveConfig({ inputSize, inputShape: options.inputShape, layers: options.layers ?? DEFAULTS.layers, centerInput: false });
  if (network.activation !== 'relu') throw new Error(`the backprop baseline uses ReLU, got ${network.activation}`);
  const config: BackpropConfig = {
    inputSize,
    classes,
    layers: network.stack,
    optimizer: resolveOptimizer(options.optimizer),
    seed: Math.floor(options.seed ?? DEFAULTS.seed),
  };
  if (network.inputShape) config.inputShape = network.inputShape;
  return config;
}

/** What each hidden layer computes: the HFF network's layer specs (shapes and kinds). */
export function backpropSpecs(config: BackpropConfig): EngineLayerSpec[] {
  return layerSpecs(resolveConfig({ inputSize: config.inputSize, inputShape: config.inputShape, layers: config.layers, centerInput: false }));
}

/** Weight shapes of the hidden layers, then of the head. */
export function backpropWeightShapes(config: BackpropConfig, specs: readonly EngineLayerSpec[]): WeightShape[] {
  return [...specs.map((s) => ({ rows: weightRows(s), units: prototypeWidth(s) })), { rows: passedWidth(specs[specs.length - 1]), units: config.classes }];
}

/**
 * He-initialised hidden layers (fan-in: a dense layer's inputs, a block's kernel taps x channels) and a head with
 * variance 1/fan-in, from the seed; zero biases.
 */
export function initialBackpropParams(config: BackpropConfig): BackpropParams {
  const random = new SeededRandom(config.seed);
  const shapes = backpropWeightShapes(config, backpropSpecs(config));
  const head = shapes.length - 1;
  return {
    layers: shapes.map(({ rows, units }, l) => {
      const weight = heWeights(rows, units, random);
      return { weight: l === head ? weight.map((v) => v / Math.SQRT2) : weight, bias: new Float32Array(units) };
    }),
  };
}

export class BackpropNetwork extends DenseStack {
  readonly config: BackpropConfig;
  private readonly specs: EngineLayerSpec[];
  private readonly ops: LayerOps<Tensor> = new TfjsOps();

  private constructor(config: BackpropConfig, params: BackpropParams) {
    const specs = backpropSpecs(config);
    super(config.layers.some((l) => l.kind === 'conv2d') ? 'backprop CNN' : 'backprop MLP', backpropWeightShapes(config, specs), params);
    this.config = config;
    this.specs = specs;
  }

  static resolveConfig(options: BackpropOptions): BackpropConfig {
    return resolveBackpropConfig(options);
  }

  static create(options: BackpropOptions): BackpropNetwork {
    const config = BackpropNetwork.resolveConfig(options);
    return new BackpropNetwork(config, initialBackpropParams(config));
  }

  static fromParams(options: BackpropOptions, params: BackpropParams): BackpropNetwork {
    return new BackpropNetwork(BackpropNetwork.resolveConfig(options), params);
  }

  get inputSize(): number {
    return this.config.inputSize;
  }

  get classes(): number {
    return this.config.classes;
  }

  private values(): BackpropValues<Tensor> {
    return { weights: this.weights.map((w) => w.param), biases: this.biases.map((b) => b.param) };
  }

  /** One Adam step on the mean cross-entropy of the batch; returns the loss before the step. */
  trainBatch(x: Float32Array, batch: number, labels: Int32Array): { loss: number } {
    this.checkUsable();
    checkBatch(x, batch, this.config.inputSize);
    checkLabels(labels, batch, this.config.classes);
    const t = tf();
    this.step += 1;
    const lossTensor = t.tidy(() => {
      const onehot = t.oneHot(t.tensor1d(labels, 'int32'), this.config.classes).toFloat();
      const r = backpropGradients(this.ops, this.specs, t.tensor2d(x, [batch, this.config.inputSize]), this.values(), onehot, t.scalar(1 / batch));
      const loss = t.neg(t.mean(t.sum(t.mul(onehot, t.logSoftmax(r.logits)), 1)));
      r.gradWeights.forEach((dW, l) => {
        optimizerStep(this.weights[l], dW, this.config.optimizer, this.step, this.config.optimizer.weightDecay);
        optimizerStep(this.biases[l], r.gradBiases[l], this.config.optimizer, this.step, 0);
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
    const result = t.tidy(() => backpropLogits(this.ops, this.specs, t.tensor2d(x, [batch, this.config.inputSize]), this.values()));
    const out = result.dataSync() as Float32Array;
    result.dispose();
    return out;
  }

  predict(x: Float32Array, batch: number): Int32Array {
    return argMaxRows(this.logits(x, batch), batch, this.config.classes);
  }
}
