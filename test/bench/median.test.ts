import * as assert from 'node:assert/strict';
import { median } from '../../src/bench/median';

describe('bench/median', function () {
  it('takes the middle value of an odd count and the mean of the middle two of an even one, whatever the order', function () {
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 3, 2]), 2.5);
  });

  it('leaves its argument unsorted', function () {
    const values = [3, 1, 2];
    median(values);
    assert.deepEqual(values, [3, 1, 2]);
  });
});
