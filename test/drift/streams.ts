/** Small seeded PRNG (mulberry32) so that every synthetic stream is reproducible. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Normal samples by Box-Muller from a seeded uniform source. */
export function seededNormal(seed: number): (mean: number, sd: number) => number {
  const uniform = seededRandom(seed);
  return (mean, sd) => {
    const u = 1 - uniform();
    const v = uniform();
    return mean + sd * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  };
}

/** Piecewise-stationary Gaussian stream: each segment has its own mean. */
export function gaussianStream(seed: number, segments: Array<{ length: number; mean: number; sd: number }>): number[] {
  const normal = seededNormal(seed);
  const out: number[] = [];
  for (const s of segments) for (let i = 0; i < s.length; i++) out.push(normal(s.mean, s.sd));
  return out;
}

/** Piecewise-stationary 0/1 error stream: each segment has its own error rate. */
export function errorStream(seed: number, segments: Array<{ length: number; rate: number }>): number[] {
  const uniform = seededRandom(seed);
  const out: number[] = [];
  for (const s of segments) for (let i = 0; i < s.length; i++) out.push(uniform() < s.rate ? 1 : 0);
  return out;
}
