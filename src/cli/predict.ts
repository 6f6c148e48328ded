/** `hff predict`: classifies image files with a saved model. */
import { Command, Option } from 'commander';
import { FIT_MODES, type FitMode } from '../image/options';
import { BACKEND_CHOICES, CliContext, CliError, jsonLine, parseCosine, parsePositiveInt, round, startEngine } from './common';
import { imageShapeOf, imagesToBatch, loadModel } from './model';

export interface PredictCliOptions {
  model: string;
  top?: number;
  threshold?: number;
  fit?: FitMode;
  backend?: string;
  json?: boolean;
}

export interface PredictionRecord {
  file: string;
  label: string;
  index: number;
  score: number;
  margin: number;
  known: boolean;
  top: { label: string; index: number; score: number }[];
}

export function addPredictCommand(program: Command, ctx: CliContext): Command {
  return program
    .command('predict')
    .description('classify image files (PNG, JPEG, ...) with a saved model')
    .argument('<images...>', 'image files; each is resized and converted to the model input')
    .requiredOption('--model <dir>', 'model directory')
    .option('--top <k>', 'number of best classes listed per image (default 3)', parsePositiveInt)
    .option('--threshold <cos>', "cosine under which a prediction is 'unknown' (default: the model's)", parseCosine)
    .addOption(new Option('--fit <mode>', 'how images are brought to the model size (default fill)').choices(FIT_MODES))
    .addOption(new Option('--backend <name>', 'compute backend (default: $HFF_BACKEND, else auto)').choices(BACKEND_CHOICES))
    .option('--json', 'print one JSON array (one object per image) as the last line of stdout')
    .action(async (images: string[], opts: PredictCliOptions) => runPredict(images, opts, ctx));
}

export async function runPredict(images: string[], opts: PredictCliOptions, ctx: CliContext): Promise<void> {
  const { io } = ctx;
  const engine = await startEngine(opts.backend);
  const { dir, net } = await loadModel(opts.model, engine);
  try {
    if (net.classes.length === 0) throw new CliError(`model ${dir} has no classes yet: teach one first (hff teach)`);
    const shape = imageShapeOf(net, dir);
    const { data, batch } = await imagesToBatch(images, shape, opts.fit);
    let predictions;
    try {
      predictions = net.predict(data, batch, { topK: opts.top ?? 3, unknownThreshold: opts.threshold });
    } catch (err) {
      throw new CliError(`prediction failed: ${(err as Error).message}`);
    }
    const records: PredictionRecord[] = predictions.map((p, i) => ({
      file: images[i],
      label: p.label,
      index: p.index,
      score: p.score,
      margin: p.margin,
      known: p.known,
      top: p.top.map((t) => ({ label: t.label, index: t.index, score: t.score })),
    }));
    if (opts.json) {
      io.out(jsonLine(records));
      return;
    }
    io.out(`model: ${dir} (${net.classes.length} classes), backend: ${engine.name}\n`);
    io.out(formatTable(records));
    io.out(
      `score: cosine similarity to the class (known when at least ${opts.threshold ?? net.config.unknownThreshold}); ` +
        "margin: score minus the runner-up's; top: the ranking with each class's score.\n",
    );
    if (records.some((r) => r.margin < 0)) {
      io.out(
        'A negative margin: a class won with a lower score than the runner-up. A taught class wins where the input is nearer ' +
          'one of its demonstrations than every training input the model kept (see README on `hff teach`); its score is that ' +
          "nearest similarity, which is not on the same scale as a trained class's.\n",
      );
    }
  } finally {
    net.dispose();
  }
}

function formatTable(records: PredictionRecord[]): string {
  const rows = [
    ['file', 'label', 'score', 'margin', 'known', 'top'],
    ...records.map((r) => [
      r.file,
      r.label,
      round(r.score, 4).toFixed(4),
      round(r.margin, 4).toFixed(4),
      r.known ? 'yes' : 'no',
      r.top.map((t) => `${t.label}:${t.score.toFixed(3)}`).join(' '),
    ]),
  ];
  const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)));
  return `${rows.map((row) => row.map((cell, c) => (c === row.length - 1 ? cell : cell.padEnd(widths[c]))).join('  ')).join('\n')}\n`;
}
