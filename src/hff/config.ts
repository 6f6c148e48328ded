import {
  type Activation,
  type EngineLayerSpec,
  type LayerDescription,
  type OptimizerSettings,
  type PrototypeUpdate,
  conv2dOutputShape,
  isConv2dSpec,
  passedWidth,
  prototypeWidth,
  unknownLayerKind,
  weightRows,
} from '../engines/types';
import { type FeatureStageConfig, checkFeatureStageSettings } from '../feature-stage/feature-stage';
import type { LearningRateSchedule } from './schedule';
import { type TeachingConfig, resolveTeaching } from './teaching';

export type Scoring = 'final' | 'sum';

/**
 * Training-time regularisation: random shifts (pixels; colour images also mirrored), turns (degrees) and resizing
 * (fraction), and dropout fractions.
 */
export interface Regularisation {
  shift: number;
  rotate: number;
  scale: number;
  inputDropout: number;
  hiddenDropout: number;
}

export type InputKind = 'grey' | 'colour' | 'vector';

/** What a network's input is, from its image shape (none: plain vectors). */
export function inputKind(inputShape: readonly number[] | undefined): InputKind {
  if (!inputShape) return 'vector';
  return inputShape[2] === 1 ? 'grey' : 'colour';
}

/** Everything that defines a network's shape and learning, as stored in the model file. */
export interface NetworkConfig {
  inputSize: number;
  /** Height, width, channels of image input, when the model was trained on images. */
  inputShape?: [number, number, number];
  /**
   * An image-to-vector ONNX network run before the first layer (src/feature-stage); the layers then take its
   * output, and `inputSize`/`inputShape` are the stage's images.
   */
  featureStage?: FeatureStageConfig;
  /**
   * The output width of each layer of `stack`, derived from it: what readers that only need sizes use (the taught
   * classes, fleet fingerprints, summaries). Model files store the stack under this name (see storedConfig).
   */
  layers: number[];
  /** The layers, bottom first: what each one is (LayerDescription). */
  stack: LayerDescription[];
  activation: Activation;
  /**
   * Subtract each input vector's mean before the first layer (and before normalizeInput): each image's brightness
   * and contrast then stop mattering. Default: true for colour images (inputShape with 3 channels), false otherwise;
   * model files written before this option read as false.
   */
  centerInput: boolean;
  /** L2-normalise the input of the first layer (later layers always receive unit vectors). */
  normalizeInput: boolean;
  tau: number;
  margin: number;
  prototypesPerClass: number;
  prototypeUpdate: PrototypeUpdate;
  /** EMA rate of prototype updates, in training with prototypeUpdate 'ema' and in teaching. */
  emaRate: number;
  optimizer: OptimizerSettings;
  scoring: Scoring;
  /** Best cosine similarity under this marks a prediction `known: false`. */
  unknownThreshold: number;
  seed: number;
  /** Few-shot teaching (augmentation, representations, margin); filled with defaults for old models. */
  teaching: TeachingConfig;
}

/** A layer as options give it: a width is short for a dense layer of that many units (`--layers 1000,1000`). */
export type LayerOption = number | LayerDescription;

export type NetworkOptions = Partial<Omit<NetworkConfig, 'layers' | 'stack' | 'optimizer' | 'teaching'>> & {
  inputSize: number;
  layers?: readonly LayerOption[];
  optimizer?: Partial<OptimizerSettings>;
  teaching?: Partial<TeachingConfig>;
};

/** The library's defaults; see README "Default hyper-parameters" for the runs they were chosen from. */
export const DEFAULTS = {
  layers: [1000, 1000, 1000],
  activation: 'relu' as Activation,
  normalizeInput: true,
  tau: 0.1,
  margin: 0,
  prototypesPerClass: 1,
  prototypeUpdate: 'gradient' as PrototypeUpdate,
  emaRate: 0.1,
  scoring: 'final' as Scoring,
  unknownThreshold: 0.3,
  seed: 1,
  batchSize: 128,
  epochs: 10,
  learningRateSchedule: 'cosine' as LearningRateSchedule,
  /**
   * Training regularisation by kind of input (bench/RESULTS.md, "Regularisation and input centring" and "Turns and
   * resizing"): on colour photographs (CIFAR-10) 2-pixel shifts with mirrors helped and dropout cost 6 points. On
   * grey images, 1-pixel shifts with turns of up to 10 degrees and resizing by up to 10% lift MNIST from 98.03% to
   * 98.9% but cost Fashion-MNIST 1.1 points (89.88 to 88.78%), so they are an option for handwriting
   * (`hff train --shift 1 --rotate 10 --scale 0.1 --epochs 30`), not the default; dropout helped MNIST a little on
   * its own and hurt with the turns. Plain vectors were not measured and get none.
   */
  regularisation: {
    grey: { shift: 0, rotate: 0, scale: 0, inputDropout: 0, hiddenDropout: 0 },
    colour: { shift: 2, rotate: 0, scale: 0, inputDropout: 0, hiddenDropout: 0 },
    vector: { shift: 0, rotate: 0, scale: 0, inputDropout: 0, hiddenDropout: 0 },
  } as Record<InputKind, Regularisation>,
  optimizer: {
    kind: 'adam',
    learningRate: 0.001,
    beta1: 0.9,
    beta2: 0.999,
    epsilon: 1e-8,
    momentum: 0.9,
    weightDecay: 0,
  } as OptimizerSettings,
};

function positiveInteger(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new Error(`${name} must be a positive integer, got ${JSON.stringify(value)}`);
  }
  return value;
}

function positiveNumber(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new Error(`${name} must be a positive number, got ${JSON.stringify(value)}`);
  }
  return value;
}

function nonNegativeNumber(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new Error(`${name} must be a number >= 0, got ${JSON.stringify(value)}`);
  }
  return value;
}

function oneOf<T extends string>(name: string, value: unknown, allowed: readonly T[]): T {
  if (!allowed.includes(value as T)) {
    throw new Error(`${name} must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`);
  }
  return value as T;
}

/**
 * The regularisation of a training run: the given fields, the others from DEFAULTS.regularisation for the kind of
 * input; checked.
 */
export function resolveRegularisation(inputShape: readonly number[] | undefined, given: Partial<Regularisation> = {}): Regularisation {
  const defaults = DEFAULTS.regularisation[inputKind(inputShape)];
  const shift = given.shift ?? defaults.shift;
  if (!(Number.isInteger(shift) && shift >= 0)) throw new Error(`shift must be a whole number of pixels >= 0, got ${shift}`);
  const rotate = given.rotate ?? defaults.rotate;
  if (!(rotate >= 0 && rotate <= 180)) throw new Error(`rotate must be in [0, 180] degrees, got ${rotate}`);
  const scale = given.scale ?? defaults.scale;
  if (!(scale >= 0 && scale < 1)) throw new Error(`scale must be in [0, 1), got ${scale}`);
  const dropout = (name: 'inputDropout' | 'hiddenDropout'): number => {
    const p = given[name] ?? defaults[name];
    if (!(p >= 0 && p < 1)) throw new Error(`${name} must be in [0, 1), got ${p}`);
    return p;
  };
  return { shift, rotate, scale, inputDropout: dropout('inputDropout'), hiddenDropout: dropout('hiddenDropout') };
}

/**
 * Most weights a stack of layers may hold (400 MB of float32). Far above any model this package trains, and
 * checked before anything is allocated, so a model file that declares absurd widths is refused at once.
 */
export const MAX_PARAMETERS = 100_000_000;

/** Width of what the first layer takes: the feature stage's output when there is one, else the input. */
export function stackInputSize(config: Pick<NetworkConfig, 'inputSize' | 'featureStage'>): number {
  return config.featureStage?.outputSize ?? config.inputSize;
}

/** A feature stage's settings from options or a model file, checked; it must have been opened (checksum, output size known). */
function featureStageConfig(value: unknown): FeatureStageConfig {
  const checked = checkFeatureStageSettings(value, 'featureStage');
  const { sha256, inputName, outputName, outputSize } = checked;
  if (sha256 === undefined || inputName === undefined || outputName === undefined || outputSize === undefined) {
    throw new Error('featureStage must be opened first (FeatureStage.open records its sha256, input and output names and output size)');
  }
  return { ...checked, sha256, inputName, outputName, outputSize };
}

/**
 * Width of a layer's z and of its prototypes: a dense layer's units, a convolutional block's filters. (What a block
 * passes up, its pooled maps, depends on its input's shape: see `passedWidth` of its layerSpec.)
 */
export function outputSize(layer: LayerDescription): number {
  switch (layer.kind) {
    case 'dense':
      return layer.units;
    case 'conv2d':
      return layer.filters;
    default:
      return unknownLayerKind(layer);
  }
}

/** Weights and biases of a layer (prototypes, which grow with the classes, aside). */
function parameterCount(spec: EngineLayerSpec): number {
  return (weightRows(spec) + 1) * prototypeWidth(spec);
}

function stackParameterCount(specs: readonly EngineLayerSpec[]): number {
  return specs.reduce((sum, spec) => sum + parameterCount(spec), 0);
}

function checkParameterCount(name: string, inputSize: number, specs: readonly EngineLayerSpec[]): void {
  const total = stackParameterCount(specs);
  if (total > MAX_PARAMETERS) {
    throw new Error(
      `${name} [${specs.map(prototypeWidth).join(', ')}] on an input of ${inputSize} would hold ${total.toExponential(2)} weights; at most ${MAX_PARAMETERS.toExponential(0)} are accepted`,
    );
  }
}

/** Per kind, the check of a layer description's fields (a kind missing here fails to compile). */
const LAYER_READERS: { [K in LayerDescription['kind']]: (name: string, fields: Record<string, unknown>) => Extract<LayerDescription, { kind: K }> } = {
  dense: (name, { kind: _kind, units, ...extra }) => {
    const unknown = Object.keys(extra);
    if (unknown.length > 0) throw new Error(`${name}: a dense layer has only kind and units, got ${unknown.join(', ')} too`);
    return { kind: 'dense', units: positiveInteger(`${name}.units`, units) };
  },
  conv2d: (name, { kind: _kind, filters, kernel, pool = 1, ...extra }) => {
    const unknown = Object.keys(extra);
    if (unknown.length > 0) throw new Error(`${name}: a conv2d layer has only kind, filters, kernel and pool, got ${unknown.join(', ')} too`);
    const k = positiveInteger(`${name}.kernel`, kernel);
    if (k % 2 === 0) throw new Error(`${name}.kernel must be odd ('same' padding is (kernel - 1) / 2 on each side), got ${k}`);
    return { kind: 'conv2d', filters: positiveInteger(`${name}.filters`, filters), kernel: k, pool: positiveInteger(`${name}.pool`, pool) };
  },
};

/** A layer of the options, checked: a width (a dense layer), or a description as model files store them. */
export function layerDescription(name: string, value: unknown): LayerDescription {
  if (typeof value === 'number') return { kind: 'dense', units: positiveInteger(name, value) };
  const kind = (value as { kind?: unknown } | null)?.kind;
  if (typeof value === 'object' && typeof kind === 'string' && Object.hasOwn(LAYER_READERS, kind)) {
    return LAYER_READERS[kind as LayerDescription['kind']](name, value as Record<string, unknown>);
  }
  throw new Error(
    `${name} must be a width (a positive integer) or a layer of kind ${Object.keys(LAYER_READERS).join(', ')} such as {"kind": "dense", "units": 1000}, got ${JSON.stringify(value)}`,
  );
}

const CONV_LAYER = /^c(\d+)k(\d+)(?:p(\d+))?$/;

/**
 * A layer stack written as text, as `hff train --layers` and the hff-model dialog take it: dense widths and
 * convolutional blocks c<filters>k<odd kernel>[p<pool>], separated by commas (or spaces); `c32k3p2,c64k3p2,256` is
 * two blocks of 3x3 kernels with 2x2 max pooling, then a dense layer of 256.
 */
export function parseLayerStack(text: string): LayerOption[] {
  const parts = text.trim().split(/[\s,]+/);
  return parts.map((part) => {
    if (/^\+?\d+$/.test(part) && Number(part) >= 1) return Number(part);
    const conv = CONV_LAYER.exec(part);
    if (conv && Number(conv[1]) >= 1 && Number(conv[2]) % 2 === 1 && (conv[3] === undefined || Number(conv[3]) >= 1)) {
      return { kind: 'conv2d', filters: Number(conv[1]), kernel: Number(conv[2]), pool: conv[3] === undefined ? 1 : Number(conv[3]) };
    }
    throw new Error(`'${part}' is not a layer: expected dense widths and convolutional blocks c<filters>k<odd kernel>[p<pool>], e.g. c32k3p2,c64k3p2,256`);
  });
}

/** A layer as parseLayerStack reads it: `1000`, `c32k3p2`. */
export function layerLabel(layer: LayerOption): string {
  if (typeof layer === 'number') return String(layer);
  return layer.kind === 'dense' ? String(layer.units) : `c${layer.filters}k${layer.kernel}${layer.pool > 1 ? `p${layer.pool}` : ''}`;
}

/** Fills defaults and validates; throws a message naming the first bad field. */
export function resolveConfig(options: NetworkOptions): NetworkConfig {
  const featureStage = options.featureStage === undefined ? undefined : featureStageConfig(options.featureStage);
  if (featureStage) {
    if (options.inputShape && options.inputShape.join('x') !== featureStage.inputShape.join('x')) {
      throw new Error(`inputShape ${options.inputShape.join('x')} differs from the feature stage's input ${featureStage.inputShape.join('x')}`);
    }
    options = { ...options, inputShape: featureStage.inputShape };
  }
  const layers = options.layers ?? DEFAULTS.layers;
  if (!Array.isArray(layers) || layers.length === 0) throw new Error('layers must list at least one layer width');
  const stack = layers.map((layer, i) => layerDescription(`layers[${i}]`, layer));
  const o = { ...DEFAULTS.optimizer, ...(options.optimizer ?? {}) };
  const representationContext = { layers: layers.length, inputShape: options.inputShape, featureStage: featureStage !== undefined };
  const config: NetworkConfig = {
    inputSize: positiveInteger('inputSize', options.inputSize),
    layers: stack.map(outputSize),
    stack,
    activation: oneOf('activation', options.activation ?? DEFAULTS.activation, ['relu', 'leaky-relu', 'tanh']),
    // On CIFAR-10 centring was worth 9 points; on grey digits it changed nothing, and flat grey inputs centre to zero.
    // A feature stage's vectors are not pixels: the reason (brightness) does not hold for them.
    centerInput: options.centerInput ?? (featureStage === undefined && options.inputShape !== undefined && options.inputShape[2] === 3),
    normalizeInput: options.normalizeInput ?? DEFAULTS.normalizeInput,
    tau: positiveNumber('tau', options.tau ?? DEFAULTS.tau),
    margin: nonNegativeNumber('margin', options.margin ?? DEFAULTS.margin),
    prototypesPerClass: positiveInteger('prototypesPerClass', options.prototypesPerClass ?? DEFAULTS.prototypesPerClass),
    prototypeUpdate: oneOf('prototypeUpdate', options.prototypeUpdate ?? DEFAULTS.prototypeUpdate, ['gradient', 'ema']),
    emaRate: positiveNumber('emaRate', options.emaRate ?? DEFAULTS.emaRate),
    optimizer: {
      kind: oneOf('optimizer.kind', o.kind, ['adam', 'sgd']),
      learningRate: positiveNumber('optimizer.learningRate', o.learningRate),
      beta1: nonNegativeNumber('optimizer.beta1', o.beta1),
      beta2: nonNegativeNumber('optimizer.beta2', o.beta2),
      epsilon: positiveNumber('optimizer.epsilon', o.epsilon),
      momentum: nonNegativeNumber('optimizer.momentum', o.momentum),
      weightDecay: nonNegativeNumber('optimizer.weightDecay', o.weightDecay),
    },
    scoring: oneOf('scoring', options.scoring ?? DEFAULTS.scoring, ['final', 'sum']),
    unknownThreshold: Number(options.unknownThreshold ?? DEFAULTS.unknownThreshold),
    seed: Math.floor(Number(options.seed ?? DEFAULTS.seed)),
    teaching: resolveTeaching(options.teaching, representationContext),
  };
  if (featureStage) config.featureStage = featureStage;
  if (options.inputShape) {
    const [h, w, c] = options.inputShape;
    if (h * w * c !== config.inputSize) {
      throw new Error(`inputShape ${options.inputShape.join('x')} does not match inputSize ${config.inputSize}`);
    }
    config.inputShape = [h, w, c];
  }
  checkParameterCount('layers', stackInputSize(config), layerSpecs(config));
  const transferSpecs = () =>
    config.teaching.transferLayers.map((units, i, all) => ({
      ...denseSpec(config, i === 0 ? stackInputSize(config) : all[i - 1], units),
      normalizeInput: false,
    }));
  // The default random branch is dense on the raw input: on large images (224x224x3 = 150,528 values) its first
  // layer alone would pass the weight limit, so such models go without it unless teaching.transferLayers asks.
  if (options.teaching?.transferLayers === undefined && stackParameterCount(transferSpecs()) > MAX_PARAMETERS) {
    config.teaching = resolveTeaching({ ...options.teaching, transferLayers: [] }, representationContext);
  }
  checkParameterCount('teaching.transferLayers', stackInputSize(config), transferSpecs());
  if (config.emaRate > 1) throw new Error(`emaRate must be in (0, 1], got ${config.emaRate}`);
  if (!(config.unknownThreshold >= -1 && config.unknownThreshold <= 1)) {
    throw new Error(`unknownThreshold must be a cosine between -1 and 1, got ${options.unknownThreshold}`);
  }
  if (!Number.isFinite(config.seed)) throw new Error(`seed must be a number, got ${JSON.stringify(options.seed)}`);
  return config;
}

function denseSpec(config: NetworkConfig, inputSize: number, units: number): EngineLayerSpec {
  return {
    inputSize,
    units,
    activation: config.activation,
    normalizeInput: false,
    tau: config.tau,
    margin: config.margin,
    prototypesPerClass: config.prototypesPerClass,
  };
}

/**
 * What the engine computes for each layer of a network, bottom first. The first layer alone centres and normalises
 * its input (a dense one; a convolutional block takes the images as they are); a layer above takes what the one
 * below passes up. A convolutional block takes images (config.inputShape, without a feature stage) or the maps of
 * the block below, so it cannot sit above a dense layer.
 */
export function layerSpecs(config: NetworkConfig): EngineLayerSpec[] {
  const specs: EngineLayerSpec[] = [];
  for (const [index, layer] of config.stack.entries()) {
    const below = specs[index - 1];
    switch (layer.kind) {
      case 'dense':
        specs.push({
          ...denseSpec(config, below ? passedWidth(below) : stackInputSize(config), layer.units),
          centerInput: index === 0 && config.centerInput,
          normalizeInput: index === 0 ? config.normalizeInput : false,
        });
        break;
      case 'conv2d': {
        const where = `layers[${index}] (conv2d)`;
        let input;
        if (below) {
          if (!isConv2dSpec(below)) throw new Error(`${where} must sit on images or on another conv2d layer, not on a dense layer`);
          input = conv2dOutputShape(below);
        } else {
          if (config.featureStage) throw new Error(`${where} takes images, but the network's feature stage gives vectors`);
          if (!config.inputShape) throw new Error(`${where} takes images: give the input's shape (inputShape, height x width x channels)`);
          const [height, width, channels] = config.inputShape;
          input = { height, width, channels };
        }
        if (layer.pool > Math.min(input.height, input.width)) {
          throw new Error(`${where}: pool ${layer.pool} is larger than its ${input.height}x${input.width} input maps`);
        }
        specs.push({
          kind: 'conv2d',
          input,
          filters: layer.filters,
          kernel: layer.kernel,
          pool: layer.pool,
          activation: config.activation,
          tau: config.tau,
          margin: config.margin,
          prototypesPerClass: config.prototypesPerClass,
        });
        break;
      }
      default:
        return unknownLayerKind(layer);
    }
  }
  return specs;
}

/** What the engine computes for layer `index` of a network (see layerSpecs). */
export function layerSpec(config: NetworkConfig, index: number): EngineLayerSpec {
  return layerSpecs(config)[index];
}
