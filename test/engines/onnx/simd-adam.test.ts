import * as assert from 'node:assert/strict';
import { AdamBlock } from '../../../src/engines/onnx/simd-adam';
import { SeededRandom } from '../../../src/hff/random';
import { type OptimizerState, referenceOptimizerStep } from '../reference';

/** The float64 reference with AdamBlock's settings. */
function adamStep(state: OptimizerState, g: Float64Array, o: { beta1: number; beta2: number; lr: number; eps: number; wd: number }, step: number): void {
  referenceOptimizerStep(state, g, { kind: 'adam', beta1: o.beta1, beta2: o.beta2, learningRate: o.lr, epsilon: o.eps, momentum: 0 }, step, o.wd);
}

describe('engines/onnx/simd-adam: AdamBlock', function () {
  const settings = { beta1: 0.9, beta2: 0.999, lr: 0.01, eps: 1e-8, wd: 0.05 };

  // 37 floats: nine SIMD lanes of four and one padded lane, so the tail past `length` is exercised too.
  for (const length of [37, 4096]) {
    it(`matches a float64 Adam step over five steps on random data (${length} floats)`, function () {
      const block = new AdamBlock(length);
      assert.ok(block.simd, 'WebAssembly SIMD is available on Node 20 unless HFF_NO_SIMD is set');
      const random = new SeededRandom(length);
      const reference = { p: new Float64Array(length), m: new Float64Array(length), v: new Float64Array(length) };
      for (let i = 0; i < length; i++) block.param[i] = reference.p[i] = Math.fround(random.gaussian());
      const initial = Float32Array.from(block.param);
      for (let step = 1; step <= 5; step++) {
        const g = new Float64Array(length);
        for (let i = 0; i < length; i++) block.grad[i] = g[i] = Math.fround(random.gaussian() * 10 ** ((i % 5) - 2));
        adamStep(reference, g, settings, step);
        assert.equal(block.update(settings.beta1, settings.beta2, settings.lr, settings.eps, settings.wd, step), true);
      }
      let worst = 0;
      for (let i = 0; i < length; i++) {
        worst = Math.max(worst, Math.abs(block.param[i] - reference.p[i]) / Math.max(1, Math.abs(reference.p[i])));
        assert.ok(Math.abs(block.m[i] - reference.m[i]) <= 1e-5 * Math.max(1, Math.abs(reference.m[i])), `m[${i}]`);
        assert.ok(Math.abs(block.v[i] - reference.v[i]) <= 1e-5 * Math.max(1, Math.abs(reference.v[i])), `v[${i}]`);
      }
      // float32 arithmetic against float64: a few ulps of the step (lr 0.01) per update.
      assert.ok(worst < 1e-5, `largest relative difference to float64 Adam ${worst}`);
      assert.ok(
        block.param.every((p, i) => p !== initial[i]),
        'every parameter moved',
      );
    });
  }

  it('keeps its four arrays apart and the right length', function () {
    const block = new AdamBlock(10);
    block.param.fill(1);
    block.grad.fill(2);
    block.m.fill(3);
    block.v.fill(4);
    assert.deepEqual(
      [block.param, block.grad, block.m, block.v].map((a) => [a.length, ...new Set(a)]),
      [
        [10, 1],
        [10, 2],
        [10, 3],
        [10, 4],
      ],
    );
  });

  it('has no SIMD update for an empty block, so the caller takes its scalar path', function () {
    const block = new AdamBlock(0);
    assert.equal(block.simd, false);
    assert.equal(block.update(0.9, 0.999, 0.01, 1e-8, 0, 1), false);
  });
});
