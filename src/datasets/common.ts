/** Helpers shared by the dataset readers: file lookup, gzip, bounded concurrency, conversion to the target layout. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import { resolveImageOptions, scalePixels } from '../image/options';
import { decodeToVector } from '../image/vector';
import { Dataset, DatasetSplit } from './types';

const gunzip = promisify(zlib.gunzip);

/** How many images are decoded at once: enough to keep libuv's pool busy, few enough to bound memory. */
export const DECODE_CONCURRENCY = 16;

export function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

export function isFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

/** First existing file among `names` in any of `dirs`, in order. */
export function findFile(dirs: string[], names: string[]): string | undefined {
  for (const d of dirs) {
    for (const n of names) {
      const p = path.join(d, n);
      if (isFile(p)) return p;
    }
  }
  return undefined;
}

/** Reads a file, gunzipping it when it starts with the gzip magic bytes 1f 8b (whatever its name says). */
export async function readMaybeGzip(file: string, reader: string): Promise<Buffer> {
  let raw: Buffer;
  try {
    raw = await fs.promises.readFile(file);
  } catch (err) {
    throw new Error(`${reader}: cannot read ${file}: ${(err as Error).message}`);
  }
  if (raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b) {
    try {
      return await gunzip(raw);
    } catch (err) {
      throw new Error(`${reader}: ${file} starts like gzip but cannot be decompressed (${(err as Error).message}); the download is probably truncated`);
    }
  }
  return raw;
}

/** Runs fn(0..count-1) with at most `limit` calls in flight; stops scheduling after the first failure. */
export async function forEachLimited(count: number, limit: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && next < count) {
      const i = next++;
      try {
        await fn(i);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, count) }, worker));
}

export function checkLimit(limit: number | undefined, reader: string): number {
  if (limit === undefined) return Infinity;
  if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1) {
    throw new Error(`${reader}: limit must be a positive integer, got ${JSON.stringify(limit)}`);
  }
  return limit;
}

export interface TargetShape {
  width: number;
  height: number;
  channels: 1 | 3;
}

/**
 * Converts n byte images stored HWC back to back (source size and channels) into the dataset layout. When the
 * target shape equals the source it scales directly (bit-identical to what the sharp path gives for an identity
 * resize); otherwise every image goes through the same decode path as camera frames.
 */
export async function bytesToDataset(
  bytes: Uint8Array,
  n: number,
  source: TargetShape,
  target: TargetShape,
  meta: { name: string; split: DatasetSplit; labels: Int32Array; classes: readonly string[] },
  reader: string,
): Promise<Dataset> {
  const srcSize = source.width * source.height * source.channels;
  const inputSize = target.width * target.height * target.channels;
  const images = new Float32Array(n * inputSize);
  const same = source.width === target.width && source.height === target.height && source.channels === target.channels;
  if (same) {
    scalePixels(bytes.subarray(0, n * srcSize), 255, target.channels, 'unit', images);
  } else {
    const o = resolveImageOptions({ ...target }, reader);
    await forEachLimited(n, DECODE_CONCURRENCY, async (i) => {
      const pixels = {
        width: source.width,
        height: source.height,
        channels: source.channels,
        data: bytes.subarray(i * srcSize, (i + 1) * srcSize),
        bits: 8 as const,
      };
      const d = await decodeToVector({ kind: 'raw', pixels, label: `${reader} image ${i}` }, o, false);
      images.set(d.vector, i * inputSize);
    });
  }
  return {
    name: meta.name,
    split: meta.split,
    n,
    height: target.height,
    width: target.width,
    channels: target.channels,
    inputSize,
    images,
    labels: meta.labels.slice(0, n),
    classes: [...meta.classes],
  };
}

/** Fills in the requested output shape from the source's, checking the user's width/height/channels. */
export function targetShape(requested: { width?: number; height?: number; channels?: 1 | 3 }, source: TargetShape, reader: string): TargetShape {
  const { width, height, channels } = requested;
  if ((width === undefined) !== (height === undefined)) {
    throw new Error(`${reader}: give width and height together (got width ${width}, height ${height})`);
  }
  const t: TargetShape = { width: width ?? source.width, height: height ?? source.height, channels: channels ?? source.channels };
  // Reuses the image options validation so the limits and messages are the same as for camera input.
  resolveImageOptions(t, reader);
  return t;
}
