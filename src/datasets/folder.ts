/**
 * Image-folder datasets: <dir>/<split>/<class>/*.png|jpg|jpeg, or <dir>/<class>/* without a split level.
 * Decoded through the same function as camera frames, so both land in the same value distribution.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { resolveImageOptions } from '../image/options';
import { decodeFile, readImageShape } from '../image/vector';
import { DECODE_CONCURRENCY, checkLimit, forEachLimited, isDirectory, targetShape } from './common';
import { Dataset, DatasetSplit } from './types';

export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg'];
const SPLITS: readonly DatasetSplit[] = ['train', 'test'];

function isHidden(name: string): boolean {
  return name.startsWith('.') || name.startsWith('__');
}

function subfolders(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((e) => !isHidden(e.name) && (e.isDirectory() || (e.isSymbolicLink() && isDirectory(path.join(dir, e.name)))))
    .map((e) => e.name);
}

/** Code-unit order, not locale order, so class indices are the same on every machine. */
function sortNames(names: string[]): string[] {
  return [...names].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Image errors name the file already; only the reader prefix changes. */
function retag(err: Error, reader: string): Error {
  return new Error(`${reader}: ${err.message.replace(/^image: /, '')}`);
}

export interface FolderLayout {
  /** Folder whose sub-folders are the classes of the requested split. */
  root: string;
  /** Class names, sorted; the union over all split folders so train and test share indices. */
  classes: string[];
}

export function resolveFolderLayout(dir: string, split: DatasetSplit, reader: string): FolderLayout {
  const pattern = `${path.join(dir, split, '<class>')}/*.png|jpg|jpeg or ${path.join(dir, '<class>')}/*.png|jpg|jpeg`;
  if (!isDirectory(dir)) throw new Error(`${reader}: directory ${dir} does not exist (expected ${pattern})`);
  const present = SPLITS.filter((s) => isDirectory(path.join(dir, s)));
  let root: string;
  let names: string[];
  if (present.length > 0) {
    if (!present.includes(split)) {
      throw new Error(`${reader}: ${dir} has no '${split}' sub-folder (found: ${present.join(', ')})`);
    }
    root = path.join(dir, split);
    names = [...new Set(present.flatMap((s) => subfolders(path.join(dir, s))))];
  } else {
    if (split !== 'train') {
      // Without a split level the only images are the training ones; testing on them would look falsely good.
      throw new Error(`${reader}: ${dir} has no '${split}' sub-folder; its class folders are loaded as split 'train' only`);
    }
    root = dir;
    names = subfolders(dir);
  }
  if (names.length === 0) throw new Error(`${reader}: no class sub-folders in ${root} (expected ${pattern})`);
  return { root, classes: sortNames(names) };
}

/** Image files of each class, then interleaved one class at a time so that any prefix is class-balanced. */
export function listFolderImages(layout: FolderLayout): { files: string[]; labels: number[] } {
  const perClass = layout.classes.map((cls) => {
    const d = path.join(layout.root, cls);
    if (!isDirectory(d)) return [];
    const names = fs.readdirSync(d).filter((f) => !isHidden(f) && IMAGE_EXTENSIONS.includes(path.extname(f).toLowerCase()));
    return sortNames(names).map((f) => path.join(d, f));
  });
  const files: string[] = [];
  const labels: number[] = [];
  const longest = Math.max(0, ...perClass.map((f) => f.length));
  for (let k = 0; k < longest; k++) {
    for (let c = 0; c < perClass.length; c++) {
      if (k < perClass[c].length) {
        files.push(perClass[c][k]);
        labels.push(c);
      }
    }
  }
  return { files, labels };
}

export async function loadImageFolder(
  name: string,
  layout: FolderLayout,
  split: DatasetSplit,
  options: { limit?: number; width?: number; height?: number; channels?: 1 | 3 },
  reader: string,
): Promise<Dataset> {
  const limit = checkLimit(options.limit, reader);
  const listed = listFolderImages(layout);
  if (listed.files.length === 0) {
    throw new Error(`${reader}: no ${IMAGE_EXTENSIONS.join('/')} images in the class folders of ${layout.root} (${layout.classes.join(', ')})`);
  }
  const n = Math.min(limit, listed.files.length);
  const files = listed.files.slice(0, n);
  const source = await readImageShape(files[0]).catch((err: Error) => {
    throw retag(err, reader);
  });
  const target = targetShape(options, source, reader);
  const o = resolveImageOptions({ ...target, fit: 'fill' }, reader);
  const inputSize = target.width * target.height * target.channels;
  const images = new Float32Array(n * inputSize);
  await forEachLimited(n, DECODE_CONCURRENCY, async (i) => {
    let d;
    try {
      d = await decodeFile(files[i], o, false);
    } catch (err) {
      throw retag(err as Error, reader);
    }
    images.set(d.vector, i * inputSize);
  });
  return {
    name,
    split,
    n,
    height: target.height,
    width: target.width,
    channels: target.channels,
    inputSize,
    images,
    labels: Int32Array.from(listed.labels.slice(0, n)),
    classes: layout.classes,
  };
}
