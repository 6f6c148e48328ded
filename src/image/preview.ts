/**
 * Pictures for a person to look at (a teaching page's live view and thumbnails), made from the same payloads the
 * model reads: camera frames (JPEG/PNG bytes, sensor_msgs Image and CompressedImage) or a model input vector of an
 * image. Small pictures come out as PNG (a browser enlarges them without JPEG blocks), larger ones as JPEG.
 */
import sharp from 'sharp';
import type { Sharp } from 'sharp';
import { detectImageFormat } from './vector';
import { bytesFromCompressedMessage, isCompressedImageMessage, isImageMessage, rawFromImageMessage } from './sensor-msgs';

export interface PreviewSize {
  /** The picture is scaled down, keeping its aspect ratio, to fit inside maxWidth x maxHeight (never enlarged). */
  maxWidth: number;
  maxHeight: number;
}

export interface Preview {
  data: Buffer;
  type: 'image/png' | 'image/jpeg';
  width: number;
  height: number;
}

/** At most this many pixels: stored as PNG; above, as JPEG. */
const PNG_MAX_PIXELS = 128 * 128;
const JPEG_QUALITY = 82;

/** The size of a width x height picture scaled down to fit inside `size` (never enlarged). */
function fitInside(width: number, height: number, size: PreviewSize): { width: number; height: number } {
  const k = Math.min(1, size.maxWidth / width, size.maxHeight / height);
  return { width: Math.max(1, Math.round(width * k)), height: Math.max(1, Math.round(height * k)) };
}

async function encodeAll(img: Sharp, width: number, height: number, sizes: readonly PreviewSize[]): Promise<Preview[]> {
  return Promise.all(
    sizes.map(async (size) => {
      const out = fitInside(width, height, size);
      const resized = img.clone().resize(out.width, out.height, { fit: 'fill' });
      const small = out.width * out.height <= PNG_MAX_PIXELS;
      const data = await (small ? resized.png() : resized.jpeg({ quality: JPEG_QUALITY })).toBuffer();
      return { data, type: small ? 'image/png' : 'image/jpeg', ...out } as Preview;
    }),
  );
}

async function compressedPreviews(bytes: Uint8Array, sizes: readonly PreviewSize[], what: string): Promise<Preview[]> {
  const img = sharp(bytes, { failOn: 'error', autoOrient: true });
  const md = await img.metadata();
  const width = md.autoOrient?.width ?? md.width;
  const height = md.autoOrient?.height ?? md.height;
  if (!width || !height) throw new Error(`image: ${what} has no picture size in its header`);
  return encodeAll(img, width, height, sizes);
}

async function described<T>(what: string, make: () => Promise<T>): Promise<T> {
  try {
    return await make();
  } catch (err) {
    const text = (err as Error).message.split('\n')[0];
    throw new Error(text.startsWith('image: ') ? text : `image: cannot make a preview of ${what}: ${text}`);
  }
}

/**
 * Previews of a camera payload, one per requested size, or undefined when the payload is not a picture
 * (a number array, say): the caller then draws the model input instead (vectorPreviews).
 */
export async function picturePreviews(input: unknown, sizes: readonly PreviewSize[]): Promise<Preview[] | undefined> {
  if (input instanceof Uint8Array) {
    if (!detectImageFormat(input)) return undefined;
    return described('the image bytes', () => compressedPreviews(input, sizes, 'the image bytes'));
  }
  if (isImageMessage(input)) {
    const p = rawFromImageMessage(input);
    const what = `a sensor_msgs/Image ${p.width}x${p.height} ${p.encoding}`;
    const img = sharp(p.data, { raw: { width: p.width, height: p.height, channels: p.channels } });
    return described(what, () => encodeAll(p.bits === 16 ? img.toColourspace('b-w') : img, p.width, p.height, sizes));
  }
  if (isCompressedImageMessage(input)) {
    const { bytes } = bytesFromCompressedMessage(input);
    return described('a sensor_msgs/CompressedImage', () => compressedPreviews(bytes, sizes, 'a sensor_msgs/CompressedImage'));
  }
  return undefined;
}

/**
 * Previews of a model input vector laid out as an image (height x width x channels, interleaved), whatever its
 * normalisation: values within [0, 1] are shown as they are, others stretched from their minimum to their maximum.
 */
export async function vectorPreviews(vector: ArrayLike<number>, shape: readonly [number, number, number], sizes: readonly PreviewSize[]): Promise<Preview[]> {
  const [height, width, channels] = shape;
  if (vector.length !== height * width * channels || (channels !== 1 && channels !== 3)) {
    throw new Error(`image: a vector of ${vector.length} values cannot be drawn as a ${height}x${width}x${channels} picture`);
  }
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < vector.length; i++) {
    min = Math.min(min, vector[i]);
    max = Math.max(max, vector[i]);
  }
  const unit = min >= 0 && max <= 1;
  const offset = unit ? 0 : min;
  const scale = unit ? 255 : max > min ? 255 / (max - min) : 0;
  const bytes = Buffer.alloc(vector.length);
  for (let i = 0; i < vector.length; i++) bytes[i] = Math.round((vector[i] - offset) * scale);
  return described('the model input', () => encodeAll(sharp(bytes, { raw: { width, height, channels } }), width, height, sizes));
}
