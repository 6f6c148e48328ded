/** Builders for tiny dataset files in the real formats, written to temp folders by the tests. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import sharp from 'sharp';
import { tempDir } from '../helpers/data';

const scratch: string[] = [];

/** A temp folder removed by removeScratchDirs (call it in an after hook). */
export function scratchDir(): string {
  const d = tempDir('hff-datasets-');
  scratch.push(d);
  return d;
}

export function removeScratchDirs(): void {
  for (const d of scratch.splice(0)) fs.rmSync(d, { recursive: true, force: true });
}

/** An unsigned-byte IDX file: magic 0x0000080<ndims>, big-endian dims, data. */
export function idxBytes(dims: number[], data: Uint8Array, magic = 0x00000800 + dims.length): Buffer {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header.writeUInt32BE(magic, 0);
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([header, Buffer.from(data)]);
}

/** Deterministic pixel value of image i at byte offset p. */
export function pixel(i: number, p: number): number {
  return (i * 37 + p * 11) % 256;
}

export interface TinyIdx {
  images: Uint8Array;
  labels: Uint8Array;
}

export function tinyIdx(count: number, rows: number, cols: number, classes = 10): TinyIdx {
  const images = Uint8Array.from({ length: count * rows * cols }, (_, k) => pixel(Math.floor(k / (rows * cols)), k % (rows * cols)));
  const labels = Uint8Array.from({ length: count }, (_, i) => (i * 3) % classes);
  return { images, labels };
}

/** Writes <prefix>-images-idx3-ubyte[.gz] and <prefix>-labels-idx1-ubyte[.gz]. */
export function writeIdxPair(
  dir: string,
  prefix: 'train' | 't10k',
  d: TinyIdx,
  rows: number,
  cols: number,
  opts: { gzip?: boolean; names?: [string, string] } = {},
): { images: string; labels: string } {
  const count = d.labels.length;
  const suffix = opts.gzip ? '.gz' : '';
  const [imgName, lblName] = opts.names ?? [`${prefix}-images-idx3-ubyte${suffix}`, `${prefix}-labels-idx1-ubyte${suffix}`];
  const imgBytes = idxBytes([count, rows, cols], d.images);
  const lblBytes = idxBytes([count], d.labels);
  const images = path.join(dir, imgName);
  const labels = path.join(dir, lblName);
  fs.writeFileSync(images, opts.gzip ? zlib.gzipSync(imgBytes) : imgBytes);
  fs.writeFileSync(labels, opts.gzip ? zlib.gzipSync(lblBytes) : lblBytes);
  return { images, labels };
}

/** CIFAR-10 records: label byte, 1024 R, 1024 G, 1024 B. Pixel (y,x) of channel c in record r is cifarValue(r,c,y*32+x). */
export function cifarValue(record: number, channel: number, p: number): number {
  return (record * 53 + channel * 101 + p * 7) % 256;
}

export function cifarBatch(labels: number[], firstRecord = 0): Buffer {
  const out = Buffer.alloc(labels.length * 3073);
  labels.forEach((label, r) => {
    const o = r * 3073;
    out[o] = label;
    for (let c = 0; c < 3; c++) for (let p = 0; p < 1024; p++) out[o + 1 + c * 1024 + p] = cifarValue(firstRecord + r, c, p);
  });
  return out;
}

/** Writes data_batch_1..5.bin (2 records each, records numbered 0..9 across batches) and test_batch.bin. */
export function writeCifarBatches(dir: string, opts: { gzip?: boolean; gzName?: boolean } = {}): void {
  fs.mkdirSync(dir, { recursive: true });
  const write = (name: string, buf: Buffer): void => {
    fs.writeFileSync(path.join(dir, name + (opts.gzName ? '.gz' : '')), opts.gzip ? zlib.gzipSync(buf) : buf);
  };
  for (let b = 1; b <= 5; b++) write(`data_batch_${b}.bin`, cifarBatch([(2 * b - 2) % 10, (2 * b - 1) % 10], 2 * (b - 1)));
  write('test_batch.bin', cifarBatch([3, 9, 0], 100));
}

/** HWC bytes of CIFAR record r as built by cifarBatch. */
export function cifarRecordHwc(record: number): Uint8Array {
  const out = new Uint8Array(3072);
  for (let p = 0; p < 1024; p++) for (let c = 0; c < 3; c++) out[p * 3 + c] = cifarValue(record, c, p);
  return out;
}

export async function writePng(file: string, raw: Uint8Array, width: number, height: number, channels: 1 | 3): Promise<void> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  let img = sharp(raw, { raw: { width, height, channels } });
  if (channels === 1) img = img.toColourspace('b-w');
  await img.png().toFile(file);
}

export async function writeJpeg(file: string, raw: Uint8Array, width: number, height: number): Promise<void> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  await sharp(raw, { raw: { width, height, channels: 3 } })
    .jpeg({ quality: 95 })
    .toFile(file);
}

/** A solid-colour RGB picture. */
export function solid(width: number, height: number, rgb: [number, number, number]): Uint8Array {
  const out = new Uint8Array(width * height * 3);
  for (let i = 0; i < out.length; i += 3) out.set(rgb, i);
  return out;
}
