import * as assert from 'node:assert/strict';
import type { Engine, OptimizerSettings } from '../../src/engines/types';
import { SeededRandom } from '../../src/hff/random';
import { TransferBranch } from '../../src/hff/teaching';
import { ENGINE_CHOICES, engineOrSkip, maxAbsDiff } from '../engines/reference';

const OPTIMIZER: OptimizerSettings = { kind: 'adam', learningRate: 0.001, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, momentum: 0, weightDecay: 0 };

/**
 * The branch's features written plainly in float64 from the same seed: He-initialised ReLU layers drawn in the
 * branch's order (each layer's weights, then its one prototype row), zero biases, the first layer's input
 * centred and normalised as asked, each layer's output scaled to unit length.
 */
function referenceFeatures(x: Float32Array, batch: number, inputSize: number, widths: number[], seed: number, centre: boolean): Float64Array[] {
  const random = new SeededRandom(seed);
  const weights: Float64Array[] = [];
  let size = inputSize;
  for (const units of widths) {
    const scale = Math.sqrt(2 / size);
    weights.push(Float64Array.from({ length: size * units }, () => Math.fround(random.gaussian() * scale)));
    for (let u = 0; u < units; u++) random.gaussian();
    size = units;
  }
  const rows: Float64Array[] = [];
  for (let b = 0; b < batch; b++) {
    let input = Float64Array.from(x.subarray(b * inputSize, (b + 1) * inputSize));
    if (centre) {
      const mean = input.reduce((s, v) => s + v, 0) / input.length;
      input = input.map((v) => v - mean);
    }
    const norm = Math.hypot(...input);
    input = input.map((v) => v / norm);
    size = inputSize;
    widths.forEach((units, l) => {
      const out = new Float64Array(units);
      for (let u = 0; u < units; u++) {
        let a = 0;
        for (let i = 0; i < size; i++) a += input[i] * weights[l][i * units + u];
        out[u] = Math.max(0, a);
      }
      const n = Math.hypot(...out);
      input = out.map((v) => v / n);
      size = units;
    });
    rows.push(input);
  }
  return rows;
}

for (const choice of ENGINE_CHOICES) {
  describe(`hff/teaching: TransferBranch on ${choice}`, function () {
    let engine: Engine;
    before(async function () {
      engine = await engineOrSkip(this, choice);
    });

    const inputSize = 24;
    const widths = [48, 32];
    const batch = 5;
    const data = new SeededRandom(7);
    const x = Float32Array.from({ length: batch * inputSize }, () => data.next() * 2);

    for (const centre of [false, true]) {
      it(`gives the float64 reference's unit features from its seed (centred input: ${centre})`, function () {
        const branch = new TransferBranch(engine, inputSize, widths, 11, { centerInput: centre, normalizeInput: true }, OPTIMIZER);
        try {
          assert.equal(branch.units, 32);
          const features = branch.features(x, batch);
          assert.equal(features.length, batch * 32);
          const expected = referenceFeatures(x, batch, inputSize, widths, 11, centre);
          for (let b = 0; b < batch; b++) {
            const row = features.subarray(b * 32, (b + 1) * 32);
            assert.ok(Math.abs(Math.hypot(...row) - 1) < 1e-5, `row ${b} is a unit vector`);
            assert.ok(
              row.every((v) => v >= 0),
              'ReLU features are non-negative',
            );
            assert.ok(maxAbsDiff(row, expected[b]) < 1e-4, `row ${b}: ${maxAbsDiff(row, expected[b])} from the float64 reference`);
          }
        } finally {
          branch.dispose();
        }
      });
    }

    it('is fixed by its seed: the same seed gives the same features, another seed other features', function () {
      const make = (seed: number) => new TransferBranch(engine, inputSize, widths, seed, { centerInput: false, normalizeInput: true }, OPTIMIZER);
      const [a, b, c] = [make(3), make(3), make(4)];
      try {
        const [fa, fb, fc] = [a, b, c].map((branch) => branch.features(x, batch));
        assert.deepEqual(fa, fb);
        assert.ok(maxAbsDiff(fa, fc) > 0.05, 'another seed draws other random layers');
      } finally {
        [a, b, c].forEach((branch) => branch.dispose());
      }
    });
  });
}
