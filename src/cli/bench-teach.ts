/** `hff bench-teach`: the few-shot class-incremental benchmark (src/bench/teach), option parsing only. */
import { Command, InvalidArgumentError, Option } from 'commander';
import type { TeachBenchOptions } from '../bench/teach';
import { BACKEND_CHOICES, CliContext, parseFraction, parseInteger, parseLayers, parsePositiveInt } from './common';
import { type FeatureStageCliOptions, addFeatureStageOptions, featureStageOf } from './feature-stage-options';

/**
 * The library's options as commander gives them (the type alone is imported, so the benchmark still loads lazily):
 * `--limit` is trainLimit, the feature stage comes as its flags, and the lists have their defaults.
 */
type RawOptions = Omit<TeachBenchOptions, 'trainLimit' | 'featureStage' | 'teaching' | 'train' | 'test' | 'write' | 'log'> &
  FeatureStageCliOptions & { baseClasses: number[]; shots: number[]; seeds: number; limit?: number; maxTrainedLoss?: number };

/** "0-4", "0,2,4" or "0-2,7" -> [0,1,2,...]. */
export function parseClassList(value: string): number[] {
  const out: number[] = [];
  for (const part of value
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw new InvalidArgumentError(`expected class indices like 0-4 or 0,1,2, got '${value}'`);
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (b < a) throw new InvalidArgumentError(`bad range '${part}'`);
    for (let c = a; c <= b; c++) if (!out.includes(c)) out.push(c);
  }
  if (out.length === 0) throw new InvalidArgumentError('expected at least one class index');
  return out;
}

export function parseShotList(value: string): number[] {
  const out = value.split(',').map((p) => Number(p.trim()));
  if (out.length === 0 || out.some((v) => !Number.isInteger(v) || v < 1)) throw new InvalidArgumentError(`expected positive integers like 1,5, got '${value}'`);
  return out;
}

export function registerBenchTeach(program: Command, ctx?: CliContext): Command {
  const command = program
    .command('bench-teach')
    .description('few-shot teaching benchmark: train a base model on some classes, teach the others from a few images each')
    .addOption(
      new Option('--dataset <name>', 'dataset (folder: <data>/train|test/<class>/*.jpg|png)')
        .choices(['mnist', 'fashion-mnist', 'cifar10', 'folder'])
        .makeOptionMandatory(),
    )
    .requiredOption('--data <dir>', 'folder holding the dataset files')
    .option('--base-classes <list>', 'class indices of the base model (default 0-4); the others are taught', parseClassList, [0, 1, 2, 3, 4])
    .option('--shots <list>', 'demonstrations per taught class (default 1,5,20)', parseShotList, [1, 5, 20])
    .option('--seeds <n>', 'random shot draws (default 3)', parsePositiveInt, 3)
    .option('--model <dir>', 'use this saved base model instead of training one (its classes: the base classes)')
    .option('--save-model <dir>', 'save the trained base model here')
    .option('--layers <widths>', 'base model layer widths (default 1000,1000,1000)', parseLayers)
    .option('--epochs <n>', 'base model epochs (default 30 for colour images, 2 otherwise)', parsePositiveInt)
    .option('--batch-size <n>', 'base model batch size (default 128)', parsePositiveInt)
    .option('--seed <n>', 'base model seed (default 1)', parseInteger)
    .option('--limit <n>', 'train the base model on the first N training images only', parsePositiveInt)
    .option('--test-limit <n>', 'score on the first N test images only', parsePositiveInt)
    .option('--width <px>', 'resize images to this width (with --height; folder images default to 32)', parsePositiveInt)
    .option('--height <px>', 'resize images to this height (with --width)', parsePositiveInt)
    .option(
      '--max-trained-loss <fraction>',
      "the share of the kept training inputs that taught classes may take (the model's teaching.maxTrainedLoss, default 0.01): higher names taught classes more often and costs the trained ones more",
      parseFraction,
    )
    .option('--timing-classes <n>', 'time single-image prediction with N taught classes of 20 demonstrations (default 100; 0 skips)', parseInteger)
    .addOption(new Option('--backend <name>', 'compute backend (default: $HFF_BACKEND, else auto)').choices(BACKEND_CHOICES))
    .option('--json', 'one JSON object per shot count on stdout (the table goes to stderr)');
  return addFeatureStageOptions(command).action(async (opts: RawOptions, cmd: Command) => {
    if ((opts.width === undefined) !== (opts.height === undefined)) cmd.error('error: give --width and --height together', { exitCode: 2 });
    if (opts.timingClasses !== undefined && opts.timingClasses < 0) cmd.error('error: --timing-classes must be 0 or more', { exitCode: 2 });
    const { runTeachBench } = require('../bench/teach') as typeof import('../bench/teach');
    const io = ctx?.io;
    await runTeachBench({
      dataset: opts.dataset,
      data: opts.data,
      baseClasses: opts.baseClasses,
      shots: opts.shots,
      seeds: opts.seeds,
      model: opts.model,
      saveModel: opts.saveModel,
      layers: opts.layers,
      epochs: opts.epochs,
      batchSize: opts.batchSize,
      seed: opts.seed,
      trainLimit: opts.limit,
      testLimit: opts.testLimit,
      width: opts.width,
      height: opts.height,
      timingClasses: opts.timingClasses,
      backend: opts.backend,
      featureStage: featureStageOf(opts),
      teaching: opts.maxTrainedLoss === undefined ? undefined : { maxTrainedLoss: opts.maxTrainedLoss },
      json: opts.json,
      write: io ? (t) => io.out(t) : undefined,
      log: io ? (t) => io.err(t) : undefined,
    });
  });
}
