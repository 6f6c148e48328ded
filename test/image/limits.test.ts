import assert from 'node:assert/strict';
import sharp from 'sharp';
import { imageToVector } from '../../src/image';
import { pngDeclaring } from '../helpers/pictures';

const opts = { width: 4, height: 4, channels: 1 as const };

/** A real 8x8 JPEG whose SOF header is rewritten to declare width x height. */
async function jpegDeclaring(width: number, height: number): Promise<Buffer> {
  const jpeg = await sharp(Buffer.alloc(64, 128), { raw: { width: 8, height: 8, channels: 1 } })
    .jpeg()
    .toBuffer();
  for (let i = 2; i < jpeg.length - 9; i++) {
    if (jpeg[i] === 0xff && jpeg[i + 1] >= 0xc0 && jpeg[i + 1] <= 0xc2) {
      jpeg.writeUInt16BE(height, i + 5);
      jpeg.writeUInt16BE(width, i + 7);
      return jpeg;
    }
  }
  throw new Error('no SOF marker in the test JPEG');
}

describe('image: limits on hostile pictures', () => {
  it('refuses a PNG declaring 20000x20000 from its header, before decoding, with the pixel limit named', async () => {
    const before = process.memoryUsage().rss;
    await assert.rejects(
      imageToVector(pngDeclaring(20000, 20000), opts),
      /image bytes declares more than 50000000 pixels in its header; at most 50000000 pixels are accepted \(refused before decoding\)/,
    );
    assert.ok(process.memoryUsage().rss - before < 200e6, 'nothing close to the declared size was allocated');
  });

  it('refuses a JPEG declaring 20000x20000 the same way', async () => {
    await assert.rejects(imageToVector(await jpegDeclaring(20000, 20000), opts), /declares more than 50000000 pixels in its header/);
    // The same picture declaring its true size decodes.
    const ok = await imageToVector(await jpegDeclaring(8, 8), opts);
    assert.equal(ok.vector.length, 16);
  });

  it('refuses a sensor_msgs/Image whose sizes exceed the limit before reading its data', async () => {
    await assert.rejects(
      imageToVector({ width: 100000, height: 100000, encoding: 'mono8', step: 100000, data: Buffer.alloc(10) }, opts),
      /sensor_msgs\/Image is 100000x100000 = 10000000000 pixels; at most 50000000/,
    );
  });

  it('refuses a sensor_msgs/Image whose width, height, step or encoding disagree with its data', async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      // More data than the sizes describe (it was accepted, and the extra bytes ignored).
      [{ width: 2, height: 2, encoding: 'mono8', step: 2, data: Buffer.alloc(6) }, /data has 6 bytes, expected step x height = 2 x 2 = 4/],
      // The encoding says 3 bytes a pixel, the data has 1.
      [{ width: 2, height: 2, encoding: 'rgb8', data: Buffer.alloc(4) }, /data has 4 bytes, expected step x height = 6 x 2 = 12/],
      // A step far beyond the row.
      [
        { width: 2, height: 1, encoding: 'mono8', step: 1_000_000, data: Buffer.alloc(1_000_000) },
        /step 1000000 is far larger than width x bytes per pixel = 2/,
      ],
    ];
    for (const [msg, expected] of cases) await assert.rejects(imageToVector(msg, opts), expected);
  });

  it("says 'unsupported encoding' for encodings that are Object's own keys", async () => {
    for (const encoding of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
      await assert.rejects(
        imageToVector({ width: 1, height: 1, encoding, step: 1, data: Buffer.alloc(1) }, opts),
        new RegExp(`unsupported sensor_msgs/Image encoding '${encoding}'`),
      );
    }
  });
});
