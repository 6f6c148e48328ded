/**
 * The few heavy operations of an HFF layer, implemented once per compute engine. Everything that crosses this
 * interface is plain data (Float32Array, row-major), so engine tensors never escape a call.
 */

export type Activation = 'relu' | 'leaky-relu' | 'tanh';

/** A fully connected layer: each of its `units` outputs is a weighted sum of every input. */
export interface DenseLayer {
  kind: 'dense';
  units: number;
}

/**
 * One layer of a network's stack as the model config describes it, tagged by `kind`. Only dense layers exist so
 * far; convolutional layers and a feature stage are to join this union. Every switch on `kind` ends in
 * `unknownLayerKind`, so adding a kind fails to compile wherever it must be handled (initialisation, engine
 * layers, model-file tensors, the ONNX export); the config reader (LAYER_READERS) must list it too.
 */
export type LayerDescription = DenseLayer;

/** The exhaustiveness check of a switch on LayerDescription['kind']; reached at run time only by a bug. */
export function unknownLayerKind(kind: never): never {
  throw new Error(`internal: unknown layer kind ${JSON.stringify(kind)}`);
}

export interface LayerSpec {
  inputSize: number;
  units: number;
  activation: Activation;
  /**
   * Subtract each input row's mean before anything else (with normalizeInput this standardises each image's
   * brightness and contrast). Absent means false.
   */
  centerInput?: boolean;
  /** Divide each input row by its L2 norm before the dense map. */
  normalizeInput: boolean;
  /** Softmax temperature of the cosine logits. */
  tau: number;
  /** Additive margin subtracted from the true class's cosine during training. */
  margin: number;
  prototypesPerClass: number;
}

export interface LayerParams {
  /** inputSize x units, row-major. */
  weight: Float32Array;
  bias: Float32Array;
  /** (classes * prototypesPerClass) x units, unit rows, class-major (row k*M + m). */
  prototypes: Float32Array;
}

/**
 * Engines keep the settings object they are given and read it at every step: a learning-rate schedule changes
 * `learningRate` on the network's settings between steps.
 */
export interface OptimizerSettings {
  kind: 'adam' | 'sgd';
  learningRate: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  momentum: number;
  /** Decoupled weight decay on the dense weights (not biases or prototypes). */
  weightDecay: number;
}

export type PrototypeUpdate = 'gradient' | 'ema';

export interface LayerForward {
  /** batch x units unit vectors. */
  z: Float32Array;
  /** batch x prototypeRows cosine similarities. */
  cosines: Float32Array;
}

export interface LayerGradients {
  loss: number;
  weight: Float32Array;
  bias: Float32Array;
  /** Gradient with respect to the prototypes, projected on the sphere's tangent space. */
  prototypes: Float32Array;
}

export interface LayerStepResult {
  loss: number;
  /** Number of batch rows whose highest class logit is the label. */
  correct: number;
  /** This layer's output for the batch before the update, the (detached) input of the next layer. */
  z: Float32Array;
}

export interface EngineLayer {
  readonly spec: LayerSpec;
  readonly prototypeRows: number;
  forward(x: Float32Array, batch: number): LayerForward;
  gradients(x: Float32Array, batch: number, labels: Int32Array): LayerGradients;
  trainStep(x: Float32Array, batch: number, labels: Int32Array, options: { prototypeUpdate: PrototypeUpdate; emaRate: number }): LayerStepResult;
  readParams(): LayerParams;
  /** Just the prototypes (cheaper than readParams when only they change). */
  readPrototypes(): Float32Array;
  /** Replaces all prototypes (rows may change when classes are added or removed); optimiser moments restart. */
  setPrototypes(prototypes: Float32Array): void;
  dispose(): void;
}

/** Fixed rows (count x dim) held on the engine, matched against batches by dot products. */
export interface RowMatcher {
  readonly count: number;
  /** batch x count dot products of each input row with each held row. */
  dots(x: Float32Array, batch: number): Float32Array;
  dispose(): void;
}

export interface Engine {
  /** For example `tfjs-wasm`, `tfjs-node`, `tfjs-cpu`. */
  readonly name: string;
  createLayer(spec: LayerSpec, params: LayerParams, optimizer: OptimizerSettings): EngineLayer;
  /**
   * One forward pass through a stack of this engine's layers, each fed the z of the one below. Only the outputs
   * asked for are read back ('final': just the top layer's), so prediction costs one upload and one download
   * however deep the network is.
   */
  forwardStack(layers: readonly EngineLayer[], x: Float32Array, batch: number, outputs: 'all' | 'final'): LayerForward[];
  /**
   * Holds `count` rows of width `dim` for repeated matching (taught classes' prototypes, the trained-input
   * reference): one matrix product per batch instead of a loop in JavaScript.
   */
  createMatcher(rows: Float32Array, count: number, dim: number): RowMatcher;
  /** Live engine-side buffers, for leak checks. */
  liveTensors(): number;
}
