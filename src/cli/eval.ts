/** `hff eval`: accuracy of a saved model on a dataset split. */
import { Command, Option } from 'commander';
import type { Dataset, DatasetName } from '../datasets/types';
import type { HffNetwork } from '../hff/network';
import { BACKEND_CHOICES, CliContext, CliError, DATASET_CHOICES, jsonLine, parsePositiveInt, percent, startEngine } from './common';
import { loadModel } from './model';

export interface EvalCliOptions {
  model: string;
  dataset: DatasetName;
  data: string;
  split: 'train' | 'test';
  limit?: number;
  backend?: string;
  json?: boolean;
}

export function addEvalCommand(program: Command, ctx: CliContext): Command {
  return program
    .command('eval')
    .description('measure the accuracy of a saved model on a dataset split')
    .requiredOption('--model <dir>', 'model directory')
    .addOption(new Option('--dataset <name>', 'dataset reader').choices(DATASET_CHOICES).makeOptionMandatory())
    .requiredOption('--data <dir>', 'folder holding the dataset files')
    .addOption(new Option('--split <split>', 'split to evaluate on').choices(['train', 'test']).default('test'))
    .option('--limit <n>', 'use only the first N examples', parsePositiveInt)
    .addOption(new Option('--backend <name>', 'compute backend (default: $HFF_BACKEND, else auto)').choices(BACKEND_CHOICES))
    .option('--json', 'print one JSON object as the last line of stdout')
    .action(async (opts: EvalCliOptions) => runEval(opts, ctx));
}

function shapeText(d: { height: number; width: number; channels: number }): string {
  return `${d.height}x${d.width}x${d.channels}`;
}

/**
 * Labels of the dataset as indices of the model's classes, matched by name, so that a model whose classes are
 * in another order or that learned extra classes (hff teach) is still scored correctly.
 */
export function mapLabels(net: HffNetwork, data: Dataset, modelDir: string): Int32Array {
  const toModel = data.classes.map((c) => net.classes.indexOf(c));
  const used = new Set<number>();
  for (let i = 0; i < data.n; i++) used.add(data.labels[i]);
  const missing = data.classes.filter((_, i) => toModel[i] < 0 && used.has(i));
  if (missing.length > 0) {
    const shown = (list: readonly string[]) => (list.length > 12 ? `${list.slice(0, 12).join(', ')}, ...` : list.join(', '));
    throw new CliError(
      `the ${data.name} ${data.split} classes do not match the model's: ${missing.length} dataset class(es) are unknown to the model ` +
        `(${shown(missing)}); model ${modelDir} has classes ${shown(net.classes)}`,
    );
  }
  return Int32Array.from(data.labels, (l) => toModel[l]);
}

export async function runEval(opts: EvalCliOptions, ctx: CliContext): Promise<void> {
  const { io } = ctx;
  const { loadDataset } = require('../datasets/load') as typeof import('../datasets/load');
  const { evaluateNetwork } = require('../hff/training') as typeof import('../hff/training');
  const note = (text: string) => {
    if (!opts.json) io.err(`${text}\n`);
  };
  const engine = await startEngine(opts.backend);
  const { dir, net } = await loadModel(opts.model, engine);
  try {
    const shape = net.config.inputShape;
    let data: Dataset;
    try {
      data = await loadDataset({
        name: opts.dataset,
        dir: opts.data,
        split: opts.split,
        limit: opts.limit,
        // Folder images come in any size: convert them to the model's input, as predict does.
        ...(opts.dataset === 'folder' && shape ? { height: shape[0], width: shape[1], channels: shape[2] as 1 | 3 } : {}),
      });
    } catch (err) {
      throw new CliError((err as Error).message);
    }
    if (data.inputSize !== net.inputSize) {
      const modelShape = shape ? ` (${shapeText({ height: shape[0], width: shape[1], channels: shape[2] })})` : '';
      throw new CliError(
        `the ${opts.dataset} ${opts.split} images have ${data.inputSize} values (${shapeText(data)}) but model ${dir} takes ${net.inputSize}${modelShape}: ` +
          'evaluate the model on the kind of data it was trained on',
      );
    }
    const labels = mapLabels(net, data, dir);
    note(`evaluating ${dir} on ${data.n} ${opts.dataset} ${opts.split} examples, backend ${engine.name}`);
    const ev = await evaluateNetwork(net, { n: data.n, inputSize: data.inputSize, images: data.images, labels });
    const perClass: Record<string, number | null> = {};
    const perClassN: Record<string, number> = {};
    data.classes.forEach((c) => (perClassN[c] = 0));
    for (let i = 0; i < data.n; i++) perClassN[data.classes[data.labels[i]]] += 1;
    data.classes.forEach((c) => {
      const a = ev.perClass[net.classes.indexOf(c)];
      perClass[c] = perClassN[c] > 0 && Number.isFinite(a) ? a : null;
    });
    if (opts.json) {
      io.out(
        jsonLine({
          accuracy: ev.accuracy,
          n: ev.n,
          correct: ev.correct,
          per_class: perClass,
          unknown_rate: ev.unknownRate,
          backend: engine.name,
          dataset: opts.dataset,
          split: opts.split,
          model: dir,
        }),
      );
    } else {
      const width = Math.max(5, ...data.classes.map((c) => c.length));
      const lines = [
        `model: ${dir}`,
        `dataset: ${opts.dataset} ${opts.split} (${ev.n} examples)`,
        `backend: ${engine.name}`,
        `accuracy: ${percent(ev.accuracy)} (${ev.correct}/${ev.n})`,
        `unknown rate: ${percent(ev.unknownRate)} (best similarity under the model's unknown threshold ` +
          `${net.config.unknownThreshold}: hff-classify and hff predict would call these "unknown"; accuracy counts their best class anyway)`,
        'per class:',
        ...data.classes.map((c) => `  ${c.padEnd(width)}  ${percent(perClass[c]).padStart(7)}  (${perClassN[c]})`),
      ];
      io.out(`${lines.join('\n')}\n`);
    }
  } finally {
    net.dispose();
  }
}
