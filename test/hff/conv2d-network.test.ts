/**
 * Networks with convolutional HFF blocks (layers {kind: 'conv2d'}): they learn a small image problem with local
 * losses only, on every engine, survive their model files, take taught classes, and refuse impossible stacks.
 * (Their ONNX export is checked in test/onnx-export/export.test.ts.)
 */
import assert from 'node:assert/strict';
import type { Engine } from '../../src/engines/types';
import { HffNetwork, evaluateNetwork, trainNetwork } from '../../src/hff';
import type { LabelledData } from '../../src/hff';
import { resolveConfig } from '../../src/hff/config';
import { SeededRandom } from '../../src/hff/random';
import { ENGINE_CHOICES, engineOrSkip, maxAbsDiff } from '../engines/reference';

const SIDE = 12;
const CLASSES = ['horizontal', 'vertical', 'square'];

/**
 * Grey SIDE x SIDE images of one shape at a random place on faint noise: a horizontal bar of 4, a vertical bar of 4,
 * or a 2x2 square. Where the shape is changes from image to image; what it is does not.
 */
function shapes(n: number, seed: number): LabelledData {
  const random = new SeededRandom(seed);
  const size = SIDE * SIDE;
  const images = new Float32Array(n * size);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const label = i % CLASSES.length;
    labels[i] = label;
    const image = images.subarray(i * size, (i + 1) * size);
    for (let p = 0; p < size; p++) image[p] = Math.abs(random.gaussian()) * 0.05;
    const [h, w] = label === 0 ? [1, 4] : label === 1 ? [4, 1] : [2, 2];
    const top = Math.floor(random.next() * (SIDE - h + 1));
    const left = Math.floor(random.next() * (SIDE - w + 1));
    for (let y = top; y < top + h; y++) for (let x = left; x < left + w; x++) image[y * SIDE + x] = 1;
  }
  return { n, inputSize: size, images, labels };
}

const CONV_LAYERS = [{ kind: 'conv2d' as const, filters: 8, kernel: 3, pool: 2 }, { kind: 'conv2d' as const, filters: 16, kernel: 3, pool: 2 }, 24];

describe('networks with conv2d layers', function () {
  const train = shapes(360, 1);
  const test = shapes(120, 2);

  function convNet(engine: Engine, seed = 5): HffNetwork {
    return HffNetwork.create(
      engine,
      { inputSize: SIDE * SIDE, inputShape: [SIDE, SIDE, 1], layers: CONV_LAYERS, seed, optimizer: { learningRate: 0.01 } },
      CLASSES,
    );
  }

  for (const choice of ENGINE_CHOICES) {
    it(`engine ${choice}: learns where-invariant shapes with local losses only, and reloads from its model files`, async function () {
      const engine = await engineOrSkip(this, choice);
      const net = convNet(engine);
      try {
        const before = await evaluateNetwork(net, test);
        await trainNetwork(net, train, { epochs: 8, batchSize: 32 });
        const after = await evaluateNetwork(net, test);
        assert.ok(after.accuracy > 0.8, `accuracy ${before.accuracy} before training, ${after.accuracy} after (chance 0.33)`);
        assert.deepEqual(
          net.readPrototypes().map((p) => p.length),
          [8, 16, 24].map((width) => width * CLASSES.length),
        );
        const again = HffNetwork.fromModelFiles(engine, net.toModelFiles());
        try {
          const x = test.images.subarray(0, 5 * SIDE * SIDE);
          const [a, b] = [net.forward(x, 5), again.forward(x, 5)];
          a.forEach((o, l) => assert.ok(maxAbsDiff(o.z, b[l].z) < 1e-6, `layer ${l} differs after reloading`));
        } finally {
          again.dispose();
        }
      } finally {
        net.dispose();
      }
    });
  }

  it('imprints a taught class from each layer z (the pooled vector of a conv2d layer)', async function () {
    const engine = await engineOrSkip(this, ENGINE_CHOICES[0]);
    const net = convNet(engine);
    try {
      await trainNetwork(net, train, { epochs: 2, batchSize: 32 });
      const cross = new Float32Array(SIDE * SIDE);
      for (let i = 0; i < SIDE; i++) cross[i * SIDE + 5] = cross[5 * SIDE + i] = 1;
      net.teach('cross', cross, 1);
      assert.deepEqual(
        net.readPrototypes().map((p) => p.length),
        [8, 16, 24].map((width) => width * (CLASSES.length + 1)),
      );
      assert.equal(net.predict(cross, 1)[0].label, 'cross');
    } finally {
      net.dispose();
    }
  });

  it('refuses conv2d layers without image input, above a dense layer, with even kernels or pools larger than the maps', function () {
    const base = { inputSize: 144, inputShape: [12, 12, 1] as [number, number, number] };
    assert.throws(
      () => resolveConfig({ inputSize: 144, layers: [{ kind: 'conv2d', filters: 4, kernel: 3, pool: 1 }] }),
      /takes images: give the input's shape/,
    );
    assert.throws(() => resolveConfig({ ...base, layers: [16, { kind: 'conv2d', filters: 4, kernel: 3, pool: 1 }] }), /not on a dense layer/);
    assert.throws(() => resolveConfig({ ...base, layers: [{ kind: 'conv2d', filters: 4, kernel: 2, pool: 1 }] }), /kernel must be odd/);
    assert.throws(
      () =>
        resolveConfig({
          ...base,
          layers: [
            { kind: 'conv2d', filters: 4, kernel: 3, pool: 2 },
            { kind: 'conv2d', filters: 4, kernel: 3, pool: 8 },
          ],
        }),
      /pool 8 is larger than its 6x6/,
    );
  });
});
