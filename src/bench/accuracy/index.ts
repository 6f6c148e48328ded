/**
 * `hff bench`: trains HFF, vanilla Forward-Forward and a same-size backprop network (an MLP, or a CNN for
 * convolutional blocks) on the same data, in the same order, on the same backend, and reports test accuracy,
 * training time per epoch and inference latency per image at batch 1 and 64, with 10 classes and with a 100-class head (random prototypes / weights: only the time
 * matters there), which shows HFF's single pass against FF's one pass per class.
 */
import * as os from 'node:os';
import { type BackpropOptions, BackpropNetwork } from '../../baselines/backprop';
import { OnnxBackpropNetwork } from '../../baselines/backprop-onnx';
import { type BatchTrainable, evaluateIndices, trainEpochs } from '../../baselines/common';
import { FF_DEFAULTS, ForwardForwardNetwork } from '../../baselines/forward-forward';
import { createEngine, selectBackend } from '../../engines/backend';
import type { Engine } from '../../engines/types';
import { ONNX_ENGINE_NAME, OnnxEngine } from '../../engines/onnx/onnx-engine';
import { loadDataset } from '../../datasets/load';
import type { Dataset } from '../../datasets/types';
import { DEFAULTS, type LayerOption, type Regularisation, layerDescription, layerLabel, resolveRegularisation } from '../../hff/config';
import { HffNetwork } from '../../hff/network';
import { type LearningRateSchedule, checkSchedule } from '../../hff/schedule';
import { evaluateNetwork, geometryOf, trainNetwork } from '../../hff/training';
import { median } from '../statistics';

export type BenchMethod = 'hff' | 'ff' | 'bp';
export const BENCH_METHODS: readonly BenchMethod[] = ['hff', 'ff', 'bp'];
export type BenchDataset = 'mnist' | 'fashion-mnist' | 'cifar10';
export const BENCH_DATASETS: readonly BenchDataset[] = ['mnist', 'fashion-mnist', 'cifar10'];

/** Train / test sizes of `quick` mode (and its single epoch). */
export const QUICK = { train: 5000, test: 1000, epochs: 1 };

export interface BenchOptions {
  dataset: BenchDataset;
  /** Folder of the dataset (IDX files for mnist / fashion-mnist; binary batches or image folders for cifar10). */
  data: string;
  methods: string[];
  epochs: number;
  /**
   * Hidden layers of every method, bottom first: dense widths, and convolutional blocks (HFF and backprop only;
   * see parseLayerStack); default the HFF default widths.
   */
  layers?: LayerOption[];
  /** Use the first `limit` training images (IDX order; class-interleaved for image folders) and limit/5 test images. */
  limit?: number;
  /** 5000 train / 1000 test images, one epoch, fewer timing repetitions: the CI smoke test (< 2 minutes). */
  quick: boolean;
  /** Print one JSON object per method per line on stdout (the markdown table then goes to stderr). */
  json: boolean;
  batchSize?: number;
  /** Learning rate of every method (they share the HFF optimiser settings); default the library's. */
  learningRate?: number;
  /** Learning rate over each method's run (default: the library's, cosine), the same for every method. */
  learningRateSchedule?: LearningRateSchedule;
  /**
   * Compute backend: auto (default; $HFF_BACKEND when set), tfjs-node, wasm, cpu or onnx. Every method runs on the
   * same tfjs backend (auto: tfjs-node when it loads, else wasm), except with onnx, where HFF and backprop run on
   * onnxruntime and Forward-Forward, which is tfjs-only, on the auto tfjs backend (each JSON line names its backend).
   */
  backend?: string;
  /**
   * Training regularisation, field by field (default: the library's for the kind of images). Its image geometry
   * (shift, rotate, scale) changes every method's training images alike; its dropout is HFF's only.
   */
  regularisation?: Partial<Regularisation>;
  /** Programmatic extras, not on the command line. */
  /** Hidden widths of the FF baseline when they must differ from `layers` (reported in its `layers`). */
  ffLayers?: number[];
  /** Number of test images (default: all, or limit/5 with `limit`, or 1000 with `quick`). */
  testLimit?: number;
  /** Shuffle / initialisation seed shared by every method; default the library's. */
  seed?: number;
  /**
   * Repetitions of the batch-1 and batch-64 timing calls (defaults 200 and 10; quick 10 and 2). With 50 batch-1
   * calls the FF / HFF ratio of idle runs ranged from 6.2x to 10.6x; 200 narrow the median.
   */
  timingReps?: { b1: number; b64: number };
  /** Where JSON lines / the table go (default stdout) and where progress goes (default stderr). */
  write?: (text: string) => void;
  log?: (text: string) => void;
}

export interface BenchResult {
  method: BenchMethod;
  dataset: BenchDataset;
  /** Test accuracy, a fraction in [0, 1]. */
  accuracy: number;
  train_s_per_epoch: number;
  /** Milliseconds per image, median over repeated calls, 10-class model. */
  infer_ms_b1: number;
  infer_ms_b64: number;
  /** The same with a 100-class head. */
  infer_ms_b1_100: number;
  infer_ms_b64_100: number;
  backend: string;
  epochs: number;
  n_train: number;
  n_test: number;
  layers: LayerOption[];
  batch_size: number;
  learning_rate: number;
  seed: number;
  quick: boolean;
  /** Method-specific settings (for example FF's threshold), for the record. */
  settings: Record<string, unknown>;
}

/** Every key of the JSON line, in order. */
export const RESULT_KEYS: readonly (keyof BenchResult)[] = [
  'method',
  'dataset',
  'accuracy',
  'train_s_per_epoch',
  'infer_ms_b1',
  'infer_ms_b64',
  'infer_ms_b1_100',
  'infer_ms_b64_100',
  'backend',
  'epochs',
  'n_train',
  'n_test',
  'layers',
  'batch_size',
  'learning_rate',
  'seed',
  'quick',
  'settings',
];

/** What one method's model must offer to be trained, scored and timed. */
interface Trained {
  trainSeconds: number[];
  accuracy: number;
  predict: (x: Float32Array, batch: number) => unknown;
  dispose: () => void;
}

interface MethodRunner {
  train(train: Dataset, test: Dataset): Promise<Trained>;
  /** An untrained model of the same shape with 100 classes, for the latency figure. */
  hundredClass(data: Dataset): { predict: PredictFn; dispose: () => void };
  layers: LayerOption[];
  settings: Record<string, unknown>;
}

interface Resolved {
  dataset: BenchDataset;
  data: string;
  methods: BenchMethod[];
  epochs: number;
  layers: LayerOption[];
  ffLayers: number[];
  trainLimit?: number;
  testLimit?: number;
  quick: boolean;
  json: boolean;
  batchSize: number;
  learningRate: number;
  learningRateSchedule: LearningRateSchedule;
  backend?: string;
  regularisation: Partial<Regularisation>;
  seed: number;
  timingReps: { b1: number; b64: number };
  write: (text: string) => void;
  log: (text: string) => void;
}

function positiveInteger(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new Error(`bench: ${name} must be a positive integer, got ${JSON.stringify(value)}`);
  }
  return value;
}

function widths(name: string, value: unknown): number[] {
  if (!Array.isArray(value) || value.length === 0) throw new Error(`bench: ${name} must list at least one layer width`);
  return value.map((w, i) => positiveInteger(`${name}[${i}]`, w));
}

function layerStack(value: unknown): LayerOption[] {
  if (!Array.isArray(value) || value.length === 0) throw new Error('bench: layers must list at least one layer');
  return value.map((layer, i) => {
    const checked = layerDescription(`bench: layers[${i}]`, layer);
    return checked.kind === 'dense' ? checked.units : checked;
  });
}

export function resolveBenchOptions(options: BenchOptions): Resolved {
  if (options === null || typeof options !== 'object') throw new Error('bench: options must be an object');
  if (!BENCH_DATASETS.includes(options.dataset)) {
    throw new Error(`bench: unknown dataset ${JSON.stringify(options.dataset)}; choose one of ${BENCH_DATASETS.join(', ')}`);
  }
  if (typeof options.data !== 'string' || options.data === '') throw new Error('bench: data must be the folder of the dataset');
  const methodList = Array.isArray(options.methods) ? options.methods : [];
  const methods: BenchMethod[] = [];
  for (const raw of methodList) {
    const m = String(raw).trim().toLowerCase();
    if (!(BENCH_METHODS as readonly string[]).includes(m)) {
      throw new Error(`bench: unknown method ${JSON.stringify(raw)}; choose from ${BENCH_METHODS.join(', ')}`);
    }
    if (!methods.includes(m as BenchMethod)) methods.push(m as BenchMethod);
  }
  if (methods.length === 0) throw new Error(`bench: methods must name at least one of ${BENCH_METHODS.join(', ')}`);
  const quick = Boolean(options.quick);
  const epochs = quick ? QUICK.epochs : positiveInteger('epochs', options.epochs);
  const layers = options.layers === undefined ? [...DEFAULTS.layers] : layerStack(options.layers);
  const denseLayers = layers.filter((l): l is number => typeof l === 'number');
  if (methods.includes('ff') && options.ffLayers === undefined && denseLayers.length < layers.length) {
    throw new Error(
      `bench: vanilla Forward-Forward (ff) has dense layers only, not the convolutional blocks of ${layers.map(layerLabel).join(',')}; ` +
        'compare convolutional networks with methods hff,bp',
    );
  }
  const ffLayers = options.ffLayers === undefined ? denseLayers : widths('ffLayers', options.ffLayers);
  let trainLimit: number | undefined;
  let testLimit: number | undefined;
  if (options.limit !== undefined) {
    trainLimit = positiveInteger('limit', options.limit);
    testLimit = Math.max(1, Math.ceil(trainLimit / 5));
  }
  if (quick) {
    trainLimit = Math.min(trainLimit ?? QUICK.train, QUICK.train);
    testLimit = Math.min(testLimit ?? QUICK.test, QUICK.test);
  }
  if (options.testLimit !== undefined) testLimit = positiveInteger('testLimit', options.testLimit);
  const batchSize = options.batchSize === undefined ? DEFAULTS.batchSize : positiveInteger('batchSize', options.batchSize);
  const learningRate = options.learningRate ?? DEFAULTS.optimizer.learningRate;
  if (typeof learningRate !== 'number' || !(learningRate > 0) || !Number.isFinite(learningRate)) {
    throw new Error(`bench: learningRate must be a positive number, got ${JSON.stringify(options.learningRate)}`);
  }
  const learningRateSchedule = checkSchedule(options.learningRateSchedule ?? DEFAULTS.learningRateSchedule);
  const seed = options.seed ?? DEFAULTS.seed;
  if (!Number.isInteger(seed)) throw new Error(`bench: seed must be an integer, got ${JSON.stringify(seed)}`);
  const timingReps = options.timingReps ?? (quick ? { b1: 10, b64: 2 } : { b1: 200, b64: 10 });
  positiveInteger('timingReps.b1', timingReps.b1);
  positiveInteger('timingReps.b64', timingReps.b64);
  return {
    dataset: options.dataset,
    data: options.data,
    methods,
    epochs,
    layers,
    ffLayers,
    trainLimit,
    testLimit,
    quick,
    json: Boolean(options.json),
    batchSize,
    learningRate,
    learningRateSchedule,
    backend: options.backend,
    regularisation: { ...(options.regularisation ?? {}) },
    seed,
    timingReps,
    write: options.write ?? ((text) => process.stdout.write(text)),
    log: options.log ?? ((text) => process.stderr.write(text)),
  };
}

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

type PredictFn = (x: Float32Array, batch: number) => unknown;

/**
 * Consecutive calls of one model between turns when timing. A single-pass model needs several calls to get its
 * weights back into cache after another model ran (784-1000-1000-1000 HFF, median ms per image with FF and the MLP
 * taking turns: 2.36 in blocks of 1, 1.53 in blocks of 5, 1.09 in blocks of 20, 1.0 alone), while FF's one call is
 * ten passes that warm it up themselves; blocks of 5 (the earlier setting) still timed HFF and the MLP half cold.
 */
export const TIMING_BLOCK = 20;

/** Minimum warm-up time per model before timing. */
export const WARMUP_MS = 1000;

/**
 * Milliseconds per image for several models measured in turn: per model, the median over up to `reps` calls of
 * `predict` on `batch` rows (distinct test rows per call, cycling), after at least `warmup` calls and `warmupMs`
 * (default WARMUP_MS) of calls per model (right after training, the process is still settling: its single-image times stayed up to twice
 * the steady ones for the first seconds, which a fixed two-call warm-up did not absorb). The models take turns
 * in blocks of TIMING_BLOCK consecutive calls: turns spread the load of other processes over all of them alike,
 * and blocks time each model as a camera stream uses it, frame after frame with its weights in cache (single
 * calls in strict alternation would time every model with the previous model's weights in cache). A model stops
 * being timed, after at least min(5, reps) calls, once its calls have taken `budgetMs` in total.
 */
export async function timePerImage(
  models: Record<string, PredictFn>,
  images: Float32Array,
  n: number,
  inputSize: number,
  batch: number,
  reps: number,
  budgetMs = 30000,
  warmup = 2,
  warmupMs = WARMUP_MS,
): Promise<Record<string, number>> {
  const inputs: Float32Array[] = [];
  for (let r = 0; r < Math.min(reps, 16); r++) {
    const x = new Float32Array(batch * inputSize);
    for (let b = 0; b < batch; b++) {
      const row = (r * batch + b) % n;
      x.set(images.subarray(row * inputSize, (row + 1) * inputSize), b * inputSize);
    }
    inputs.push(x);
  }
  const names = Object.keys(models);
  for (const name of names) {
    const until = performance.now() + warmupMs;
    for (let w = 0; w < warmup || performance.now() < until; w++) models[name](inputs[w % inputs.length], batch);
  }
  const times: Record<string, number[]> = {};
  const spent: Record<string, number> = {};
  for (const name of names) {
    times[name] = [];
    spent[name] = 0;
  }
  for (let start = 0; start < reps; start += TIMING_BLOCK) {
    for (const name of names) {
      for (let r = start; r < Math.min(start + TIMING_BLOCK, reps); r++) {
        if (times[name].length >= Math.min(5, reps) && spent[name] > budgetMs) break;
        const t0 = performance.now();
        models[name](inputs[r % inputs.length], batch);
        const ms = performance.now() - t0;
        times[name].push(ms);
        spent[name] += ms;
      }
    }
    await yieldToEventLoop();
  }
  const out: Record<string, number> = {};
  for (const name of names) out[name] = median(times[name]) / batch;
  return out;
}

function mean(values: number[]): number {
  return values.length ? values.reduce((a, b) => a + b, 0) / values.length : NaN;
}

function imageShape(data: Dataset): [number, number, number] {
  return [data.height, data.width, data.channels];
}

function classNames(k: number): string[] {
  return Array.from({ length: k }, (_, i) => `c${i}`);
}

function runners(r: Resolved, engine: Engine, classes: string[]): Record<BenchMethod, () => MethodRunner> {
  const optimizer = { ...DEFAULTS.optimizer, learningRate: r.learningRate };
  const epochLog = (method: string) => (e: { epoch: number; epochs: number; loss: number; seconds: number }) =>
    r.log(`[${method}] epoch ${e.epoch}/${e.epochs}: loss ${e.loss.toFixed(4)}, ${e.seconds.toFixed(1)} s\n`);
  /** Trains a baseline network and scores it on the test split; the network is freed if either fails. */
  const trainBaseline = async (
    net: BatchTrainable & { predict(x: Float32Array, batch: number): Int32Array; dispose(): void },
    method: BenchMethod,
    train: Dataset,
    test: Dataset,
    settings: Record<string, unknown>,
  ): Promise<Trained> => {
    try {
      const shape = imageShape(train);
      const geometry = geometryOf(resolveRegularisation(shape, r.regularisation));
      settings.augmentation = geometry;
      const summary = await trainEpochs(net, train, {
        epochs: r.epochs,
        batchSize: r.batchSize,
        seed: r.seed,
        learningRateSchedule: r.learningRateSchedule,
        onEpoch: epochLog(method),
        augment: { shape, geometry },
      });
      const evaluation = await evaluateIndices((x, b) => net.predict(x, b), test);
      return {
        trainSeconds: summary.epochs.map((e) => e.seconds),
        accuracy: evaluation.accuracy,
        predict: (x, b) => net.predict(x, b),
        dispose: () => net.dispose(),
      };
    } catch (err) {
      net.dispose();
      throw err;
    }
  };
  // On the onnx engine the backprop baseline runs on onnxruntime too (its tfjs form is 20-50 times slower for CNNs on wasm).
  const backprop = (options: BackpropOptions) =>
    engine instanceof OnnxEngine ? OnnxBackpropNetwork.create(options, { threads: engine.threads }) : BackpropNetwork.create(options);
  return {
    hff: () => ({
      layers: r.layers,
      settings: {
        tau: DEFAULTS.tau,
        activation: DEFAULTS.activation,
        // Set from the created network: the library's default depends on the images (on for colour).
        centerInput: undefined as boolean | undefined,
        normalizeInput: DEFAULTS.normalizeInput,
        // Set from the data: the library's defaults depend on the kind of images.
        regularisation: undefined as Regularisation | undefined,
        prototypesPerClass: DEFAULTS.prototypesPerClass,
        scoring: DEFAULTS.scoring,
        optimizer: optimizer.kind,
      },
      async train(train, test) {
        const inputShape = imageShape(train);
        const net = HffNetwork.create(engine, { inputSize: train.inputSize, inputShape, layers: r.layers, seed: r.seed, optimizer }, classes);
        this.settings.centerInput = net.config.centerInput;
        const regularisation = resolveRegularisation(inputShape, r.regularisation);
        this.settings.regularisation = regularisation;
        try {
          const summary = await trainNetwork(net, train, {
            epochs: r.epochs,
            batchSize: r.batchSize,
            seed: r.seed,
            learningRateSchedule: r.learningRateSchedule,
            ...regularisation,
            progressIntervalMs: 60000,
            onProgress: (p) => {
              if (p.batch === p.batches) {
                r.log(`[hff] epoch ${p.epoch}/${p.epochs}: loss ${p.loss.toFixed(4)}, train acc ${(100 * p.accuracy).toFixed(2)}%\n`);
              }
            },
          });
          const evaluation = await evaluateNetwork(net, test);
          return {
            trainSeconds: summary.epochs.map((e) => e.seconds),
            accuracy: evaluation.accuracy,
            predict: (x, b) => net.predict(x, b),
            dispose: () => net.dispose(),
          };
        } catch (err) {
          net.dispose();
          throw err;
        }
      },
      hundredClass(data) {
        const net = HffNetwork.create(
          engine,
          { inputSize: data.inputSize, inputShape: imageShape(data), layers: r.layers, seed: r.seed, optimizer },
          classNames(100),
        );
        return { predict: (x, b) => net.predict(x, b), dispose: () => net.dispose() };
      },
    }),
    ff: () => ({
      layers: r.ffLayers,
      settings: {
        threshold: FF_DEFAULTS.threshold,
        sharpness: FF_DEFAULTS.sharpness,
        labelValue: FF_DEFAULTS.labelValue,
        scoreFromLayer: FF_DEFAULTS.scoreFromLayer,
        negatives: 'uniform-wrong-label',
        optimizer: optimizer.kind,
      },
      train(train, test) {
        return trainBaseline(
          ForwardForwardNetwork.create({ inputSize: train.inputSize, classes: classes.length, layers: r.ffLayers, seed: r.seed, optimizer }),
          'ff',
          train,
          test,
          this.settings,
        );
      },
      hundredClass(data) {
        const net = ForwardForwardNetwork.create({ inputSize: data.inputSize, classes: 100, layers: r.ffLayers, seed: r.seed, optimizer });
        return { predict: (x, b) => net.predict(x, b), dispose: () => net.dispose() };
      },
    }),
    bp: () => ({
      layers: r.layers,
      settings: {
        head: r.layers.some((l) => typeof l !== 'number') ? 'linear-softmax on the last pooled maps, flattened' : 'linear-softmax',
        optimizer: optimizer.kind,
      },
      train(train, test) {
        return trainBaseline(
          backprop({ inputSize: train.inputSize, inputShape: imageShape(train), classes: classes.length, layers: r.layers, seed: r.seed, optimizer }),
          'bp',
          train,
          test,
          this.settings,
        );
      },
      hundredClass(data) {
        const net = backprop({ inputSize: data.inputSize, inputShape: imageShape(data), classes: 100, layers: r.layers, seed: r.seed, optimizer });
        return { predict: (x, b) => net.predict(x, b), dispose: () => net.dispose() };
      },
    }),
  };
}

/** Loads the data, then trains, scores and times every method in turn. Progress goes to `log`. */
/** tfjs-node when it loads, else wasm; returns the engine name. */
async function autoTfjs(): Promise<string> {
  try {
    return await selectBackend('tfjs-node');
  } catch {
    return selectBackend('wasm');
  }
}

/**
 * The HFF engine and the tfjs backend of the baselines: the same backend for all methods unless onnx is asked
 * for (then backprop runs on onnxruntime too, and Forward-Forward, which exists for tfjs only, on tfjs). Never
 * picks onnx by itself, so that the default run compares like with like.
 */
export async function resolveBenchBackends(choice?: string): Promise<{ engine: Engine; baselineBackend: string }> {
  const env = process.env.HFF_BACKEND;
  const requested = choice && choice !== 'auto' ? choice : env && env !== 'auto' ? env : 'auto';
  if (requested === 'onnx') {
    const engine = await createEngine('onnx');
    return { engine, baselineBackend: await autoTfjs() };
  }
  const name = requested === 'auto' ? await autoTfjs() : await selectBackend(requested);
  const engine = await createEngine(name === 'tfjs-node' ? 'tfjs-node' : name.replace(/^tfjs-/, ''));
  return { engine, baselineBackend: engine.name };
}

export async function benchmark(options: BenchOptions): Promise<BenchResult[]> {
  const r = resolveBenchOptions(options);
  const { engine, baselineBackend } = await resolveBenchBackends(r.backend);
  const backendOf = (method: BenchMethod) => (method === 'hff' || (method === 'bp' && engine.name === ONNX_ENGINE_NAME) ? engine.name : baselineBackend);
  r.log(
    `bench: ${r.dataset} from ${r.data}, methods ${r.methods.join(',')}, ${r.epochs} epoch(s), layers ${r.layers.map(layerLabel).join('-')}, ` +
      `backend ${engine.name}${baselineBackend !== engine.name && r.methods.includes('ff') ? ` (HFF and backprop; forward-forward on ${baselineBackend})` : ''}\n`,
  );
  const loadStart = Date.now();
  const train = await loadDataset({ name: r.dataset, dir: r.data, split: 'train', limit: r.trainLimit });
  const test = await loadDataset({ name: r.dataset, dir: r.data, split: 'test', limit: r.testLimit });
  r.log(`bench: loaded ${train.n} train / ${test.n} test images of ${train.inputSize} values in ${((Date.now() - loadStart) / 1000).toFixed(1)} s\n`);
  if (r.methods.includes('ff') && train.inputSize <= 100) {
    throw new Error(`bench: the 100-class FF timing writes the label into the first 100 inputs; ${r.dataset} has only ${train.inputSize}`);
  }
  const make = runners(r, engine, [...train.classes]);
  const done: { method: BenchMethod; runner: MethodRunner; trained: Trained }[] = [];
  const hundred: Record<string, { predict: PredictFn; dispose: () => void }> = {};
  try {
    for (const method of r.methods) {
      const runner = make[method]();
      r.log(`[${method}] training ${r.epochs} epoch(s) on ${train.n} images, layers ${runner.layers.map(layerLabel).join('-')}\n`);
      const trained = await runner.train(train, test);
      done.push({ method, runner, trained });
      r.log(`[${method}] test accuracy ${(100 * trained.accuracy).toFixed(2)}%, ` + `${mean(trained.trainSeconds).toFixed(1)} s per training epoch\n`);
    }
    // Latency last, all models in turn, so that every method is timed under the same machine load.
    for (const d of done) hundred[d.method] = d.runner.hundredClass(test);
    const tenClass = Object.fromEntries(done.map((d) => [d.method, d.trained.predict]));
    const hundredClass = Object.fromEntries(done.map((d) => [d.method, hundred[d.method].predict]));
    r.log(`bench: timing inference (batch 1 and 64, 10 and 100 classes)\n`);
    const timing = {
      b1: await timePerImage(tenClass, test.images, test.n, test.inputSize, 1, r.timingReps.b1),
      b64: await timePerImage(tenClass, test.images, test.n, test.inputSize, 64, r.timingReps.b64, 30000, 1),
      b1h: await timePerImage(hundredClass, test.images, test.n, test.inputSize, 1, r.timingReps.b1),
      b64h: await timePerImage(hundredClass, test.images, test.n, test.inputSize, 64, r.timingReps.b64, 30000, 1),
    };
    return done.map(({ method, runner, trained }) => ({
      method,
      dataset: r.dataset,
      accuracy: round(trained.accuracy, 6),
      train_s_per_epoch: round(mean(trained.trainSeconds), 3),
      infer_ms_b1: round(timing.b1[method], 4),
      infer_ms_b64: round(timing.b64[method], 4),
      infer_ms_b1_100: round(timing.b1h[method], 4),
      infer_ms_b64_100: round(timing.b64h[method], 4),
      backend: backendOf(method),
      epochs: r.epochs,
      n_train: train.n,
      n_test: test.n,
      layers: runner.layers,
      batch_size: r.batchSize,
      learning_rate: r.learningRate,
      lr_schedule: r.learningRateSchedule,
      seed: r.seed,
      quick: r.quick,
      settings: runner.settings,
    }));
  } finally {
    done.forEach((d) => d.trained.dispose());
    Object.values(hundred).forEach((h) => h.dispose());
  }
}

function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

const METHOD_NAMES: Record<BenchMethod, string> = {
  hff: 'HFF (single pass)',
  ff: 'Forward-Forward (one pass per class)',
  bp: 'Backprop MLP',
};

function methodName(x: BenchResult): string {
  return x.method === 'bp' && x.layers.some((l) => typeof l !== 'number') ? 'Backprop CNN' : METHOD_NAMES[x.method];
}

/** The results as a markdown table plus the FF/HFF latency ratios when both ran. */
export function formatTable(results: BenchResult[]): string {
  const lines = [
    '| method | layers | test accuracy | train s/epoch | ms/img b1 | ms/img b64 | ms/img b1, 100 cl. | ms/img b64, 100 cl. |',
    '|---|---|---:|---:|---:|---:|---:|---:|',
  ];
  const fmt = (v: number) => (v >= 100 ? v.toFixed(1) : v >= 1 ? v.toFixed(2) : v.toFixed(3));
  for (const x of results) {
    lines.push(
      `| ${methodName(x)} | ${x.layers.map(layerLabel).join('-')} | ${(100 * x.accuracy).toFixed(2)}% | ${x.train_s_per_epoch.toFixed(1)} | ` +
        `${fmt(x.infer_ms_b1)} | ${fmt(x.infer_ms_b64)} | ${fmt(x.infer_ms_b1_100)} | ${fmt(x.infer_ms_b64_100)} |`,
    );
  }
  const hff = results.find((x) => x.method === 'hff');
  const ff = results.find((x) => x.method === 'ff');
  const bp = results.find((x) => x.method === 'bp');
  const notes: string[] = [];
  if (hff && ff) {
    const ratio = (a: number, b: number) => (a / b).toFixed(1);
    notes.push(
      `FF / HFF single-image latency: ${ratio(ff.infer_ms_b1, hff.infer_ms_b1)}x with 10 classes, ` +
        `${ratio(ff.infer_ms_b1_100, hff.infer_ms_b1_100)}x with 100 classes ` +
        `(batch 64: ${ratio(ff.infer_ms_b64, hff.infer_ms_b64)}x and ${ratio(ff.infer_ms_b64_100, hff.infer_ms_b64_100)}x).`,
    );
    notes.push(`HFF - FF accuracy: ${(100 * (hff.accuracy - ff.accuracy)).toFixed(2)} points.`);
  }
  if (hff && bp) notes.push(`HFF - backprop accuracy: ${(100 * (hff.accuracy - bp.accuracy)).toFixed(2)} points.`);
  return lines.join('\n') + '\n' + (notes.length ? '\n' + notes.join('\n') + '\n' : '');
}

/** One line describing the run's setting, for the table's caption. */
export function describeRun(results: BenchResult[]): string {
  const x = results[0];
  if (!x) return '';
  const cpus = os.cpus();
  const backends = [...new Set(results.map((y) => y.backend))];
  const backend = backends.length === 1 ? `backend ${backends[0]}` : `backends ${results.map((y) => `${y.method} ${y.backend}`).join(', ')}`;
  return (
    `${x.dataset}: ${x.n_train} train / ${x.n_test} test images, ${x.epochs} epoch(s), batch ${x.batch_size}, ` +
    `learning rate ${x.learning_rate}, seed ${x.seed}${x.quick ? ', quick' : ''}; ${backend}; ` +
    `${cpus[0]?.model ?? 'unknown CPU'} x ${cpus.length}; ${new Date().toISOString()}`
  );
}

/**
 * The `hff bench` command: runs the benchmark and prints, with `json`, one JSON object per method per line on
 * stdout (as each method finishes) and the markdown table on stderr; otherwise the table on stdout. Progress
 * always goes to stderr.
 */
export async function runBench(options: BenchOptions): Promise<void> {
  const write = options.write ?? ((text: string) => process.stdout.write(text));
  const log = options.log ?? ((text: string) => process.stderr.write(text));
  const results = await benchmark({ ...options, write, log });
  if (options.json) for (const result of results) write(JSON.stringify(result) + '\n');
  const table = `\n${describeRun(results)}\n\n${formatTable(results)}`;
  if (options.json) log(table);
  else write(table);
}
