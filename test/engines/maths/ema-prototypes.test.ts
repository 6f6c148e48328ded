/**
 * The EMA prototype update, on a case small enough to follow by hand: both engines run this one function, so it is
 * checked here rather than by comparing them.
 */
import assert from 'node:assert/strict';
import { emaPrototypes } from '../../../src/engines/maths/ema-prototypes';
import { maxAbsDiff } from '../reference';

const unit = (v: number[]): number[] => {
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
};

describe('emaPrototypes', function () {
  it("moves each class's most similar prototype toward the mean of its rows and leaves prototypes without rows", function () {
    // Two classes of two prototypes in 2-D; three rows of class 0, none of class 1.
    const prototypes = Float32Array.of(1, 0, 0, 1, -1, 0, 0, -1);
    const z = Float32Array.of(0.8, 0.6, 0.6, 0.8, 1, 0);
    const cos = Float32Array.of(0.8, 0.6, -0.8, -0.6, 0.6, 0.8, -0.6, -0.8, 1, 0, -1, 0);
    emaPrototypes(prototypes, 2, 2, z, cos, Int32Array.of(0, 0, 0), 0.5);
    const towardFirst = unit([0.5 * 1 + 0.5 * unit([1.8, 0.6])[0], 0.5 * unit([1.8, 0.6])[1]]);
    const towardSecond = unit([0.5 * 0.6, 0.5 * 1 + 0.5 * 0.8]);
    const expected = [...towardFirst, ...towardSecond, -1, 0, 0, -1];
    assert.ok(maxAbsDiff(prototypes, expected) < 1e-6, `got ${Array.from(prototypes).join(', ')}, expected ${expected.join(', ')}`);
  });

  it("with one prototype per class, moves the row's class prototype whatever the cosines", function () {
    const prototypes = Float32Array.of(1, 0, 0, 1);
    emaPrototypes(prototypes, 2, 1, Float32Array.of(0, 1), Float32Array.of(0, 1), Int32Array.of(0), 0.25);
    assert.ok(maxAbsDiff(prototypes, [...unit([0.75, 0.25]), 0, 1]) < 1e-6, `got ${Array.from(prototypes).join(', ')}`);
  });
});
