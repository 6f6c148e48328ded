/**
 * The dense layer definition run in float64 (Float64Ops): its gradients against finite differences of the loss
 * written plainly (test/engines/reference.ts), and every engine's results against it within float32 rounding.
 */
import assert from 'node:assert/strict';
import { denseForward, denseTraining } from '../../../src/engines/maths/dense';
import { cosines, lossAndCorrect, lossTargets } from '../../../src/engines/maths/local-loss';
import type { Activation, LayerSpec } from '../../../src/engines/types';
import { DEFAULTS } from '../../../src/hff/config';
import { ENGINE_CHOICES, type LayerCase, assertGradientsMatch, engineOrSkip, makeCase, maxAbsDiff, referenceGradients, relativeError } from '../reference';
import { Float64Ops, Matrix } from './float64-ops';

const ops = new Float64Ops();

/** The definition's training pass on a case, in float64. */
function float64Training(c: LayerCase) {
  const { spec, params, batch } = c;
  const rows = params.prototypes.length / spec.units;
  const classes = rows / spec.prototypesPerClass;
  const targets = lossTargets(spec, c.labels, classes);
  const r = denseTraining(
    ops,
    spec,
    Matrix.of(c.x, batch, spec.inputSize),
    {
      weight: Matrix.of(params.weight, spec.inputSize, spec.units),
      bias: Matrix.of(params.bias, 1, spec.units),
      // Unit rows in float64: the float32 ones are off by rounding, which finite differences would see.
      prototypes: ops.normalizeRows(Matrix.of(params.prototypes, rows, spec.units)),
    },
    {
      onehot: Matrix.of(targets.onehot, batch, classes),
      shift: targets.shift && Matrix.of(targets.shift, batch, rows),
      gradScale: ops.scalar(targets.gradScale),
    },
  );
  return { ...r, loss: lossAndCorrect(r.logits.data, c.labels, classes).loss };
}

function float64Forward(c: LayerCase) {
  const { spec, params } = c;
  const f = denseForward(
    ops,
    spec,
    Matrix.of(c.x, c.batch, spec.inputSize),
    Matrix.of(params.weight, spec.inputSize, spec.units),
    Matrix.of(params.bias, 1, spec.units),
  );
  return { z: f.z, cos: cosines(ops, f.z, Matrix.of(params.prototypes, params.prototypes.length / spec.units, spec.units)) };
}

const CASES: [number, Activation, Partial<LayerSpec>][] = [
  [1, 'relu', {}],
  [1, 'tanh', { margin: 0 }],
  [1, 'leaky-relu', { normalizeInput: false }],
  [1, 'relu', { centerInput: true }],
  [3, 'relu', {}],
  [3, 'tanh', { centerInput: true, normalizeInput: false }],
  [2, 'leaky-relu', { margin: 0 }],
];

const describeCase = (m: number, activation: Activation, o: Partial<LayerSpec>) =>
  `M=${m}, ${activation}${Object.entries(o)
    .map(([k, v]) => `, ${k} ${String(v)}`)
    .join('')}`;

describe('dense layer definition', function () {
  for (const [m, activation, overrides] of CASES) {
    it(`in float64, gives the loss and its gradients by finite differences (${describeCase(m, activation, overrides)})`, function () {
      const c = makeCase(m, activation, 31 + m, overrides);
      const r = float64Training(c);
      const numeric = referenceGradients(c);
      // The margin reaches the definition as float32 targets, hence 1e-8 rather than float64 rounding.
      assert.ok(Math.abs(r.loss - numeric.loss) < 1e-8, `loss ${r.loss} vs reference ${numeric.loss}`);
      for (const [name, analytic] of [
        ['weight', r.gradWeight],
        ['bias', r.gradBias],
        ['prototypes', r.gradPrototypes],
      ] as const) {
        const error = relativeError(analytic.data, numeric[name]);
        assert.ok(error < 1e-6, `${name} gradient: relative error ${error}`);
      }
    });
  }

  for (const choice of ENGINE_CHOICES) {
    it(`engine ${choice} computes what the definition gives in float64, within float32 rounding`, async function () {
      const engine = await engineOrSkip(this, choice);
      for (const [m, activation, overrides] of CASES) {
        const c = makeCase(m, activation, 41 + m, { ...overrides, inputSize: 24, units: 16, classes: 4, batch: 12 });
        const expected = float64Training(c);
        const forward = float64Forward(c);
        const layer = engine.createLayer(c.spec, c.params, DEFAULTS.optimizer);
        try {
          const what = describeCase(m, activation, overrides);
          assertGradientsMatch(what, layer.gradients(c.x, c.batch, c.labels), expected);
          const f = layer.forward(c.x, c.batch);
          assert.ok(maxAbsDiff(f.z, forward.z.data) < 1e-6, `${what}: z differs by ${maxAbsDiff(f.z, forward.z.data)}`);
          assert.ok(maxAbsDiff(f.cosines, forward.cos.data) < 1e-6, `${what}: cosines differ by ${maxAbsDiff(f.cosines, forward.cos.data)}`);
        } finally {
          layer.dispose();
        }
      }
    });
  }
});
