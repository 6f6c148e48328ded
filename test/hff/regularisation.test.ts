/** Training-time regularisation: random shifts / mirrors of training images and dropout of layer inputs. */
import assert from 'node:assert/strict';
import { createEngine } from '../../src/engines/backend';
import type { Engine } from '../../src/engines/types';
import { HffNetwork } from '../../src/hff/network';
import { SeededRandom } from '../../src/hff/random';
import { augmentBatchInPlace, trainNetwork } from '../../src/hff/training';
import { warpImage } from '../../src/image/warp';
import { blobs } from '../engines/reference';

/** A 6x6 grey image with one bright pixel at (x, y). */
function dot(x: number, y: number): Float32Array {
  const img = new Float32Array(36);
  img[y * 6 + x] = 1;
  return img;
}

const shiftBy = (shift: number) => ({ shift, rotate: 0, scale: 0 });

describe('training regularisation', function () {
  let engine: Engine;
  before(async function () {
    engine = await createEngine('wasm');
  });

  it('shifts each grey image by at most the given pixels, never mirrors it, and is reproducible', function () {
    const batch = new Float32Array(36 * 50);
    for (let i = 0; i < 50; i++) batch.set(dot(1, 1), i * 36);
    const again = Float32Array.from(batch);
    augmentBatchInPlace(batch, 50, [6, 6, 1], shiftBy(1), new SeededRandom(4));
    augmentBatchInPlace(again, 50, [6, 6, 1], shiftBy(1), new SeededRandom(4));
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
        augmentBatchInPlace(batch, 1, [6, 6, 1], shiftBy(2), new SeededRandom(seed++), fill);
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
    augmentBatchInPlace(batch, n, [4, 4, 3], shiftBy(0), new SeededRandom(9));
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

  it('warps an image: identity, a quarter turn, resizing about the centre, fill outside', function () {
    const img = dot(5, 0);
    const same = warpImage(img, 6, 6, 1, { dx: 0, dy: 0, flip: false, angle: 0, scale: 1 });
    assert.deepEqual(same, img);
    // A quarter turn about the centre (2.5, 2.5) takes the top-right corner to the bottom-right one (y points down).
    const turned = warpImage(img, 6, 6, 1, { dx: 0, dy: 0, flip: false, angle: Math.PI / 2, scale: 1 });
    assert.ok(Math.abs(turned[5 * 6 + 5] - 1) < 1e-6, `corner value ${turned[5 * 6 + 5]}`);
    assert.ok(Math.abs(turned.reduce((a, b) => a + b, 0) - 1) < 1e-6, 'nothing else lit');
    // Twice the size: the pixel at (3, 3), half a pixel right of and below the centre, samples the source at (2.75, 2.75).
    const ramp = Float32Array.from({ length: 36 }, (_, i) => i % 6);
    const grown = warpImage(ramp, 6, 6, 1, { dx: 0, dy: 0, flip: false, angle: 0, scale: 2 });
    assert.ok(Math.abs(grown[3 * 6 + 3] - 2.75) < 1e-6, `got ${grown[3 * 6 + 3]}`);
    const shrunk = warpImage(ramp, 6, 6, 1, { dx: 0, dy: 0, flip: false, angle: 0, scale: 0.5 }, -1);
    assert.equal(shrunk[0], -1, 'a corner of a half-size image comes from outside the source');
    const moved = warpImage(dot(2, 2), 6, 6, 1, { dx: 1, dy: -1, flip: false, angle: 0, scale: 1 });
    assert.ok(Math.abs(moved[1 * 6 + 3] - 1) < 1e-6, 'shifted like shiftImage');
  });

  it('turns and resizes training images by random amounts within the limits, reproducibly', function () {
    const n = 40;
    const bar = new Float32Array(100); // a vertical bar down the middle of a 10x10 image
    for (let y = 1; y < 9; y++) bar[y * 10 + 4] = bar[y * 10 + 5] = 1;
    const batch = new Float32Array(100 * n);
    for (let i = 0; i < n; i++) batch.set(bar, i * 100);
    const again = Float32Array.from(batch);
    const geometry = { shift: 0, rotate: 20, scale: 0.2 };
    augmentBatchInPlace(batch, n, [10, 10, 1], geometry, new SeededRandom(3));
    augmentBatchInPlace(again, n, [10, 10, 1], geometry, new SeededRandom(3));
    assert.deepEqual(batch, again, 'same seed, same warps');
    const tilts: number[] = [];
    for (let i = 0; i < n; i++) {
      const img = batch.subarray(i * 100, (i + 1) * 100);
      // The bar's tilt: how far its centre of mass moves right per row, from the top half to the bottom half.
      const centre = (rows: number[]) => {
        let m = 0;
        let mx = 0;
        for (const y of rows) {
          for (let x = 0; x < 10; x++) {
            m += img[y * 10 + x];
            mx += img[y * 10 + x] * x;
          }
        }
        return mx / m;
      };
      const tilt = (centre([5, 6, 7]) - centre([2, 3, 4])) / 3;
      assert.ok(Math.abs(tilt) <= Math.tan((20 * Math.PI) / 180) + 0.05, `image ${i}: tilt ${tilt}`);
      tilts.push(tilt);
    }
    assert.ok(tilts.some((t) => t > 0.1) && tilts.some((t) => t < -0.1), 'turned both ways');
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
      await assert.rejects(trainNetwork(net, data, { rotate: 270 }), /rotate must be in \[0, 180\] degrees, got 270/);
      await assert.rejects(trainNetwork(net, data, { scale: 1 }), /scale must be in \[0, 1\), got 1/);
    } finally {
      net.dispose();
    }
  });
});
