/** Loading a saved model and turning image files into its input, shared by predict, teach, eval and info. */
import type { Engine } from '../engines/types';
import type { HffNetwork } from '../hff/network';
import type { FitMode } from '../image/options';
import { CliError, requireFiles, requireModelDir } from './common';

export interface LoadedModel {
  dir: string;
  net: HffNetwork;
}

/** Loads and validates a model directory; every failure names the directory and what is wrong. */
export async function loadModel(dir: string, engine: Engine): Promise<LoadedModel> {
  const target = requireModelDir(dir);
  const { loadNetwork } = require('../hff/persistence') as typeof import('../hff/persistence');
  try {
    return { dir: target, net: await loadNetwork(target, engine) };
  } catch (err) {
    const message = (err as Error).message;
    throw new CliError(message.includes(target) ? `cannot load model: ${message}` : `cannot load model ${target}: ${message}`);
  }
}

/** Height, width, channels the model's images have; an error when the model was not trained on images. */
export function imageShapeOf(net: HffNetwork, dir: string): { height: number; width: number; channels: 1 | 3 } {
  const shape = net.config.inputShape;
  if (!shape) {
    throw new CliError(
      `model ${dir} takes vectors of length ${net.inputSize} without an image shape (config.inputShape), so image files cannot be converted to its input`,
    );
  }
  const [height, width, channels] = shape;
  if (channels !== 1 && channels !== 3) {
    throw new CliError(`model ${dir} has ${channels} input channels; image files can only be converted to 1 (grey) or 3 (RGB)`);
  }
  return { height, width, channels };
}

/** Decodes, resizes and converts image files to one row-major batch in the model's input layout. */
export async function imagesToBatch(
  files: readonly string[],
  shape: { height: number; width: number; channels: 1 | 3 },
  fit?: FitMode,
): Promise<{ data: Float32Array; batch: number }> {
  requireFiles(files);
  const { imageFileToVector } = require('../image/vector') as typeof import('../image/vector');
  const size = shape.height * shape.width * shape.channels;
  const data = new Float32Array(files.length * size);
  for (let i = 0; i < files.length; i++) {
    try {
      const { vector } = await imageFileToVector(files[i], { width: shape.width, height: shape.height, channels: shape.channels, fit });
      data.set(vector, i * size);
    } catch (err) {
      throw new CliError((err as Error).message.replace(/^image: /, ''));
    }
  }
  return { data, batch: files.length };
}
