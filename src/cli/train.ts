/** `hff train`: trains a network on a dataset, evaluates it on the test split and saves it with its training facts. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import type { Dataset, DatasetName } from '../datasets/types';
import { DEFAULTS, type LayerOption, layerLabel, resolveRegularisation } from '../hff/config';
import type { HffNetwork } from '../hff/network';
import { LEARNING_RATE_SCHEDULES, type LearningRateSchedule } from '../hff/schedule';
import type { EpochSummary, Evaluation } from '../hff/training';
import {
  BACKEND_CHOICES,
  CliContext,
  CliError,
  DATASET_CHOICES,
  commandLine,
  jsonLine,
  parseInteger,
  parsePositiveInt,
  parsePositiveNumber,
  parseCount,
  parseFraction,
  parseRotation,
  layerStackOption,
  percent,
  round,
  startEngine,
} from './common';
import { ProgressBar } from './progress';
import { type FeatureStageCliOptions, addFeatureStageOptions, featureStageOf } from './feature-stage-options';

export interface TrainCliOptions extends FeatureStageCliOptions {
  dataset: DatasetName;
  data: string;
  split: 'train' | 'test';
  layers?: LayerOption[];
  epochs?: number;
  seed?: number;
  out: string;
  force?: boolean;
  limit?: number;
  batchSize?: number;
  lr?: number;
  lrSchedule?: LearningRateSchedule;
  tau?: number;
  shift?: number;
  rotate?: number;
  scale?: number;
  centerInput?: boolean;
  inputDropout?: number;
  hiddenDropout?: number;
  backend?: string;
  eval?: boolean;
  evalLimit?: number;
  width?: number;
  height?: number;
  channels?: number;
  /** Class indices to train on (from `--classes 0-7` or `0,2,5`); labels are renumbered 0..k-1. */
  classes?: number[];
  json?: boolean;
}

/** "0-7" or "0,2,5" (or a mix, "0-3,6") -> sorted distinct class indices. */
export function parseClassList(value: string): number[] {
  const out = new Set<number>();
  const parts = value.split(',').map((s) => s.trim());
  for (const part of parts) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    const a = m ? Number(m[1]) : NaN;
    const b = m ? (m[2] === undefined ? a : Number(m[2])) : NaN;
    if (!m || b < a || b - a > 100_000) {
      throw new InvalidArgumentError('expected class indices like 0-7 or 0,2,5 (ranges ascending).');
    }
    for (let c = a; c <= b; c++) out.add(c);
  }
  return [...out].sort((x, y) => x - y);
}

/**
 * The samples of the classes `keep` (indices into ds.classes), relabelled 0..k-1 in the order of `keep`, with the
 * class names cut to those classes: a model trained on it knows only these classes.
 */
export function selectClasses(ds: Dataset, keep: readonly number[]): Dataset {
  const bad = keep.filter((c) => c >= ds.classes.length);
  if (bad.length > 0) {
    throw new CliError(`--classes: ${ds.name} has classes 0..${ds.classes.length - 1} (${ds.classes.join(', ')}); no class ${bad.join(', ')}`, 2);
  }
  const { subsetByClasses } = require('../datasets/subset') as typeof import('../datasets/subset');
  const subset = subsetByClasses(ds, keep);
  const remap = new Map(keep.map((c, i) => [c, i]));
  const labels = subset.labels.map((l) => remap.get(l) as number);
  return { ...subset, labels, classes: keep.map((c) => ds.classes[c]) };
}

export function addTrainCommand(program: Command, ctx: CliContext): Command {
  const command = program
    .command('train')
    .description('train a network on a dataset and save it')
    .addOption(new Option('--dataset <name>', 'dataset reader').choices(DATASET_CHOICES).makeOptionMandatory())
    .requiredOption('--data <dir>', 'folder holding the dataset files')
    .requiredOption('--out <dir>', 'model directory to write')
    .option('--force', 'replace the model already in --out (its taught classes are lost)')
    .addOption(new Option('--split <split>', 'split to train on').choices(['train', 'test']).default('train'))
    .option(
      '--layers <layers>',
      'comma-separated dense widths and conv blocks c<filters>k<kernel>[p<pool>] (default 1000,1000,1000; e.g. c32k3p2,c64k3p2,256)',
      layerStackOption,
    )
    .option('--epochs <n>', `passes over the training data (default ${DEFAULTS.epochs})`, parsePositiveInt)
    .option('--seed <n>', 'seed of the initial weights and the shuffles (default 1)', parseInteger)
    .option('--classes <list>', 'train on these classes only, by index: 0-7, 0,2,5 (labels renumbered, names kept)', parseClassList)
    .option('--limit <n>', 'use only the first N training examples', parsePositiveInt)
    .option('--batch-size <n>', 'examples per training step (default 128)', parsePositiveInt)
    .option('--lr <x>', 'learning rate (default 0.001)', parsePositiveNumber)
    .addOption(
      new Option('--lr-schedule <name>', `learning rate over the run (default ${DEFAULTS.learningRateSchedule}: decays to 0)`).choices(LEARNING_RATE_SCHEDULES),
    )
    .option('--tau <x>', 'softmax temperature of the cosine logits (default 0.1)', parsePositiveNumber)
    .option(
      '--shift <px>',
      `random shifts of training images up to this many pixels, colour images also mirrored (default ${DEFAULTS.regularisation.grey.shift} grey, ${DEFAULTS.regularisation.colour.shift} colour; 0: off)`,
      parseCount,
    )
    .option('--center-input', "subtract each image's mean before the first layer (default: on for colour images)")
    .option('--no-center-input', 'do not centre the inputs')
    .option('--rotate <degrees>', 'random turns of training images up to this angle (default 0; handwriting: 10)', parseRotation)
    .option('--scale <fraction>', 'random resizing of training images by up to this fraction (default 0; handwriting: 0.1)', parseFraction)
    .option('--input-dropout <p>', 'fraction of input values zeroed at random in training (default 0)', parseFraction)
    .option('--hidden-dropout <p>', "fraction of each upper layer's input zeroed at random in training (default 0)", parseFraction)
    .option('--eval', 'evaluate on the test split after training (default: when the test split exists)')
    .option('--no-eval', 'do not evaluate on the test split')
    .option('--eval-limit <n>', 'evaluate on the first N test examples only (default: --limit)', parsePositiveInt)
    .option('--width <px>', 'resize images to this width (with --height)', parsePositiveInt)
    .option('--height <px>', 'resize images to this height (with --width)', parsePositiveInt)
    .addOption(new Option('--channels <n>', 'convert images to 1 (grey) or 3 (RGB) channels').choices(['1', '3']).argParser(Number))
    .addOption(new Option('--backend <name>', 'compute backend (default: $HFF_BACKEND, else auto)').choices(BACKEND_CHOICES))
    .option('--json', 'print one JSON object as the last line of stdout');
  return addFeatureStageOptions(command).action(async (opts: TrainCliOptions, cmd: Command) => {
    if ((opts.width === undefined) !== (opts.height === undefined)) cmd.error('error: give --width and --height together', { exitCode: 2 });
    await runTrain(opts, ctx);
  });
}

async function loadSplit(
  opts: TrainCliOptions,
  split: 'train' | 'test',
  limit: number | undefined,
  shape: { width?: number; height?: number; channels?: number } = opts,
): Promise<Dataset> {
  const { loadDataset } = require('../datasets/load') as typeof import('../datasets/load');
  let ds: Dataset;
  try {
    ds = await loadDataset({
      name: opts.dataset,
      dir: opts.data,
      split,
      limit,
      width: shape.width,
      height: shape.height,
      channels: shape.channels as 1 | 3 | undefined,
    });
  } catch (err) {
    throw new CliError((err as Error).message);
  }
  return opts.classes ? selectClasses(ds, opts.classes) : ds;
}

export async function runTrain(opts: TrainCliOptions, ctx: CliContext): Promise<void> {
  const { io } = ctx;
  const { HffNetwork: Network } = require('../hff/network') as typeof import('../hff/network');
  const { trainNetwork, evaluateNetwork } = require('../hff/training') as typeof import('../hff/training');
  const { saveNetwork } = require('../hff/persistence') as typeof import('../hff/persistence');
  const note = (text: string) => {
    if (!opts.json) io.err(`${text}\n`);
  };

  const layers: LayerOption[] = opts.layers ?? DEFAULTS.layers;
  const layerLabels = layers.map(layerLabel);
  const epochs = opts.epochs ?? DEFAULTS.epochs;
  const seed = opts.seed ?? DEFAULTS.seed;
  const batchSize = opts.batchSize ?? DEFAULTS.batchSize;
  const learningRate = opts.lr ?? DEFAULTS.optimizer.learningRate;
  const learningRateSchedule = opts.lrSchedule ?? DEFAULTS.learningRateSchedule;
  const tau = opts.tau ?? DEFAULTS.tau;
  const out = path.resolve(opts.out);
  checkOut(out, opts.force === true);

  const engine = await startEngine(opts.backend);
  note(`backend: ${engine.name}`);
  note(`loading ${opts.dataset} ${opts.split} split from ${opts.data}${opts.limit ? ` (first ${opts.limit})` : ''}`);
  const train = await loadSplit(opts, opts.split, opts.limit);
  const { shift, rotate, scale, inputDropout, hiddenDropout } = resolveRegularisation([train.height, train.width, train.channels], opts);
  if (opts.classes) note(`classes ${opts.classes.join(',')}: ${train.classes.join(', ')} (${train.n} examples)`);

  // The test split is loaded before training so that a problem with it shows up before a long run.
  const evalLimit = opts.evalLimit ?? opts.limit;
  let test: Dataset | undefined;
  const wantEval = opts.eval ?? opts.split === 'train';
  if (wantEval) {
    if (opts.split === 'test') throw new CliError('--eval evaluates on the test split, which is the split being trained on; use --split train');
    try {
      // In the training data's shape: image folders may hold pictures of other sizes in their test split.
      test = await loadSplit(opts, 'test', evalLimit, { width: train.width, height: train.height, channels: train.channels });
    } catch (err) {
      if (opts.eval) throw err;
      io.err(`note: not evaluating on a test split: ${(err as Error).message}\n`);
    }
  }

  const featureStage = featureStageOf(opts);
  let net: HffNetwork;
  try {
    net = Network.create(
      engine,
      {
        inputSize: train.inputSize,
        inputShape: [train.height, train.width, train.channels],
        ...(featureStage ? { featureStage: { ...featureStage, inputShape: [train.height, train.width, train.channels] } } : {}),
        ...(opts.centerInput !== undefined ? { centerInput: opts.centerInput } : {}),
        layers,
        tau,
        seed,
        optimizer: { learningRate },
      },
      train.classes,
    );
  } catch (err) {
    throw new CliError(`cannot build the network: ${(err as Error).message}`);
  }

  try {
    note(
      `training ${[train.inputSize, ...(net.config.featureStage ? [`features ${net.config.featureStage.outputSize}`] : []), ...layerLabels].join('-')} on ${train.n} examples of ${train.classes.length} classes ` +
        `(${epochs} epoch${epochs > 1 ? 's' : ''}, batch ${batchSize}, lr ${learningRate} ${learningRateSchedule}, seed ${seed})`,
    );
    const bar = io.errIsTTY && !opts.json ? new ProgressBar({ write: io.err, columns: io.errColumns }) : undefined;
    const abort = new AbortController();
    const onSigint = () => abort.abort();
    process.once('SIGINT', onSigint);
    let summary;
    try {
      summary = await trainNetwork(net, train, {
        epochs,
        learningRateSchedule,
        batchSize,
        seed,
        shift,
        rotate,
        scale,
        inputDropout,
        hiddenDropout,
        signal: abort.signal,
        progressIntervalMs: bar ? 100 : 60_000,
        onProgress: (p) => {
          if (bar) bar.update(p);
          else if (!opts.json && p.batch === p.batches) {
            note(`epoch ${p.epoch}/${p.epochs}: loss ${p.loss.toFixed(4)}, running accuracy ${percent(p.accuracy)}`);
          }
        },
      });
    } catch (err) {
      bar?.finishLine();
      throw new CliError(`training failed: ${(err as Error).message}`);
    } finally {
      process.off('SIGINT', onSigint);
    }
    bar?.finishLine();
    if (summary.cancelled) throw new CliError('training interrupted; nothing was saved', 130);

    const epochSummaries: EpochSummary[] = summary.epochs;
    const last = epochSummaries[epochSummaries.length - 1];
    const epochSeconds = epochSummaries.map((e) => round(e.seconds, 3));
    const secondsPerEpoch = round(epochSeconds.reduce((a, b) => a + b, 0) / epochSeconds.length, 3);

    const training: Record<string, unknown> = {
      dataset: opts.dataset,
      data: path.resolve(opts.data),
      split: opts.split,
      n: train.n,
      limit: opts.limit ?? null,
      ...(opts.classes ? { classIndices: [...opts.classes], classes: [...train.classes] } : {}),
      epochs,
      seed,
      batchSize,
      learningRate,
      learningRateSchedule,
      tau,
      centerInput: net.config.centerInput,
      shift,
      rotate,
      scale,
      inputDropout,
      hiddenDropout,
      layers,
      secondsPerEpoch,
      epochSeconds,
      trainLoss: last.loss,
      trainAccuracy: last.accuracy,
      trainAccuracyKind: 'running accuracy over the last epoch (each batch scored before its update)',
      backend: engine.name,
      date: new Date().toISOString(),
      command: commandLine(ctx.argv),
      argv: [...ctx.argv],
    };
    net.metadata = { ...net.metadata, training };
    // Saved before the evaluation so that a failure there does not lose the trained weights.
    await save(saveNetwork, out, net);

    let evaluation: Evaluation | undefined;
    if (test) {
      note(`evaluating on ${test.n} test examples`);
      const started = Date.now();
      evaluation = await evaluateNetwork(net, test);
      training.testAccuracy = evaluation.accuracy;
      training.testN = evaluation.n;
      training.testLimit = evalLimit ?? null;
      training.evalSeconds = round((Date.now() - started) / 1000, 3);
      await save(saveNetwork, out, net);
    }

    if (opts.json) {
      io.out(
        jsonLine({
          accuracy: evaluation ? evaluation.accuracy : last.accuracy,
          accuracy_split: evaluation ? 'test' : 'train',
          test_accuracy: evaluation ? evaluation.accuracy : null,
          test_n: evaluation ? evaluation.n : null,
          train_accuracy: last.accuracy,
          train_loss: last.loss,
          train_n: train.n,
          epochs,
          seconds_per_epoch: secondsPerEpoch,
          epoch_seconds: epochSeconds,
          backend: engine.name,
          dataset: opts.dataset,
          classes: train.classes.length,
          layers,
          seed,
          out,
        }),
      );
    } else {
      const lines = [
        `trained ${[train.inputSize, ...layerLabels].join('-')} on ${opts.dataset} ${opts.split} (${train.n} examples, ${train.classes.length} classes), backend ${engine.name}`,
        ...epochSummaries.map((e) => `  epoch ${e.epoch}: loss ${e.loss.toFixed(4)}, running train accuracy ${percent(e.accuracy)}, ${e.seconds.toFixed(1)} s`),
        `train accuracy (last epoch, running): ${percent(last.accuracy)}`,
        evaluation ? `test accuracy: ${percent(evaluation.accuracy)} (${evaluation.correct}/${evaluation.n})` : 'test accuracy: not measured',
        `seconds per epoch: ${secondsPerEpoch}`,
        `saved to ${out}`,
      ];
      io.out(`${lines.join('\n')}\n`);
    }
  } finally {
    net.dispose();
  }
}

/** --out must be a folder to create, an empty one, or (with --force) a model to replace: checked before training. */
function checkOut(out: string, force: boolean): void {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(out);
  } catch {
    return;
  }
  if (!stat.isDirectory()) throw new CliError(`--out ${out} is a file, not a folder; give a model folder to create`);
  if (fs.existsSync(path.join(out, 'model.json')) && !force) {
    throw new CliError(`--out ${out} already holds a model (model.json); add --force to replace it, or choose another folder`);
  }
}

async function save(saveNetwork: (dir: string, net: HffNetwork) => Promise<void>, out: string, net: HffNetwork): Promise<void> {
  try {
    await saveNetwork(out, net);
  } catch (err) {
    throw new CliError((err as Error).message);
  }
}
