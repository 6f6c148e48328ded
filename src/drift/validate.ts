import { describe } from '../describe';

/**
 * Largest magnitude a detector takes. Its running sums and variances must stay finite and meaningful: 1.7e308
 * then -1.7e308 would make them Infinity - Infinity = NaN, after which no drift could ever be seen.
 */
export const MAX_DRIFT_INPUT = 1e12;

/**
 * Throws unless `x` is a finite number within ±MAX_DRIFT_INPUT; runs before any state change so a bad input
 * leaves the detector untouched.
 */
export function requireFiniteInput(detectorName: string, x: unknown): asserts x is number {
  if (typeof x !== 'number' || !Number.isFinite(x) || Math.abs(x) > MAX_DRIFT_INPUT) {
    throw new Error(`${detectorName} drift detector: input must be a finite number within ±${MAX_DRIFT_INPUT.toExponential(0)}, got ${describe(x)}`);
  }
}

/** Validates one numeric constructor option; `check` returns the reason it is wrong, or undefined when fine. */
export function numberOption(detectorName: string, optionName: string, value: unknown, fallback: number, check: (v: number) => string | undefined): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new Error(`${detectorName} drift detector: option '${optionName}' must be a finite number, got ${describe(value)}`);
  }
  const problem = check(value);
  if (problem !== undefined) {
    throw new Error(`${detectorName} drift detector: option '${optionName}' ${problem}, got ${value}`);
  }
  return value;
}

export const positive = (v: number): string | undefined => (v > 0 ? undefined : 'must be greater than 0');
export const nonNegative = (v: number): string | undefined => (v >= 0 ? undefined : 'must be 0 or more');
export const positiveInteger = (v: number): string | undefined => (Number.isInteger(v) && v >= 1 ? undefined : 'must be a whole number of at least 1');
export const nonNegativeInteger = (v: number): string | undefined => (Number.isInteger(v) && v >= 0 ? undefined : 'must be a whole number of at least 0');
export const openUnitInterval = (v: number): string | undefined => (v > 0 && v < 1 ? undefined : 'must be between 0 and 1 (exclusive)');
