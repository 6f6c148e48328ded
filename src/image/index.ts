export { imageToVector, imageFileToVector, detectImageFormat } from './vector';
export type { ImageMeta, ImageVector, CompressedFormat } from './vector';
export { FIT_MODES } from './options';
export type { ImageToVectorOptions, FitMode, Normalization } from './options';
export { SUPPORTED_ENCODINGS } from './sensor-msgs';
export type { ImageEncoding } from './sensor-msgs';
export { picturePreviews, vectorPreviews } from './preview';
export type { Preview, PreviewSize } from './preview';
