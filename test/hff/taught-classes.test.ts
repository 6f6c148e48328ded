import * as assert from 'node:assert/strict';
import { clearlyBetter } from '../../src/hff/taught-classes';

describe('hff/taught-classes: when another representation replaces the default', function () {
  it('not on equal held-out outcomes, nor on worse ones', function () {
    assert.equal(clearlyBetter([1, 0.5, 1], [1, 0.5, 1]), false);
    assert.equal(clearlyBetter([0.5, 0.5, 1], [1, 0.5, 1]), false);
    assert.equal(clearlyBetter([], []), false);
  });

  it('on a lead of 0.05 or more without being worse on any held-out demonstration (one object, five frames)', function () {
    assert.equal(clearlyBetter([1, 1, 1, 1, 1], [0.5, 1, 1, 1, 1]), true);
    // The same lead with one demonstration worse: 1.0 standard error, not enough.
    assert.equal(clearlyBetter([1, 1, 1, 0.5, 1], [0.5, 0.5, 0.5, 1, 1]), false);
    // Unopposed, but a lead under 0.05 (one half-step in 20): chance.
    assert.equal(clearlyBetter([1, ...Array(19).fill(1)], [0.5, ...Array(19).fill(1)]), false);
  });

  it('on a mean gain of two standard errors of the paired difference, whatever the number of demonstrations', function () {
    // 25 held-out demonstrations: 8 better by a half-step, 2 worse: mean 0.12, standard error 0.060 (2.01).
    const gain = [...Array(8).fill(0.5), -0.5, -0.5, ...Array(15).fill(0)];
    const base = Array(25).fill(0.5);
    assert.equal(
      clearlyBetter(
        base.map((v, i) => v + gain[i]),
        base,
      ),
      true,
    );
    // 6 better and 2 worse: 0.08, standard error 0.055 (1.44).
    const weaker = [...Array(6).fill(0.5), -0.5, -0.5, ...Array(17).fill(0)];
    assert.equal(
      clearlyBetter(
        base.map((v, i) => v + weaker[i]),
        base,
      ),
      false,
    );
  });
});
