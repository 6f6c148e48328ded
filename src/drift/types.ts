/** Which algorithm produced a {@link DriftState}. */
export type DriftDetectorKind = 'page-hinkley' | 'adwin' | 'ddm';

/**
 * What a detector concluded after its latest input.
 *
 * `statistic` and `threshold` are in the detector's own units (see each class); `threshold` is
 * `Infinity` while the detector has not seen enough data to decide anything yet.
 * `n` is the number of inputs the detector's current statistics are built on: it restarts after a drift
 * (for ADWIN it is the width of the window that remains).
 */
export interface DriftState {
  drift: boolean;
  warning: boolean;
  detector: DriftDetectorKind;
  statistic: number;
  threshold: number;
  n: number;
}

/** Common shape of the three detectors, so that callers can swap them. */
export interface DriftDetector {
  readonly kind: DriftDetectorKind;
  readonly state: DriftState;
  update(x: number): DriftState;
  reset(): void;
}
