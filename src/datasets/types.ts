export type DatasetName = 'mnist' | 'fashion-mnist' | 'cifar10' | 'folder';

export const DATASET_NAMES: readonly DatasetName[] = ['mnist', 'fashion-mnist', 'cifar10', 'folder'];

export type DatasetSplit = 'train' | 'test';

/**
 * A labelled image set in the project's one input layout: pixels in [0,1] as float32, interleaved HWC
 * (row-major, channels last: RGBRGB...), the layout of camera frames and of `imageToVector`.
 */
export interface Dataset {
  name: string;
  split: DatasetSplit;
  /** Number of samples. */
  n: number;
  height: number;
  width: number;
  channels: number;
  /** height * width * channels. */
  inputSize: number;
  /** n * inputSize values; sample i is images.subarray(i * inputSize, (i + 1) * inputSize). */
  images: Float32Array;
  /** Class index per sample, into `classes`. */
  labels: Int32Array;
  classes: string[];
}

export interface LoadDatasetOptions {
  name: DatasetName;
  /**
   * mnist / fashion-mnist: folder with the IDX files (gzipped or not).
   * cifar10: folder with the binary batches (or its cifar-10-batches-bin sub-folder), or an image-folder copy.
   * folder: <dir>/<split>/<class>/*.png|jpg|jpeg, or <dir>/<class>/* (then only split 'train').
   */
  dir: string;
  /** Default 'train'. */
  split?: DatasetSplit;
  /**
   * Keep only the first `limit` samples in the dataset's order. IDX and CIFAR-10 binary files keep their file
   * order (already mixed by their authors), so the first N are not exactly class-balanced. Image folders are
   * ordered by taking one image from each class in turn, so the first N are class-balanced (within one image per
   * class, until a class runs out).
   */
  limit?: number;
  /** Output width; default the source width (for folders: the first image's). Give width and height together. */
  width?: number;
  /** Output height; default the source height (for folders: the first image's). */
  height?: number;
  /**
   * Output channels; default the source's (for folders: the first image's, grey -> 1, colour -> 3).
   * Images of another size or channel count are converted to this one through `imageToVector`'s decode path.
   */
  channels?: 1 | 3;
}

export const MNIST_CLASSES: readonly string[] = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];

export const FASHION_MNIST_CLASSES: readonly string[] = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
];

/** CIFAR-10 label order (batches.meta.txt), which is also the alphabetical order of the class folder names. */
export const CIFAR10_CLASSES: readonly string[] = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];
