/** `hff teach`: adds or updates a class of a saved model from demonstration images, and saves the model. */
import { Command, Option } from 'commander';
import { FIT_MODES, type FitMode } from '../image/options';
import type { TeachMode, TeachResult } from '../hff/class-book';
import { BACKEND_CHOICES, CliContext, CliError, jsonLine, parseRate, startEngine } from './common';
import { imageShapeOf, imagesToBatch, loadModel } from './model';

export interface TeachCliOptions {
  model: string;
  label: string;
  mode?: TeachMode;
  rate?: number;
  fit?: FitMode;
  backend?: string;
  json?: boolean;
}

export function addTeachCommand(program: Command, ctx: CliContext): Command {
  return program
    .command('teach')
    .description('add or update a class from demonstration images and save the model')
    .argument('<images...>', 'demonstration image files of the class')
    .requiredOption('--model <dir>', 'model directory (updated in place, atomically)')
    .requiredOption('--label <name>', 'class name; a new name adds a class')
    .addOption(new Option('--mode <mode>', 'mean: average of all demonstrations; ema: move by --rate (default mean)').choices(['mean', 'ema']))
    .option('--rate <x>', "EMA rate in (0, 1] for --mode ema (default: the model's)", parseRate)
    .addOption(new Option('--fit <mode>', 'how images are brought to the model size (default fill)').choices(FIT_MODES))
    .addOption(new Option('--backend <name>', 'compute backend (default: $HFF_BACKEND, else auto)').choices(BACKEND_CHOICES))
    .option('--json', 'print the teach result as one JSON object on the last line of stdout')
    .action(async (images: string[], opts: TeachCliOptions, cmd: Command) => {
      if (opts.label.trim() === '') cmd.error('error: --label must be a non-empty class name', { exitCode: 2 });
      await runTeach(images, opts, ctx);
    });
}

export async function runTeach(images: string[], opts: TeachCliOptions, ctx: CliContext): Promise<TeachResult> {
  const { io } = ctx;
  const { saveNetwork } = require('../hff/persistence') as typeof import('../hff/persistence');
  const engine = await startEngine(opts.backend);
  const { dir, net } = await loadModel(opts.model, engine);
  try {
    const shape = imageShapeOf(net, dir);
    const { data, batch } = await imagesToBatch(images, shape, opts.fit);
    let result: TeachResult;
    try {
      // The same code path as the hff-teach node: HffNetwork.teach.
      result = net.teach(opts.label, data, batch, { mode: opts.mode, rate: opts.rate });
    } catch (err) {
      throw new CliError(`teaching '${opts.label}' failed: ${(err as Error).message}`);
    }
    try {
      await saveNetwork(dir, net);
    } catch (err) {
      throw new CliError(`taught '${opts.label}' but could not save: ${(err as Error).message}`);
    }
    if (opts.json) {
      io.out(
        jsonLine({
          label: result.label,
          index: result.index,
          created: result.created,
          count: result.count,
          applied: result.applied,
          mode: result.mode,
          version: result.version,
          similarityBefore: result.similarityBefore,
          demonstrations: batch,
          classes: net.classes.length,
          model: dir,
          backend: engine.name,
        }),
      );
    } else {
      const similarity = result.similarityBefore.map((s) => (s === null ? '-' : s.toFixed(3))).join(', ');
      const lines = [
        `${result.created ? 'added' : 'updated'} class '${result.label}' (index ${result.index}) in ${dir}`,
        `  demonstrations: ${batch} given, ${result.applied} applied, ${result.count} in total (mode ${result.mode})`,
        `  model version: ${result.version}, classes: ${net.classes.length}, backend: ${engine.name}`,
        ...(result.created ? [] : [`  similarity before, per layer: ${similarity}`]),
      ];
      io.out(`${lines.join('\n')}\n`);
    }
    return result;
  } finally {
    net.dispose();
  }
}
