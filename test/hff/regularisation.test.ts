/** Training-time regularisation: random shifts / mirrors of training images and dropout of layer inputs. */
import assert from 'node:assert/strict';
import { createEngine } from '../../src/engines/backend';
import type { Engine } from '../../src/engines/types';
import { HffNetwork } from '../../src/hff/network';
import { SeededRandom } from '../../src/hff/random';
import { shiftBatchInPlace, trainNetwork } from '../../src/hff/training';
import { blobs } from '../engines/reference';

/** A 6x6 grey image with one bright pixel at (x, y). */
function dot(x: number, y: number): Float32Array {
  const img = new Float32Array(36);
  img[y * 6 + x] = 1;
  return img;
}

describe('training regularisation', function () {
  let engine: Engine;
  before(async function () {
    engine = await createEngine('wasm');
  });

  it('shifts each grey image by at most the given pixels, never mirrors it, and is reproducible', function () {
    const batch = new Float32Array(36 * 50);
    for (let i = 0; i < 50; i++) batch.set(dot(1, 1), i * 36);
    const again = Float32Array.from(batch);
    shiftBatchInPlace(batch, 50, [6, 6, 1], 1, new SeededRandom(4));
    shiftBatchInPlace(again, 50, [6, 6, 1], 1, new SeededRandom(4));
    assert.deepEqual(batch, again, 'same seed, same shifts');
    const seen = new Set<number>();
    for (let i = 0; i < 50; i++) {
      const img = batch.subarray(i * 36, (i + 1) * 36);
      const at = img.findIndex((v) => v === 1);
      assert.ok(at >= 0, `image ${i} lost its pixel`);
      // A mirror image would put the pixel at x = 3..5.
      const [x, y] = [at % 6, Math.floor(at / 6)];
      assert.ok(Math.abs(x - 1) <= 1 && Math.abs(y - 1) <= 1, `image ${i}: moved to (${x}, ${y})`);
      seen.add(at);
    }
    assert.equal(seen.size, 9, 'all nine offsets occur');
  });

  it('fills the pixels shifted in with 0, or with the image mean for models that centre their input', function () {
    const img = Float32Array.from({ length: 36 }, (_, i) => (i % 7) / 7 + 0.2);
    const mean = img.reduce((a, b) => a + b, 0) / 36;
    for (const fill of ['zero', 'mean'] as const) {
      const batch = Float32Array.from(img);
      let seed = 1;
      // Draw until the image actually moved (an offset of 0, 0 leaves it as it is).
      do {
        batch.set(img);
        shiftBatchInPlace(batch, 1, [6, 6, 1], 2, new SeededRandom(seed++), fill);
      } while (batch.every((v, i) => v === img[i]));
      const moved = Array.from(batch).filter((v) => !img.includes(v));
      assert.ok(moved.length > 0, 'some pixels were shifted in');
      for (const v of moved) assert.ok(Math.abs(v - (fill === 'zero' ? 0 : mean)) < 1e-6, `${fill}: a shifted-in pixel is ${v}`);
    }
  });

  it('mirrors colour images left-right about half of the time', function () {
    const n = 200;
    const img = new Float32Array(4 * 4 * 3);
    img.set([1, 0.5, 0.25], (1 * 4 + 0) * 3); // a coloured pixel at (0, 1)
    const batch = new Float32Array(img.length * n);
    for (let i = 0; i < n; i++) batch.set(img, i * img.length);
    shiftBatchInPlace(batch, n, [4, 4, 3], 0, new SeededRandom(9));
    let mirrored = 0;
    for (let i = 0; i < n; i++) {
      const o = i * img.length;
      if (batch[o + (1 * 4 + 3) * 3] === 1) {
        mirrored += 1;
        assert.deepEqual(Array.from(batch.subarray(o + (1 * 4 + 3) * 3, o + (1 * 4 + 3) * 3 + 3)), [1, 0.5, 0.25], 'channels stay in order');
      } else assert.equal(batch[o + (1 * 4 + 0) * 3], 1, 'an image is either kept or mirrored');
    }
    assert.ok(mirrored > 70 && mirrored < 130, `${mirrored} of ${n} mirrored`);
  });

  it('trainNetwork applies dropout reproducibly, changes what is learned, and rejects bad settings by name', async function () {
    const data = blobs(120, 3, 16, 5);
    const run = async (options: Record<string, number>) => {
      const net = HffNetwork.create(engine, { inputSize: 16, layers: [24, 24], seed: 2, optimizer: { learningRate: 0.01 } }, ['a', 'b', 'c']);
      try {
        await trainNetwork(net, data, { epochs: 2, batchSize: 30, ...options });
        return net.toModelFiles().tensors['layers.1.weight'].data;
      } finally {
        net.dispose();
      }
    };
    const none = await run({ inputDropout: 0, hiddenDropout: 0 });
    const some = await run({ inputDropout: 0.2, hiddenDropout: 0.3 });
    const same = await run({ inputDropout: 0.2, hiddenDropout: 0.3 });
    assert.deepEqual(some, same, 'seeded: the same masks every run');
    assert.notDeepEqual(some, none);
    const net = HffNetwork.create(engine, { inputSize: 16, layers: [8] }, ['a', 'b', 'c']);
    try {
      await assert.rejects(trainNetwork(net, data, { inputDropout: 1 }), /inputDropout must be in \[0, 1\), got 1/);
      await assert.rejects(trainNetwork(net, data, { hiddenDropout: -0.1 }), /hiddenDropout must be in \[0, 1\), got -0.1/);
      await assert.rejects(trainNetwork(net, data, { shift: 1.5 }), /shift must be a whole number of pixels >= 0, got 1.5/);
    } finally {
      net.dispose();
    }
  });
});
