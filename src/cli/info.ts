/** `hff info`: what a saved model is, how it was trained, and what runs it here. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command, Option } from 'commander';
import { describeEngine, engineFallbackReason } from '../engines/backend';
import { BACKEND_CHOICES, CliContext, CliError, jsonLine, percent, startEngine } from './common';
import { loadModel } from './model';
import { stackInputSize } from '../hff/config';
import { packageVersion } from '../package-info';

export interface InfoCliOptions {
  model?: string;
  backend?: string;
  json?: boolean;
}

export function addInfoCommand(program: Command, ctx: CliContext): Command {
  return program
    .command('info')
    .description('describe the compute engine in use and, with --model, a saved model: architecture, classes, training facts, size')
    .option('--model <dir>', 'model directory')
    .addOption(new Option('--backend <name>', 'compute backend (default: $HFF_BACKEND, else auto)').choices(BACKEND_CHOICES))
    .option('--json', 'print one JSON object as the last line of stdout')
    .action(async (opts: InfoCliOptions) => runInfo(opts, ctx));
}

export async function runInfo(opts: InfoCliOptions, ctx: CliContext): Promise<void> {
  const { io } = ctx;
  const engine = await startEngine(opts.backend);
  const engineInfo = { backend: engine.name, engine: describeEngine(engine.name), engine_fallback: engineFallbackReason(opts.backend) ?? null };
  const fallbackLine = engineInfo.engine_fallback ? [`  ${engineInfo.engine_fallback}`] : [];
  if (opts.model === undefined) {
    const lines = [`backend: ${engineInfo.engine}`, ...fallbackLine, `package: node-red-contrib-hff ${packageVersion()}`];
    io.out(opts.json ? jsonLine({ ...engineInfo, package_version: packageVersion() }) : `${lines.join('\n')}\n`);
    return;
  }
  const { dir, net } = await loadModel(opts.model, engine);
  try {
    let manifest: Record<string, unknown>;
    try {
      manifest = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8')) as Record<string, unknown>;
    } catch (err) {
      throw new CliError(`cannot read ${path.join(dir, 'model.json')}: ${(err as Error).message}`);
    }
    const weights = manifest.weights as { file: string; bytes: number };
    const files = ['model.json', weights.file].map((name) => ({ name, bytes: fs.statSync(path.join(dir, name)).size }));
    const sizeBytes = files.reduce((a, f) => a + f.bytes, 0);
    const c = net.config;
    let parameters = 0;
    let inputs = stackInputSize(c);
    for (const units of c.layers) {
      parameters += inputs * units + units + net.classes.length * c.prototypesPerClass * units;
      inputs = units;
    }
    const classes = net.classes.map((label, index) => ({ label, index, count: net.counts[index] }));
    const info = {
      model: dir,
      format: manifest.format,
      format_version: manifest.formatVersion,
      kind: manifest.kind,
      version: net.version,
      saved_at: manifest.savedAt ?? null,
      saved_engine: manifest.engine ?? null,
      ...engineInfo,
      package_version: packageVersion(),
      architecture: {
        input_size: c.inputSize,
        input_shape: c.inputShape ?? null,
        feature_stage: c.featureStage ?? null,
        layers: c.layers,
        activation: c.activation,
        parameters,
      },
      config: c,
      classes,
      metadata: net.metadata,
      taught_classes: net.taughtClassNames(),
      taught_demonstrations: Object.fromEntries(net.taughtClassNames().map((n) => [n, net.demonstrationCount(n)])),
      teaching_representation: net.teachingRepresentation.representation,
      teaching_scoring: net.teachingRepresentation.scoring,
      teaching_choice_scores: net.teachingRepresentation.scores,
      trained_reference_samples: net.trainedReferenceSize,
      files,
      size_bytes: sizeBytes,
    };
    if (opts.json) {
      io.out(jsonLine(info));
      return;
    }
    const training = (net.metadata.training ?? {}) as Record<string, unknown>;
    const lines = [
      `model: ${dir}`,
      `format: ${String(manifest.format)} v${String(manifest.formatVersion)}, model version ${net.version}, saved ${String(manifest.savedAt ?? 'unknown')}`,
      `architecture: ${[c.inputSize, ...(c.featureStage ? [`features ${c.featureStage.outputSize}`] : []), ...c.layers].join('-')}${c.inputShape ? ` (input ${c.inputShape.join('x')} HxWxC)` : ''}, ${c.activation}, tau ${c.tau}, ${parameters} parameters`,
      ...(c.featureStage
        ? [
            `feature stage: ${c.featureStage.file} (sha256 ${c.featureStage.sha256.slice(0, 16)}..., ${c.featureStage.layout.toUpperCase()} ${c.featureStage.channelOrder.toUpperCase()}, ` +
              `mean ${c.featureStage.mean.join(',')}, std ${c.featureStage.std.join(',')}, output ${c.featureStage.outputName})`,
          ]
        : []),
      `classes (${classes.length}): ${classes.map((k) => `${k.label} (${k.count})`).join(', ') || '(none)'}`,
      `backend: ${engineInfo.engine}, model saved with ${String(manifest.engine ?? 'unknown')}`,
      ...fallbackLine,
      `size: ${sizeBytes} bytes (${files.map((f) => `${f.name} ${f.bytes}`).join(', ')})`,
      `teaching: ${
        info.taught_classes.length
          ? `taught ${info.taught_classes.map((n) => `${n} (${info.taught_demonstrations[n]} demonstrations)`).join(', ')}, scored by their ${info.teaching_scoring === 'mean' ? 'mean' : 'nearest demonstration'} in '${info.teaching_representation}'${describeChoice(info.teaching_choice_scores)}`
          : 'no taught classes'
      }`,
      info.trained_reference_samples
        ? `  a taught class wins when an input is nearer one of its demonstrations than all ${info.trained_reference_samples} kept training inputs`
        : `  no kept training inputs: taught classes meet trained ones on the trained layers' prototypes`,
    ];
    if (Object.keys(training).length > 0) {
      lines.push(
        `trained: ${String(training.dataset)} ${String(training.split ?? '')}, ${String(training.n ?? '?')} examples, ${String(training.epochs)} epoch(s), seed ${String(training.seed)}` +
          `, ${String(training.secondsPerEpoch)} s/epoch on ${String(training.backend)}, ${String(training.date)}`,
        `  train accuracy ${percent(training.trainAccuracy as number)}, test accuracy ${percent(training.testAccuracy as number | undefined)}`,
        `  command: ${String(training.command)}`,
      );
    }
    io.out(`${lines.join('\n')}\n`);
  } finally {
    net.dispose();
  }
}

/** " (leave-one-out: layers 0.83, input 0.71)", best first, or nothing before a choice was made. */
function describeChoice(scores: Record<string, number>): string {
  const entries = Object.entries(scores).sort((a, b) => b[1] - a[1]);
  return entries.length ? ` (leave-one-out: ${entries.map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')})` : '';
}
