/**
 * `hff bench`: option parsing only. The benchmark itself is `runBench` from src/bench/accuracy (loaded lazily, so that a
 * build without it still runs every other command and says clearly what is missing).
 */
import { Command, CommanderError, Option } from 'commander';
import type { BenchDataset, BenchOptions } from '../bench/accuracy';
import type { LayerOption } from '../hff/config';
import { LEARNING_RATE_SCHEDULES, type LearningRateSchedule } from '../hff/schedule';
import {
  BACKEND_CHOICES,
  CliContext,
  CliError,
  listOf,
  parseCount,
  parseFraction,
  parseInteger,
  layerStackOption,
  parseRotation,
  parsePositiveInt,
  parsePositiveNumber,
} from './common';

export const BENCH_DATASETS: readonly string[] = ['mnist', 'fashion-mnist', 'cifar10'];
export const BENCH_METHODS: readonly string[] = ['hff', 'ff', 'bp'];

/** What `runBench` receives: the library's type (a type-only import, so the benchmark still loads lazily). */
export type { BenchOptions };

interface RawBenchOptions {
  shift?: number;
  rotate?: number;
  scale?: number;
  inputDropout?: number;
  hiddenDropout?: number;
  seed?: number;
  dataset: string;
  data: string;
  methods?: string[];
  epochs?: number;
  layers?: LayerOption[];
  limit?: number;
  quick?: boolean;
  json?: boolean;
  batchSize?: number;
  lr?: number;
  lrSchedule?: LearningRateSchedule;
  backend?: string;
}

/** Declares the bench options on `cmd` (shared by the `hff bench` sub-command and `parseBenchOptions`). */
function declareBenchOptions(cmd: Command): Command {
  return cmd
    .description('compare HFF with Forward-Forward and backpropagation on a dataset')
    .addOption(new Option('--dataset <name>', 'dataset').choices(BENCH_DATASETS).makeOptionMandatory())
    .requiredOption('--data <dir>', 'folder holding the dataset files')
    .option('--methods <list>', `comma-separated methods among ${BENCH_METHODS.join(', ')} (default all)`, listOf(BENCH_METHODS))
    .option('--epochs <n>', 'training epochs per method (default 1)', parsePositiveInt)
    .option('--layers <layers>', 'layers of every method: dense widths and convolutional blocks (hff, bp), e.g. 1000,1000 or c32k3p2,c64k3p2', layerStackOption)
    .option('--limit <n>', 'use only the first N training examples', parsePositiveInt)
    .option('--quick', 'a short run for smoke tests')
    .option('--json', 'machine-readable output')
    .option('--batch-size <n>', 'examples per training step', parsePositiveInt)
    .option('--lr <x>', 'learning rate', parsePositiveNumber)
    .addOption(new Option('--lr-schedule <name>', 'learning rate over each run, the same for every method (default cosine)').choices(LEARNING_RATE_SCHEDULES))
    .addOption(new Option('--backend <name>', 'compute backend (default: $HFF_BACKEND, else auto)').choices(BACKEND_CHOICES))
    .option('--shift <px>', "random shifts of every method's training images (default: the library's for the images)", parseCount)
    .option('--rotate <degrees>', "random turns of every method's training images up to this angle (default 0)", parseRotation)
    .option('--scale <fraction>', "random resizing of every method's training images by up to this fraction (default 0)", parseFraction)
    .option('--input-dropout <p>', 'HFF only: dropout of the input values in training (default 0)', parseFraction)
    .option('--hidden-dropout <p>', "HFF only: dropout of the upper layers' inputs in training (default 0)", parseFraction)
    .option('--seed <n>', "shuffle and initialisation seed of every method (default the library's, 1)", parseInteger);
}

/** Commander's parsed values to the `runBench` options object (absent optional values are left out). */
export function toBenchOptions(raw: RawBenchOptions): BenchOptions {
  const options: BenchOptions = {
    // commander has checked it against BENCH_DATASETS.
    dataset: raw.dataset as BenchDataset,
    data: raw.data,
    methods: raw.methods ?? [...BENCH_METHODS],
    epochs: raw.epochs ?? 1,
    quick: Boolean(raw.quick),
    json: Boolean(raw.json),
  };
  if (raw.layers !== undefined) options.layers = raw.layers;
  if (raw.limit !== undefined) options.limit = raw.limit;
  if (raw.batchSize !== undefined) options.batchSize = raw.batchSize;
  if (raw.lr !== undefined) options.learningRate = raw.lr;
  if (raw.lrSchedule !== undefined) options.learningRateSchedule = raw.lrSchedule;
  if (raw.backend !== undefined) options.backend = raw.backend;
  if (raw.seed !== undefined) options.seed = raw.seed;
  const regularisation = { shift: raw.shift, rotate: raw.rotate, scale: raw.scale, inputDropout: raw.inputDropout, hiddenDropout: raw.hiddenDropout };
  const given = Object.entries(regularisation).filter(([, v]) => v !== undefined);
  if (given.length > 0) options.regularisation = Object.fromEntries(given);
  return options;
}

/**
 * Parses the arguments after `hff bench` (e.g. `['--dataset', 'mnist', '--data', 'd']`). Throws a CliError with
 * exit code 2 and commander's message on bad arguments; never writes or exits.
 */
export function parseBenchOptions(argv: readonly string[]): BenchOptions {
  const cmd = declareBenchOptions(new Command('bench'))
    .exitOverride()
    .configureOutput({ writeOut: () => undefined, writeErr: () => undefined, outputError: () => undefined });
  let parsed: RawBenchOptions | undefined;
  cmd.action((opts: RawBenchOptions) => {
    parsed = opts;
  });
  try {
    cmd.parse([...argv], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) throw new CliError(err.message.replace(/^error: /, ''), 2);
    throw err;
  }
  return toBenchOptions(parsed as RawBenchOptions);
}

type RunBench = (options: BenchOptions) => Promise<void>;

/** src/bench/accuracy's runBench, or a clear error when this build does not have it. */
export function loadRunBench(): RunBench {
  let mod: { runBench?: unknown };
  try {
    mod = require('../bench/accuracy') as { runBench?: unknown };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const firstLine = String(e.message).split('\n')[0];
    if (e.code === 'MODULE_NOT_FOUND' && firstLine.includes("'../bench/accuracy'")) {
      throw new CliError(
        'the benchmark is not available in this build: module src/bench/accuracy (dist/src/bench/accuracy/index.js) is missing; rebuild with `npm run build`',
      );
    }
    throw new CliError(`the benchmark module failed to load: ${firstLine}`);
  }
  if (typeof mod.runBench !== 'function') throw new CliError('the benchmark module src/bench/accuracy does not export a runBench function');
  return mod.runBench as RunBench;
}

export function addBenchCommand(program: Command, _ctx: CliContext): Command {
  return declareBenchOptions(program.command('bench')).action(async (raw: RawBenchOptions) => {
    const runBench = loadRunBench();
    await runBench(toBenchOptions(raw));
  });
}
