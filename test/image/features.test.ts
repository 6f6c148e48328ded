import assert from 'node:assert/strict';
import { COLOUR_FEATURES, colourHistogram, edgeFeatureCount, edgeHistogram } from '../../src/image/features';
import { shiftImage } from '../../src/image/warp';
import { SeededRandom } from '../../src/hff/random';

const norm = (v: Float32Array) => Math.sqrt(v.reduce((a, x) => a + x * x, 0));
const cosine = (a: Float32Array, b: Float32Array) => a.reduce((s, x, i) => s + x * b[i], 0) / (norm(a) * norm(b));

/** An h x w colour image: white, with a `size` square of colour `rgb` at (x0, y0). */
function square(h: number, w: number, rgb: [number, number, number], x0: number, y0: number, size: number): Float32Array {
  const img = new Float32Array(h * w * 3).fill(1);
  for (let y = y0; y < y0 + size; y++) for (let x = x0; x < x0 + size; x++) img.set(rgb, (y * w + x) * 3);
  return img;
}

describe('image features', function () {
  it('colour histogram: unit rows, one bin for a plain colour, the same wherever the object is or mirrored', function () {
    const red = new Float32Array(4 * 4 * 3);
    for (let i = 0; i < red.length; i += 3) red[i] = 1;
    const h = colourHistogram(red, 1, [4, 4, 3]);
    assert.equal(h.length, COLOUR_FEATURES);
    assert.equal(h.filter((v) => v > 0).length, 1);
    assert.ok(Math.abs(norm(h) - 1) < 1e-6);

    const a = square(16, 16, [0.9, 0.2, 0.1], 2, 3, 6);
    const moved = square(16, 16, [0.9, 0.2, 0.1], 9, 8, 6);
    const mirrored = shiftImage(a, 16, 16, 3, 0, 0, true, 1);
    const green = square(16, 16, [0.1, 0.8, 0.2], 2, 3, 6);
    const rows = colourHistogram(Float32Array.of(...a, ...moved, ...mirrored, ...green), 4, [16, 16, 3]);
    const row = (i: number) => rows.subarray(i * COLOUR_FEATURES, (i + 1) * COLOUR_FEATURES);
    assert.ok(cosine(row(0), row(1)) > 0.999999);
    assert.ok(cosine(row(0), row(2)) > 0.999999);
    // The white background is shared; the object's colour is not.
    assert.ok(cosine(row(0), row(3)) < 0.9, `red against green ${cosine(row(0), row(3))}`);
  });

  it('colour histogram: values outside [0, 1] are clamped, grey images are refused by name', function () {
    const over = colourHistogram(Float32Array.of(2, -1, 0), 1, [1, 1, 3]);
    const red = colourHistogram(Float32Array.of(1, 0, 0), 1, [1, 1, 3]);
    assert.deepEqual(over, red);
    assert.throws(() => colourHistogram(new Float32Array(16), 1, [4, 4, 1]), /colour features need 3-channel images, got 1/);
  });

  it('edge histogram: the direction of an edge, whatever its brightness; unit rows of edgeFeatureCount', function () {
    const [h, w] = [30, 30];
    const vertical = new Float32Array(h * w);
    const horizontal = new Float32Array(h * w);
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        vertical[y * w + x] = x % 6 < 3 ? 1 : 0;
        horizontal[y * w + x] = y % 6 < 3 ? 1 : 0;
      }
    const dim = edgeFeatureCount([h, w, 1]);
    assert.equal(dim, 6 * 6 * 9);
    const rows = edgeHistogram(Float32Array.of(...vertical, ...horizontal, ...vertical.map((v) => v * 0.3)), 3, [h, w, 1]);
    const row = (i: number) => rows.subarray(i * dim, (i + 1) * dim);
    assert.ok(Math.abs(norm(row(0)) - 1) < 1e-6);
    // Stripes across x have gradients along x: direction bin 0 of every cell; stripes across y: the middle bin.
    for (let cell = 0; cell < 36; cell++) {
      const bins = row(0).subarray(cell * 9, cell * 9 + 9);
      assert.equal(bins.indexOf(Math.max(...bins)), 0);
      const across = row(1).subarray(cell * 9, cell * 9 + 9);
      assert.equal(across.indexOf(Math.max(...across)), 4);
    }
    assert.ok(cosine(row(0), row(1)) < 0.01);
    assert.ok(cosine(row(0), row(2)) > 0.999999, 'contrast does not change the histogram');
  });

  it('edge histogram: colour channels are averaged; a flat image has none', function () {
    const random = new SeededRandom(3);
    const grey = Float32Array.from({ length: 12 * 12 }, () => random.next());
    const colour = new Float32Array(12 * 12 * 3);
    grey.forEach((v, i) => colour.set([v, v, v], i * 3));
    assert.deepEqual(edgeHistogram(colour, 1, [12, 12, 3]), edgeHistogram(grey, 1, [12, 12, 1]));
    const flat = edgeHistogram(new Float32Array(12 * 12).fill(0.5), 1, [12, 12, 1]);
    assert.ok(flat.every((v) => v === 0));
  });

  it('edge histogram: a direction between two bins is shared between them; one at a bin centre stays in it', function () {
    const [h, w] = [30, 30];
    // A linear ramp has one gradient direction everywhere (the blur leaves a ramp a ramp away from the borders).
    const ramp = (degrees: number) => {
      const a = (degrees * Math.PI) / 180;
      return Float32Array.from({ length: h * w }, (_, i) => 0.5 + 0.01 * ((i % w) * Math.cos(a) + Math.floor(i / w) * Math.sin(a)));
    };
    const dim = edgeFeatureCount([h, w, 1]);
    const inner = 2 * 6 + 2; // a cell away from the borders
    const bins = (degrees: number) => Array.from(edgeHistogram(ramp(degrees), 1, [h, w, 1]).subarray(inner * 9, inner * 9 + 9));
    // Bins are 20 degrees wide, centred on 10, 30, ... 170: 0 degrees lies between the last bin and the first.
    const across = bins(0);
    assert.ok(Math.abs(across[0] - across[8]) < 1e-4 && across[0] > 0.1, `0 degrees: ${across}`);
    assert.ok(across.slice(1, 8).every((v) => v < 1e-4));
    const centred = bins(50);
    assert.equal(centred.indexOf(Math.max(...centred)), 2);
    // (The square roots of the sums make the float32 rounding of the ramp show as small neighbours.)
    assert.ok(
      centred.every((v, i) => i === 2 || v < 0.05 * centred[2]),
      `50 degrees: ${centred}`,
    );
    assert.equal(dim, 6 * 6 * 9);
  });

  it('edge histogram: an outline moved by a pixel keeps nearly the same histogram, unlike another outline', function () {
    const [h, w] = [28, 28];
    const shape = (dx: number, kind: 'box' | 'bar') =>
      Float32Array.from({ length: h * w }, (_, i) => {
        const [x, y] = [(i % w) - dx, Math.floor(i / w)];
        return kind === 'box' ? (x >= 7 && x < 21 && y >= 7 && y < 21 ? 1 : 0) : x >= 12 && x < 16 && y >= 3 && y < 25 ? 1 : 0;
      });
    const dim = edgeFeatureCount([h, w, 1]);
    const rows = edgeHistogram(Float32Array.of(...shape(0, 'box'), ...shape(1, 'box'), ...shape(0, 'bar')), 3, [h, w, 1]);
    const row = (i: number) => rows.subarray(i * dim, (i + 1) * dim);
    const moved = cosine(row(0), row(1));
    assert.ok(moved > 0.9, `moved by a pixel: ${moved}`);
    assert.ok(cosine(row(0), row(2)) < moved - 0.2, `another outline: ${cosine(row(0), row(2))}`);
  });
});
