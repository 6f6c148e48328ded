/** Value of the manifest's `format` field: identifies an HFF model directory. */
export const MODEL_FORMAT = 'hff-model';
/** Version written by this code. */
export const MODEL_FORMAT_VERSION = 1;
/** Versions this code can read. */
export const SUPPORTED_FORMAT_VERSIONS: readonly number[] = [1];
/** Name of the manifest inside a model directory. */
export const MANIFEST_FILE = 'model.json';
/** Manifest keys owned by the format; a caller's values for them are replaced on save. */
export const RESERVED_MANIFEST_FIELDS: readonly string[] = ['format', 'formatVersion', 'weights', 'tensors'];

/** One tensor: row-major float32 values and their shape (an empty shape is a scalar holding one value). */
export interface NamedTensor {
  shape: number[];
  data: Float32Array;
}

/**
 * Everything a model directory holds. On load, `manifest` is the whole parsed `model.json`, including the
 * format's own fields, so that it can be saved back unchanged.
 */
export interface ModelFiles {
  manifest: Record<string, unknown>;
  tensors: Record<string, NamedTensor>;
}

/** The manifest's `weights` field. */
export interface WeightsEntry {
  file: string;
  sha256: string;
  bytes: number;
}

/** One element of the manifest's `tensors` field; `offset` is in bytes from the start of the weights file. */
export interface TensorEntry {
  name: string;
  shape: number[];
  offset: number;
}

/** Hex digits of the SHA-256 that name a weights file, so that different contents never share a name. */
export const WEIGHTS_HASH_PREFIX_LENGTH = 16;
/** Any weights file this format may have written; only these are ever deleted by a save. */
export const WEIGHTS_FILE_PATTERN = /^weights-([0-9a-f]+)\.bin$/;
/** Temporary files of an unfinished save; only these, besides unreferenced weights, are ever deleted by a save. */
export const TEMP_FILE_PATTERN = /^\.(?:model\.json|weights-[0-9a-f]+\.bin)\.tmp-/;

export function weightsFileName(sha256: string): string {
  return `weights-${sha256.slice(0, WEIGHTS_HASH_PREFIX_LENGTH)}.bin`;
}

/** Number of values a shape holds (1 for a scalar). */
export function elementCount(shape: readonly number[]): number {
  return shape.reduce((product, dimension) => product * dimension, 1);
}

/** Why a shape is unusable, or undefined when every entry is a positive whole number and the size is representable. */
export function shapeProblem(shape: unknown): string | undefined {
  if (!Array.isArray(shape)) return 'shape is not an array';
  for (let i = 0; i < shape.length; i++) {
    const d: unknown = shape[i];
    if (typeof d !== 'number' || !Number.isInteger(d) || d <= 0) {
      return `shape entry ${i} is ${JSON.stringify(d) ?? String(d)}, expected a positive whole number`;
    }
  }
  if (!Number.isSafeInteger(elementCount(shape as number[]) * 4)) return 'shape holds too many values';
  return undefined;
}

export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}
