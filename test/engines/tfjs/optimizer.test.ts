import * as assert from 'node:assert/strict';
import { adamUpdate, sgdUpdate } from '../../../src/engines/onnx/kernels';
import { optimizerStep } from '../../../src/engines/tfjs/optimizer';
import { tf } from '../../../src/engines/tfjs/tf';
import { createEngine } from '../../../src/engines/backend';
import type { OptimizerSettings } from '../../../src/engines/types';
import { SeededRandom } from '../../../src/hff/random';
import { type OptimizerState, referenceOptimizerStep } from '../reference';

/**
 * The optimiser step is written once per kind of engine: tf ops for everything on tfjs (HFF layers and baselines),
 * fused float loops for the onnx engine (and SIMD, test/engines/onnx/simd-adam.test.ts). Each must make the float64
 * reference's update.
 */
describe('engines: the optimiser step against one float64 reference', function () {
  before(async function () {
    await createEngine('wasm');
  });

  const settings = (kind: 'adam' | 'sgd', momentum = 0.9): OptimizerSettings => ({
    kind,
    learningRate: 0.01,
    beta1: 0.9,
    beta2: 0.999,
    epsilon: 1e-8,
    momentum,
    weightDecay: 0.05,
  });

  function run(o: OptimizerSettings, weightDecay: number, apply: (p: Float32Array, g: Float32Array, step: number) => Float32Array): void {
    const n = 257;
    const random = new SeededRandom(7);
    const reference: OptimizerState = { p: new Float64Array(n), m: new Float64Array(n), v: new Float64Array(n) };
    const p0 = new Float32Array(n);
    for (let i = 0; i < n; i++) p0[i] = reference.p[i] = Math.fround(random.gaussian());
    let got: Float32Array = p0;
    for (let step = 1; step <= 5; step++) {
      const g = new Float32Array(n);
      for (let i = 0; i < n; i++) g[i] = Math.fround(random.gaussian() * 10 ** ((i % 5) - 2));
      referenceOptimizerStep(reference, Float64Array.from(g), o, step, weightDecay);
      got = apply(got, g, step);
    }
    let worst = 0;
    for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(got[i] - reference.p[i]) / Math.max(1, Math.abs(reference.p[i])));
    assert.ok(worst < 1e-5, `largest relative difference to the float64 step: ${worst}`);
    assert.ok(
      got.some((v, i) => v !== p0[i]),
      'the parameters moved',
    );
  }

  for (const [kind, weightDecay, momentum] of [
    ['adam', 0.05, 0],
    ['adam', 0, 0],
    ['sgd', 0.05, 0.9],
    ['sgd', 0, 0],
  ] as const) {
    const o = settings(kind, momentum);
    const name = `${kind}${kind === 'sgd' ? `, momentum ${momentum}` : ''}, weight decay ${weightDecay}`;

    it(`tfjs optimizerStep: ${name}`, function () {
      const t = tf();
      let slot: { param: import('@tensorflow/tfjs').Variable; m: import('@tensorflow/tfjs').Variable; v: import('@tensorflow/tfjs').Variable } | undefined;
      const before = t.memory().numTensors;
      run(o, weightDecay, (p, g, step) => {
        if (!slot) slot = { param: t.variable(t.tensor(p)), m: t.variable(t.zeros([p.length])), v: t.variable(t.zeros([p.length])) };
        const s = slot;
        t.tidy(() => optimizerStep(s, t.tensor(g), o, step, weightDecay));
        return Float32Array.from(s.param.dataSync() as Float32Array);
      });
      const s = slot as NonNullable<typeof slot>;
      [s.param, s.m, s.v].forEach((v) => v.dispose());
      // The tensors made for the initial values, and nothing per step, remain.
      assert.ok(t.memory().numTensors - before <= 3, `tensors left: ${t.memory().numTensors - before}`);
    });

    it(`onnx engine's fused loop: ${name}`, function () {
      const m = new Float32Array(257);
      const v = new Float32Array(257);
      run(o, weightDecay, (p, g, step) => {
        const next = Float32Array.from(p);
        if (kind === 'adam') adamUpdate(next, g, m, v, o, step, weightDecay);
        else sgdUpdate(next, g, m, o, weightDecay);
        return next;
      });
    });
  }
});
