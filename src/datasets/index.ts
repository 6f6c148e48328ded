export { loadDataset } from './load';
export { subsetByClasses, datasetSlice } from './subset';
export { DATASET_NAMES, MNIST_CLASSES, FASHION_MNIST_CLASSES, CIFAR10_CLASSES } from './types';
export type { Dataset, DatasetName, DatasetSplit, LoadDatasetOptions } from './types';
