/** `hff export`: the forward pass, cosine scores and argmax of a saved model as a standard ONNX graph. */
import { Command, Option } from 'commander';
import { exportOnnx } from '../onnx-export';
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
