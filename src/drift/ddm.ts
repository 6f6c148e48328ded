import { DriftDetector, DriftState } from './types';
import { describe } from '../describe';
import { nonNegativeInteger, numberOption, positive } from './validate';

export interface DdmOptions {
  /** No reference is taken and nothing is reported before this many inputs since the last (re)start. Default 30. */
  minInstances?: number;
  /** Warning when p + s ≥ p_min + warningLevel · s_min. Default 2. */
  warningLevel?: number;
  /** Drift when p + s ≥ p_min + driftLevel · s_min; must exceed warningLevel. Default 3. */
  driftLevel?: number;
}

const NAME = 'DDM';

/**
 * Drift Detection Method (Gama, Medas, Castillo & Rodrigues, "Learning with drift detection", 2004) over a
 * stream of 0 (correct) / 1 (error) outcomes.
 *
 * p is the error rate since the last (re)start and s = sqrt(p(1-p)/n) its binomial standard deviation; the
 * lowest p + s seen so far is the reference (p_min, s_min). `statistic` is p + s and `threshold` is
 * p_min + driftLevel · s_min (Infinity until there is a reference).
 *
 * Unlike a literal reading of the paper, a point with s = 0 (no error yet, or only errors) never becomes the
 * reference: its threshold would collapse to p_min and a single error after a flawless start would be
 * reported as drift.
 */
export class Ddm implements DriftDetector {
  readonly kind = 'ddm' as const;
  readonly minInstances: number;
  readonly warningLevel: number;
  readonly driftLevel: number;

  private n = 0;
  private errors = 0;
  private pMin = Infinity;
  private sMin = Infinity;
  private current: DriftState;

  constructor(options: DdmOptions = {}) {
    this.minInstances = numberOption(NAME, 'minInstances', options.minInstances, 30, nonNegativeInteger);
    this.warningLevel = numberOption(NAME, 'warningLevel', options.warningLevel, 2, positive);
    this.driftLevel = numberOption(NAME, 'driftLevel', options.driftLevel, 3, (v) =>
      v > this.warningLevel ? undefined : `must be greater than warningLevel (${this.warningLevel})`,
    );
    this.current = this.idleState();
  }

  get state(): DriftState {
    return this.current;
  }

  /** Error rate since the last (re)start. */
  get errorRate(): number {
    return this.n > 0 ? this.errors / this.n : 0;
  }

  update(x: number): DriftState {
    if (x !== 0 && x !== 1) {
      throw new Error(`${NAME} drift detector: input must be 0 (correct) or 1 (error), got ${describe(x)}`);
    }
    this.n += 1;
    this.errors += x;
    const p = this.errors / this.n;
    const s = Math.sqrt((p * (1 - p)) / this.n);
    const ready = this.n >= this.minInstances;
    if (ready && s > 0 && p + s <= this.pMin + this.sMin) {
      this.pMin = p;
      this.sMin = s;
    }
    const hasReference = ready && Number.isFinite(this.pMin);
    const threshold = hasReference ? this.pMin + this.driftLevel * this.sMin : Infinity;
    const drift = hasReference && p + s >= threshold;
    const warning = hasReference && p + s >= this.pMin + this.warningLevel * this.sMin;
    this.current = Object.freeze({ drift, warning, detector: this.kind, statistic: p + s, threshold, n: this.n });
    if (drift) this.restart();
    return this.current;
  }

  reset(): void {
    this.restart();
    this.current = this.idleState();
  }

  private restart(): void {
    this.n = 0;
    this.errors = 0;
    this.pMin = Infinity;
    this.sMin = Infinity;
  }

  private idleState(): DriftState {
    return Object.freeze({ drift: false, warning: false, detector: this.kind, statistic: 0, threshold: Infinity, n: 0 });
  }
}
