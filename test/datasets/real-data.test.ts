import assert from 'node:assert/strict';
import { requireSharedData } from '../helpers/data';
import { CIFAR10_CLASSES, Dataset, FASHION_MNIST_CLASSES, MNIST_CLASSES, loadDataset } from '../../src/datasets';

function checkShape(ds: Dataset, n: number, h: number, w: number, c: number): void {
  assert.deepEqual([ds.n, ds.height, ds.width, ds.channels, ds.inputSize], [n, h, w, c, h * w * c]);
  assert.equal(ds.images.length, n * ds.inputSize);
  assert.equal(ds.labels.length, n);
  let min = Infinity;
  let max = -Infinity;
  for (const v of ds.images) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  assert.ok(min >= 0 && max <= 1 && max > 0.9, `pixel range ${min}..${max}`);
  assert.ok(
    ds.labels.every((l) => l >= 0 && l < ds.classes.length),
    'labels in range',
  );
}

describe('datasets: shared real data (limited subsets)', () => {
  it('MNIST test split', async function () {
    const dir = requireSharedData(this, 'mnist');
    const ds = await loadDataset({ name: 'mnist', dir, split: 'test', limit: 500 });
    checkShape(ds, 500, 28, 28, 1);
    assert.deepEqual(ds.classes, [...MNIST_CLASSES]);
    // The canonical t10k labels begin 7, 2, 1, 0, 4.
    assert.deepEqual(Array.from(ds.labels.subarray(0, 5)), [7, 2, 1, 0, 4]);
    assert.equal(new Set(ds.labels).size, 10);
  });

  it('Fashion-MNIST train split', async function () {
    const dir = requireSharedData(this, 'fashion-mnist');
    const ds = await loadDataset({ name: 'fashion-mnist', dir, limit: 300 });
    checkShape(ds, 300, 28, 28, 1);
    assert.deepEqual(ds.classes, [...FASHION_MNIST_CLASSES]);
    // The canonical Fashion-MNIST train labels begin 9 (Ankle boot), 0, 0, 3, 0.
    assert.deepEqual(Array.from(ds.labels.subarray(0, 5)), [9, 0, 0, 3, 0]);
  });

  it('CIFAR-10 JPEG folder, train split, class-balanced limit', async function () {
    const dir = requireSharedData(this, 'cifar10-jpg');
    const ds = await loadDataset({ name: 'cifar10', dir, limit: 200 });
    checkShape(ds, 200, 32, 32, 3);
    assert.deepEqual(ds.classes, [...CIFAR10_CLASSES]);
    const counts = new Array(10).fill(0);
    for (const l of ds.labels) counts[l]++;
    assert.deepEqual(counts, new Array(10).fill(20));
  });
});
