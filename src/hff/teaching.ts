/**
 * Few-shot teaching settings and helpers: augmentation of demonstrations and the fixed random-feature "transfer"
 * branch. The taught classes themselves are src/hff/taught-classes.ts. See bench/TEACH.md for the measurements.
 */
import { type Engine, type EngineLayer, type LayerSpec, type OptimizerSettings, prototypeWidth } from '../engines/types';
import { SeededRandom } from './random';
import { shiftImage, warpImage } from '../image/warp';
import { randomUnitRows } from './vectors';

export type TeachAugment = 'auto' | 'none';

/**
 * A representation in which taught classes are compared with their demonstrations: 'input' (the input itself,
 * L2-normalised), 'transfer' (a fixed random ReLU branch), 'layers' (every trained layer together: the mean of their
 * cosines), 'layer:N' (one trained layer), 'features' (the model's feature stage, when it has one), and for images
 * 'colour' (hue-saturation-brightness histogram, colour images only), 'edges' (oriented-gradient histograms; see
 * src/image/features.ts) and 'layers+edges' (the mean of the two cosines).
 */
export type Representation = 'input' | 'transfer' | 'layers' | `layer:${number}` | 'features' | ImageFeature | 'layers+edges';

/** What decides which representations a model has. */
export interface RepresentationContext {
  /** Number of trained layers. */
  layers: number;
  inputShape?: readonly number[];
  featureStage: boolean;
}
export type ImageFeature = 'colour' | 'edges';

/** How taught classes are imprinted and scored; stored in the model's config (every field has a default). */
export interface TeachingConfig {
  /**
   * 'auto': with a known image shape, each demonstration is used together with copies of it moved by a pixel or two,
   * turned a little, and for colour images also mirrored and made lighter or darker. 'none': as given.
   */
  augment: TeachAugment;
  /** Widths of a fixed, untrained random ReLU branch (regenerated from `transferSeed`, never stored); [] disables it. */
  transferLayers: number[];
  transferSeed: number;
  /**
   * The random branch subtracts each input's mean first (as models with `centerInput` do anyway). Model files from
   * before it existed keep false.
   */
  transferCenterInput: boolean;
  /** 'auto': chosen after every teach by leave-one-demonstration-out; else always this one. */
  representation: 'auto' | Representation;
  /**
   * A taught class takes an input when the input is nearer (by at least this many cosine units) to one of its
   * demonstrations than to every kept training input of the trained classes. Above 0 protects the trained classes more.
   */
  margin: number;
  /**
   * The fraction of the kept training inputs that the taught classes together may take, each judged against the
   * others (leave one out): where more of them would be nearer a demonstration than to every other kept input, the
   * margin rises until no more are. It stands for the trained classes' accuracy that teaching may cost.
   */
  maxTrainedLoss: number;
  /** Demonstrations kept per taught class; past it, the most redundant one (closest to another) is dropped. */
  keepDemos: number;
  /** Prototypes per taught class in the representation: one per demonstration (its copies' mean), merged by k-means past this. */
  prototypes: number;
}

export const TEACHING_DEFAULTS: TeachingConfig = {
  augment: 'auto',
  transferLayers: [1000, 1000, 1000],
  transferSeed: 7919,
  transferCenterInput: true,
  representation: 'auto',
  margin: 0,
  maxTrainedLoss: 0.01,
  keepDemos: 50,
  prototypes: 16,
};

/** Settings of earlier teaching rules that model files may still carry; they no longer mean anything. */
const RETIRED_KEYS = ['calibration', 'transferPreference'];

/** The image features that suit inputs of this shape: none for plain vectors, 'colour' only with 3 channels. */
export function imageFeatures(shape: readonly number[] | undefined): ImageFeature[] {
  if (!shape) return [];
  return shape[2] === 3 ? ['colour', 'edges'] : ['edges'];
}

/** The representations that only image models have: their image features, and the trained layers with edges. */
function imageRepresentations(shape: readonly number[] | undefined): Representation[] {
  const features = imageFeatures(shape);
  return features.length > 0 ? [...features, 'layers+edges'] : [];
}

/** Whether `value` names a representation that a model like this has. */
export function isRepresentation(value: unknown, model: RepresentationContext): value is Representation {
  if (value === 'input' || value === 'transfer' || value === 'layers') return true;
  if (value === 'features') return model.featureStage;
  if (value === 'colour' || value === 'edges' || value === 'layers+edges') return imageRepresentations(model.inputShape).includes(value);
  const m = typeof value === 'string' ? /^layer:(\d+)$/.exec(value) : null;
  return m !== null && Number(m[1]) < model.layers;
}

export function resolveTeaching(options: Partial<TeachingConfig> | undefined, model: RepresentationContext): TeachingConfig {
  const o = { ...TEACHING_DEFAULTS, ...(options ?? {}) } as TeachingConfig & Record<string, unknown>;
  for (const key of RETIRED_KEYS) delete o[key];
  if (o.augment !== 'auto' && o.augment !== 'none') throw new Error(`teaching.augment must be 'auto' or 'none', got ${JSON.stringify(o.augment)}`);
  if (!Array.isArray(o.transferLayers) || o.transferLayers.length > 8 || o.transferLayers.some((w) => !Number.isInteger(w) || w < 1 || w > 65536)) {
    throw new Error(`teaching.transferLayers must list at most 8 integer widths from 1 to 65536, got ${JSON.stringify(o.transferLayers)}`);
  }
  if (typeof o.transferCenterInput !== 'boolean')
    throw new Error(`teaching.transferCenterInput must be true or false, got ${JSON.stringify(o.transferCenterInput)}`);
  if (o.representation !== 'auto' && !isRepresentation(o.representation, model)) {
    const features = [...(model.featureStage ? ['features'] : []), ...imageRepresentations(model.inputShape)].map((f) => `'${f}', `).join('');
    throw new Error(
      `teaching.representation must be 'auto', 'input', 'transfer', ${features}'layers' or 'layer:N' with N below ${model.layers}, got ${JSON.stringify(o.representation)}`,
    );
  }
  if (o.representation === 'transfer' && o.transferLayers.length === 0) throw new Error("teaching.representation 'transfer' needs teaching.transferLayers");
  if (typeof o.margin !== 'number' || !Number.isFinite(o.margin) || Math.abs(o.margin) > 2)
    throw new Error(`teaching.margin must be a number from -2 to 2, got ${JSON.stringify(o.margin)}`);
  if (typeof o.maxTrainedLoss !== 'number' || !(o.maxTrainedLoss >= 0 && o.maxTrainedLoss < 1)) {
    throw new Error(`teaching.maxTrainedLoss must be a fraction in [0, 1), got ${JSON.stringify(o.maxTrainedLoss)}`);
  }
  for (const key of ['keepDemos', 'prototypes'] as const) {
    if (!Number.isInteger(o[key]) || o[key] < 1 || o[key] > 1000)
      throw new Error(`teaching.${key} must be an integer from 1 to 1000, got ${JSON.stringify(o[key])}`);
  }
  return { ...o, transferLayers: [...o.transferLayers], transferSeed: Math.floor(Number(o.transferSeed)) };
}

/** One augmented copy: moved by (dx, dy) pixels, mirrored, turned by `angle` degrees, brightness as value^gamma. */
export interface DemoCopy {
  dx: number;
  dy: number;
  flip: boolean;
  angle: number;
  gamma: number;
}

/**
 * The augmented copies of a demonstration; the first is the demonstration itself. Grey images (digits, symbols)
 * are never mirrored; colour photographs of objects are, and also made lighter and darker.
 */
export function augmentCopies(channels: number): DemoCopy[] {
  const copy = (dx: number, dy: number, flip = false, angle = 0, gamma = 1): DemoCopy => ({ dx, dy, flip, angle, gamma });
  if (channels === 1) {
    return [
      copy(0, 0),
      copy(1, 0),
      copy(-1, 0),
      copy(0, 1),
      copy(0, -1),
      copy(1, 1),
      copy(-1, -1),
      copy(1, -1),
      copy(-1, 1),
      copy(0, 0, false, 8),
      copy(0, 0, false, -8),
    ];
  }
  return [
    copy(0, 0),
    copy(0, 0, true),
    copy(2, 0),
    copy(-2, 0),
    copy(0, 2),
    copy(0, -2),
    copy(2, 0, true),
    copy(-2, 0, true),
    copy(0, 0, false, 10),
    copy(0, 0, true, -10),
    copy(0, 0, false, 0, 0.7),
    copy(0, 0, true, 0, 1.4),
  ];
}

function applyCopy(img: Float32Array, h: number, w: number, c: number, k: DemoCopy): Float32Array {
  if (k.dx === 0 && k.dy === 0 && !k.flip && k.angle === 0 && k.gamma === 1) return img;
  let out =
    k.angle === 0
      ? shiftImage(img, h, w, c, k.dx, k.dy, k.flip)
      : warpImage(img, h, w, c, { dx: k.dx, dy: k.dy, flip: k.flip, angle: (k.angle * Math.PI) / 180, scale: 1 });
  if (k.gamma !== 1) {
    if (out === img) out = Float32Array.from(img);
    for (let i = 0; i < out.length; i++) out[i] = out[i] > 0 ? Math.pow(out[i], k.gamma) : out[i];
  }
  return out;
}

/** Each of the n examples followed by its augmented copies (copies per example in `copies`). */
export function augmentDemonstrations(
  x: Float32Array,
  n: number,
  shape: [number, number, number] | undefined,
  augment: TeachAugment,
): { data: Float32Array; copies: number } {
  if (augment === 'none' || !shape) return { data: x, copies: 1 };
  const [h, w, c] = shape;
  const size = h * w * c;
  const copies = augmentCopies(c);
  const data = new Float32Array(n * copies.length * size);
  for (let i = 0; i < n; i++) {
    const img = x.subarray(i * size, (i + 1) * size);
    copies.forEach((k, j) => data.set(applyCopy(img, h, w, c, k), (i * copies.length + j) * size));
  }
  return { data, copies: copies.length };
}

/** The fixed random ReLU layers (He initialisation from a seed): generic features that the base classes did not shape. */
export class TransferBranch {
  private readonly layers: EngineLayer[];

  constructor(
    engine: Engine,
    inputSize: number,
    widths: number[],
    seed: number,
    input: Pick<LayerSpec, 'centerInput' | 'normalizeInput'>,
    optimizer: OptimizerSettings,
  ) {
    const random = new SeededRandom(seed);
    const gaussian = () => random.gaussian();
    let size = inputSize;
    this.layers = widths.map((units, i) => {
      const scale = Math.sqrt(2 / size);
      const weight = new Float32Array(size * units);
      for (let j = 0; j < weight.length; j++) weight[j] = gaussian() * scale;
      const spec: LayerSpec = {
        inputSize: size,
        units,
        activation: 'relu',
        centerInput: i === 0 && input.centerInput,
        normalizeInput: i === 0 && input.normalizeInput,
        tau: 1,
        margin: 0,
        prototypesPerClass: 1,
      };
      size = units;
      return engine.createLayer(spec, { weight, bias: new Float32Array(units), prototypes: randomUnitRows(1, units, gaussian) }, optimizer);
    });
  }

  get units(): number {
    return prototypeWidth(this.layers[this.layers.length - 1].spec);
  }

  /** Unit feature rows (batch x units) of the last random layer. */
  features(x: Float32Array, batch: number): Float32Array {
    let input = x;
    for (const layer of this.layers) input = layer.forward(input, batch).z;
    return input;
  }

  dispose(): void {
    this.layers.forEach((l) => l.dispose());
  }
}
