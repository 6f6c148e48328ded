/**
 * The label side of the local loss: its targets, and the loss and accuracy from the logits (shared by the engines;
 * the loss's gradients are checked with the dense layer definition in ./dense.test.ts).
 */
import assert from 'node:assert/strict';
import { lossAndCorrect, lossTargets } from '../../../src/engines/maths/local-loss';

describe('local loss', function () {
  it('builds the one-hot rows, the margin on the true class prototypes and the gradient scale from labels', function () {
    const t = lossTargets({ tau: 0.25, margin: 0.1, prototypesPerClass: 2 }, Int32Array.of(1, 0), 3);
    assert.deepEqual(Array.from(t.onehot), [0, 1, 0, 1, 0, 0]);
    assert.deepEqual(Array.from(t.shift ?? []), [0, 0, 0.1, 0.1, 0, 0, 0.1, 0.1, 0, 0, 0, 0].map(Math.fround));
    assert.equal(t.gradScale, 1 / (2 * 0.25));
    assert.equal(lossTargets({ tau: 0.25, margin: 0, prototypesPerClass: 2 }, Int32Array.of(1, 0), 3).shift, undefined);
  });

  it('gives the mean cross-entropy and counts rows whose first highest logit is the label', function () {
    const r = lossAndCorrect(Float32Array.of(2, 1, 0, 0, 0, 0), Int32Array.of(0, 1), 3);
    const expected = (Math.log(Math.exp(2) + Math.exp(1) + 1) - 2 + Math.log(3)) / 2;
    assert.ok(Math.abs(r.loss - expected) < 1e-12, `loss ${r.loss} vs ${expected}`);
    assert.equal(r.correct, 1, 'a tie goes to the first class, not the label');
  });
});
