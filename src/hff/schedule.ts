/** How the learning rate moves over a training run (library training and the benchmark baselines alike). */
export type LearningRateSchedule = 'constant' | 'cosine';

export const LEARNING_RATE_SCHEDULES: readonly LearningRateSchedule[] = ['constant', 'cosine'];

export function checkSchedule(value: unknown): LearningRateSchedule {
  if (!LEARNING_RATE_SCHEDULES.includes(value as LearningRateSchedule)) {
    throw new Error(`learningRateSchedule must be one of ${LEARNING_RATE_SCHEDULES.join(', ')}, got ${JSON.stringify(value)}`);
  }
  return value as LearningRateSchedule;
}

/**
 * The learning rate of step `step` (0-based) of a run of `totalSteps`: `base` throughout, or a cosine decay from
 * `base` towards 0 over the run. The decay lets the weights settle at the end of training instead of ending at
 * full-step noise; on Fashion-MNIST it was worth about a point (bench/RESULTS.md, "Choosing the defaults").
 */
export function scheduledLearningRate(schedule: LearningRateSchedule, base: number, step: number, totalSteps: number): number {
  if (schedule === 'constant' || totalSteps <= 1) return base;
  return (base * (1 + Math.cos((Math.PI * step) / totalSteps))) / 2;
}

/**
 * Runs `train` with `settings.learningRate` following the schedule (`setStep` is called with each step index),
 * and puts the base rate back afterwards, also when training stops early or fails, so a saved model keeps it.
 */
export async function withSchedule<T>(
  settings: { learningRate: number },
  schedule: LearningRateSchedule,
  totalSteps: number,
  train: (setStep: (step: number) => void) => Promise<T>,
): Promise<T> {
  const base = settings.learningRate;
  try {
    return await train((step) => {
      settings.learningRate = scheduledLearningRate(schedule, base, step, totalSteps);
    });
  } finally {
    settings.learningRate = base;
  }
}
