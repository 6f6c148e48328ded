import { DriftDetector, DriftState } from './types';
import { describe } from '../describe';
import { nonNegative, nonNegativeInteger, numberOption, positive, requireFiniteInput } from './validate';

/** Which change of the mean the Page-Hinkley test looks for. */
export type PageHinkleyDirection = 'up' | 'down' | 'both';

export interface PageHinkleyOptions {
  /**
   * Size of mean changes that are tolerated and never reported, in input units. Default 0.005.
   * It also pulls the cumulative sum back, which is what keeps a stationary stream from alarming.
   */
  delta?: number;
  /**
   * Drift threshold λ on the Page-Hinkley statistic, in input units × samples. Default 50.
   * Roughly, a mean shift of size d is reported after about λ / d samples: lower it (e.g. 5-20) for
   * similarity scores in [0, 1] with little noise to react faster, raise it for noisy inputs.
   */
  lambda?: number;
  /**
   * Forgetting factor applied to the cumulative sum at every sample, in (0, 1]. Default 0.9999.
   * Below 1, evidence older than about 1 / (1 - alpha) samples fades, so a long stationary
   * history does not slow down detection; 1 is the classic test without forgetting.
   */
  alpha?: number;
  /** No warning or drift is reported before this many samples since the last (re)start. Default 30. */
  minInstances?: number;
  /**
   * 'up' reports increases of the mean (e.g. an error or loss), 'down' decreases (e.g. a similarity
   * score, which drops under drift), 'both' either. Default 'up'.
   */
  direction?: PageHinkleyDirection;
  /** Warning is raised when the statistic exceeds this fraction of `lambda`, in (0, 1]. Default 0.5. */
  warningFraction?: number;
}

const NAME = 'Page-Hinkley';

/**
 * Page-Hinkley test (Page 1954; Hinkley 1971), the cumulative-sum change detector for the mean of a stream.
 *
 * `statistic` is the distance of the cumulative deviation from its running extreme (for 'both', the larger
 * of the two directions) and `threshold` is `lambda`.
 */
export class PageHinkley implements DriftDetector {
  readonly kind = 'page-hinkley' as const;
  readonly delta: number;
  readonly lambda: number;
  readonly alpha: number;
  readonly minInstances: number;
  readonly direction: PageHinkleyDirection;
  readonly warningFraction: number;

  private n = 0;
  private mean = 0;
  private sumUp = 0;
  private minUp = 0;
  private sumDown = 0;
  private maxDown = 0;
  private current: DriftState;

  constructor(options: PageHinkleyOptions = {}) {
    this.delta = numberOption(NAME, 'delta', options.delta, 0.005, nonNegative);
    this.lambda = numberOption(NAME, 'lambda', options.lambda, 50, positive);
    this.alpha = numberOption(NAME, 'alpha', options.alpha, 0.9999, (v) => (v > 0 && v <= 1 ? undefined : 'must be greater than 0 and at most 1'));
    this.minInstances = numberOption(NAME, 'minInstances', options.minInstances, 30, nonNegativeInteger);
    this.warningFraction = numberOption(NAME, 'warningFraction', options.warningFraction, 0.5, (v) =>
      v > 0 && v <= 1 ? undefined : 'must be greater than 0 and at most 1',
    );
    const direction = options.direction ?? 'up';
    if (direction !== 'up' && direction !== 'down' && direction !== 'both') {
      throw new Error(`${NAME} drift detector: option 'direction' must be 'up', 'down' or 'both', got ${describe(direction)}`);
    }
    this.direction = direction;
    this.current = this.idleState();
  }

  get state(): DriftState {
    return this.current;
  }

  update(x: number): DriftState {
    requireFiniteInput(NAME, x);
    this.n += 1;
    this.mean += (x - this.mean) / this.n;
    const deviation = x - this.mean;
    this.sumUp = this.alpha * this.sumUp + deviation - this.delta;
    this.minUp = Math.min(this.minUp, this.sumUp);
    this.sumDown = this.alpha * this.sumDown + deviation + this.delta;
    this.maxDown = Math.max(this.maxDown, this.sumDown);

    const up = this.sumUp - this.minUp;
    const down = this.maxDown - this.sumDown;
    const statistic = this.direction === 'up' ? up : this.direction === 'down' ? down : Math.max(up, down);
    const ready = this.n >= this.minInstances;
    const drift = ready && statistic > this.lambda;
    const warning = ready && statistic > this.warningFraction * this.lambda;
    this.current = Object.freeze({
      drift,
      warning,
      detector: this.kind,
      statistic,
      threshold: this.lambda,
      n: this.n,
    });
    if (drift) this.restart();
    return this.current;
  }

  reset(): void {
    this.restart();
    this.current = this.idleState();
  }

  /** Forgets the statistics but keeps the last reported state, so a drift stays visible until the next input. */
  private restart(): void {
    this.n = 0;
    this.mean = 0;
    this.sumUp = 0;
    this.minUp = 0;
    this.sumDown = 0;
    this.maxDown = 0;
  }

  private idleState(): DriftState {
    return Object.freeze({ drift: false, warning: false, detector: this.kind, statistic: 0, threshold: this.lambda, n: 0 });
  }
}
