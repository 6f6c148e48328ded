/**
 * `hff export`: the forward pass, cosine scores and argmax of a saved model as a standard ONNX graph.
 * `hff export-stage`: a model's conv blocks as a feature stage (image -> vector) for `--feature-stage`.
 */
import { Command, Option } from 'commander';
import { exportOnnx } from '../onnx-export';
import { STAGE_VECTORS, type StageVector, exportFeatureStage } from '../onnx-export/feature-stage';
import { CliContext, CliError, jsonLine } from './common';

export interface ExportCliOptions {
  model: string;
  onnx: string;
  opset?: string;
  json?: boolean;
}

export function addExportCommand(program: Command, ctx: CliContext): Command {
  return program
    .command('export')
    .description('write a saved model as an ONNX graph (forward pass, cosine scores, argmax; class names in metadata)')
    .requiredOption('--model <dir>', 'model directory')
    .requiredOption('--onnx <file>', 'ONNX file to write')
    .addOption(new Option('--opset <n>', 'ONNX opset version').choices(['13', '14', '15', '16', '17']).default('13'))
    .option('--json', 'print one JSON object as the last line of stdout')
    .action(async (opts: ExportCliOptions) => runExport(opts, ctx));
}

export async function runExport(opts: ExportCliOptions, ctx: CliContext): Promise<void> {
  let summary;
  try {
    summary = await exportOnnx(opts.model, opts.onnx, { opset: Number(opts.opset ?? 13) });
  } catch (err) {
    throw new CliError(`export failed: ${(err as Error).message}`);
  }
  for (const warning of summary.warnings) ctx.io.err(`warning: ${warning}\n`);
  if (opts.json) {
    ctx.io.out(jsonLine(summary));
    return;
  }
  ctx.io.out(
    `wrote ${summary.path} (${summary.bytes} bytes, opset ${summary.opset}): input ${summary.inputSize} -> ` +
      `layers ${summary.layers.join(',')} -> ${summary.classes.length} classes; outputs ${summary.outputs.join(', ')}\n`,
  );
}

export interface ExportStageCliOptions {
  model: string;
  onnx: string;
  vector: StageVector;
  json?: boolean;
}

export function addExportStageCommand(program: Command, ctx: CliContext): Command {
  return program
    .command('export-stage')
    .description("write a model's convolutional blocks as a feature stage ONNX (image -> vector) for --feature-stage")
    .requiredOption('--model <dir>', 'model directory (its bottom layers conv blocks, such as --layers c32k3p2,c64k3p2,c128k3p2)')
    .requiredOption('--onnx <file>', 'ONNX file to write')
    .addOption(
      new Option('--vector <kind>', "the stage's output: the top block's pooled unit vector, or every block's side by side")
        .choices([...STAGE_VECTORS])
        .default('blocks'),
    )
    .option('--json', 'print one JSON object as the last line of stdout')
    .action(async (opts: ExportStageCliOptions) => runExportStage(opts, ctx));
}

export async function runExportStage(opts: ExportStageCliOptions, ctx: CliContext): Promise<void> {
  let summary;
  try {
    summary = await exportFeatureStage(opts.model, opts.onnx, opts.vector);
  } catch (err) {
    throw new CliError(`export-stage failed: ${(err as Error).message}`);
  }
  if (opts.json) {
    ctx.io.out(jsonLine(summary));
    return;
  }
  const [h, w, c] = summary.inputShape;
  ctx.io.out(
    `wrote ${summary.path} (${summary.bytes} bytes): images ${h}x${w}x${c} (NCHW, ${c === 3 ? 'RGB' : 'grey'} in [0,1]) -> blocks ${summary.blocks.join(',')} -> ` +
      `${summary.outputSize} features (${summary.vector}); use it with --feature-stage ${summary.path} --width ${w} --height ${h}\n`,
  );
}
