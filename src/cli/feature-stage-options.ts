/** The `--feature-*` options of the commands that build a network (`hff train`, `hff bench-teach`). */
import { type Command, InvalidArgumentError, Option } from 'commander';
import type { FeatureStageOptions } from '../feature-stage/feature-stage';

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

export function addFeatureStageOptions(command: Command): Command {
  return command
    .option('--feature-stage <file.onnx>', 'run this image-to-vector ONNX network before the layers (its input size: the images, see --width/--height)')
    .option('--feature-mean <list>', 'per-channel mean the feature stage subtracts from pixel values in [0,1] (default 0)', parseNumberList)
    .option('--feature-std <list>', 'per-channel standard deviation it divides by (default 1)', parseNumberList)
    .addOption(new Option('--feature-layout <layout>', "the feature stage's input layout (default nchw)").choices(['nchw', 'nhwc']))
    .option('--feature-bgr', 'the feature stage takes channels in BGR order (default RGB)')
    .option('--feature-output <name>', "the feature stage's output to use (default its first)");
}

/** The feature stage of the options, for the images the command loads; undefined without --feature-stage. */
export function featureStageOf(opts: FeatureStageCliOptions): Omit<FeatureStageOptions, 'inputShape'> | undefined {
  if (opts.featureStage === undefined) return undefined;
  return {
    file: opts.featureStage,
    ...(opts.featureMean ? { mean: opts.featureMean } : {}),
    ...(opts.featureStd ? { std: opts.featureStd } : {}),
    ...(opts.featureLayout ? { layout: opts.featureLayout } : {}),
    ...(opts.featureBgr ? { channelOrder: 'bgr' as const } : {}),
    ...(opts.featureOutput ? { outputName: opts.featureOutput } : {}),
  };
}
