/** Tiny synthetic datasets and images for the CLI tests: 8x8 grey pictures of three easily told apart patterns. */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import sharp from 'sharp';
import { projectRoot } from '../helpers/data';

export const SIDE = 8;

/** Bright pixels of each pattern: 0 top half, 1 left half, 2 bottom-right quadrant; 'ring' is the border. */
export function isOn(pattern: number | 'ring', x: number, y: number): boolean {
  switch (pattern) {
    case 0:
      return y < SIDE / 2;
    case 1:
      return x < SIDE / 2;
    case 2:
      return x >= SIDE / 2 && y >= SIDE / 2;
    case 'ring':
      return x === 0 || y === 0 || x === SIDE - 1 || y === SIDE - 1;
    default:
      return false;
  }
}

/** Small deterministic generator (LCG) so that the data is the same on every run. */
export function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

export function patternPixels(pattern: number | 'ring', rnd: () => number, side = SIDE): Uint8Array {
  const px = new Uint8Array(side * side);
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      const on = isOn(pattern, Math.floor((x * SIDE) / side), Math.floor((y * SIDE) / side));
      px[y * side + x] = on ? 190 + Math.floor(rnd() * 65) : Math.floor(rnd() * 50);
    }
  }
  return px;
}

function idx(dims: number[], data: Uint8Array, magic: number): Buffer {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header.writeUInt32BE(magic, 0);
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return zlib.gzipSync(Buffer.concat([header, Buffer.from(data)]));
}

/** Writes gzipped MNIST-named IDX files with `count` images of labels 0, 1, 2 in turn. */
export function writeIdxSplit(dir: string, prefix: 'train' | 't10k', count: number, seed: number, side = SIDE): void {
  const rnd = lcg(seed);
  const images = new Uint8Array(count * side * side);
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    labels[i] = i % 3;
    images.set(patternPixels(labels[i], rnd, side), i * side * side);
  }
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, `${prefix}-images-idx3-ubyte.gz`), idx([count, side, side], images, 0x00000803));
  fs.writeFileSync(path.join(dir, `${prefix}-labels-idx1-ubyte.gz`), idx([count], labels, 0x00000801));
}

/** A PNG of a pattern; `scale` > 1 makes it larger than the model input, so predict has to resize it. */
export async function writePatternPng(file: string, pattern: number | 'ring', seed: number, scale = 1): Promise<string> {
  const side = SIDE * scale;
  await sharp(Buffer.from(patternPixels(pattern, lcg(seed), side)), { raw: { width: side, height: side, channels: 1 } })
    .toColourspace('b-w')
    .png()
    .toFile(file);
  return file;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `node bin/hff.js ...args` from the project root. */
export function runHff(args: string[], env: NodeJS.ProcessEnv = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(projectRoot, 'bin', 'hff.js'), ...args], {
      cwd: projectRoot,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** The last non-empty stdout line, parsed as JSON. */
export function lastJson<T = Record<string, unknown>>(r: RunResult): T {
  const lines = r.stdout.split('\n').filter((l) => l.trim() !== '');
  if (lines.length === 0) throw new Error(`no stdout (exit ${r.code}); stderr:\n${r.stderr}`);
  try {
    return JSON.parse(lines[lines.length - 1]) as T;
  } catch {
    throw new Error(`last stdout line is not JSON: ${lines[lines.length - 1]}\nstderr:\n${r.stderr}`);
  }
}

/** An image-folder dataset: <dir>/<split>/<class>/*.png with `perClass` pictures of each pattern, `scale` times 8 px wide. */
export async function writeFolderSplit(dir: string, split: 'train' | 'test', perClass: number, seed: number, scale = 1): Promise<void> {
  const names = ['top', 'left', 'corner'];
  for (let p = 0; p < names.length; p++) {
    const classDir = path.join(dir, split, names[p]);
    fs.mkdirSync(classDir, { recursive: true });
    for (let i = 0; i < perClass; i++) await writePatternPng(path.join(classDir, `${i}.png`), p, seed * 1000 + p * 100 + i, scale);
  }
}
