import * as assert from 'node:assert/strict';
import { median, percentile, timeCalls } from '../../src/bench/statistics';

describe('bench/statistics', function () {
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

describe('bench/statistics percentile and timeCalls', function () {
  it('percentile: nearest rank, so p50 of 1..4 is 2, p95 of 1..20 is 19, p100 the largest', function () {
    const ramp = (n: number) => Array.from({ length: n }, (_, i) => i + 1);
    assert.equal(percentile(ramp(4), 0.5), 2);
    assert.equal(percentile(ramp(20), 0.95), 19);
    assert.equal(percentile(ramp(20), 1), 20);
    assert.equal(percentile(ramp(3), 0), 1);
    assert.ok(Number.isNaN(percentile([], 0.5)));
  });

  it('timeCalls: warms up, then times every call, awaiting async ones', async function () {
    let sync = 0;
    const a = await timeCalls(5, () => {
      sync += 1;
    });
    assert.equal(sync, 10);
    assert.ok(a.median >= 0 && a.p95 >= a.median);
    const b = await timeCalls(3, () => new Promise((resolve) => setTimeout(resolve, 5)));
    assert.ok(b.median >= 4, `awaited: ${b.median} ms`);
  });
});
