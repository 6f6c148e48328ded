/**
 * Few-shot teaching helpers of HffNetwork: augmentation of demonstrations, the fixed random-feature "transfer"
 * branch, and the leave-one-out choice of the representation that ranks taught classes among themselves.
 * See bench/TEACH.md for the measurements behind the defaults.
 */
import type { Engine, EngineLayer, LayerSpec, OptimizerSettings } from '../engines/types';
import { SeededRandom } from './random';
import { normalizeInPlace, randomUnitRows } from './vectors';

export type TeachAugment = 'auto' | 'none';

/** How taught classes are imprinted and scored; stored in the model's config (every field has a default). */
export interface TeachingConfig {
  /**
   * 'auto': with a known image shape, each demonstration is imprinted together with shifted copies (one pixel in
   * the 8 directions; for colour images also a horizontal flip and flipped 2-pixel shifts). 'none': as given.
   */
  augment: TeachAugment;
  /** Widths of a fixed, untrained random ReLU branch (regenerated from `transferSeed`, never stored); [] disables it. */
  transferLayers: number[];
  transferSeed: number;
  /**
   * The random branch subtracts each input's mean first (as models with `centerInput` do anyway): on
   * Fashion-MNIST its taught classes gained 1.6 points. Model files from before it existed keep false.
   */
  transferCenterInput: boolean;
  /** The random branch ranks taught classes only if its leave-one-out score beats the best trained layer's by this. */
  transferPreference: number;
  /**
   * Calibration of taught against trained classes: a taught class wins only when the input's advantage (its
   * similarity to the class minus its best similarity to a trained class) exceeds `calibration` times the mean
   * advantage of the class's own demonstrations, plus `margin` (cosine units). 0 and 0: the uncalibrated rule.
   */
  calibration: number;
  margin: number;
  /**
   * The fraction of the trained classes' inputs that taught classes may take, all taught classes together. When the
   * model keeps a reference sample of its training inputs (trainNetwork stores one), each taught class's offset is
   * set on that sample so that it takes at most its share of them, instead of by `calibration` and `margin`.
   */
  maxTrainedLoss: number;
  /** Demonstrations kept per taught class (inputs, in the model file) to re-derive prototypes and choose a representation. */
  keepDemos: number;
}

export const TEACHING_DEFAULTS: TeachingConfig = {
  augment: 'auto',
  transferLayers: [1000, 1000, 1000],
  transferSeed: 7919,
  transferCenterInput: true,
  transferPreference: 0.05,
  calibration: 0.4,
  margin: 0,
  maxTrainedLoss: 0.005,
  keepDemos: 20,
};

/** Which representation ranks taught classes among themselves: a trained layer's cosines, or the random branch's. */
/** 'layers': the sum of every trained layer's cosines; 'trained': one layer's; 'transfer': the random branch's. */
export type TeachSelection = { kind: 'layers' } | { kind: 'trained'; layer: number } | { kind: 'transfer' };

export function resolveTeaching(options: Partial<TeachingConfig> | undefined): TeachingConfig {
  const o = { ...TEACHING_DEFAULTS, ...(options ?? {}) };
  if (o.augment !== 'auto' && o.augment !== 'none') throw new Error(`teaching.augment must be 'auto' or 'none', got ${JSON.stringify(o.augment)}`);
  if (!Array.isArray(o.transferLayers) || o.transferLayers.some((w) => !Number.isInteger(w) || w < 1)) {
    throw new Error(`teaching.transferLayers must list positive integer widths, got ${JSON.stringify(o.transferLayers)}`);
  }
  if (typeof o.transferCenterInput !== 'boolean') throw new Error(`teaching.transferCenterInput must be true or false, got ${JSON.stringify(o.transferCenterInput)}`);
  for (const key of ['transferPreference', 'calibration', 'margin'] as const) {
    if (typeof o[key] !== 'number' || !Number.isFinite(o[key])) throw new Error(`teaching.${key} must be a number, got ${JSON.stringify(o[key])}`);
  }
  if (typeof o.maxTrainedLoss !== 'number' || !(o.maxTrainedLoss >= 0 && o.maxTrainedLoss < 1)) {
    throw new Error(`teaching.maxTrainedLoss must be a fraction in [0, 1), got ${JSON.stringify(o.maxTrainedLoss)}`);
  }
  if (!Number.isInteger(o.keepDemos) || o.keepDemos < 1) throw new Error(`teaching.keepDemos must be a positive integer, got ${JSON.stringify(o.keepDemos)}`);
  return { ...o, transferLayers: [...o.transferLayers], transferSeed: Math.floor(Number(o.transferSeed)) };
}

/** [dx, dy, flip] of the augmented copies; the first is the demonstration itself. */
export function augmentOffsets(channels: number): [number, number, number][] {
  const shifts: [number, number, number][] = [
    [0, 0, 0], [1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [1, 1, 0], [-1, -1, 0], [1, -1, 0], [-1, 1, 0],
  ];
  if (channels === 1) return shifts;
  return [[0, 0, 0], [0, 0, 1], [1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [2, 0, 1], [-2, 0, 1], [0, 2, 1], [0, -2, 1]];
}

/** Shifted and optionally mirrored copy of one HWC image; pixels shifted in take the value `fill`. */
export function shiftImage(img: ArrayLike<number>, h: number, w: number, c: number, dx: number, dy: number, flip: boolean, fill = 0): Float32Array {
  const out = new Float32Array(h * w * c);
  if (fill !== 0) out.fill(fill);
  for (let y = 0; y < h; y++) {
    const sy = y - dy;
    if (sy < 0 || sy >= h) continue;
    for (let x = 0; x < w; x++) {
      let sx = x - dx;
      if (flip) sx = w - 1 - sx;
      if (sx < 0 || sx >= w) continue;
      for (let k = 0; k < c; k++) out[(y * w + x) * c + k] = img[(sy * w + sx) * c + k];
    }
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
  const offsets = augmentOffsets(c);
  const data = new Float32Array(n * offsets.length * size);
  for (let i = 0; i < n; i++) {
    const img = x.subarray(i * size, (i + 1) * size);
    offsets.forEach(([dx, dy, flip], j) => data.set(shiftImage(img, h, w, c, dx, dy, flip === 1), (i * offsets.length + j) * size));
  }
  return { data, copies: offsets.length };
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
      const spec: LayerSpec = { inputSize: size, units, activation: 'relu', centerInput: i === 0 && input.centerInput, normalizeInput: i === 0 && input.normalizeInput, tau: 1, margin: 0, prototypesPerClass: 1 };
      size = units;
      return engine.createLayer(spec, { weight, bias: new Float32Array(units), prototypes: randomUnitRows(1, units, gaussian) }, optimizer);
    });
  }

  get units(): number {
    return this.layers[this.layers.length - 1].spec.units;
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

/**
 * Leave-one-demonstration-out score of a representation: for each demonstration, the softmax (of the class
 * cosines standardised across classes) of its own class, with prototypes rebuilt without it (nor its augmented
 * copies). `features` holds, per demonstration in order, `copies` unit rows of width `dim`; the first copy is the
 * demonstration itself. Undefined when fewer than two classes can be scored.
 */
export function leaveOneOutScore(features: Float32Array, dim: number, demoClass: number[], copies: number): number | undefined {
  const classes = [...new Set(demoClass)];
  if (classes.length < 2) return undefined;
  const sums = new Map<number, Float64Array>();
  const rows = new Map<number, number>();
  demoClass.forEach((c, d) => {
    const s = sums.get(c) ?? new Float64Array(dim);
    for (let r = 0; r < copies; r++) {
      const o = (d * copies + r) * dim;
      for (let j = 0; j < dim; j++) s[j] += features[o + j];
    }
    sums.set(c, s);
    rows.set(c, (rows.get(c) ?? 0) + copies);
  });
  let total = 0;
  let counted = 0;
  const proto = new Float32Array(dim);
  demoClass.forEach((own, d) => {
    const q = features.subarray(d * copies * dim, (d * copies + 1) * dim);
    // With one demonstration in its class, only the demonstration itself is held out (its copies stay).
    const holdAll = (rows.get(own) as number) > copies;
    if (!holdAll && copies === 1) return;
    const scores: number[] = [];
    let ownScore = 0;
    for (const c of classes) {
      const s = sums.get(c) as Float64Array;
      for (let j = 0; j < dim; j++) proto[j] = s[j];
      if (c === own) {
        const from = holdAll ? 0 : 0;
        const to = holdAll ? copies : 1;
        for (let r = from; r < to; r++) {
          const o = (d * copies + r) * dim;
          for (let j = 0; j < dim; j++) proto[j] -= features[o + j];
        }
      }
      normalizeInPlace(proto);
      let dot = 0;
      for (let j = 0; j < dim; j++) dot += q[j] * proto[j];
      scores.push(dot);
      if (c === own) ownScore = dot;
    }
    const mean = scores.reduce((a, b) => a + b, 0) / scores.length;
    const sd = Math.sqrt(scores.reduce((a, b) => a + (b - mean) * (b - mean), 0) / scores.length) || 1;
    const exps = scores.map((v) => Math.exp(((v - mean) / sd) * 2));
    total += Math.exp(((ownScore - mean) / sd) * 2) / exps.reduce((a, b) => a + b, 0);
    counted += 1;
  });
  return counted > 0 ? total / counted : undefined;
}
