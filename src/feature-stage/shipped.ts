/**
 * Feature stages shipped in the package (folder `stages/`), chosen by name instead of a path: `--feature-stage
 * cifar10-conv`, or the hff-model dialog's choice. Each was written by `hff export-stage` from a model our engine
 * trained; its SHA-256 is recorded here, so a damaged or replaced file is refused like any model's stage file.
 */
import * as path from 'node:path';
import { packageRoot } from '../package-info';

export interface ShippedStage {
  name: string;
  /** Path inside the package. */
  file: string;
  sha256: string;
  /** Height, width, channels of the images it takes (NCHW RGB in [0,1]: a stage's default settings). */
  inputShape: [number, number, number];
  outputSize: number;
  description: string;
}

export const SHIPPED_STAGES: readonly ShippedStage[] = [
  {
    name: 'cifar10-conv',
    file: 'stages/cifar10-conv.onnx',
    sha256: '8d06cb5cfb59b6b1c917d66d3e9f98ab2c35f19d223885571b012c17b3af5bda',
    inputShape: [32, 32, 3],
    outputSize: 224,
    description: "conv HFF blocks 32-64-128 trained by this package on all of CIFAR-10 (64.29% test), 32x32 colour, every block's pooled unit vector",
  },
];

/**
 * Whether a feature stage value names a shipped stage rather than a file: a name has no folder and no `.onnx`
 * ending (`cifar10-conv`); `./cifar10-conv.onnx` or `stages/x.onnx` are files.
 */
export function isStageName(value: string): boolean {
  return !/[\\/]/.test(value) && !/\.onnx$/i.test(value);
}

/** The shipped stage of this name; an unknown name is refused with the list of shipped ones. */
export function shippedStage(name: string): ShippedStage {
  const stage = SHIPPED_STAGES.find((s) => s.name === name);
  if (!stage) {
    throw new Error(
      `unknown feature stage name ${JSON.stringify(name)}: the shipped stages are ${SHIPPED_STAGES.map((s) => s.name).join(', ')} ` +
        '(or give the path of an ONNX file, ending in .onnx)',
    );
  }
  return stage;
}

/** Where a shipped stage's file is in this installation. */
export function shippedStagePath(stage: ShippedStage, root = packageRoot()): string {
  return path.join(root, stage.file);
}

/** The shipped stage whose file has this checksum (a model made with it, opened from another installation). */
export function shippedStageWithChecksum(sha256: string): ShippedStage | undefined {
  return SHIPPED_STAGES.find((s) => s.sha256 === sha256);
}
