import assert from 'node:assert/strict';
import sharp from 'sharp';
import { picturePreviews, vectorPreviews } from '../../src/image';

const LIVE = { maxWidth: 960, maxHeight: 720 };
const THUMB = { maxWidth: 128, maxHeight: 96 };

async function pixels(data: Buffer): Promise<{ width: number; height: number; channels: number; bytes: Buffer }> {
  const { data: bytes, info } = await sharp(data).raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, channels: info.channels, bytes };
}

describe('image previews', () => {
  it('scales camera frames down to fit, keeping the aspect ratio; small ones stay PNG, larger ones become JPEG', async () => {
    const width = 640;
    const height = 480;
    const data = Buffer.alloc(width * height * 3, 0);
    for (let i = 0; i < width * height; i++) data[i * 3 + 2] = 255; // bgr8: blue first, so red after the swap
    const [live, thumb] = (await picturePreviews({ width, height, encoding: 'bgr8', step: width * 3, data }, [LIVE, THUMB]))!;
    assert.deepEqual([live.type, live.width, live.height], ['image/jpeg', 640, 480], 'never enlarged');
    assert.deepEqual([thumb.type, thumb.width, thumb.height], ['image/png', 128, 96]);
    const p = await pixels(thumb.data);
    assert.deepEqual([p.width, p.height], [128, 96]);
    assert.ok(p.bytes[0] > 240 && p.bytes[2] < 15, `red, as the camera saw it: ${[...p.bytes.subarray(0, 3)]}`);
  });

  it('reads JPEG/PNG bytes and 16-bit grey images; other payloads are not pictures', async () => {
    const png = await sharp({ create: { width: 300, height: 100, channels: 3, background: { r: 10, g: 200, b: 10 } } })
      .png()
      .toBuffer();
    const [fromBytes] = (await picturePreviews(png, [THUMB]))!;
    assert.deepEqual([fromBytes.width, fromBytes.height], [128, 43]);
    const mono16 = Buffer.alloc(8 * 8 * 2, 0xff);
    const [deep] = (await picturePreviews({ width: 8, height: 8, encoding: 'mono16', step: 16, data: mono16 }, [THUMB]))!;
    assert.equal((await pixels(deep.data)).bytes[0], 255);
    assert.equal(await picturePreviews([0.1, 0.2], [THUMB]), undefined);
    assert.equal(await picturePreviews(Buffer.from('not a picture'), [THUMB]), undefined);
    await assert.rejects(picturePreviews(Buffer.from([0xff, 0xd8, 0xff, 0, 1, 2]), [THUMB]), /^Error: image: cannot make a preview of the image bytes/);
  });

  it('draws a model input: unit values as they are, other normalisations stretched from min to max', async () => {
    const unit = Float32Array.from({ length: 16 }, (_, i) => (i === 0 ? 1 : 0));
    const [a] = await vectorPreviews(unit, [4, 4, 1], [THUMB]);
    const pa = await pixels(a.data);
    assert.deepEqual([pa.width, pa.height, pa.bytes[0], pa.bytes[pa.channels]], [4, 4, 255, 0]);
    const zscore = Float32Array.from({ length: 16 }, (_, i) => i - 8);
    const pz = await pixels((await vectorPreviews(zscore, [4, 4, 1], [THUMB]))[0].data);
    assert.deepEqual([pz.bytes[0], pz.bytes[15 * pz.channels]], [0, 255]);
    await assert.rejects(vectorPreviews(new Float32Array(10), [4, 4, 1], [THUMB]), /a vector of 10 values cannot be drawn as a 4x4x1 picture/);
  });
});
