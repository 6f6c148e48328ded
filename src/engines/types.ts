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
 * A convolutional block (the HFF paper's CNN): `filters` kernels of kernel x kernel (odd), stride 1, 'same' zero
 * padding, then max pooling pool x pool (1: none). It takes images, or the maps of the block below.
 */
export interface Conv2dLayer {
  kind: 'conv2d';
  filters: number;
  kernel: number;
  pool: number;
}

/**
 * One layer of a network's stack as the model config describes it, tagged by `kind`. Every switch on `kind` ends in
 * `unknownLayerKind`, so adding a kind fails to compile wherever it must be handled (initialisation, model-file
 * tensors, the engine spec in config.ts layerSpecs); the config reader (LAYER_READERS) must list it too. Engines
 * and the ONNX export branch on the engine spec (EngineLayerSpec), which a new kind joins.
 */
export type LayerDescription = DenseLayer | Conv2dLayer;

/** The exhaustiveness check of a switch on a LayerDescription's kind (given the layer); reached at run time only by a bug. */
export function unknownLayerKind(layer: never): never {
  throw new Error(`internal: unknown layer ${JSON.stringify(layer)}`);
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

/** The spatial shape of a batch of feature maps (or images): each row holds height x width x channels values, HWC. */
export interface MapShape {
  height: number;
  width: number;
  channels: number;
}

/** What the engine computes for a convolutional block (src/engines/maths/conv2d.ts). */
export interface Conv2dLayerSpec {
  kind: 'conv2d';
  /** The shape of each input image (or of the maps of the block below). */
  input: MapShape;
  filters: number;
  /** Odd kernel size: 'same' padding is (kernel - 1) / 2 on every side. */
  kernel: number;
  /** Max pooling window and stride; 1 for none. */
  pool: number;
  activation: Activation;
  tau: number;
  margin: number;
  prototypesPerClass: number;
}

/** What an engine layer computes: a dense layer (LayerSpec, which has no kind) or a convolutional block. */
export type EngineLayerSpec = LayerSpec | Conv2dLayerSpec;

export function isConv2dSpec(spec: EngineLayerSpec): spec is Conv2dLayerSpec {
  return 'kind' in spec && spec.kind === 'conv2d';
}

/** Values per row a layer takes. */
export function inputWidth(spec: EngineLayerSpec): number {
  return isConv2dSpec(spec) ? spec.input.height * spec.input.width * spec.input.channels : spec.inputSize;
}

/** Width of z and of the prototypes: a dense layer's units, a convolutional block's filters (its pooled maps averaged). */
export function prototypeWidth(spec: EngineLayerSpec): number {
  return isConv2dSpec(spec) ? spec.filters : spec.units;
}

/** The shape of the maps a convolutional block passes up (after pooling). */
export function conv2dOutputShape(spec: Omit<Conv2dLayerSpec, 'kind'>): MapShape {
  return { height: Math.floor(spec.input.height / spec.pool), width: Math.floor(spec.input.width / spec.pool), channels: spec.filters };
}

/** Values per row a layer passes up: z for a dense layer, the pooled maps (flattened, unit rows) for a convolutional block. */
export function passedWidth(spec: EngineLayerSpec): number {
  if (!isConv2dSpec(spec)) return spec.units;
  const out = conv2dOutputShape(spec);
  return out.height * out.width * out.channels;
}

/** Rows of the weight matrix (its columns are prototypeWidth): a dense layer's inputs, a block's kernel taps x channels. */
export function weightRows(spec: EngineLayerSpec): number {
  return isConv2dSpec(spec) ? spec.kernel * spec.kernel * spec.input.channels : spec.inputSize;
}

export interface LayerParams {
  /** weightRows x prototypeWidth, row-major (a convolutional block's [kernel, kernel, channels, filters] kernel). */
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
  /** batch x prototypeWidth unit vectors. */
  z: Float32Array;
  /** batch x passedWidth unit rows, what the layer above takes: z itself for a dense layer. */
  output: Float32Array;
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
  /** This layer's z for the batch before the update. */
  z: Float32Array;
  /** What it passes up for the batch before the update, the (detached) input of the next layer: z for a dense layer. */
  output: Float32Array;
}

export interface EngineLayer {
  readonly spec: EngineLayerSpec;
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
  /**
   * batch x count dot products of each input row with each held row; the onnx engine computes them in int8 (within
   * about 1e-3 on unit rows) once the rows hold a million values or more (QUANTIZED_MATCHER_FROM).
   */
  dots(x: Float32Array, batch: number): Float32Array;
  dispose(): void;
}

export interface Engine {
  /** For example `tfjs-wasm`, `tfjs-node`, `tfjs-cpu`. */
  readonly name: string;
  createLayer(spec: EngineLayerSpec, params: LayerParams, optimizer: OptimizerSettings): EngineLayer;
  /**
   * One forward pass through a stack of this engine's layers, each fed the output of the one below. Only the outputs
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
