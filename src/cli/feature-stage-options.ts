/** The `--feature-*` options of the commands that build a network (`hff train`, `hff bench-teach`). */
import { type Command, InvalidArgumentError, Option } from 'commander';
import type { FeatureStageOptions } from '../feature-stage/feature-stage';
import { SHIPPED_STAGES, isStageName, shippedStage } from '../feature-stage/shipped';
import { CliError } from './common';

export interface FeatureStageCliOptions {
  featureStage?: string;
  featureMean?: number[];
  featureStd?: number[];
  featureLayout?: 'nchw' | 'nhwc';
  featureBgr?: boolean;
  featureOutput?: string;
}

/** "0.485,0.456,0.406" -> numbers (one, or one per channel). */
function parseNumberList(value: string): number[] {
  const parts = value.split(',').map((s) => s.trim());
  if (parts.some((p) => p === '' || !Number.isFinite(Number(p))))
    throw new InvalidArgumentError('expected one number or one per channel, e.g. 0.485,0.456,0.406.');
  return parts.map(Number);
}

/** A file path as given, or the name of a shipped stage (an unknown name is a usage error listing the shipped ones). */
function parseFeatureStage(value: string): string {
  if (!isStageName(value)) return value;
  try {
    return shippedStage(value).name;
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

export function addFeatureStageOptions(command: Command): Command {
  return command
    .option(
      '--feature-stage <file.onnx|name>',
      `run this image-to-vector ONNX network before the layers (its input size: the images, see --width/--height), or a stage shipped in the package by name: ${SHIPPED_STAGES.map((s) => s.name).join(', ')}`,
      parseFeatureStage,
    )
    .option('--feature-mean <list>', 'per-channel mean the feature stage subtracts from pixel values in [0,1] (default 0)', parseNumberList)
    .option('--feature-std <list>', 'per-channel standard deviation it divides by (default 1)', parseNumberList)
    .addOption(new Option('--feature-layout <layout>', "the feature stage's input layout (default nchw)").choices(['nchw', 'nhwc']))
    .option('--feature-bgr', 'the feature stage takes channels in BGR order (default RGB)')
    .option('--feature-output <name>', "the feature stage's output to use (default its first)");
}

/** The feature stage of the options, for the images the command loads; undefined without --feature-stage. */
export function featureStageOf(opts: FeatureStageCliOptions): Omit<FeatureStageOptions, 'inputShape'> | undefined {
  if (opts.featureStage === undefined) return undefined;
  if (isStageName(opts.featureStage)) {
    const own = (['featureMean', 'featureStd', 'featureLayout', 'featureBgr', 'featureOutput'] as const).filter((k) => opts[k] !== undefined);
    if (own.length > 0) {
      const flags = own.map((k) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`);
      throw new CliError(
        `${flags.join(', ')}: the shipped feature stage ${opts.featureStage} has its own settings; these options are for an ONNX file of your own`,
        2,
      );
    }
  }
  return {
    file: opts.featureStage,
    ...(opts.featureMean ? { mean: opts.featureMean } : {}),
    ...(opts.featureStd ? { std: opts.featureStd } : {}),
    ...(opts.featureLayout ? { layout: opts.featureLayout } : {}),
    ...(opts.featureBgr ? { channelOrder: 'bgr' as const } : {}),
    ...(opts.featureOutput ? { outputName: opts.featureOutput } : {}),
  };
}
