import * as assert from 'node:assert/strict';
import { highestBy } from '../../src/hff/vectors';
import { SeededRandom } from '../../src/hff/random';

describe('hff/vectors highestBy', function () {
  it('gives the first entries of a stable sort by descending key, ties included', function () {
    const random = new SeededRandom(11);
    for (let trial = 0; trial < 200; trial++) {
      const n = random.int(12);
      // Few distinct values, so that ties are common.
      const key = Float64Array.from({ length: 24 }, () => random.int(4));
      const indices = Array.from({ length: n }, (_, i) => i * 2 - (i % 2));
      const sorted = [...indices].sort((a, b) => key[b] - key[a]);
      for (const count of [1, 2, 3, 30]) assert.deepEqual(highestBy(indices, key, count), sorted.slice(0, count), `trial ${trial}, count ${count}`);
    }
  });

  it('an empty list gives none', function () {
    assert.deepEqual(highestBy([], [1, 2], 3), []);
  });
});
