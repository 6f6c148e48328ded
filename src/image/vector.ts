/**
 * Camera payloads and image files to model input vectors: Float32Array of width*height*channels,
 * interleaved HWC (RGBRGB..., row-major), the layout sharp and cameras produce and that every dataset reader uses.
 */
import { promises as fsp } from 'node:fs';
import sharp from 'sharp';
import { describe } from '../describe';
import type { Sharp } from 'sharp';
import { ImageToVectorOptions, ResolvedImageOptions, resolveImageOptions, scalePixels } from './options';
import {
  MAX_INPUT_PIXELS,
  RawPixels,
  SUPPORTED_ENCODINGS,
  bytesFromCompressedMessage,
  isCompressedImageMessage,
  isImageMessage,
  rawFromImageMessage,
} from './sensor-msgs';

export interface ImageMeta {
  source: 'sensor_msgs/Image' | 'sensor_msgs/CompressedImage' | 'jpeg' | 'png' | 'vector' | 'file';
  /** Size of the incoming picture (after EXIF orientation for files and compressed data). */
  width: number;
  height: number;
  /** sensor_msgs/Image encoding, CompressedImage format, or the detected file format. */
  encoding?: string;
  outWidth: number;
  outHeight: number;
  channels: number;
}

export interface ImageVector {
  vector: Float32Array;
  meta: ImageMeta;
}

export type CompressedFormat = 'jpeg' | 'png';

/** Format of a compressed picture from its first bytes; names are not trusted. */
export function detectImageFormat(bytes: Uint8Array): CompressedFormat | undefined {
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  const png = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (bytes.length >= 8 && png.every((b, i) => bytes[i] === b)) return 'png';
  return undefined;
}

/** What the decoder is given: compressed bytes, or raw pixels already unpacked from a message. */
export type DecodeInput = { kind: 'compressed'; bytes: Uint8Array; label: string } | { kind: 'raw'; pixels: RawPixels; label: string };

export interface Decoded {
  vector: Float32Array;
  /** Source size, only known when asked for (it costs a header read for compressed input). */
  width?: number;
  height?: number;
}

function sharpError(label: string, err: unknown): Error {
  const text = err instanceof Error ? err.message : String(err);
  if (text.startsWith('image: ')) return err as Error;
  if (text.includes('exceeds pixel limit')) {
    return new Error(
      `image: ${label} declares more than ${MAX_INPUT_PIXELS} pixels in its header; at most ${MAX_INPUT_PIXELS} pixels are accepted (refused before decoding)`,
    );
  }
  // libvips repeats its warnings once per decode attempt, one per line.
  const lines = [
    ...new Set(
      text
        .split('\n')
        .map((l) => l.trim().replace(/:$/, ''))
        .filter((l) => l !== ''),
    ),
  ];
  return new Error(`image: cannot decode ${label}: ${lines.join('; ')}`);
}

/**
 * The single decode path: optional centre crop, resize to the output size with the chosen fit, convert to grey
 * or RGB, drop alpha, scale. Dataset folders and live camera frames both come through here.
 */
export async function decodeToVector(input: DecodeInput, o: ResolvedImageOptions, wantSourceSize: boolean): Promise<Decoded> {
  const sixteen = input.kind === 'raw' && input.pixels.bits === 16;
  let img: Sharp;
  let width: number | undefined;
  let height: number | undefined;
  try {
    if (input.kind === 'raw') {
      const p = input.pixels;
      img = sharp(p.data, { raw: { width: p.width, height: p.height, channels: p.channels } });
      width = p.width;
      height = p.height;
    } else {
      // 'error' rather than the default 'warning': camera JPEGs often carry harmless warnings, broken data still fails.
      // sharp checks the pixel limit from the header, before decoding anything.
      img = sharp(input.bytes, { failOn: 'error', autoOrient: true, limitInputPixels: MAX_INPUT_PIXELS });
      if (wantSourceSize || o.centerCrop < 1) {
        const md = await img.metadata();
        width = md.autoOrient?.width ?? md.width;
        height = md.autoOrient?.height ?? md.height;
        if (!width || !height) throw new Error('no image size in the header');
      }
    }
    if (o.centerCrop < 1) {
      const w = width as number;
      const h = height as number;
      const side = Math.max(1, Math.round(o.centerCrop * Math.min(w, h)));
      img = img.extract({ left: Math.floor((w - side) / 2), top: Math.floor((h - side) / 2), width: side, height: side });
    }
    img = img
      .resize(o.width, o.height, { fit: o.fit, position: 'centre', background: { r: 0, g: 0, b: 0, alpha: 1 } })
      .toColourspace(o.channels === 1 ? (sixteen ? 'grey16' : 'b-w') : sixteen ? 'rgb16' : 'srgb')
      .removeAlpha()
      .raw({ depth: sixteen ? 'ushort' : 'uchar' });
    const { data, info } = await img.toBuffer({ resolveWithObject: true });
    if (info.width !== o.width || info.height !== o.height || info.channels !== o.channels) {
      throw new Error(`decoder produced ${info.width}x${info.height}x${info.channels} instead of ${o.width}x${o.height}x${o.channels}`);
    }
    // A Uint16Array view needs an even byte offset; copy in the unlikely case sharp hands back an odd one.
    const aligned = data.byteOffset % 2 === 0 ? data : Buffer.from(data);
    const pixels = sixteen ? new Uint16Array(aligned.buffer, aligned.byteOffset, aligned.length / 2) : data;
    const vector = scalePixels(pixels, sixteen ? 65535 : 255, o.channels, o.normalize);
    return { vector, width, height };
  } catch (err) {
    throw sharpError(input.label, err);
  }
}

function vectorFromNumbers(values: ArrayLike<unknown>, o: ResolvedImageOptions): Float32Array {
  const expected = o.width * o.height * o.channels;
  if (values.length !== expected) {
    throw new Error(`image: vector has length ${values.length}, expected width x height x channels = ${o.width} x ${o.height} x ${o.channels} = ${expected}`);
  }
  const out = new Float32Array(expected);
  for (let i = 0; i < expected; i++) {
    const v = values[i];
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new Error(`image: vector element ${i} is ${typeof v === 'number' ? String(v) : JSON.stringify(v)}, expected a finite number`);
    }
    // Float64 values outside float32 range would become Infinity.
    const f = Math.fround(v);
    if (!Number.isFinite(f)) throw new Error(`image: vector element ${i} is ${v}, outside the float32 range`);
    out[i] = f;
  }
  return out;
}

async function compressedToVector(
  bytes: Uint8Array,
  o: ResolvedImageOptions,
  source: ImageMeta['source'],
  label: string,
  encoding: string | undefined,
): Promise<ImageVector> {
  const format = detectImageFormat(bytes);
  if (!format) {
    const head = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
    throw new Error(`image: ${label} is neither JPEG (ff d8 ff) nor PNG (89 50 4e 47); it starts with ${head || 'nothing (empty)'}`);
  }
  const d = await decodeToVector({ kind: 'compressed', bytes, label }, o, true);
  return {
    vector: d.vector,
    meta: {
      source: source === 'jpeg' || source === 'png' ? format : source,
      width: d.width as number,
      height: d.height as number,
      encoding: encoding ?? format,
      outWidth: o.width,
      outHeight: o.height,
      channels: o.channels,
    },
  };
}

/**
 * Turns a camera payload into a model input vector.
 * Accepts a sensor_msgs/msg/Image-shaped object, a sensor_msgs/msg/CompressedImage-shaped object,
 * JPEG/PNG bytes (Buffer or Uint8Array, recognised by magic bytes), or a ready vector (number[],
 * Float32Array, Float64Array) of length width*height*channels, which is passed through unchanged
 * (no normalization) after checking it is finite.
 */
export async function imageToVector(input: unknown, options: ImageToVectorOptions): Promise<ImageVector> {
  const o = resolveImageOptions(options);
  const out = { outWidth: o.width, outHeight: o.height, channels: o.channels };

  if (input instanceof Float32Array || input instanceof Float64Array || Array.isArray(input)) {
    return { vector: vectorFromNumbers(input, o), meta: { source: 'vector', width: o.width, height: o.height, ...out } };
  }
  if (input instanceof Uint8Array || input instanceof ArrayBuffer) {
    const bytes = input instanceof ArrayBuffer ? new Uint8Array(input) : input;
    if (!detectImageFormat(bytes)) {
      throw new Error(`image: ${describe(bytes)} is neither JPEG nor PNG; raw pixels need a sensor_msgs/Image object {width, height, encoding, step, data}`);
    }
    return compressedToVector(bytes, o, 'jpeg', 'image bytes', undefined);
  }
  if (isImageMessage(input)) {
    const pixels = rawFromImageMessage(input);
    const label = `sensor_msgs/Image ${pixels.width}x${pixels.height} ${pixels.encoding}`;
    const d = await decodeToVector({ kind: 'raw', pixels, label }, o, true);
    return {
      vector: d.vector,
      meta: { source: 'sensor_msgs/Image', width: pixels.width, height: pixels.height, encoding: pixels.encoding, ...out },
    };
  }
  if (isCompressedImageMessage(input)) {
    const { bytes, format } = bytesFromCompressedMessage(input);
    return compressedToVector(bytes, o, 'sensor_msgs/CompressedImage', `sensor_msgs/CompressedImage (format '${format}')`, format);
  }
  if (input !== null && typeof input === 'object' && ('height' in input || 'width' in input || 'data' in input)) {
    throw new Error(
      `image: ${describe(input)} looks like an image message but lacks fields: a sensor_msgs/Image needs height, width, encoding, step, data; a sensor_msgs/CompressedImage needs format, data`,
    );
  }
  throw new Error(
    `image: unsupported input (${describe(input)}); expected a sensor_msgs/Image {height, width, encoding (${SUPPORTED_ENCODINGS.join(', ')}), step, data}, ` +
      `a sensor_msgs/CompressedImage {format, data}, JPEG/PNG bytes, or a number array of length width*height*channels; use imageFileToVector for file paths`,
  );
}

/** Decodes an image file (anything sharp reads: PNG, JPEG, WebP, ...) into a model input vector. */
export async function imageFileToVector(path: string, options: ImageToVectorOptions): Promise<ImageVector> {
  const o = resolveImageOptions(options);
  const d = await decodeFile(path, o, true);
  return {
    vector: d.vector,
    meta: {
      source: 'file',
      width: d.width as number,
      height: d.height as number,
      encoding: d.format,
      outWidth: o.width,
      outHeight: o.height,
      channels: o.channels,
    },
  };
}

/** Size (after EXIF orientation) and channel count (1 grey, 3 colour; alpha ignored) of an image file. */
export async function readImageShape(path: string): Promise<{ width: number; height: number; channels: 1 | 3 }> {
  let md: Awaited<ReturnType<Sharp['metadata']>>;
  try {
    md = await sharp(path, { failOn: 'error' }).metadata();
  } catch (err) {
    throw new Error(`image: cannot read the header of ${path}: ${(err as Error).message}`);
  }
  const width = md.autoOrient?.width ?? md.width;
  const height = md.autoOrient?.height ?? md.height;
  if (!width || !height) throw new Error(`image: ${path} has no image size in its header`);
  const colour = (md.channels ?? 3) - (md.hasAlpha ? 1 : 0);
  return { width, height, channels: colour >= 3 ? 3 : 1 };
}

/** File decode shared with the image-folder dataset reader, which skips the source-size lookup for speed. */
export async function decodeFile(path: string, o: ResolvedImageOptions, wantSourceSize: boolean): Promise<Decoded & { format?: string }> {
  if (typeof path !== 'string' || path === '') throw new Error(`image: file path must be a non-empty string, got ${describe(path)}`);
  let bytes: Buffer;
  try {
    bytes = await fsp.readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(`image: cannot read ${path}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
  if (bytes.length === 0) throw new Error(`image: cannot decode ${path}: the file is empty`);
  const d = await decodeToVector({ kind: 'compressed', bytes, label: path }, o, wantSourceSize);
  return { ...d, format: detectImageFormat(bytes) };
}
