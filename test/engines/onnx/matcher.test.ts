import * as assert from 'node:assert/strict';
import { QUANTIZED_MATCHER_FROM, quantizeRows } from '../../../src/engines/onnx/graphs';
import type { Engine } from '../../../src/engines/types';
import { SeededRandom } from '../../../src/hff/random';
import { engineOrSkip } from '../reference';

/** count unit rows of width dim: non-negative and sparse like ReLU layer outputs, or signed like centred pixels. */
function unitRows(random: SeededRandom, count: number, dim: number, kind: 'relu' | 'signed'): Float32Array {
  const rows = new Float32Array(count * dim);
  for (let r = 0; r < count; r++) {
    let norm = 0;
    for (let j = 0; j < dim; j++) {
      const v = kind === 'relu' ? Math.max(0, random.gaussian()) : random.gaussian();
      rows[r * dim + j] = v;
      norm += v * v;
    }
    for (let j = 0; j < dim; j++) rows[r * dim + j] /= Math.sqrt(norm);
  }
  return rows;
}

function exactDots(x: Float32Array, batch: number, rows: Float32Array, count: number, dim: number): Float64Array {
  const out = new Float64Array(batch * count);
  for (let b = 0; b < batch; b++) {
    for (let r = 0; r < count; r++) {
      let s = 0;
      for (let j = 0; j < dim; j++) s += x[b * dim + j] * rows[r * dim + j];
      out[b * count + r] = s;
    }
  }
  return out;
}

/** Inputs near given rows: row + noise, renormalised. */
function noisyCopies(random: SeededRandom, rows: Float32Array, dim: number, picks: number[], noise: number): Float32Array {
  const x = new Float32Array(picks.length * dim);
  picks.forEach((r, b) => {
    let norm = 0;
    for (let j = 0; j < dim; j++) {
      const v = rows[r * dim + j] + (noise * random.gaussian()) / Math.sqrt(dim);
      x[b * dim + j] = v;
      norm += v * v;
    }
    for (let j = 0; j < dim; j++) x[b * dim + j] /= Math.sqrt(norm);
  });
  return x;
}

describe('engines/onnx: row matcher', function () {
  let engine: Engine;
  before(async function () {
    engine = await engineOrSkip(this, 'onnx');
  });

  it('is exact (float32) below the quantisation size', function () {
    const random = new SeededRandom(3);
    const count = 40;
    const dim = 300;
    assert.ok(count * dim < QUANTIZED_MATCHER_FROM);
    const rows = unitRows(random, count, dim, 'signed');
    const x = unitRows(random, 5, dim, 'signed');
    const matcher = engine.createMatcher(rows, count, dim);
    try {
      const got = matcher.dots(x, 5);
      const want = exactDots(x, 5, rows, count, dim);
      for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i] - want[i]) < 1e-5, `dot ${i}: ${got[i]} vs ${want[i]}`);
    } finally {
      matcher.dispose();
    }
  });

  for (const kind of ['relu', 'signed'] as const) {
    it(`keeps int8 rows from ${QUANTIZED_MATCHER_FROM} values on: dots within 3e-3 and the same nearest row (${kind} rows)`, function () {
      const random = new SeededRandom(kind === 'relu' ? 5 : 6);
      // 100 taught classes of 16 prototypes in a 3000-wide representation, the case this is for.
      const count = 1600;
      const dim = 3000;
      assert.ok(count * dim >= QUANTIZED_MATCHER_FROM);
      const rows = unitRows(random, count, dim, kind);
      const picks = Array.from({ length: 24 }, () => random.int(count));
      const x = noisyCopies(random, rows, dim, picks, 1.5);
      const matcher = engine.createMatcher(rows, count, dim);
      try {
        const got = matcher.dots(x, picks.length);
        const want = exactDots(x, picks.length, rows, count, dim);
        let worst = 0;
        for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
        assert.ok(worst < 3e-3, `largest difference ${worst}`);
        assert.ok(worst > 0, 'the int8 path is taken (an exact float32 result would mean it was not)');
        picks.forEach((r, b) => {
          let best = 0;
          for (let j = 1; j < count; j++) if (got[b * count + j] > got[b * count + best]) best = j;
          assert.equal(best, r, `input ${b} (a noisy copy of row ${r}) is matched to row ${best}`);
        });
      } finally {
        matcher.dispose();
      }
    });
  }

  it('quantizes each row symmetrically with its own scale; an all-zero row stays zero', function () {
    const rows = Float32Array.from([0.5, -0.3, 0.125, 0, 0, 0, 0.01, 0.02, -0.04]);
    const { columns, scales } = quantizeRows(rows, 3, 3);
    assert.deepEqual(Array.from(scales), [Math.fround(0.5 / 127), 1, Math.fround(0.04 / 127)]);
    // Laid out dim x count: column r holds row r.
    assert.deepEqual(Array.from(columns), [127, 0, 32, -76, 0, 64, 32, 0, -127]);
  });
});
