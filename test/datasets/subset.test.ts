import assert from 'node:assert/strict';
import { Dataset, datasetSlice, subsetByClasses } from '../../src/datasets';

/** 8 samples of 2 values each; sample i holds [i, -i]; labels cycle 0,1,2,3. */
function toy(): Dataset {
  const n = 8;
  return {
    name: 'toy',
    split: 'train',
    n,
    height: 1,
    width: 2,
    channels: 1,
    inputSize: 2,
    images: Float32Array.from({ length: n * 2 }, (_, k) => (k % 2 === 0 ? k / 2 : -k / 2 + 0.5)),
    labels: Int32Array.from({ length: n }, (_, i) => i % 4),
    classes: ['a', 'b', 'c', 'd'],
  };
}

describe('datasets: subsets', () => {
  it('subsetByClasses keeps the chosen classes in order with their original labels', () => {
    const ds = toy();
    const s = subsetByClasses(ds, [3, 1]);
    assert.equal(s.n, 4);
    assert.deepEqual(Array.from(s.labels), [1, 3, 1, 3]);
    assert.deepEqual(Array.from(s.images.filter((_, k) => k % 2 === 0)), [1, 3, 5, 7]);
    assert.deepEqual(s.classes, ds.classes);
    s.images[0] = 99;
    assert.equal(ds.images[2], 1, 'a copy, not a view');
  });

  it('subsetByClasses with perClass takes the first k of each class (k-shot)', () => {
    const s = subsetByClasses(toy(), [0, 2], 1);
    assert.deepEqual(Array.from(s.labels), [0, 2]);
    assert.deepEqual(Array.from(s.images.filter((_, k) => k % 2 === 0)), [0, 2]);
  });

  it('subsetByClasses rejects bad class indices and perClass', () => {
    assert.throws(() => subsetByClasses(toy(), [4]), { message: 'subsetByClasses: class index 4 is out of range 0..3 for toy' });
    assert.throws(() => subsetByClasses(toy(), [0], 0), /perClass must be a positive integer, got 0/);
  });

  it('datasetSlice is a view like Array.prototype.slice', () => {
    const ds = toy();
    const s = datasetSlice(ds, 2, 5);
    assert.equal(s.n, 3);
    assert.deepEqual(Array.from(s.labels), [2, 3, 0]);
    assert.equal(s.images.length, 6);
    assert.equal(s.images[0], 2);
    assert.equal(datasetSlice(ds, -2).n, 2);
    assert.equal(datasetSlice(ds, 6, 3).n, 0);
    s.images[0] = 42;
    assert.equal(ds.images[4], 42, 'shares memory');
  });
});
