import assert from 'node:assert/strict';
import type * as tfTypes from '@tensorflow/tfjs';
import { selectBackend, tf } from '../../src/engines/backend';
import { TfjsLayer } from '../../src/engines/tfjs/tfjs-engine';
import type { Activation, LayerParams, LayerSpec } from '../../src/engines/types';
import { DEFAULTS } from '../../src/hff/config';
import { SeededRandom } from '../../src/hff/random';
import { randomUnitRows } from '../../src/hff/vectors';

/** The local loss written plainly in float64, for finite differences. */
function referenceLoss(spec: LayerSpec, x: Float64Array, batch: number, labels: Int32Array, w: Float64Array, bias: Float64Array, pRaw: Float64Array): number {
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
      let lse = 0;
      const parts: number[] = [];
      for (let j = 0; j < m; j++) {
        let cos = 0;
        for (let u = 0; u < h; u++) cos += z[u] * p[(c * m + j) * h + u];
        parts.push((cos - (c === labels[b] ? margin : 0)) / tau);
      }
      const mx = Math.max(...parts);
      lse = mx + Math.log(parts.reduce((s, v) => s + Math.exp(v - mx), 0));
      logits[c] = lse;
    }
    const mx = Math.max(...logits);
    const logZ = mx + Math.log(logits.reduce((s, v) => s + Math.exp(v - mx), 0));
    total += -(logits[labels[b]] - logZ);
  }
  return total / batch;
}

function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < a.length; i++) {
    diff += (a[i] - b[i]) ** 2;
    norm += b[i] ** 2;
  }
  return Math.sqrt(diff) / Math.max(Math.sqrt(norm), 1e-12);
}

function makeCase(m: number, activation: Activation, seed: number) {
  const random = new SeededRandom(seed);
  const spec: LayerSpec = { inputSize: 7, units: 6, activation, normalizeInput: true, tau: 0.2, margin: 0.05, prototypesPerClass: m };
  const classes = 3;
  const batch = 5;
  const params: LayerParams = {
    weight: Float32Array.from({ length: spec.inputSize * spec.units }, () => random.gaussian() * 0.6),
    bias: Float32Array.from({ length: spec.units }, () => 0.2 + random.gaussian() * 0.1),
    prototypes: randomUnitRows(classes * m, spec.units, () => random.gaussian()),
  };
  const x = Float32Array.from({ length: batch * spec.inputSize }, () => random.next() * 2 - 0.5);
  const labels = Int32Array.from({ length: batch }, (_, i) => i % classes);
  return { spec, params, x, labels, batch };
}

describe('hff layer gradients (hand-written, explicit transposes)', function () {
  before(async function () {
    await selectBackend(process.env.HFF_BACKEND ?? 'wasm');
  });

  for (const m of [1, 3]) {
    for (const activation of ['relu', 'tanh'] as Activation[]) {
      it(`match finite differences in float64 for M=${m}, ${activation}`, function () {
        const c = makeCase(m, activation, 11 + m);
        const layer = new TfjsLayer(c.spec, c.params, DEFAULTS.optimizer);
        try {
          const g = layer.gradients(c.x, c.batch, c.labels);
          const x = Float64Array.from(c.x);
          const w = Float64Array.from(c.params.weight);
          const b = Float64Array.from(c.params.bias);
          const p = Float64Array.from(c.params.prototypes);
          const loss = () => referenceLoss(c.spec, x, c.batch, c.labels, w, b, p);
          assert.ok(Math.abs(g.loss - loss()) < 1e-4, `loss ${g.loss} vs reference ${loss()}`);
          const numeric = (values: Float64Array) => {
            const out = new Float64Array(values.length);
            const eps = 1e-6;
            for (let i = 0; i < values.length; i++) {
              const keep = values[i];
              values[i] = keep + eps;
              const up = loss();
              values[i] = keep - eps;
              const down = loss();
              values[i] = keep;
              out[i] = (up - down) / (2 * eps);
            }
            return out;
          };
          assert.ok(relativeError(g.weight, numeric(w)) < 1e-3, `weight rel. error ${relativeError(g.weight, numeric(w))}`);
          assert.ok(relativeError(g.bias, numeric(b)) < 1e-3, `bias rel. error ${relativeError(g.bias, numeric(b))}`);
          assert.ok(relativeError(g.prototypes, numeric(p)) < 1e-3, `prototype rel. error ${relativeError(g.prototypes, numeric(p))}`);
        } finally {
          layer.dispose();
        }
      });
    }

    it(`match tfjs autodiff for M=${m}`, function () {
      const t = tf();
      const c = makeCase(m, 'relu', 5 + m);
      const layer = new TfjsLayer(c.spec, c.params, DEFAULTS.optimizer);
      try {
        const g = layer.gradients(c.x, c.batch, c.labels);
        const k = 3;
        const lossFn = (w: tfTypes.Tensor, b: tfTypes.Tensor, pRaw: tfTypes.Tensor) => {
          let x = t.tensor2d(c.x, [c.batch, c.spec.inputSize]);
          x = t.div(x, t.norm(x, 2, 1, true));
          const hid = t.relu(t.add(t.matMul(x, w as tfTypes.Tensor2D), b));
          const z = t.div(hid, t.norm(hid, 2, 1, true));
          const p = t.div(pRaw, t.norm(pRaw, 2, 1, true));
          const cos = t.matMul(z as tfTypes.Tensor2D, p as tfTypes.Tensor2D, false, true);
          const onehot = t.oneHot(t.tensor1d(c.labels, 'int32'), k).toFloat();
          const rowMask = t.reshape(t.tile(t.expandDims(onehot, 2), [1, 1, m]), [c.batch, k * m]);
          const scaled = t.reshape(t.div(t.sub(cos, t.mul(rowMask, c.spec.margin)), c.spec.tau), [c.batch, k, m]);
          const logits = t.logSumExp(scaled, 2);
          return t.neg(t.mean(t.sum(t.mul(onehot, t.logSoftmax(logits)), 1))) as tfTypes.Scalar;
        };
        const before = t.memory().numTensors;
        const auto = t.tidy(() => {
          const w = t.tensor2d(c.params.weight, [c.spec.inputSize, c.spec.units]);
          const b = t.tensor1d(c.params.bias);
          const p = t.tensor2d(c.params.prototypes, [k * m, c.spec.units]);
          return t.grads(lossFn)([w, b, p]).map((x) => x.dataSync() as Float32Array);
        });
        assert.equal(t.memory().numTensors, before);
        assert.ok(relativeError(g.weight, auto[0]) < 1e-3, `weight rel. error ${relativeError(g.weight, auto[0])}`);
        assert.ok(relativeError(g.bias, auto[1]) < 1e-3, `bias rel. error ${relativeError(g.bias, auto[1])}`);
        assert.ok(relativeError(g.prototypes, auto[2]) < 1e-3, `prototype rel. error ${relativeError(g.prototypes, auto[2])}`);
      } finally {
        layer.dispose();
      }
    });
  }
});
