import assert from 'node:assert/strict';
import { toBatch } from '../../../nodes/shared/vectors';

describe('nodes/shared/vectors: toBatch', function () {
  it('makes one row-major batch of a vector or of an array of vectors', function () {
    assert.deepEqual(toBatch([1, 2, 3], 3), { data: Float32Array.of(1, 2, 3), batch: 1 });
    assert.deepEqual(toBatch(Float32Array.of(4, 5), 2), { data: Float32Array.of(4, 5), batch: 1 });
    assert.deepEqual(toBatch([[1, 2], Float32Array.of(3, 4)], 2), { data: Float32Array.of(1, 2, 3, 4), batch: 2 });
  });

  it('rejects bad input with messages that name the problem', function () {
    assert.throws(() => toBatch([1, 2, 3], 16), /^Error: input: expected a vector of length 16, got length 3$/);
    assert.throws(
      () =>
        toBatch(
          Array.from({ length: 16 }, (_, i) => (i === 4 ? NaN : 0)),
          16,
        ),
      /input contains NaN at index 4/,
    );
    assert.throws(
      () => toBatch([new Float32Array(16), new Float32Array(15)], 16, 'msg.payload'),
      /msg.payload: expected a vector of length 16, got length 15 in row 1/,
    );
    assert.throws(() => toBatch([] as number[], 16), /non-empty/);
    assert.throws(() => toBatch([[1, 2], null as unknown as number[]], 2), /input: row 1 is not a vector/);
  });
});
