/** Shared pieces of the engine-level tests: the engines to run, float64 reference math and small cases. */
import { createEngine, onnxAvailability } from '../../src/engines/backend';
import type { Activation, Engine, LayerGradients, LayerParams, LayerSpec } from '../../src/engines/types';
import assert from 'node:assert/strict';
import type { LabelledData } from '../../src/hff';
import { SeededRandom } from '../../src/hff/random';
import { randomUnitRows } from '../../src/hff/vectors';
import { skipForEnvironment } from '../helpers/skip';

/**
 * Engines every engine-level test runs on: the tfjs wasm engine and the onnx engine. $HFF_TEST_ENGINES
 * (comma-separated) narrows or changes the list.
 */
export const ENGINE_CHOICES: readonly string[] = process.env.HFF_TEST_ENGINES ? process.env.HFF_TEST_ENGINES.split(',') : ['wasm', 'onnx'];

/** The engine for `choice`, or a skip with a printed reason when its optional package does not load. */
export async function engineOrSkip(ctx: Mocha.Context, choice: string): Promise<Engine> {
  if (choice === 'onnx') {
    const a = onnxAvailability();
    if (!a.available) skipForEnvironment(ctx, `onnx engine unavailable (${a.reason})`);
  }
  return createEngine(choice);
}

/** The local loss written plainly in float64, for finite differences. */
export function referenceLoss(
  spec: LayerSpec,
  x: Float64Array,
  batch: number,
  labels: Int32Array,
  w: Float64Array,
  bias: Float64Array,
  pRaw: Float64Array,
): number {
  const { inputSize: d, units: h, prototypesPerClass: m, tau, margin } = spec;
  const rows = pRaw.length / h;
  const classes = rows / m;
  const p = Float64Array.from(pRaw);
  for (let r = 0; r < rows; r++) {
    let n = 0;
    for (let u = 0; u < h; u++) n += p[r * h + u] ** 2;
    n = Math.sqrt(n);
    for (let u = 0; u < h; u++) p[r * h + u] /= n;
  }
  let total = 0;
  for (let b = 0; b < batch; b++) {
    const xi = x.slice(b * d, (b + 1) * d);
    if (spec.centerInput) {
      const mean = xi.reduce((s, v) => s + v, 0) / d;
      for (let i = 0; i < d; i++) xi[i] -= mean;
    }
    if (spec.normalizeInput) {
      const n = Math.sqrt(xi.reduce((s, v) => s + v * v, 0));
      for (let i = 0; i < d; i++) xi[i] /= n;
    }
    const z = new Float64Array(h);
    for (let u = 0; u < h; u++) {
      let a = bias[u];
      for (let i = 0; i < d; i++) a += xi[i] * w[i * h + u];
      z[u] = spec.activation === 'relu' ? Math.max(0, a) : spec.activation === 'tanh' ? Math.tanh(a) : a > 0 ? a : 0.01 * a;
    }
    const zn = Math.sqrt(z.reduce((s, v) => s + v * v, 0));
    for (let u = 0; u < h; u++) z[u] /= zn;
    const logits = new Float64Array(classes);
    for (let c = 0; c < classes; c++) {
      const parts: number[] = [];
      for (let j = 0; j < m; j++) {
        let cos = 0;
        for (let u = 0; u < h; u++) cos += z[u] * p[(c * m + j) * h + u];
        parts.push((cos - (c === labels[b] ? margin : 0)) / tau);
      }
      const mx = Math.max(...parts);
      logits[c] = mx + Math.log(parts.reduce((s, v) => s + Math.exp(v - mx), 0));
    }
    const mx = Math.max(...logits);
    const logZ = mx + Math.log(logits.reduce((s, v) => s + Math.exp(v - mx), 0));
    total += -(logits[labels[b]] - logZ);
  }
  return total / batch;
}

/**
 * The loss of a case written plainly in float64 and its central finite differences with respect to the weight,
 * the bias and the (raw) prototypes.
 */
export function referenceGradients(c: LayerCase): { loss: number; weight: Float64Array; bias: Float64Array; prototypes: Float64Array } {
  const x = Float64Array.from(c.x);
  const w = Float64Array.from(c.params.weight);
  const b = Float64Array.from(c.params.bias);
  const p = Float64Array.from(c.params.prototypes);
  const loss = () => referenceLoss(c.spec, x, c.batch, c.labels, w, b, p);
  const eps = 1e-6;
  const numeric = (values: Float64Array) =>
    values.map((keep, i) => {
      values[i] = keep + eps;
      const up = loss();
      values[i] = keep - eps;
      const down = loss();
      values[i] = keep;
      return (up - down) / (2 * eps);
    });
  return { loss: loss(), weight: numeric(w), bias: numeric(b), prototypes: numeric(p) };
}

export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < a.length; i++) {
    diff += (a[i] - b[i]) ** 2;
    norm += b[i] ** 2;
  }
  return Math.sqrt(diff) / Math.max(Math.sqrt(norm), 1e-12);
}

/** What a layer definition's training pass gives in float64, as the engines' gradients are checked against it. */
export interface ExpectedGradients {
  loss: number;
  gradWeight: { data: ArrayLike<number> };
  gradBias: { data: ArrayLike<number> };
  gradPrototypes: { data: ArrayLike<number> };
}

/** An engine layer's loss and gradients against the definition's in float64, within float32 rounding. */
export function assertGradientsMatch(what: string, g: LayerGradients, expected: ExpectedGradients): void {
  assert.ok(Math.abs(g.loss - expected.loss) < 1e-5, `${what}: loss ${g.loss} vs ${expected.loss}`);
  for (const [name, actual, wanted] of [
    ['weight', g.weight, expected.gradWeight],
    ['bias', g.bias, expected.gradBias],
    ['prototype', g.prototypes, expected.gradPrototypes],
  ] as const) {
    const error = relativeError(actual, wanted.data);
    assert.ok(error < 1e-5, `${what}: ${name} gradient relative error ${error}`);
  }
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

export interface LayerCase {
  spec: LayerSpec;
  params: LayerParams;
  x: Float32Array;
  labels: Int32Array;
  batch: number;
}

export function makeCase(
  m: number,
  activation: Activation,
  seed: number,
  overrides: Partial<LayerSpec> & { classes?: number; batch?: number } = {},
): LayerCase {
  const random = new SeededRandom(seed);
  const { classes = 3, batch = 5, ...specOverrides } = overrides;
  const spec: LayerSpec = { inputSize: 7, units: 6, activation, normalizeInput: true, tau: 0.2, margin: 0.05, prototypesPerClass: m, ...specOverrides };
  const params: LayerParams = {
    weight: Float32Array.from({ length: spec.inputSize * spec.units }, () => random.gaussian() * 0.6),
    bias: Float32Array.from({ length: spec.units }, () => 0.2 + random.gaussian() * 0.1),
    prototypes: randomUnitRows(classes * m, spec.units, () => random.gaussian()),
  };
  const x = Float32Array.from({ length: batch * spec.inputSize }, () => random.next() * 2 - 0.5);
  const labels = Int32Array.from({ length: batch }, (_, i) => i % classes);
  return { spec, params, x, labels, batch };
}

/** Gaussian blobs around fixed random centres (as test/hff/network.test.ts). */
export function blobs(n: number, classes: number, inputSize: number, seed: number, centreSeed = 99): LabelledData {
  const centres = new SeededRandom(centreSeed);
  const c = Array.from({ length: classes }, () => Float32Array.from({ length: inputSize }, () => centres.next()));
  const random = new SeededRandom(seed);
  const images = new Float32Array(n * inputSize);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const label = i % classes;
    labels[i] = label;
    for (let j = 0; j < inputSize; j++) images[i * inputSize + j] = Math.max(0, c[label][j] + random.gaussian() * 0.25);
  }
  return { n, inputSize, images, labels };
}

/** Parameter, gradient and moments of an optimiser step in float64. */
export interface OptimizerState {
  p: Float64Array;
  m: Float64Array;
  v: Float64Array;
}

/**
 * One optimiser step written plainly in float64: what every engine's update must make. Adam with bias correction
 * and decoupled weight decay, or SGD with momentum and the weight decay added to the gradient; `step` from 1.
 */
export function referenceOptimizerStep(
  state: OptimizerState,
  g: Float64Array,
  o: { kind: 'adam' | 'sgd'; beta1: number; beta2: number; learningRate: number; epsilon: number; momentum: number },
  step: number,
  weightDecay: number,
): void {
  const c1 = 1 / (1 - o.beta1 ** step);
  const c2 = 1 / (1 - o.beta2 ** step);
  for (let i = 0; i < g.length; i++) {
    if (o.kind === 'adam') {
      state.m[i] = o.beta1 * state.m[i] + (1 - o.beta1) * g[i];
      state.v[i] = o.beta2 * state.v[i] + (1 - o.beta2) * g[i] * g[i];
      state.p[i] -= o.learningRate * ((state.m[i] * c1) / (Math.sqrt(state.v[i] * c2) + o.epsilon) + weightDecay * state.p[i]);
    } else {
      const gi = g[i] + weightDecay * state.p[i];
      const step = o.momentum > 0 ? (state.m[i] = o.momentum * state.m[i] + gi) : gi;
      state.p[i] -= o.learningRate * step;
    }
  }
}
