import assert from 'node:assert/strict';
import { Adwin, createDriftDetector, Ddm, DriftDetector, DriftState, PageHinkley } from '../../src/drift';
import { errorStream, gaussianStream } from './streams';

const SEEDS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
const CHANGE_AT = 1000;

function feed(detector: DriftDetector, xs: number[]): DriftState[] {
  return xs.map((x) => detector.update(x));
}

function driftIndices(states: DriftState[]): number[] {
  const out: number[] = [];
  states.forEach((s, i) => {
    if (s.drift) out.push(i);
  });
  return out;
}

/** First drift at or after the change, with the first warning at or after the change. */
function detectionAfterChange(states: DriftState[]): { drift: number; warning: number } {
  const drift = states.findIndex((s, i) => i >= CHANGE_AT && s.drift);
  const warning = states.findIndex((s, i) => i >= CHANGE_AT && s.warning);
  return { drift, warning };
}

/** Similarity-like score: high and steady, then dropping when the input distribution changes. */
const similarityDrop = (seed: number): number[] =>
  gaussianStream(seed, [
    { length: CHANGE_AT, mean: 0.85, sd: 0.05 },
    { length: 1000, mean: 0.5, sd: 0.05 },
  ]);
/** Loss-like value that rises under drift. */
const lossRise = (seed: number): number[] =>
  gaussianStream(seed, [
    { length: CHANGE_AT, mean: 0.2, sd: 0.05 },
    { length: 1000, mean: 0.6, sd: 0.05 },
  ]);
const stationary = (seed: number): number[] => gaussianStream(seed, [{ length: 2000, mean: 0.8, sd: 0.05 }]);

function assertDetected(states: DriftState[], maxDelay: number, label: string): void {
  assert.deepEqual(
    driftIndices(states).filter((i) => i < CHANGE_AT),
    [],
    `${label}: false alarm before the change`,
  );
  const { drift, warning } = detectionAfterChange(states);
  assert.ok(drift >= CHANGE_AT, `${label}: change never detected`);
  assert.ok(drift - CHANGE_AT <= maxDelay, `${label}: detected after ${drift - CHANGE_AT} samples, expected <= ${maxDelay}`);
  assert.ok(warning >= CHANGE_AT && warning <= drift, `${label}: warning at ${warning} should precede or coincide with drift at ${drift}`);
  assert.equal(states[drift].warning, true, `${label}: the drift state itself carries a warning`);
}

/** Shared behaviour every detector must show: restart after drift, reset, n counting, and bad inputs. */
function commonBehaviour(make: () => DriftDetector, driftingStream: number[], badInputs: unknown[], invalidMessage: RegExp): void {
  it('the update after a drift reports drift:false on restarted statistics', () => {
    const detector = make();
    const states = feed(detector, driftingStream);
    const drifts = driftIndices(states);
    assert.ok(drifts.length > 0);
    for (const i of drifts) {
      if (i + 1 < states.length) {
        assert.equal(states[i + 1].drift, false);
        assert.ok(states[i + 1].n <= states[i].n + 1, 'statistics restart (or the window stays shrunk) after a drift');
      }
    }
  });

  it('state is the last returned state and is read-only', () => {
    const detector = make();
    const returned = detector.update(driftingStream[0]);
    assert.equal(detector.state, returned);
    assert.throws(() => {
      (detector.state as { drift: boolean }).drift = true;
    }, TypeError);
  });

  it('reset() restarts from scratch: same states as a fresh detector', () => {
    const used = make();
    feed(used, driftingStream.slice(0, 1500));
    used.reset();
    assert.equal(used.state.n, 0);
    assert.equal(used.state.drift, false);
    assert.equal(used.state.warning, false);
    assert.deepEqual(feed(used, driftingStream), feed(make(), driftingStream));
  });

  it('invalid input throws a clear error and leaves the state unchanged', () => {
    const clean = make();
    const dirty = make();
    const half = driftingStream.slice(0, 700);
    feed(clean, half);
    feed(dirty, half);
    for (const bad of badInputs) {
      const before = dirty.state;
      assert.throws(() => dirty.update(bad as number), invalidMessage);
      assert.equal(dirty.state, before);
    }
    const rest = driftingStream.slice(700);
    assert.deepEqual(feed(dirty, rest), feed(clean, rest), 'rejected inputs must not influence later results');
  });
}

describe('drift: Page-Hinkley', () => {
  it('stays quiet on stationary streams (2000 samples, 10 seeds, both directions)', () => {
    for (const seed of SEEDS) {
      assert.deepEqual(driftIndices(feed(new PageHinkley({ direction: 'both' }), stationary(seed))), [], `seed ${seed}`);
    }
  });

  it("direction 'up' with defaults detects a rising mean within 200 samples", () => {
    for (const seed of SEEDS) assertDetected(feed(new PageHinkley(), lossRise(seed)), 200, `seed ${seed}`);
  });

  it("direction 'down' detects a dropping similarity score; a lower lambda reacts faster", () => {
    for (const seed of SEEDS) {
      assertDetected(feed(new PageHinkley({ direction: 'down' }), similarityDrop(seed)), 300, `default lambda, seed ${seed}`);
      assertDetected(feed(new PageHinkley({ direction: 'down', lambda: 10 }), similarityDrop(seed)), 60, `lambda 10, seed ${seed}`);
    }
  });

  it("direction 'up' ignores a drop, 'down' ignores a rise, 'both' sees either", () => {
    for (const seed of SEEDS.slice(0, 3)) {
      assert.deepEqual(driftIndices(feed(new PageHinkley({ direction: 'up' }), similarityDrop(seed))), []);
      assert.deepEqual(driftIndices(feed(new PageHinkley({ direction: 'down' }), lossRise(seed))), []);
      assertDetected(feed(new PageHinkley({ direction: 'both' }), similarityDrop(seed)), 300, `both/drop seed ${seed}`);
      assertDetected(feed(new PageHinkley({ direction: 'both' }), lossRise(seed)), 200, `both/rise seed ${seed}`);
    }
  });

  it('reports statistic against lambda, warns at warningFraction of it, and nothing before minInstances', () => {
    const detector = new PageHinkley({ lambda: 10, warningFraction: 0.3, minInstances: 50 });
    const states = feed(detector, lossRise(1));
    for (const s of states) {
      assert.equal(s.detector, 'page-hinkley');
      assert.equal(s.threshold, 10);
      if (s.n < 50) assert.ok(!s.warning && !s.drift);
      else {
        assert.equal(s.drift, s.statistic > 10);
        assert.equal(s.warning, s.statistic > 3);
      }
    }
  });

  it('n counts samples since the last restart', () => {
    const detector = new PageHinkley();
    const states = feed(detector, stationary(1).slice(0, 123));
    assert.deepEqual(
      states.map((s) => s.n),
      Array.from({ length: 123 }, (_, i) => i + 1),
    );
    const afterDrift = feed(new PageHinkley({ lambda: 10 }), lossRise(2));
    const first = driftIndices(afterDrift)[0];
    assert.equal(afterDrift[first + 1].n, 1);
    assert.equal(afterDrift[first + 5].n, 5);
  });

  it('detects a second change after restarting', () => {
    const xs = gaussianStream(3, [
      { length: 1000, mean: 0.2, sd: 0.05 },
      { length: 1000, mean: 0.6, sd: 0.05 },
      { length: 1000, mean: 1.0, sd: 0.05 },
    ]);
    const drifts = driftIndices(feed(new PageHinkley(), xs));
    assert.ok(drifts.some((i) => i >= 1000 && i < 1200));
    assert.ok(
      drifts.some((i) => i >= 2000 && i < 2200),
      `drifts at ${drifts.join(', ')}`,
    );
  });

  it('rejects invalid options', () => {
    assert.throws(() => new PageHinkley({ lambda: 0 }), /Page-Hinkley drift detector: option 'lambda' must be greater than 0/);
    assert.throws(() => new PageHinkley({ alpha: 1.5 }), /option 'alpha'/);
    assert.throws(() => new PageHinkley({ direction: 'sideways' as 'up' }), /option 'direction' must be 'up', 'down' or 'both'/);
    assert.throws(() => new PageHinkley({ minInstances: 2.5 }), /option 'minInstances'/);
  });

  commonBehaviour(
    () => new PageHinkley({ direction: 'both', lambda: 10 }),
    lossRise(4),
    [NaN, Infinity, -Infinity, '0.5', undefined, null, [1]],
    /Page-Hinkley drift detector: input must be a finite number within ±1e\+12, got /,
  );
});

describe('drift: ADWIN', () => {
  it('stays quiet on stationary streams (2000 samples, 10 seeds)', () => {
    for (const seed of SEEDS) {
      const detector = new Adwin();
      assert.deepEqual(driftIndices(feed(detector, stationary(seed))), [], `seed ${seed}`);
      assert.equal(detector.state.n, 2000, 'a stationary window keeps every sample');
    }
  });

  it('detects a rise and a drop of the mean within 100 samples', () => {
    for (const seed of SEEDS) {
      assertDetected(feed(new Adwin(), lossRise(seed)), 100, `rise seed ${seed}`);
      assertDetected(feed(new Adwin(), similarityDrop(seed)), 100, `drop seed ${seed}`);
    }
  });

  it('drops the old part of the window on drift and keeps the new one', () => {
    const detector = new Adwin();
    const states = feed(detector, similarityDrop(5));
    const first = driftIndices(states)[0];
    assert.ok(states[first - 1].n > CHANGE_AT);
    // Whole buckets are dropped, so a few old samples may stay until a later check removes them.
    assert.ok(states[first].n < 200, `window of ${states[first].n} should have lost the old part`);
    assert.ok(states[first].statistic >= states[first].threshold);
    feed(detector, gaussianStream(50, [{ length: 300, mean: 0.5, sd: 0.05 }]));
    assert.ok(Math.abs(detector.mean - 0.5) < 0.02, `window mean ${detector.mean} should be the new level`);
  });

  it('checks only every clock inputs and reports the last check between them', () => {
    const detector = new Adwin({ clock: 16 });
    const states = feed(detector, stationary(2).slice(0, 100));
    assert.equal(states[14].threshold, Infinity, 'no check before the first clock tick');
    assert.ok(Number.isFinite(states[15].threshold));
    assert.equal(states[16].statistic, states[15].statistic);
    assert.ok(states[15].statistic < states[15].threshold);
  });

  it('n is the window width', () => {
    const states = feed(new Adwin(), stationary(3).slice(0, 77));
    assert.deepEqual(
      states.map((s) => s.n),
      Array.from({ length: 77 }, (_, i) => i + 1),
    );
  });

  it('detects a second change after shrinking', () => {
    const xs = gaussianStream(6, [
      { length: 1000, mean: 0.9, sd: 0.05 },
      { length: 1000, mean: 0.6, sd: 0.05 },
      { length: 1000, mean: 0.3, sd: 0.05 },
    ]);
    const drifts = driftIndices(feed(new Adwin(), xs));
    assert.ok(drifts.some((i) => i >= 1000 && i < 1100));
    assert.ok(
      drifts.some((i) => i >= 2000 && i < 2100),
      `drifts at ${drifts.join(', ')}`,
    );
  });

  it('rejects invalid options', () => {
    assert.throws(() => new Adwin({ delta: 0 }), /ADWIN drift detector: option 'delta' must be between 0 and 1/);
    assert.throws(() => new Adwin({ delta: 0.1, warningDelta: 0.05 }), /option 'warningDelta' must be greater than delta/);
    assert.throws(() => new Adwin({ clock: 0 }), /option 'clock'/);
    assert.throws(() => new Adwin({ maxBuckets: 1 }), /option 'maxBuckets'/);
  });

  commonBehaviour(
    () => new Adwin({ clock: 8 }),
    similarityDrop(7),
    [NaN, Infinity, '1', undefined, {}],
    /ADWIN drift detector: input must be a finite number within ±1e\+12, got /,
  );
});

describe('drift: DDM', () => {
  const jump = (seed: number): number[] =>
    errorStream(seed, [
      { length: CHANGE_AT, rate: 0.1 },
      { length: 1000, rate: 0.5 },
    ]);

  it('stays quiet on a stationary 10% error stream of 2000 outcomes', () => {
    assert.deepEqual(driftIndices(feed(new Ddm(), errorStream(3, [{ length: 2000, rate: 0.1 }]))), []);
  });

  it('false-alarm rate of the paper method on stationary streams stays in its known range', () => {
    // DDM compares with the best p + s ever seen, so a lucky early minimum can trigger a false alarm: this is the
    // method's known weakness, measured here so that a regression (e.g. a wrong s formula) shows up as a jump.
    let alarms = 0;
    for (let seed = 1; seed <= 50; seed++) {
      if (driftIndices(feed(new Ddm(), errorStream(seed, [{ length: 2000, rate: 0.1 }]))).length > 0) alarms++;
    }
    assert.ok(alarms <= 25, `${alarms} of 50 stationary streams raised a drift`);
  });

  it('detects an error-rate jump 0.1 -> 0.5 within 250 outcomes, warning first', () => {
    for (const seed of SEEDS) {
      const states = feed(new Ddm(), jump(seed));
      const { drift, warning } = detectionAfterChange(states);
      assert.ok(drift >= CHANGE_AT && drift - CHANGE_AT <= 250, `seed ${seed}: drift at ${drift}`);
      assert.ok(warning >= CHANGE_AT && warning <= drift, `seed ${seed}: warning at ${warning}, drift at ${drift}`);
    }
  });

  it('statistic is p + s, thresholds follow p_min + 2 s_min and p_min + 3 s_min, nothing before 30 outcomes', () => {
    const xs = jump(1);
    const states = feed(new Ddm(), xs);
    let n = 0;
    let errors = 0;
    let pMin = Infinity;
    let sMin = Infinity;
    states.forEach((state, i) => {
      n++;
      errors += xs[i];
      const p = errors / n;
      const s = Math.sqrt((p * (1 - p)) / n);
      assert.equal(state.n, n);
      assert.ok(Math.abs(state.statistic - (p + s)) < 1e-12);
      if (n < 30) {
        assert.equal(state.threshold, Infinity);
        assert.ok(!state.warning && !state.drift);
      } else {
        if (s > 0 && p + s <= pMin + sMin) {
          pMin = p;
          sMin = s;
        }
        assert.ok(Math.abs(state.threshold - (pMin + 3 * sMin)) < 1e-12);
        assert.equal(state.warning, p + s >= pMin + 2 * sMin);
        assert.equal(state.drift, p + s >= pMin + 3 * sMin);
      }
      if (state.drift) {
        n = 0;
        errors = 0;
        pMin = Infinity;
        sMin = Infinity;
      }
    });
  });

  it('a flawless start does not turn the first error into a drift, but a real degradation is found', () => {
    const flawlessThenBad = [...new Array<number>(200).fill(0), ...errorStream(9, [{ length: 300, rate: 0.5 }])];
    const states = feed(new Ddm(), flawlessThenBad);
    const firstError = flawlessThenBad.indexOf(1);
    assert.equal(states[firstError].drift, false);
    const drift = driftIndices(states)[0];
    assert.ok(drift !== undefined && drift - 200 <= 100, `drift at ${drift}`);
    assert.deepEqual(driftIndices(feed(new Ddm(), new Array<number>(2000).fill(0))), [], 'a perfect stream never drifts');
  });

  it('restarts after a drift: n counts from 1 again and a later jump is found', () => {
    const xs = errorStream(4, [
      { length: 1000, rate: 0.05 },
      { length: 1000, rate: 0.3 },
      { length: 1000, rate: 0.7 },
    ]);
    const states = feed(new Ddm(), xs);
    const drifts = driftIndices(states);
    const first = drifts.find((i) => i >= 1000) as number;
    assert.equal(states[first + 1].n, 1);
    assert.ok(
      drifts.some((i) => i >= 2000 && i < 2250),
      `drifts at ${drifts.join(', ')}`,
    );
  });

  it('rejects invalid options', () => {
    assert.throws(() => new Ddm({ warningLevel: 3, driftLevel: 2 }), /DDM drift detector: option 'driftLevel' must be greater than warningLevel/);
    assert.throws(() => new Ddm({ minInstances: -1 }), /option 'minInstances'/);
  });

  commonBehaviour(() => new Ddm(), jump(2), [0.5, 2, -1, NaN, true, '1', undefined], /DDM drift detector: input must be 0 \(correct\) or 1 \(error\), got /);
});

describe('drift: createDriftDetector', () => {
  it('builds each kind with its options', () => {
    const ph = createDriftDetector('page-hinkley', { lambda: 7, direction: 'down' });
    assert.ok(ph instanceof PageHinkley);
    assert.equal(ph.lambda, 7);
    assert.equal(ph.direction, 'down');
    const adwin = createDriftDetector('adwin', { delta: 0.01 });
    assert.ok(adwin instanceof Adwin);
    assert.equal(adwin.delta, 0.01);
    assert.equal(adwin.warningDelta, 0.1);
    const ddm = createDriftDetector('ddm');
    assert.ok(ddm instanceof Ddm);
    for (const kind of ['page-hinkley', 'adwin', 'ddm'] as const) {
      const detector: DriftDetector = createDriftDetector(kind);
      assert.equal(detector.kind, kind);
      assert.equal(detector.update(0).detector, kind);
    }
  });

  it('rejects an unknown kind', () => {
    assert.throws(() => createDriftDetector('cusum' as 'ddm'), /Unknown drift detector the string "cusum": expected 'page-hinkley', 'adwin' or 'ddm'/);
  });
});

describe('drift: ADWIN window bookkeeping', () => {
  it('the window is exactly the last n inputs: its mean matches a direct computation', () => {
    const xs = gaussianStream(11, [
      { length: 700, mean: 0.9, sd: 0.1 },
      { length: 700, mean: 0.4, sd: 0.1 },
      { length: 700, mean: 0.7, sd: 0.1 },
    ]);
    const detector = new Adwin({ clock: 4 });
    let shrank = 0;
    xs.forEach((x, i) => {
      const state = detector.update(x);
      if (state.drift) shrank++;
      const window = xs.slice(i + 1 - state.n, i + 1);
      const mean = window.reduce((a, b) => a + b, 0) / window.length;
      assert.ok(Math.abs(detector.mean - mean) < 1e-9, `at ${i}: ${detector.mean} vs ${mean}`);
    });
    assert.ok(shrank >= 2);
  });
});
