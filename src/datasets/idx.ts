/** MNIST and Fashion-MNIST in the IDX format (http://yann.lecun.com/exdb/mnist/), gzipped or not. */
import * as path from 'node:path';
import { bytesToDataset, checkLimit, findFile, isDirectory, readMaybeGzip, targetShape } from './common';
import { Dataset, DatasetSplit, FASHION_MNIST_CLASSES, MNIST_CLASSES } from './types';

/** IDX magic: two zero bytes, type 0x08 (unsigned byte), number of dimensions. */
export const IDX_IMAGES_MAGIC = 0x00000803;
export const IDX_LABELS_MAGIC = 0x00000801;

export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

function hex(v: number): string {
  return '0x' + v.toString(16).padStart(8, '0');
}

/** Parses an unsigned-byte IDX buffer, checking magic, header and that the data is exactly as long as the dims say. */
export function parseIdx(buf: Uint8Array, file: string, expectedMagic: number, reader: string): IdxArray {
  const kind = expectedMagic === IDX_IMAGES_MAGIC ? 'images' : 'labels';
  if (buf.length < 4) throw new Error(`${reader}: ${file} is truncated: ${buf.length} bytes, too short for an IDX header`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const magic = view.getUint32(0, false);
  if (magic !== expectedMagic) {
    const hint = magic === IDX_IMAGES_MAGIC ? ' (that is an IDX images file)' : magic === IDX_LABELS_MAGIC ? ' (that is an IDX labels file)' : '';
    throw new Error(`${reader}: ${file} has magic number ${hex(magic)}${hint}, expected ${hex(expectedMagic)} for IDX ${kind}`);
  }
  const ndims = magic & 0xff;
  const headerBytes = 4 + 4 * ndims;
  if (buf.length < headerBytes) {
    throw new Error(`${reader}: ${file} is truncated: ${buf.length} bytes, the IDX header needs ${headerBytes}`);
  }
  const dims: number[] = [];
  for (let d = 0; d < ndims; d++) dims.push(view.getUint32(4 + 4 * d, false));
  if (dims[0] === 0) throw new Error(`${reader}: ${file} contains no ${kind} (count is 0)`);
  if (dims.some((d) => d === 0)) throw new Error(`${reader}: ${file} has a zero dimension: ${dims.join('x')}`);
  const expected = dims.reduce((a, b) => a * b, 1);
  const found = buf.length - headerBytes;
  const what = kind === 'images' ? 'pixels' : 'labels';
  if (found < expected) {
    throw new Error(`${reader}: ${file} is truncated: expected ${expected} bytes of ${what} (${dims.join('x')}), found ${found}`);
  }
  if (found > expected) {
    throw new Error(
      `${reader}: ${file} has ${found - expected} bytes after the ${expected} bytes of ${what} its header announces (${dims.join('x')}); wrong header or concatenated files`,
    );
  }
  return { dims, data: buf.subarray(headerBytes) };
}

/** File names tried for one IDX file: the canonical gzipped and plain names, and the dotted variant some mirrors use. */
export function idxFileNames(split: DatasetSplit, kind: 'images' | 'labels'): string[] {
  const prefix = split === 'train' ? 'train' : 't10k';
  const base = `${prefix}-${kind}-${kind === 'images' ? 'idx3' : 'idx1'}-ubyte`;
  const dotted = `${prefix}-${kind}.${kind === 'images' ? 'idx3' : 'idx1'}-ubyte`;
  return [`${base}.gz`, base, `${dotted}.gz`, dotted];
}

export async function loadIdxDataset(
  name: 'mnist' | 'fashion-mnist',
  dir: string,
  split: DatasetSplit,
  options: { limit?: number; width?: number; height?: number; channels?: 1 | 3 },
): Promise<Dataset> {
  const reader = name;
  const limit = checkLimit(options.limit, reader);
  const classes = name === 'mnist' ? MNIST_CLASSES : FASHION_MNIST_CLASSES;
  const imageNames = idxFileNames(split, 'images');
  const labelNames = idxFileNames(split, 'labels');
  // torchvision keeps the same files under <root>/raw.
  const dirs = [dir, path.join(dir, 'raw')];
  if (!isDirectory(dir)) {
    throw new Error(`${reader}: directory ${dir} does not exist (looked for ${imageNames.join(', ')} and ${labelNames.join(', ')})`);
  }
  const imagesFile = findFile(dirs, imageNames);
  const labelsFile = findFile(dirs, labelNames);
  if (!imagesFile || !labelsFile) {
    const missing = [!imagesFile ? imageNames.join(' or ') : undefined, !labelsFile ? labelNames.join(' or ') : undefined].filter(Boolean);
    throw new Error(`${reader}: no ${split} split in ${dir} (or ${path.join(dir, 'raw')}): looked for ${missing.join(', and for ')}`);
  }
  const [imagesBuf, labelsBuf] = await Promise.all([readMaybeGzip(imagesFile, reader), readMaybeGzip(labelsFile, reader)]);
  const images = parseIdx(imagesBuf, imagesFile, IDX_IMAGES_MAGIC, reader);
  const labels = parseIdx(labelsBuf, labelsFile, IDX_LABELS_MAGIC, reader);
  const [count, rows, cols] = images.dims;
  if (labels.dims[0] !== count) {
    throw new Error(`${reader}: ${imagesFile} has ${count} images but ${labelsFile} has ${labels.dims[0]} labels`);
  }
  const labelArray = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const l = labels.data[i];
    if (l >= classes.length) {
      throw new Error(`${reader}: ${labelsFile} label ${l} at index ${i} is out of range 0..${classes.length - 1}`);
    }
    labelArray[i] = l;
  }
  const n = Math.min(limit, count);
  const source = { width: cols, height: rows, channels: 1 as const };
  const target = targetShape(options, source, reader);
  return bytesToDataset(images.data, n, source, target, { name, split, labels: labelArray, classes }, reader);
}
