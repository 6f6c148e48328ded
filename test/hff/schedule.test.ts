import assert from 'node:assert/strict';
import { createEngine } from '../../src/engines/backend';
import { BackpropNetwork } from '../../src/baselines/backprop';
import { trainEpochs } from '../../src/baselines/common';
import { HffNetwork } from '../../src/hff/network';
import { checkSchedule, scheduledLearningRate, withSchedule } from '../../src/hff/schedule';
import { trainNetwork } from '../../src/hff/training';

function blobs(n: number): { n: number; inputSize: number; images: Float32Array; labels: Int32Array } {
  const images = Float32Array.from({ length: n * 8 }, (_, i) => Math.sin(i * 1.7) + (Math.floor(i / 8) % 2) * 2);
  return { n, inputSize: 8, images, labels: Int32Array.from({ length: n }, (_, i) => i % 2) };
}

describe('learning-rate schedule', function () {
  it('cosine starts at the base rate, halves at mid-run and nears 0 at the end; constant stays', function () {
    assert.equal(scheduledLearningRate('cosine', 0.01, 0, 100), 0.01);
    assert.ok(Math.abs(scheduledLearningRate('cosine', 0.01, 50, 100) - 0.005) < 1e-12);
    assert.ok(scheduledLearningRate('cosine', 0.01, 99, 100) < 0.01 * 0.001);
    assert.ok(scheduledLearningRate('cosine', 0.01, 99, 100) > 0);
    assert.equal(scheduledLearningRate('constant', 0.01, 99, 100), 0.01);
    assert.equal(scheduledLearningRate('cosine', 0.01, 0, 1), 0.01, 'a one-step run keeps the base rate');
    assert.throws(() => checkSchedule('linear'), /learningRateSchedule must be one of constant, cosine, got "linear"/);
  });

  it('puts the base rate back after the run, also when it fails', async function () {
    const settings = { learningRate: 0.003 };
    await assert.rejects(
      withSchedule(settings, 'cosine', 10, async (setStep) => {
        setStep(5);
        assert.ok(settings.learningRate < 0.003);
        throw new Error('boom');
      }),
      /boom/,
    );
    assert.equal(settings.learningRate, 0.003);
  });

  it('trainNetwork decays the rate the layers use step by step (cosine by default) and restores it', async function () {
    const engine = await createEngine('wasm');
    const rates: Record<string, number[]> = {};
    const losses: Record<string, number> = {};
    for (const schedule of ['cosine', 'constant', undefined] as const) {
      const net = HffNetwork.create(engine, { inputSize: 8, layers: [6], seed: 1, optimizer: { learningRate: 0.02 } }, ['a', 'b']);
      const seen: number[] = [];
      const trainBatch = net.trainBatch.bind(net);
      net.trainBatch = (x, batch, labels) => {
        seen.push(net.config.optimizer.learningRate);
        return trainBatch(x, batch, labels);
      };
      const summary = await trainNetwork(net, blobs(40), { epochs: 2, batchSize: 10, learningRateSchedule: schedule });
      losses[String(schedule)] = summary.epochs[1].loss;
      rates[String(schedule)] = seen;
      assert.equal(net.config.optimizer.learningRate, 0.02, 'the saved rate is the base rate');
      net.dispose();
    }
    assert.equal(rates.cosine.length, 8);
    assert.equal(rates.cosine[0], 0.02);
    assert.ok(
      rates.cosine.every((r, i) => i === 0 || r < rates.cosine[i - 1]),
      rates.cosine.join(', '),
    );
    assert.ok(rates.constant.every((r) => r === 0.02));
    assert.deepEqual(rates.undefined, rates.cosine, 'cosine is the default');
    assert.notEqual(losses.cosine, losses.constant, 'the engine layers train with the scheduled rate');
    assert.equal(losses.undefined, losses.cosine);
  });

  it('the baselines train under the same schedule', async function () {
    await createEngine('wasm');
    const mlp = BackpropNetwork.create({ inputSize: 8, classes: 2, layers: [6], seed: 1, optimizer: { learningRate: 0.02 } });
    const seen: number[] = [];
    const trainBatch = mlp.trainBatch.bind(mlp);
    mlp.trainBatch = (x, batch, labels) => {
      seen.push(mlp.config.optimizer.learningRate);
      return trainBatch(x, batch, labels);
    };
    await trainEpochs(mlp, blobs(40), { epochs: 2, batchSize: 10 });
    assert.equal(seen.length, 8);
    assert.equal(seen[0], 0.02);
    assert.ok(seen[7] < seen[1]);
    assert.equal(mlp.config.optimizer.learningRate, 0.02);
    mlp.dispose();
  });
});
