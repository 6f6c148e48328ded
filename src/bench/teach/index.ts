/**
 * `hff bench-teach`: the few-shot class-incremental benchmark. Trains (or loads) a base model on the base classes,
 * teaches every other class from a few random training images through `HffNetwork.teach` (the code path of
 * `hff teach` and the hff-teach node), and reports the taught classes' accuracy among ALL classes (the headline: what
 * a robot asked "what is this?" answers), among the taught classes only, the trained classes' accuracy before and
 * after, raw-pixel baselines on the same shots (nearest class mean, nearest demonstration), teaching time, and the
 * prediction time with 100 taught classes; mean and spread over the shot draws.
 */
import { createEngine } from '../../engines/backend';
import type { Engine } from '../../engines/types';
import { loadDataset } from '../../datasets/load';
import type { Dataset, DatasetName } from '../../datasets/types';
import { type InputKind, inputKind } from '../../hff/config';
import type { TeachingConfig } from '../../hff/teaching';
import type { FeatureStageOptions } from '../../feature-stage/feature-stage';
import { HffNetwork, type Prediction } from '../../hff/network';
import { loadNetwork, saveNetwork } from '../../hff/persistence';
import { SeededRandom } from '../../hff/random';
import { keepTrainedReference, trainNetwork } from '../../hff/training';
import type { ModelFiles } from '../../model-file';
import { augmentDemonstrations } from '../../hff/teaching';
import { auroc, bestThreshold, meanAndStd, rawNearestDemonstrationAccuracy, rawNearestMeanAccuracy } from './metrics';
import { median } from '../statistics';

export { auroc, bestThreshold, meanAndStd, rawNearestDemonstrationAccuracy, rawNearestMeanAccuracy } from './metrics';

/**
 * Epochs of the base model when none are given, by kind of input. On CIFAR-10 its layers transfer better the longer
 * it trains (5-shot taught classes 0.471 after 2 epochs, 0.505 after 15, 0.518 after 30; raw pixels 0.395). Grey
 * images stay at 2: after 30 epochs the models fit their training images so closely that the trained-input
 * reference, drawn from them, protected the trained classes less (1.2-1.4 points lost instead of 0.0-0.6), and
 * taught Fashion-MNIST classes did not gain (bench/TEACH.md).
 */
export const BASE_EPOCHS: Record<InputKind, number> = { colour: 30, grey: 2, vector: 2 };

export type TeachBenchDataset = 'mnist' | 'fashion-mnist' | 'cifar10' | 'folder';
export const TEACH_BENCH_DATASETS: readonly TeachBenchDataset[] = ['mnist', 'fashion-mnist', 'cifar10', 'folder'];

/** Image folders are resized to this square by default: a 1000-unit layer over 100x100 colour photos trains 10x slower for no gain in teaching. */
export const FOLDER_IMAGE_SIZE = 32;

export interface TeachBenchOptions {
  dataset: TeachBenchDataset;
  data: string;
  /** Class indices of the base model; every other class of the dataset is taught. Default 0..4. */
  baseClasses?: number[];
  /** Resize the images to this width and height (image folders: default FOLDER_IMAGE_SIZE square). */
  width?: number;
  height?: number;
  /** Time single-image prediction with this many taught classes of 20 demonstrations (default 100; 0: skip). */
  timingClasses?: number;
  /** Shot counts; default [1, 5, 20]. */
  shots?: number[];
  /** Number of shot draws; default 3. */
  seeds?: number;
  /** A saved base model (its classes must be the base classes' names); default: train one. */
  model?: string;
  /** Save the trained base model here (to reuse it with `model`). */
  saveModel?: string;
  /** Base training: widths (default 1000,1000,1000), epochs (default BASE_EPOCHS by kind of input), batch size, seed, first N examples. */
  layers?: number[];
  epochs?: number;
  batchSize?: number;
  seed?: number;
  trainLimit?: number;
  /** Score on the first N test images only (default all). */
  testLimit?: number;
  backend?: string;
  /** Base training: an image-to-vector ONNX network before the layers, taking the loaded images (see FeatureStageOptions). */
  featureStage?: Omit<FeatureStageOptions, 'inputShape'>;
  json?: boolean;
  /** Programmatic: override the model's teaching settings (ablations). */
  teaching?: Partial<TeachingConfig>;
  /** Programmatic: data already in memory (tests). */
  train?: Dataset;
  test?: Dataset;
  write?: (text: string) => void;
  log?: (text: string) => void;
}

export interface TeachBenchResult {
  dataset: string;
  shots: number;
  seeds: number;
  base_classes: string[];
  novel_classes: string[];
  /** The headline: taught classes' test images named right among ALL classes (a taught class must beat every trained one). */
  novel_accuracy_all_classes: number;
  novel_accuracy_all_classes_std: number;
  /** The share of the kept training inputs that taught classes may take (teaching.maxTrainedLoss): the trade-off in force. */
  max_trained_loss: number;
  /** The same images among the taught classes only. */
  novel_accuracy: number;
  novel_accuracy_std: number;
  /** Raw pixels, same shots, among the taught classes: cosine nearest class mean. */
  raw_nearest_mean: number;
  raw_nearest_mean_std: number;
  /** Raw pixels, same shots and the same augmented copies teaching uses, among the taught classes: cosine nearest demonstration. */
  raw_nearest_demonstration: number;
  raw_nearest_demonstration_std: number;
  base_accuracy_before: number;
  base_accuracy_after: number;
  base_accuracy_after_std: number;
  /** Points of trained-class accuracy lost by teaching (before - after, x100). */
  trained_classes_lost_points: number;
  /** Known (base test) vs novel inputs by the best similarity, before teaching. */
  novel_auroc: number;
  /** Best-similarity threshold maximising TPR - FPR of known-vs-novel before teaching, and its rates. */
  unknown_threshold: number;
  unknown_threshold_tpr: number;
  unknown_threshold_fpr: number;
  /** Fraction of known (tpr) and of novel (fpr) inputs at or above fixed similarity thresholds, before teaching. */
  threshold_rates: Record<string, { tpr: number; fpr: number }>;
  /** Representation the taught classes were scored in per draw (" mean": by the class mean), and its leave-one-out score. */
  representation: string[];
  representation_score: number[];
  engine: string;
  test_images: number;
  teach_ms_per_class: number;
}

export interface PredictionTiming {
  /** Median ms of one single-image prediction by the base model. */
  base_ms: number;
  /** The same with `classes` taught classes of `demonstrations` demonstrations each. */
  taught_ms: number;
  /** What the taught classes were scored in ('<representation> mean': one prototype per class). */
  representation: string;
  /** Medians of the process's CPU time for the same calls. */
  base_cpu_ms: number;
  taught_cpu_ms: number;
  classes: number;
  demonstrations: number;
  /** taught_ms / base_ms, and the same for CPU time. */
  ratio: number;
  cpu_ratio: number;
}

interface Split {
  images: Float32Array;
  labels: Int32Array;
  n: number;
}

function pick(ds: Dataset, classes: Set<number>, limit?: number): Split {
  const keep: number[] = [];
  const end = limit === undefined ? ds.n : Math.min(ds.n, limit);
  for (let i = 0; i < end; i++) if (classes.has(ds.labels[i])) keep.push(i);
  const images = new Float32Array(keep.length * ds.inputSize);
  const labels = new Int32Array(keep.length);
  keep.forEach((src, dst) => {
    images.set(ds.images.subarray(src * ds.inputSize, (src + 1) * ds.inputSize), dst * ds.inputSize);
    labels[dst] = ds.labels[src];
  });
  return { images, labels, n: keep.length };
}

function predictAll(net: HffNetwork, split: Split, inputSize: number): Prediction[] {
  const out: Prediction[] = [];
  const k = net.classes.length;
  for (let s = 0; s < split.n; s += 500) {
    const m = Math.min(500, split.n - s);
    out.push(...net.predict(split.images.subarray(s * inputSize, (s + m) * inputSize), m, { topK: k }));
  }
  return out;
}

const fmt = (v: number) => (Number.isFinite(v) ? v.toFixed(3) : '-');
const pm = (m: number, s: number) => `${fmt(m)} ± ${fmt(s)}`;

export async function runTeachBench(options: TeachBenchOptions): Promise<{ results: TeachBenchResult[]; timing?: PredictionTiming }> {
  const write = options.write ?? ((t: string) => process.stdout.write(t));
  const log = options.log ?? ((t: string) => process.stderr.write(t));
  const shotCounts = options.shots ?? [1, 5, 20];
  const seeds = options.seeds ?? 3;
  if (!shotCounts.length || shotCounts.some((s) => !Number.isInteger(s) || s < 1)) throw new Error('shots must be positive integers');
  if (!Number.isInteger(seeds) || seeds < 1) throw new Error('seeds must be a positive integer');

  const imageSize =
    options.width !== undefined || options.dataset === 'folder'
      ? { width: options.width ?? FOLDER_IMAGE_SIZE, height: options.height ?? FOLDER_IMAGE_SIZE }
      : {};
  const load = (split: 'train' | 'test') => loadDataset({ name: options.dataset as DatasetName, dir: options.data, split, ...imageSize });
  const train = options.train ?? (await load('train'));
  const test = options.test ?? (await load('test'));
  const all = train.classes;
  const baseIdx = options.baseClasses ?? [0, 1, 2, 3, 4];
  for (const c of baseIdx) if (!(Number.isInteger(c) && c >= 0 && c < all.length)) throw new Error(`base class ${c} is outside 0..${all.length - 1}`);
  const baseSet = new Set(baseIdx);
  const novelIdx = all.map((_, c) => c).filter((c) => !baseSet.has(c));
  if (novelIdx.length === 0) throw new Error('every class is a base class: nothing to teach');
  const baseNames = baseIdx.map((c) => all[c]);
  const novelNames = novelIdx.map((c) => all[c]);
  const size = train.inputSize;

  const engine: Engine = await createEngine(options.backend);
  let base: HffNetwork;
  if (options.model) {
    base = await loadNetwork(options.model, engine);
    const missing = baseNames.filter((n) => base.classIndex(n) === undefined);
    if (missing.length) throw new Error(`the model ${options.model} lacks the base classes ${missing.join(', ')}`);
    const extra = base.classes.filter((n) => !baseNames.includes(n));
    if (extra.length) throw new Error(`the model ${options.model} has classes outside the base classes: ${extra.join(', ')}`);
    log(`base model: ${options.model}\n`);
  } else {
    const inputShape: [number, number, number] = [train.height, train.width, train.channels];
    const featureStage = options.featureStage ? { ...options.featureStage, inputShape } : undefined;
    base = HffNetwork.create(engine, { inputSize: size, inputShape, layers: options.layers, seed: options.seed, featureStage }, baseNames);
    const b = pick(train, baseSet, options.trainLimit);
    const labels = Int32Array.from(b.labels, (l) => baseIdx.indexOf(l));
    const t0 = Date.now();
    const epochs = options.epochs ?? BASE_EPOCHS[inputKind(base.config.inputShape)];
    log(`training the base model on ${b.n} images of ${baseNames.join(', ')} (${epochs} epochs, ${engine.name})\n`);
    // The library's training defaults (schedule, regularisation by kind of input).
    await trainNetwork(base, { n: b.n, inputSize: size, images: b.images, labels }, { epochs, batchSize: options.batchSize });
    log(`  trained in ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);
    if (options.saveModel) await saveNetwork(options.saveModel, base);
  }
  if (base.trainedReferenceSize === 0) {
    // Models saved before the trained-input reference existed: keep one as trainNetwork does after training.
    const b = pick(train, baseSet, options.trainLimit);
    keepTrainedReference(base, { n: b.n, inputSize: size, images: b.images, labels: b.labels });
    log(`kept ${base.trainedReferenceSize} training images as the base model's trained-input reference\n`);
  }
  const files: ModelFiles = base.toModelFiles();
  base.dispose();
  const config = files.manifest.config as Record<string, unknown>;
  const baseFiles: ModelFiles = options.teaching
    ? { ...files, manifest: { ...files.manifest, config: { ...config, teaching: { ...(config.teaching as object), ...options.teaching } } } }
    : files;
  if (options.teaching) log(`teaching settings changed: ${JSON.stringify(options.teaching)}\n`);
  const fresh = () => HffNetwork.fromModelFiles(engine, baseFiles, 'base model');

  const testBase = pick(test, baseSet, options.testLimit);
  const testNovel = pick(test, new Set(novelIdx), options.testLimit);
  const baseIndexOf = (datasetLabel: number) => baseIdx.indexOf(datasetLabel);

  // Before teaching: base accuracy, and how well the best similarity tells novel inputs from known ones.
  const net0 = fresh();
  const maxTrainedLoss = net0.config.teaching.maxTrainedLoss;
  const pBase0 = predictAll(net0, testBase, size);
  const pNovel0 = predictAll(net0, testNovel, size);
  net0.dispose();
  const baseBefore = pBase0.filter((p, i) => p.index === baseIndexOf(testBase.labels[i])).length / testBase.n;
  const known = pBase0.map((p) => p.score);
  const unknown = pNovel0.map((p) => p.score);
  const rocArea = auroc(known, unknown);
  const threshold = bestThreshold(known, unknown);
  const rate = (v: number[], t: number) => v.filter((x) => x >= t).length / Math.max(1, v.length);
  const thresholdRates: Record<string, { tpr: number; fpr: number }> = {};
  for (const t of [0.1, 0.2, 0.3, 0.4, 0.5]) thresholdRates[t.toFixed(1)] = { tpr: rate(known, t), fpr: rate(unknown, t) };

  const pools = novelIdx.map((c) => {
    const idx: number[] = [];
    for (let i = 0; i < train.n; i++) if (train.labels[i] === c) idx.push(i);
    return idx;
  });
  const results: TeachBenchResult[] = [];
  const shape = base0Shape(train);
  for (const shots of shotCounts) {
    const novelAcc: number[] = [];
    const novelAll: number[] = [];
    const rawMean: number[] = [];
    const rawDemo: number[] = [];
    const baseAfter: number[] = [];
    const representations: string[] = [];
    const representationScores: number[] = [];
    let teachMs = 0;
    for (let seed = 0; seed < seeds; seed++) {
      const random = new SeededRandom(7001 + 131 * seed + shots);
      const net = fresh();
      try {
        const shotSets = novelIdx.map((c, j) => {
          const pool = pools[j];
          if (pool.length < shots) throw new Error(`class ${all[c]} has only ${pool.length} training images, fewer than ${shots} shots`);
          const perm = random.permutation(pool.length);
          const data = new Float32Array(shots * size);
          for (let s = 0; s < shots; s++) data.set(train.images.subarray(pool[perm[s]] * size, (pool[perm[s]] + 1) * size), s * size);
          return { label: c, data };
        });
        const t0 = Date.now();
        // The same call as `hff teach` and the hff-teach node.
        for (const s of shotSets) net.teach(all[s.label], s.data, shots);
        teachMs += (Date.now() - t0) / shotSets.length;
        const chosen = net.teachingRepresentation;
        representations.push(chosen.representation ? `${chosen.representation}${chosen.scoring === 'mean' ? ' mean' : ''}` : '-');
        representationScores.push(chosen.score ?? NaN);
        if (process.env.HFF_TEACH_DEBUG) log(`    leave-one-out ${JSON.stringify(chosen.scores)}\n`);
        const novelModelIdx = new Set(novelNames.map((n) => net.classIndex(n) as number));
        const pNovel = predictAll(net, testNovel, size);
        let among = 0;
        let overall = 0;
        pNovel.forEach((p, i) => {
          const want = net.classIndex(all[testNovel.labels[i]]);
          if (p.index === want) overall += 1;
          const firstNovel = p.top.find((t) => novelModelIdx.has(t.index));
          if (firstNovel && firstNovel.index === want) among += 1;
        });
        novelAcc.push(among / testNovel.n);
        novelAll.push(overall / testNovel.n);
        const pBase = predictAll(net, testBase, size);
        baseAfter.push(pBase.filter((p, i) => p.index === net.classIndex(all[testBase.labels[i]])).length / testBase.n);
        rawMean.push(rawNearestMeanAccuracy(shotSets, testNovel.images, testNovel.labels, size));
        const augmented = shotSets.map((s) => ({ label: s.label, data: augmentDemonstrations(s.data, shots, shape, net.config.teaching.augment).data }));
        rawDemo.push(rawNearestDemonstrationAccuracy(augmented, testNovel.images, testNovel.labels, size));
      } finally {
        net.dispose();
      }
      log(
        `  ${shots}-shot draw ${seed + 1}/${seeds}: all classes ${fmt(novelAll[seed])}, among taught ${fmt(novelAcc[seed])} ` +
          `(raw nearest mean ${fmt(rawMean[seed])}, nearest demonstration ${fmt(rawDemo[seed])}), trained classes ${fmt(baseAfter[seed])}, ${representations[seed]}\n`,
      );
    }
    const na = meanAndStd(novelAcc);
    const nal = meanAndStd(novelAll);
    const rm = meanAndStd(rawMean);
    const rd = meanAndStd(rawDemo);
    const ba = meanAndStd(baseAfter);
    const r: TeachBenchResult = {
      dataset: options.dataset,
      shots,
      seeds,
      base_classes: baseNames,
      novel_classes: novelNames,
      novel_accuracy_all_classes: nal.mean,
      novel_accuracy_all_classes_std: nal.std,
      max_trained_loss: maxTrainedLoss,
      novel_accuracy: na.mean,
      novel_accuracy_std: na.std,
      raw_nearest_mean: rm.mean,
      raw_nearest_mean_std: rm.std,
      raw_nearest_demonstration: rd.mean,
      raw_nearest_demonstration_std: rd.std,
      base_accuracy_before: baseBefore,
      base_accuracy_after: ba.mean,
      base_accuracy_after_std: ba.std,
      trained_classes_lost_points: (baseBefore - ba.mean) * 100,
      novel_auroc: rocArea,
      unknown_threshold: threshold.threshold,
      unknown_threshold_tpr: threshold.tpr,
      unknown_threshold_fpr: threshold.fpr,
      threshold_rates: thresholdRates,
      representation: representations,
      representation_score: representationScores,
      engine: engine.name,
      test_images: testBase.n + testNovel.n,
      teach_ms_per_class: teachMs / seeds,
    };
    results.push(r);
    if (options.json) write(`${JSON.stringify(r)}\n`);
  }
  const timingClasses = options.timingClasses ?? 100;
  const timing = timingClasses > 0 ? timePredictions(fresh, train, pools.flat(), timingClasses) : undefined;
  if (timing && options.json) write(`${JSON.stringify({ prediction_timing: timing })}\n`);
  const table = [
    `| dataset | shots | taught, among ALL classes | among taught only | raw nearest mean | raw nearest demonstration | trained before | trained after | lost (points) | representation | teach ms/class |`,
    `|---|---|---|---|---|---|---|---|---|---|---|`,
    ...results.map(
      (r) =>
        `| ${r.dataset} | ${r.shots} | ${pm(r.novel_accuracy_all_classes, r.novel_accuracy_all_classes_std)} | ${pm(r.novel_accuracy, r.novel_accuracy_std)} | ` +
        `${pm(r.raw_nearest_mean, r.raw_nearest_mean_std)} | ${pm(r.raw_nearest_demonstration, r.raw_nearest_demonstration_std)} | ${fmt(r.base_accuracy_before)} | ` +
        `${pm(r.base_accuracy_after, r.base_accuracy_after_std)} | ${r.trained_classes_lost_points.toFixed(1)} | ${[...new Set(r.representation)].join(', ')} | ${r.teach_ms_per_class.toFixed(0)} |`,
    ),
    '',
    `novel-input threshold before teaching (best similarity, max TPR-FPR): ${fmt(results[0].unknown_threshold)} ` +
      `(keeps ${fmt(results[0].unknown_threshold_tpr)} of known inputs, passes ${fmt(results[0].unknown_threshold_fpr)} of novel ones); AUROC ${fmt(results[0].novel_auroc)}`,
    timing
      ? `single-image prediction: ${timing.base_ms.toFixed(3)} ms with no taught class, ${timing.taught_ms.toFixed(3)} ms with ${timing.classes} taught classes of ${timing.demonstrations} demonstrations scored in ${timing.representation} (${timing.ratio.toFixed(2)}x; CPU time ${timing.base_cpu_ms.toFixed(3)} and ${timing.taught_cpu_ms.toFixed(3)} ms, ${timing.cpu_ratio.toFixed(2)}x)`
      : '',
    '',
  ].join('\n');
  (options.json ? log : write)(`${table}\n`);
  return { results, timing };
}

function base0Shape(ds: Dataset): [number, number, number] | undefined {
  return ds.height * ds.width * ds.channels === ds.inputSize ? [ds.height, ds.width, ds.channels] : undefined;
}

/**
 * Median time of one single-image prediction, before and after teaching `classes` classes of 20 training images: the
 * two networks take turns over several rounds, so that load from other processes falls on both alike, and the CPU
 * time of the same calls is kept beside the wall-clock time (a call preempted by another process counts only there).
 */
function timePredictions(fresh: () => HffNetwork, train: Dataset, pool: number[], classes: number): PredictionTiming {
  const size = train.inputSize;
  const demonstrations = 20;
  const random = new SeededRandom(99);
  const inputs = Array.from({ length: 40 }, () => {
    const row = pool[random.int(pool.length)];
    return train.images.subarray(row * size, (row + 1) * size);
  });
  const samples = (net: HffNetwork, into: { wall: number[]; cpu: number[] }) => {
    for (const x of inputs) {
      const c0 = process.cpuUsage();
      const t0 = process.hrtime.bigint();
      net.predict(x, 1);
      into.wall.push(Number(process.hrtime.bigint() - t0) / 1e6);
      const c = process.cpuUsage(c0);
      into.cpu.push((c.user + c.system) / 1000);
    }
  };
  const base = fresh();
  const taught = fresh();
  try {
    for (let c = 0; c < classes; c++) {
      const data = new Float32Array(demonstrations * size);
      for (let d = 0; d < demonstrations; d++) {
        const row = pool[random.int(pool.length)];
        data.set(train.images.subarray(row * size, (row + 1) * size), d * size);
      }
      taught.teach(`timing ${c}`, data, demonstrations);
    }
    const before = { wall: [] as number[], cpu: [] as number[] };
    const after = { wall: [] as number[], cpu: [] as number[] };
    // The first round warms both up (sessions, caches) and is not counted.
    for (let round = 0; round < 6; round++) {
      samples(base, round === 0 ? { wall: [], cpu: [] } : before);
      samples(taught, round === 0 ? { wall: [], cpu: [] } : after);
    }
    const m = { base: median(before.wall), taught: median(after.wall), baseCpu: median(before.cpu), taughtCpu: median(after.cpu) };
    const { representation, scoring } = taught.teachingRepresentation;
    return {
      representation: `${representation}${scoring === 'mean' ? ' mean' : ''}`,
      base_ms: m.base,
      taught_ms: m.taught,
      base_cpu_ms: m.baseCpu,
      taught_cpu_ms: m.taughtCpu,
      classes,
      demonstrations,
      ratio: m.taught / m.base,
      cpu_ratio: m.taughtCpu / m.baseCpu,
    };
  } finally {
    base.dispose();
    taught.dispose();
  }
}
