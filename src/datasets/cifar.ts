/**
 * CIFAR-10 binary batches (https://www.cs.toronto.edu/~kriz/cifar.html): 3073-byte records, a label byte then
 * 1024 R, 1024 G, 1024 B bytes (channel-planar, row-major 32x32). Converted to interleaved HWC so a model trained
 * here sees the same layout as JPEG folders and camera frames.
 */
import * as path from 'node:path';
import { bytesToDataset, checkLimit, findFile, isDirectory, readMaybeGzip, targetShape } from './common';
import { CIFAR10_CLASSES, Dataset, DatasetSplit } from './types';

export const CIFAR_SIDE = 32;
export const CIFAR_PIXELS = CIFAR_SIDE * CIFAR_SIDE;
export const CIFAR_RECORD_BYTES = 1 + 3 * CIFAR_PIXELS;

/** Batch file base names of a split, in label-file order. */
export function cifarBatchNames(split: DatasetSplit): string[] {
  return split === 'train' ? [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`) : ['test_batch.bin'];
}

/** Folders searched for batches: the given one and the folder the official archive unpacks to. */
export function cifarBatchDirs(dir: string): string[] {
  return [dir, path.join(dir, 'cifar-10-batches-bin')];
}

/** Paths of the split's batches (each .bin or .bin.gz), or the base names that are missing. */
export function findCifarBatches(dir: string, split: DatasetSplit): { files: string[]; missing: string[] } {
  const names = cifarBatchNames(split);
  // All batches come from one folder, so a split is never stitched together from two copies.
  for (const d of cifarBatchDirs(dir)) {
    const found = names.map((base) => findFile([d], [base, `${base}.gz`]));
    if (found.some((f) => f !== undefined)) {
      return { files: found.filter((f): f is string => f !== undefined), missing: names.filter((_, i) => found[i] === undefined) };
    }
  }
  return { files: [], missing: names };
}

/**
 * The first `want` records of one batch as HWC bytes and labels. Checks the record length and the labels of the
 * whole file, not only of the records taken, so a corrupt file is noticed even with a small limit.
 */
export function parseCifarBatch(buf: Uint8Array, file: string, want: number, reader: string): { pixels: Uint8Array; labels: Int32Array; count: number } {
  if (buf.length === 0) throw new Error(`${reader}: ${file} is empty`);
  const whole = Math.floor(buf.length / CIFAR_RECORD_BYTES);
  const rest = buf.length % CIFAR_RECORD_BYTES;
  if (rest !== 0) {
    const cifar100 = buf.length % (CIFAR_RECORD_BYTES + 1) === 0 ? '; its size fits 3074-byte CIFAR-100 records, which this reader does not load' : '';
    throw new Error(
      `${reader}: ${file} is truncated or not a CIFAR-10 batch: ${buf.length} bytes is not a whole number of ${CIFAR_RECORD_BYTES}-byte records ` +
        `(label + 3072 pixels): ${whole} whole records and ${rest} bytes left over${cifar100}`,
    );
  }
  for (let r = 0; r < whole; r++) {
    const label = buf[r * CIFAR_RECORD_BYTES];
    if (label >= CIFAR10_CLASSES.length) {
      throw new Error(`${reader}: ${file} record ${r} has label ${label}, outside 0..${CIFAR10_CLASSES.length - 1}`);
    }
  }
  const count = Math.min(want, whole);
  const pixels = new Uint8Array(count * 3 * CIFAR_PIXELS);
  const labels = new Int32Array(count);
  for (let r = 0; r < count; r++) {
    const rec = r * CIFAR_RECORD_BYTES;
    labels[r] = buf[rec];
    const red = rec + 1;
    const green = red + CIFAR_PIXELS;
    const blue = green + CIFAR_PIXELS;
    let dst = r * 3 * CIFAR_PIXELS;
    for (let p = 0; p < CIFAR_PIXELS; p++) {
      pixels[dst++] = buf[red + p];
      pixels[dst++] = buf[green + p];
      pixels[dst++] = buf[blue + p];
    }
  }
  return { pixels, labels, count };
}

export async function loadCifarBinary(
  files: string[],
  split: DatasetSplit,
  options: { limit?: number; width?: number; height?: number; channels?: 1 | 3 },
): Promise<Dataset> {
  const reader = 'cifar10';
  const limit = checkLimit(options.limit, reader);
  const parts: { pixels: Uint8Array; labels: Int32Array }[] = [];
  let total = 0;
  for (const file of files) {
    if (total >= limit) break;
    const buf = await readMaybeGzip(file, reader);
    const part = parseCifarBatch(buf, file, limit - total, reader);
    parts.push(part);
    total += part.count;
  }
  const recordPixels = 3 * CIFAR_PIXELS;
  const pixels = new Uint8Array(total * recordPixels);
  const labels = new Int32Array(total);
  let at = 0;
  for (const p of parts) {
    pixels.set(p.pixels, at * recordPixels);
    labels.set(p.labels, at);
    at += p.labels.length;
  }
  const source = { width: CIFAR_SIDE, height: CIFAR_SIDE, channels: 3 as const };
  const target = targetShape(options, source, reader);
  return bytesToDataset(pixels, total, source, target, { name: 'cifar10', split, labels, classes: CIFAR10_CLASSES }, reader);
}

/** Whether `dir` holds CIFAR-10 binary batches for any split, which decides binary versus image folder. */
export function hasCifarBatches(dir: string): boolean {
  if (!isDirectory(dir)) return false;
  return (['train', 'test'] as const).some((s) => findCifarBatches(dir, s).files.length > 0);
}
