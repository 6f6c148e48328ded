import * as path from 'node:path';
import { cifarBatchDirs, cifarBatchNames, findCifarBatches, hasCifarBatches, loadCifarBinary } from './cifar';
import { isDirectory } from './common';
import { loadImageFolder, resolveFolderLayout } from './folder';
import { loadIdxDataset } from './idx';
import { CIFAR10_CLASSES, DATASET_NAMES, Dataset, DatasetSplit, LoadDatasetOptions } from './types';

/** Loads a dataset into the project's one input layout (float32 in [0,1], interleaved HWC). */
export async function loadDataset(options: LoadDatasetOptions): Promise<Dataset> {
  if (options === null || typeof options !== 'object') throw new Error('dataset: options must be an object with name and dir');
  const { name, dir } = options;
  if (!DATASET_NAMES.includes(name)) {
    throw new Error(`dataset: unknown dataset ${JSON.stringify(name)} (known: ${DATASET_NAMES.join(', ')})`);
  }
  if (typeof dir !== 'string' || dir === '') throw new Error(`${name}: dir must be a non-empty folder path, got ${JSON.stringify(dir)}`);
  const split: DatasetSplit = options.split ?? 'train';
  if (split !== 'train' && split !== 'test') throw new Error(`${name}: split must be 'train' or 'test', got ${JSON.stringify(split)}`);
  const shape = { limit: options.limit, width: options.width, height: options.height, channels: options.channels };

  switch (name) {
    case 'mnist':
    case 'fashion-mnist':
      return loadIdxDataset(name, dir, split, shape);
    case 'folder':
      return loadImageFolder('folder', resolveFolderLayout(dir, split, 'folder'), split, shape, 'folder');
    case 'cifar10':
      return loadCifar10(dir, split, shape);
  }
}

/** CIFAR-10 from the binary batches when any are present, otherwise from an image-folder copy. */
async function loadCifar10(dir: string, split: DatasetSplit, shape: { limit?: number; width?: number; height?: number; channels?: 1 | 3 }): Promise<Dataset> {
  const reader = 'cifar10';
  const batchNames = cifarBatchNames(split);
  const lookedFor =
    `the binary batches ${batchNames.join(', ')} (or .gz) in ${cifarBatchDirs(dir).join(' or ')}, ` +
    `or an image folder ${path.join(dir, split, '<class>')}/*.png|jpg|jpeg with classes ${CIFAR10_CLASSES.join(', ')}`;
  if (!isDirectory(dir)) throw new Error(`${reader}: directory ${dir} does not exist (looked for ${lookedFor})`);

  if (hasCifarBatches(dir)) {
    const { files, missing } = findCifarBatches(dir, split);
    if (missing.length > 0) {
      throw new Error(`${reader}: ${dir} holds CIFAR-10 binary batches but not ${missing.join(', ')} (or .gz) for split '${split}'`);
    }
    return loadCifarBinary(files, split, shape);
  }

  let layout;
  try {
    layout = resolveFolderLayout(dir, split, reader);
  } catch (err) {
    throw new Error(
      `${reader}: no CIFAR-10 data for split '${split}' in ${dir}: looked for ${lookedFor} (${(err as Error).message.replace(/^cifar10: /, '').replace(/ \(expected [^()]*\)$/, '')})`,
    );
  }
  const same = layout.classes.length === CIFAR10_CLASSES.length && layout.classes.every((c, i) => c === CIFAR10_CLASSES[i]);
  if (!same) {
    throw new Error(
      `${reader}: image folder ${layout.root} has classes ${layout.classes.join(', ')}, expected the CIFAR-10 classes ${CIFAR10_CLASSES.join(', ')}; ` +
        `load other class sets with the 'folder' dataset`,
    );
  }
  return loadImageFolder('cifar10', layout, split, shape, reader);
}
