import { Dataset } from './types';

/**
 * Samples whose label is one of `classIndices`, in dataset order, copied. Labels and `classes` are kept as they
 * are (not renumbered), so a subset can be scored against the full class list; with `perClass`, only the first
 * `perClass` samples of each chosen class are kept (k-shot sets).
 */
export function subsetByClasses(ds: Dataset, classIndices: readonly number[], perClass?: number): Dataset {
  const wanted = new Set<number>();
  for (const c of classIndices) {
    if (!Number.isInteger(c) || c < 0 || c >= ds.classes.length) {
      throw new Error(`subsetByClasses: class index ${JSON.stringify(c)} is out of range 0..${ds.classes.length - 1} for ${ds.name}`);
    }
    wanted.add(c);
  }
  if (perClass !== undefined && (!Number.isInteger(perClass) || perClass < 1)) {
    throw new Error(`subsetByClasses: perClass must be a positive integer, got ${JSON.stringify(perClass)}`);
  }
  const taken = new Map<number, number>();
  const keep: number[] = [];
  for (let i = 0; i < ds.n; i++) {
    const l = ds.labels[i];
    if (!wanted.has(l)) continue;
    const t = taken.get(l) ?? 0;
    if (perClass !== undefined && t >= perClass) continue;
    taken.set(l, t + 1);
    keep.push(i);
  }
  const images = new Float32Array(keep.length * ds.inputSize);
  const labels = new Int32Array(keep.length);
  keep.forEach((src, dst) => {
    images.set(ds.images.subarray(src * ds.inputSize, (src + 1) * ds.inputSize), dst * ds.inputSize);
    labels[dst] = ds.labels[src];
  });
  return { ...ds, n: keep.length, images, labels, classes: [...ds.classes] };
}

/**
 * Samples start..end-1 (like Array.prototype.slice, negative indices count from the end). The images and labels
 * are views sharing memory with `ds`, because copying a 600 MB CIFAR-10 split to take a slice is wasteful; copy
 * them before changing values in place.
 */
export function datasetSlice(ds: Dataset, start: number, end: number = ds.n): Dataset {
  if (!Number.isInteger(start) || !Number.isInteger(end)) {
    throw new Error(`datasetSlice: start and end must be integers, got ${start} and ${end}`);
  }
  const clamp = (v: number): number => Math.min(ds.n, Math.max(0, v < 0 ? ds.n + v : v));
  const s = clamp(start);
  const e = Math.max(s, clamp(end));
  return {
    ...ds,
    n: e - s,
    images: ds.images.subarray(s * ds.inputSize, e * ds.inputSize),
    labels: ds.labels.subarray(s, e),
    classes: [...ds.classes],
  };
}
