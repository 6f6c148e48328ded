import { DEFAULTS, resolveRegularisation } from './config';
import type { HffNetwork, PredictOptions } from './network';
import { SeededRandom } from './random';
import { type LearningRateSchedule, checkSchedule, withSchedule } from './schedule';
import { shiftImage, warpImage } from '../image/warp';

/** Labelled vectors in one row-major block, the shape every dataset reader returns. */
export interface LabelledData {
  n: number;
  inputSize: number;
  images: Float32Array;
  labels: Int32Array;
}

export interface TrainProgress {
  epoch: number;
  epochs: number;
  batch: number;
  batches: number;
  /** Mean final-layer loss and accuracy over the batches of this epoch so far. */
  loss: number;
  accuracy: number;
  elapsedMs: number;
  etaMs: number;
}

export interface EpochSummary {
  epoch: number;
  loss: number;
  accuracy: number;
  seconds: number;
}

export interface TrainOptions {
  epochs?: number;
  batchSize?: number;
  /** Shuffle seed; defaults to the network's seed. */
  seed?: number;
  onProgress?: (progress: TrainProgress) => void;
  /** Called at most this often (ms); the last batch of each epoch always reports. */
  progressIntervalMs?: number;
  signal?: AbortSignal;
  /** 'cosine' (default) decays the learning rate towards 0 over the run; 'constant' keeps it. */
  learningRateSchedule?: LearningRateSchedule;
  /**
   * Random shifts of every training image by up to this many pixels (zero-filled), redrawn at every step, with
   * colour images also mirrored left-right half of the time. Needs the model's inputShape (ignored without one).
   * Defaults for this and the dropouts: DEFAULTS.regularisation for the model's kind of input.
   */
  shift?: number;
  /** Random turns of every training image by up to this many degrees (bilinear); needs inputShape like `shift`. */
  rotate?: number;
  /** Random resizing of every training image by a factor in [1 - scale, 1 + scale]; needs inputShape. */
  scale?: number;
  /** Fraction of each layer's input values zeroed at random in training (the input image for the first layer). */
  inputDropout?: number;
  hiddenDropout?: number;
}

export interface TrainSummary {
  epochs: EpochSummary[];
  cancelled: boolean;
}

export function gatherRows(data: LabelledData, order: Int32Array, start: number, count: number): { x: Float32Array; y: Int32Array } {
  const size = data.inputSize;
  const x = new Float32Array(count * size);
  const y = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const r = order[start + i];
    x.set(data.images.subarray(r * size, (r + 1) * size), i * size);
    y[i] = data.labels[r];
  }
  return { x, y };
}

function checkData(network: HffNetwork, data: LabelledData): void {
  if (data.inputSize !== network.inputSize) {
    throw new Error(`the data has vectors of length ${data.inputSize} but the model takes ${network.inputSize}`);
  }
  if (data.n < 1) throw new Error('no training examples');
  for (let i = 0; i < data.n; i++) {
    const label = data.labels[i];
    if (!(label >= 0 && label < network.classes.length)) {
      throw new Error(`example ${i} has label ${label}, outside the model's classes 0..${network.classes.length - 1}`);
    }
  }
}

/** The random geometry of training images: pixels of shift, and at most this many degrees / this fraction of scale. */
export interface TrainingGeometry {
  shift: number;
  rotate: number;
  scale: number;
}

/** The image geometry of a training run's regularisation (its dropout left out). */
export function geometryOf({ shift, rotate, scale }: TrainingGeometry): TrainingGeometry {
  return { shift, rotate, scale };
}

/** Whether training with this geometry changes the images at all (and so draws random numbers for them). */
export function changesImages(geometry: TrainingGeometry): boolean {
  return geometry.shift > 0 || geometry.rotate > 0 || geometry.scale > 0;
}

/**
 * Replaces each image of the batch by a copy shifted by a random offset of up to `shift` pixels in each direction,
 * mirrored left-right with probability 1/2 when it has colour channels (digits and other grey symbols change
 * meaning in a mirror; photographs of objects do not), and, when `rotate` or `scale` is set, turned by a random
 * angle in [-rotate, rotate] degrees and resized by a random factor in [1 - scale, 1 + scale] about its centre
 * (bilinear sampling). Pixels brought in from outside are blank as the model sees them: 0, or the image's mean value
 * for a model that centres its input (which then sees 0 there too).
 */
export function augmentBatchInPlace(
  x: Float32Array,
  count: number,
  shape: [number, number, number],
  geometry: TrainingGeometry,
  random: SeededRandom,
  fill: 'zero' | 'mean' = 'zero',
): void {
  const [h, w, c] = shape;
  const size = h * w * c;
  const { shift, rotate, scale } = geometry;
  const warps = rotate > 0 || scale > 0;
  for (let i = 0; i < count; i++) {
    const dx = random.int(2 * shift + 1) - shift;
    const dy = random.int(2 * shift + 1) - shift;
    const mirror = c > 1 && random.next() < 0.5;
    // Drawn only when asked for, so that shift-only runs replay the random sequence they always had.
    const angle = warps ? ((2 * random.next() - 1) * rotate * Math.PI) / 180 : 0;
    const factor = warps ? 1 + (2 * random.next() - 1) * scale : 1;
    if (dx === 0 && dy === 0 && !mirror && angle === 0 && factor === 1) continue;
    const image = x.subarray(i * size, (i + 1) * size);
    let background = 0;
    if (fill === 'mean') {
      for (let j = 0; j < size; j++) background += image[j];
      background /= size;
    }
    image.set(
      warps ? warpImage(image, h, w, c, { dx, dy, flip: mirror, angle, scale: factor }, background) : shiftImage(image, h, w, c, dx, dy, mirror, background),
    );
  }
}

/** Lets pending I/O and timers run between chunks of training or evaluation. */
export const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/** One mini-batch of a training run: rows gathered from the data in the epoch's shuffled order. */
export interface TrainingBatch {
  x: Float32Array;
  y: Int32Array;
  count: number;
  epoch: number;
  /** 0-based index of the batch within its epoch. */
  index: number;
}

export interface BatchRun {
  data: LabelledData;
  epochs?: number;
  batchSize?: number;
  random: SeededRandom;
  schedule?: LearningRateSchedule;
  /** Settings whose learningRate follows the schedule, step by step. */
  optimizer: { learningRate: number };
  signal?: AbortSignal;
}

/** Epochs and batch size of a run (defaults filled, the batch capped at the number of examples), checked. */
export function batchPlan(n: number, epochsOption?: number, batchSizeOption?: number): { epochs: number; batchSize: number; batches: number } {
  const epochs = epochsOption ?? DEFAULTS.epochs;
  const batchSize = Math.min(batchSizeOption ?? DEFAULTS.batchSize, n);
  if (!(Number.isInteger(epochs) && epochs >= 1)) throw new Error(`epochs must be a positive integer, got ${epochs}`);
  if (!(Number.isInteger(batchSize) && batchSize >= 1)) throw new Error(`batchSize must be a positive integer, got ${batchSize}`);
  return { epochs, batchSize, batches: Math.ceil(n / batchSize) };
}

/**
 * The mini-batch loop of `trainNetwork` and of the baselines' `trainEpochs`, so that every method sees the same
 * batches: per epoch a fresh permutation drawn from `random`, batches gathered in that order, the learning rate
 * stepped along the schedule (and put back afterwards), and the event loop let in after every batch so that a
 * hosting runtime stays responsive and `signal` can stop the run before the next batch. Resolves false when stopped.
 */
export async function runBatches(
  run: BatchRun,
  on: { epochStart?: (epoch: number) => void; batch: (batch: TrainingBatch) => void; epochEnd?: (epoch: number) => void },
): Promise<boolean> {
  const { data, random } = run;
  const { epochs, batchSize, batches } = batchPlan(data.n, run.epochs, run.batchSize);
  const schedule = checkSchedule(run.schedule ?? DEFAULTS.learningRateSchedule);
  return withSchedule(run.optimizer, schedule, epochs * batches, async (setStep) => {
    for (let epoch = 1; epoch <= epochs; epoch++) {
      const order = random.permutation(data.n);
      on.epochStart?.(epoch);
      for (let index = 0; index < batches; index++) {
        if (run.signal?.aborted) return false;
        const start = index * batchSize;
        const count = Math.min(batchSize, data.n - start);
        const { x, y } = gatherRows(data, order, start, count);
        setStep((epoch - 1) * batches + index);
        on.batch({ x, y, count, epoch, index });
        await yieldToEventLoop();
      }
      on.epochEnd?.(epoch);
    }
    return true;
  });
}

/**
 * Trains every layer on its local loss, all in the same forward pass, shuffling each epoch with a seeded
 * generator (runBatches: the run stays responsive and can be cancelled through `signal`).
 */
export async function trainNetwork(network: HffNetwork, data: LabelledData, options: TrainOptions = {}): Promise<TrainSummary> {
  checkData(network, data);
  if (network.classes.length < 2) {
    // The softmax over one class has no gradient: there is nothing to learn from.
    throw new Error(`training needs at least two classes; the model has ${network.classes.length}`);
  }
  const { epochs, batchSize, batches } = batchPlan(data.n, options.epochs, options.batchSize);
  const random = new SeededRandom(options.seed ?? network.config.seed);
  const interval = options.progressIntervalMs ?? 250;
  const schedule = checkSchedule(options.learningRateSchedule ?? DEFAULTS.learningRateSchedule);
  const shape = network.config.inputShape;
  const regularisation = resolveRegularisation(shape, options);
  const geometry = geometryOf(regularisation);
  const augments = changesImages(geometry);
  const dropout = { input: regularisation.inputDropout, hidden: regularisation.hiddenDropout, random };
  const summary: TrainSummary = { epochs: [], cancelled: false };
  const started = Date.now();
  let epochStart = 0;
  let lossSum = 0;
  let correct = 0;
  let seen = 0;
  let lastReport = 0;
  const completed = await runBatches(
    { data, epochs, batchSize, random, schedule, optimizer: network.config.optimizer, signal: options.signal },
    {
      epochStart: () => {
        epochStart = Date.now();
        lossSum = 0;
        correct = 0;
        seen = 0;
        lastReport = 0;
      },
      batch: ({ x, y, count, epoch, index }) => {
        if (shape && augments) augmentBatchInPlace(x, count, shape, geometry, random, network.config.centerInput ? 'mean' : 'zero');
        const r = network.trainBatch(x, count, y, dropout);
        lossSum += r.losses[r.losses.length - 1] * count;
        correct += r.correct;
        seen += count;
        const now = Date.now();
        if (options.onProgress && (now - lastReport >= interval || index === batches - 1)) {
          lastReport = now;
          const done = (epoch - 1) * batches + index + 1;
          const elapsed = now - started;
          options.onProgress({
            epoch,
            epochs,
            batch: index + 1,
            batches,
            loss: lossSum / seen,
            accuracy: correct / seen,
            elapsedMs: elapsed,
            etaMs: (elapsed / done) * (epochs * batches - done),
          });
        }
      },
      epochEnd: (epoch) => {
        summary.epochs.push({ epoch, loss: lossSum / seen, accuracy: correct / seen, seconds: (Date.now() - epochStart) / 1000 });
      },
    },
  );
  summary.cancelled = !completed;
  if (completed) keepTrainedReference(network, data);
  return summary;
}

/**
 * Training inputs kept as the model's trained-input reference (HffNetwork.setTrainedReference), which a taught class
 * must be nearer than: 1% of 512 is 5 inputs for teaching.maxTrainedLoss, and 512 inputs of 784 values are 1.6 MB.
 */
export const TRAINED_REFERENCE_SAMPLES = 512;

/** Keeps up to TRAINED_REFERENCE_SAMPLES rows of `data` as the network's trained-input reference. */
export function keepTrainedReference(network: HffNetwork, data: LabelledData): void {
  // Spread over the whole set, so that every class is in the sample whatever the order of the data.
  const samples = Math.min(data.n, TRAINED_REFERENCE_SAMPLES);
  const order = Int32Array.from({ length: samples }, (_, i) => Math.floor((i * data.n) / samples));
  network.setTrainedReference(gatherRows(data, order, 0, samples).x, samples);
}

export interface Evaluation {
  accuracy: number;
  n: number;
  correct: number;
  /** Accuracy per class index (NaN where a class has no examples). */
  perClass: number[];
  /** Fraction of inputs whose best similarity fell under the unknown threshold. */
  unknownRate: number;
}

/** Test accuracy by single-pass prediction. */
export async function evaluateNetwork(network: HffNetwork, data: LabelledData, options: PredictOptions & { batchSize?: number } = {}): Promise<Evaluation> {
  checkData(network, data);
  const batchSize = options.batchSize ?? 500;
  const k = network.classes.length;
  const hits = new Array<number>(k).fill(0);
  const totals = new Array<number>(k).fill(0);
  let correct = 0;
  let unknown = 0;
  const order = Int32Array.from({ length: data.n }, (_, i) => i);
  for (let start = 0; start < data.n; start += batchSize) {
    const count = Math.min(batchSize, data.n - start);
    const { x, y } = gatherRows(data, order, start, count);
    const predictions = network.predict(x, count, options);
    predictions.forEach((p, i) => {
      totals[y[i]] += 1;
      if (!p.known) unknown += 1;
      if (p.index === y[i]) {
        correct += 1;
        hits[y[i]] += 1;
      }
    });
    await yieldToEventLoop();
  }
  return {
    accuracy: correct / data.n,
    n: data.n,
    correct,
    perClass: hits.map((h, c) => (totals[c] ? h / totals[c] : NaN)),
    unknownRate: unknown / data.n,
  };
}
