/**
 * Options shared by every way of turning a picture into a model input vector. Camera frames and
 * dataset images go through the same options so they end up in the same value distribution.
 */
import { describe } from '../describe';

export type FitMode = 'fill' | 'cover' | 'contain';

export const FIT_MODES: readonly FitMode[] = ['fill', 'cover', 'contain'];

export type Normalization = 'unit' | 'zscore' | { mean: number[]; std: number[] };

export interface ImageToVectorOptions {
  /** Output width in pixels. */
  width: number;
  /** Output height in pixels. */
  height: number;
  /** 1 = grey (luminance), 3 = RGB. */
  channels: 1 | 3;
  /**
   * How the (optionally cropped) picture is brought to width x height:
   * 'fill' stretches (default), 'cover' crops the centre to the output aspect ratio,
   * 'contain' letterboxes with black.
   */
  fit?: FitMode;
  /**
   * Fraction 0 < f <= 1 of the shorter side to keep before resizing. f < 1 keeps a centred square of
   * side round(f x shorter side), which zooms on what the camera points at; 1 (default) keeps the whole frame.
   */
  centerCrop?: number;
  /**
   * 'unit' (default): pixel / max, in [0,1], the same scaling as the datasets.
   * 'zscore': per image, (x - mean) / std over all its values (a constant image gives zeros).
   * { mean, std }: per channel, (unit value - mean[c]) / std[c]; one entry applies to every channel.
   */
  normalize?: Normalization;
}

/** Options after validation, with defaults filled in. */
export interface ResolvedImageOptions {
  width: number;
  height: number;
  channels: 1 | 3;
  fit: FitMode;
  centerCrop: number;
  normalize: Normalization;
}

/** Largest output side accepted: beyond this a vector would not be a sensible model input. */
const MAX_SIDE = 16384;

export function resolveImageOptions(options: ImageToVectorOptions, who = 'image'): ResolvedImageOptions {
  if (options === null || typeof options !== 'object') {
    throw new Error(`${who}: options must be an object with width, height and channels, got ${describe(options)}`);
  }
  for (const key of ['width', 'height'] as const) {
    const v = options[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > MAX_SIDE) {
      throw new Error(`${who}: options.${key} must be an integer from 1 to ${MAX_SIDE}, got ${describe(v)}`);
    }
  }
  if (options.channels !== 1 && options.channels !== 3) {
    throw new Error(`${who}: options.channels must be 1 (grey) or 3 (RGB), got ${describe(options.channels)}`);
  }
  const fit = options.fit ?? 'fill';
  if (!FIT_MODES.includes(fit)) {
    throw new Error(`${who}: options.fit must be one of ${FIT_MODES.join(', ')}, got ${describe(fit)}`);
  }
  const centerCrop = options.centerCrop ?? 1;
  if (typeof centerCrop !== 'number' || !(centerCrop > 0 && centerCrop <= 1)) {
    throw new Error(`${who}: options.centerCrop must be a fraction with 0 < f <= 1, got ${describe(centerCrop)}`);
  }
  const normalize = options.normalize ?? 'unit';
  if (normalize !== 'unit' && normalize !== 'zscore') {
    if (normalize === null || typeof normalize !== 'object' || !Array.isArray(normalize.mean) || !Array.isArray(normalize.std)) {
      throw new Error(`${who}: options.normalize must be 'unit', 'zscore' or { mean: number[], std: number[] }, got ${describe(normalize)}`);
    }
    for (const key of ['mean', 'std'] as const) {
      const arr = normalize[key];
      if (arr.length !== 1 && arr.length !== options.channels) {
        throw new Error(`${who}: options.normalize.${key} must have 1 or ${options.channels} entries (one per channel), got ${arr.length}`);
      }
      for (const v of arr) {
        if (typeof v !== 'number' || !Number.isFinite(v) || (key === 'std' && v <= 0)) {
          throw new Error(`${who}: options.normalize.${key} entries must be finite numbers${key === 'std' ? ' greater than 0' : ''}, got ${describe(v)}`);
        }
      }
    }
  }
  return { width: options.width, height: options.height, channels: options.channels, fit, centerCrop, normalize };
}

/**
 * Converts integer pixels (0..maxValue) to the requested normalization, in place into `out`.
 * Division rather than multiplication by 1/max keeps byte values bit-identical whichever reader produced them.
 */
export function scalePixels(
  pixels: ArrayLike<number>,
  maxValue: number,
  channels: number,
  normalize: Normalization,
  out: Float32Array = new Float32Array(pixels.length),
): Float32Array {
  const n = pixels.length;
  for (let i = 0; i < n; i++) out[i] = pixels[i] / maxValue;
  if (normalize === 'unit') return out;
  if (normalize === 'zscore') {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += out[i];
    const mean = n > 0 ? sum / n : 0;
    let sq = 0;
    for (let i = 0; i < n; i++) sq += (out[i] - mean) * (out[i] - mean);
    const std = n > 0 ? Math.sqrt(sq / n) : 0;
    // A flat image has no contrast to standardise; zeros beat dividing by ~0.
    const inv = std > 1e-12 ? 1 / std : 0;
    for (let i = 0; i < n; i++) out[i] = (out[i] - mean) * inv;
    return out;
  }
  const { mean, std } = normalize;
  for (let i = 0; i < n; i++) {
    const c = i % channels;
    const m = mean.length === 1 ? mean[0] : mean[c];
    const s = std.length === 1 ? std[0] : std[c];
    out[i] = (out[i] - m) / s;
  }
  return out;
}
