import { DriftDetector, DriftState } from './types';
import { numberOption, openUnitInterval, positiveInteger, requireFiniteInput } from './validate';

export interface AdwinOptions {
  /** Confidence δ of the cut test: lower means fewer false alarms and slower detection. Default 0.002. */
  delta?: number;
  /**
   * Looser confidence used only for the warning, so that a warning comes before (or with) the drift.
   * Must be greater than `delta` and below 1. Default 10 × `delta`.
   */
  warningDelta?: number;
  /** The window is checked for a cut once every `clock` inputs; checking is the costly part. Default 32. */
  clock?: number;
  /** Buckets of each size kept before two are merged (M in the paper); more means finer cuts and more memory. Default 5. */
  maxBuckets?: number;
  /** Smallest sub-window (older or newer part) on which a mean is compared. Default 5. */
  minWindowLength?: number;
  /** The window must hold at least this many inputs before it is checked. Default 10. */
  gracePeriod?: number;
}

interface Bucket {
  total: number;
  /** Sum of squared deviations from the bucket mean. */
  variance: number;
}

const NAME = 'ADWIN';

/**
 * ADWIN2 adaptive windowing (Bifet & Gavaldà, "Learning from time-changing data with adaptive windowing", 2007).
 *
 * The window is stored as an exponential histogram: row i holds up to `maxBuckets` buckets of 2^i inputs,
 * giving O(log W) memory and cut points. When two sub-windows have means further apart than the
 * Hoeffding/Bernstein bound ε_cut, the older inputs are dropped until no cut remains.
 *
 * `statistic` is the largest |mean(older) - mean(newer)| on the last check and `threshold` its ε_cut; when a
 * drift was found they describe the cut that triggered it (so statistic ≥ threshold). Between checks they, and
 * `warning`, keep the values of the last check; after a drift they restart (0, Infinity, false) until the next one.
 */
export class Adwin implements DriftDetector {
  readonly kind = 'adwin' as const;
  readonly delta: number;
  readonly warningDelta: number;
  readonly clock: number;
  readonly maxBuckets: number;
  readonly minWindowLength: number;
  readonly gracePeriod: number;

  /** rows[i] holds buckets of 2^i inputs, oldest first; higher rows hold older inputs. */
  private rows: Bucket[][] = [];
  private width = 0;
  private total = 0;
  private variance = 0;
  private ticks = 0;
  private justDrifted = false;
  private lastStatistic = 0;
  private lastThreshold = Infinity;
  private lastWarning = false;
  private current: DriftState;

  constructor(options: AdwinOptions = {}) {
    this.delta = numberOption(NAME, 'delta', options.delta, 0.002, openUnitInterval);
    this.warningDelta = numberOption(NAME, 'warningDelta', options.warningDelta, Math.min(10 * this.delta, 0.999), (v) =>
      v > this.delta && v < 1 ? undefined : `must be greater than delta (${this.delta}) and below 1`,
    );
    this.clock = numberOption(NAME, 'clock', options.clock, 32, positiveInteger);
    this.maxBuckets = numberOption(NAME, 'maxBuckets', options.maxBuckets, 5, (v) =>
      Number.isInteger(v) && v >= 2 ? undefined : 'must be a whole number of at least 2',
    );
    this.minWindowLength = numberOption(NAME, 'minWindowLength', options.minWindowLength, 5, positiveInteger);
    this.gracePeriod = numberOption(NAME, 'gracePeriod', options.gracePeriod, 10, (v) =>
      Number.isInteger(v) && v >= 2 * this.minWindowLength ? undefined : `must be a whole number of at least 2 × minWindowLength (${2 * this.minWindowLength})`,
    );
    this.current = this.makeState(false);
  }

  get state(): DriftState {
    return this.current;
  }

  /** Mean of the inputs currently in the window (0 when empty). */
  get mean(): number {
    return this.width > 0 ? this.total / this.width : 0;
  }

  update(x: number): DriftState {
    requireFiniteInput(NAME, x);
    this.insert(x);
    this.ticks += 1;
    let drift = false;
    // A drift has just emptied the window of every cut; one new input is not fresh evidence of another change.
    const mayCheck = !this.justDrifted;
    this.justDrifted = false;
    if (mayCheck && this.ticks % this.clock === 0 && this.width >= this.gracePeriod) {
      drift = this.check();
    }
    if (drift) {
      this.justDrifted = true;
      this.ticks = 0;
    }
    this.current = this.makeState(drift);
    if (drift) {
      // The cut's numbers described the window that was just dropped; the next check describes the new one.
      this.lastStatistic = 0;
      this.lastThreshold = Infinity;
      this.lastWarning = false;
    }
    return this.current;
  }

  reset(): void {
    this.rows = [];
    this.width = 0;
    this.total = 0;
    this.variance = 0;
    this.ticks = 0;
    this.justDrifted = false;
    this.lastStatistic = 0;
    this.lastThreshold = Infinity;
    this.lastWarning = false;
    this.current = this.makeState(false);
  }

  private makeState(drift: boolean): DriftState {
    return Object.freeze({
      drift,
      warning: this.lastWarning,
      detector: this.kind,
      statistic: this.lastStatistic,
      threshold: this.lastThreshold,
      n: this.width,
    });
  }

  private insert(x: number): void {
    this.width += 1;
    if (this.width > 1) {
      const previousMean = this.total / (this.width - 1);
      this.variance += ((this.width - 1) * (x - previousMean) ** 2) / this.width;
    }
    this.total += x;
    if (this.rows.length === 0) this.rows.push([]);
    this.rows[0].push({ total: x, variance: 0 });
    this.compress();
  }

  private compress(): void {
    for (let i = 0; i < this.rows.length; i++) {
      const row = this.rows[i];
      if (row.length <= this.maxBuckets) break;
      const size = 2 ** i;
      const a = row.shift() as Bucket;
      const b = row.shift() as Bucket;
      const meanDifference = a.total / size - b.total / size;
      const merged: Bucket = {
        total: a.total + b.total,
        variance: a.variance + b.variance + (size * size * meanDifference ** 2) / (2 * size),
      };
      if (i + 1 === this.rows.length) this.rows.push([]);
      // The merged inputs are the oldest of row i, hence newer than everything already in row i + 1.
      this.rows[i + 1].push(merged);
    }
  }

  private dropOldestBucket(): void {
    const top = this.rows.length - 1;
    const bucket = this.rows[top].shift() as Bucket;
    if (this.rows[top].length === 0) this.rows.pop();
    const size = 2 ** top;
    this.width -= size;
    this.total -= bucket.total;
    if (this.width === 0) {
      this.variance = 0;
      this.total = 0;
      return;
    }
    const bucketMean = bucket.total / size;
    const restMean = this.total / this.width;
    this.variance -= bucket.variance + (size * this.width * (bucketMean - restMean) ** 2) / (size + this.width);
    // Rounding can push a tiny variance below zero, which would make the bound NaN.
    if (this.variance < 0) this.variance = 0;
  }

  private epsilonCut(n0: number, n1: number, delta: number): number {
    const deltaPrime = Math.log((2 * Math.log(this.width)) / delta);
    const mReciprocal = 1 / (n0 - this.minWindowLength + 1) + 1 / (n1 - this.minWindowLength + 1);
    const windowVariance = this.variance / this.width;
    return Math.sqrt(2 * mReciprocal * windowVariance * deltaPrime) + (2 / 3) * deltaPrime * mReciprocal;
  }

  /** Shrinks the window while some cut separates sub-windows with different means; returns whether it did. */
  private check(): boolean {
    let drift = false;
    let firstPass = true;
    let cutFound = true;
    while (cutFound && this.width >= this.gracePeriod) {
      cutFound = false;
      let largest = -1;
      let largestEpsilon = Infinity;
      let warning = false;
      let n0 = 0;
      let total0 = 0;
      scan: for (let i = this.rows.length - 1; i >= 0; i--) {
        const size = 2 ** i;
        const row = this.rows[i];
        for (let j = 0; j < row.length; j++) {
          n0 += size;
          total0 += row[j].total;
          const n1 = this.width - n0;
          if (n1 < this.minWindowLength) break scan;
          if (n0 < this.minWindowLength) continue;
          const difference = Math.abs(total0 / n0 - (this.total - total0) / n1);
          const epsilon = this.epsilonCut(n0, n1, this.delta);
          if (firstPass && !warning && difference > this.epsilonCut(n0, n1, this.warningDelta)) warning = true;
          if (difference > epsilon) {
            cutFound = true;
            if (firstPass) {
              largest = difference;
              largestEpsilon = epsilon;
            }
            break scan;
          }
          if (difference > largest) {
            largest = difference;
            largestEpsilon = epsilon;
          }
        }
      }
      if (firstPass) {
        this.lastStatistic = Math.max(largest, 0);
        this.lastThreshold = largestEpsilon;
        this.lastWarning = warning || cutFound;
        firstPass = false;
      }
      if (cutFound) {
        drift = true;
        this.dropOldestBucket();
      }
    }
    return drift;
  }
}
