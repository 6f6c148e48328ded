/** The median of a list of numbers (the mean of the middle two for an even count). */
export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** The nearest-rank percentile (q in [0, 1]) of an ascending list: the smallest value with at least q of the list at or below it. */
export function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/**
 * Times `frames` calls of `run` (after up to 10 untimed ones to warm up), one call after the other; an async `run` is
 * awaited. Milliseconds: the median and the 95th percentile.
 */
export async function timeCalls(frames: number, run: () => unknown): Promise<{ median: number; p95: number }> {
  for (let i = 0; i < Math.min(10, frames); i++) await run();
  const ms: number[] = [];
  for (let i = 0; i < frames; i++) {
    const t0 = process.hrtime.bigint();
    const result = run();
    if (result instanceof Promise) await result;
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  ms.sort((a, b) => a - b);
  return { median: median(ms), p95: percentile(ms, 0.95) };
}
