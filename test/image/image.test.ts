import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { tempDir } from '../helpers/data';

const scratch: string[] = [];
function scratchDir(): string {
  const d = tempDir('hff-image-');
  scratch.push(d);
  return d;
}
after(() => {
  for (const d of scratch.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});
import { SUPPORTED_ENCODINGS, detectImageFormat, imageFileToVector, imageToVector } from '../../src/image';

/** Bytes of a vector scaled back from [0,1]. */
function bytes(v: Float32Array, max = 255): number[] {
  return Array.from(v, (x) => Math.round(x * max));
}

/** Raw RGB (or grey) bytes to an encoded picture. */
async function encode(raw: Uint8Array, width: number, height: number, channels: 1 | 3, format: 'png' | 'jpeg'): Promise<Buffer> {
  let img = sharp(raw, { raw: { width, height, channels } });
  if (channels === 1) img = img.toColourspace('b-w');
  return format === 'png' ? img.png().toBuffer() : img.jpeg({ quality: 95 }).toBuffer();
}

/** A 3x2 RGB test picture with distinct values per channel and pixel. */
const W = 3;
const H = 2;
const RGB = Uint8Array.from({ length: W * H * 3 }, (_, i) => 10 + i * 9);

/** Packs RGB into a message layout with the given channel order, extra alpha and row padding. */
function pack(order: number[], alpha: boolean, pad: number): { data: Buffer; step: number } {
  const bpp = order.length + (alpha ? 1 : 0);
  const step = W * bpp + pad;
  const data = Buffer.alloc(step * H, 0xee);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const o = y * step + x * bpp;
      order.forEach((c, k) => (data[o + k] = RGB[(y * W + x) * 3 + c]));
      if (alpha) data[o + order.length] = 7;
    }
  }
  return { data, step };
}

const rgbOpts = { width: W, height: H, channels: 3 as const };

describe('image: sensor_msgs/Image', () => {
  const colour: [string, number[], boolean][] = [
    ['rgb8', [0, 1, 2], false],
    ['bgr8', [2, 1, 0], false],
    ['rgba8', [0, 1, 2], true],
    ['bgra8', [2, 1, 0], true],
    ['8UC3', [2, 1, 0], false],
  ];
  for (const [encoding, order, alpha] of colour) {
    for (const pad of [0, 5]) {
      it(`${encoding} ${pad ? 'with row padding (step > width x bpp)' : 'tightly packed'} gives RGB HWC pixels`, async () => {
        const { data, step } = pack(order, alpha, pad);
        const { vector, meta } = await imageToVector({ height: H, width: W, encoding, is_bigendian: 0, step, data }, rgbOpts);
        assert.deepEqual(bytes(vector), Array.from(RGB));
        assert.deepEqual(meta, { source: 'sensor_msgs/Image', width: W, height: H, encoding, outWidth: W, outHeight: H, channels: 3 });
      });
    }
  }

  for (const encoding of ['mono8', '8UC1']) {
    it(`${encoding} with row padding keeps grey values`, async () => {
      const grey = [0, 50, 100, 150, 200, 255];
      const step = W + 3;
      const data = Buffer.alloc(step * H, 9);
      grey.forEach((g, i) => (data[Math.floor(i / W) * step + (i % W)] = g));
      const { vector } = await imageToVector({ height: H, width: W, encoding, step, data }, { width: W, height: H, channels: 1 });
      assert.deepEqual(bytes(vector), grey);
      const rgb = await imageToVector({ height: H, width: W, encoding, step, data }, rgbOpts);
      assert.deepEqual(
        bytes(rgb.vector),
        grey.flatMap((g) => [g, g, g]),
        'grey replicated to RGB',
      );
    });
  }

  for (const bigEndian of [0, 1]) {
    it(`mono16 ${bigEndian ? 'big' : 'little'}-endian with row padding keeps 16-bit precision`, async () => {
      const values = [0, 1, 258, 4660, 40000, 65535];
      const step = W * 2 + 4;
      const data = Buffer.alloc(step * H, 0xab);
      values.forEach((v, i) => {
        const o = Math.floor(i / W) * step + (i % W) * 2;
        if (bigEndian) data.writeUInt16BE(v, o);
        else data.writeUInt16LE(v, o);
      });
      const { vector } = await imageToVector(
        { height: H, width: W, encoding: 'mono16', is_bigendian: bigEndian, step, data },
        { width: W, height: H, channels: 1 },
      );
      assert.deepEqual(bytes(vector, 65535), values);
    });
  }

  it('mono16 can be resized and expanded to RGB', async () => {
    const data = Buffer.alloc(4 * 4 * 2);
    for (let i = 0; i < 16; i++) data.writeUInt16LE(30000, i * 2);
    const { vector } = await imageToVector({ height: 4, width: 4, encoding: 'mono16', step: 8, data }, { width: 2, height: 2, channels: 3 });
    assert.equal(vector.length, 12);
    for (const v of vector) assert.ok(Math.abs(v - 30000 / 65535) < 1e-3, `value ${v}`);
  });

  it('RGB to grey uses luminance (a neutral grey stays the same)', async () => {
    const data = Buffer.from([100, 100, 100, 255, 255, 255, 0, 0, 0, 0, 255, 0]);
    const { vector } = await imageToVector({ height: 1, width: 4, encoding: 'rgb8', step: 12, data }, { width: 4, height: 1, channels: 1 });
    const g = bytes(vector);
    assert.deepEqual(g.slice(0, 3), [100, 255, 0]);
    assert.ok(g[3] > 150 && g[3] < 255, `green luminance ${g[3]}`);
  });

  it('accepts data as a number array, base64 string and JSON-serialised Buffer', async () => {
    const { data, step } = pack([0, 1, 2], false, 0);
    for (const d of [Array.from(data), data.toString('base64'), JSON.parse(JSON.stringify(data)), new Uint8Array(data)]) {
      const { vector } = await imageToVector({ height: H, width: W, encoding: 'rgb8', step, data: d }, rgbOpts);
      assert.deepEqual(bytes(vector), Array.from(RGB));
    }
  });

  it('uses tight packing when step is absent', async () => {
    const { data } = pack([0, 1, 2], false, 0);
    const { vector } = await imageToVector({ height: H, width: W, encoding: 'rgb8', data }, rgbOpts);
    assert.deepEqual(bytes(vector), Array.from(RGB));
  });

  it('rejects an unsupported encoding and lists the supported ones', async () => {
    await assert.rejects(
      imageToVector({ height: 1, width: 1, encoding: 'yuv422', step: 2, data: [1, 2] }, rgbOpts),
      (e: Error) => e.message.includes("unsupported sensor_msgs/Image encoding 'yuv422'") && SUPPORTED_ENCODINGS.every((s) => e.message.includes(s)),
    );
  });

  it('rejects data whose length is not step x height', async () => {
    await assert.rejects(imageToVector({ height: 2, width: 3, encoding: 'rgb8', step: 12, data: Buffer.alloc(20) }, rgbOpts), {
      message:
        'image: sensor_msgs/Image data has 20 bytes, expected step x height = 12 x 2 = 24 (3x2 rgb8): width, height, step or encoding do not match the data',
    });
  });

  it('rejects a step smaller than a row', async () => {
    await assert.rejects(
      imageToVector({ height: 2, width: 3, encoding: 'rgb8', step: 8, data: Buffer.alloc(24) }, rgbOpts),
      /step 8 is smaller than width x bytes per pixel = 3 x 3 = 9 for rgb8/,
    );
  });

  it('names missing fields', async () => {
    await assert.rejects(imageToVector({ height: 2, encoding: 'rgb8', data: Buffer.alloc(24) }, rgbOpts), /missing the 'width' field/);
    await assert.rejects(imageToVector({ height: 2, width: 3, encoding: '', data: Buffer.alloc(24) }, rgbOpts), /missing the 'encoding' field/);
    await assert.rejects(imageToVector({ height: 2, width: 3, encoding: 'rgb8', data: undefined }, rgbOpts), /data must be a Buffer.*got missing/);
    await assert.rejects(
      imageToVector({ height: 2, width: 3, step: 9 }, rgbOpts),
      /lacks fields: a sensor_msgs\/Image needs height, width, encoding, step, data/,
    );
  });

  it('rejects bytes outside 0..255 in a number array', async () => {
    await assert.rejects(
      imageToVector({ height: 1, width: 1, encoding: 'mono8', data: [300] }, { width: 1, height: 1, channels: 1 }),
      /data\[0\] is 300, expected a byte/,
    );
  });
});

describe('image: compressed input', () => {
  it('decodes a PNG buffer losslessly and detects it by magic bytes', async () => {
    const png = await encode(RGB, W, H, 3, 'png');
    assert.equal(detectImageFormat(png), 'png');
    const { vector, meta } = await imageToVector(png, rgbOpts);
    assert.deepEqual(bytes(vector), Array.from(RGB));
    assert.deepEqual(meta, { source: 'png', width: W, height: H, encoding: 'png', outWidth: W, outHeight: H, channels: 3 });
    const fromU8 = await imageToVector(new Uint8Array(png), rgbOpts);
    assert.deepEqual(fromU8.vector, vector);
  });

  it('decodes a JPEG buffer close to the original pixels', async () => {
    const flat = Buffer.alloc(16 * 16 * 3);
    for (let i = 0; i < flat.length; i += 3) flat.set([200, 40, 90], i);
    const jpg = await encode(flat, 16, 16, 3, 'jpeg');
    assert.equal(detectImageFormat(jpg), 'jpeg');
    const { vector, meta } = await imageToVector(jpg, { width: 16, height: 16, channels: 3 });
    assert.equal(meta.source, 'jpeg');
    const px = bytes(vector).slice(0, 3);
    [200, 40, 90].forEach((v, i) => assert.ok(Math.abs(px[i] - v) <= 4, `channel ${i}: ${px[i]} vs ${v}`));
  });

  for (const format of ['jpeg', 'png', 'rgb8; jpeg compressed bgr8', 'bgr8; png compressed bgr8', '']) {
    it(`decodes a sensor_msgs/CompressedImage with format ${JSON.stringify(format)}`, async () => {
      const kind = format.includes('png') ? 'png' : 'jpeg';
      const flat = Buffer.alloc(8 * 8 * 3, 128);
      const data = await encode(flat, 8, 8, 3, kind);
      const { vector, meta } = await imageToVector({ header: {}, format, data }, { width: 4, height: 4, channels: 1 });
      assert.equal(vector.length, 16);
      for (const v of bytes(vector)) assert.ok(Math.abs(v - 128) <= 3, `value ${v}`);
      assert.deepEqual(meta, { source: 'sensor_msgs/CompressedImage', width: 8, height: 8, encoding: format, outWidth: 4, outHeight: 4, channels: 1 });
    });
  }

  it('rejects an unsupported CompressedImage format', async () => {
    await assert.rejects(
      imageToVector({ format: 'tiff', data: Buffer.alloc(4) }, rgbOpts),
      /unsupported sensor_msgs\/CompressedImage format 'tiff' \(supported: jpeg, png/,
    );
    await assert.rejects(imageToVector({ format: '16UC1; compressedDepth png', data: Buffer.alloc(4) }, rgbOpts), /compressedDepth\) is not supported/);
  });

  it('rejects bytes that are neither JPEG nor PNG', async () => {
    await assert.rejects(imageToVector(Buffer.from([1, 2, 3, 4, 5]), rgbOpts), /Buffer of 5 bytes is neither JPEG nor PNG/);
    await assert.rejects(
      imageToVector({ format: 'jpeg', data: Buffer.from('hello') }, rgbOpts),
      /sensor_msgs\/CompressedImage \(format 'jpeg'\) is neither JPEG \(ff d8 ff\) nor PNG \(89 50 4e 47\); it starts with 68 65 6c 6c/,
    );
  });

  it('rejects an undecodable image with JPEG or PNG magic', async () => {
    const png = await encode(RGB, W, H, 3, 'png');
    await assert.rejects(imageToVector(png.subarray(0, 20), rgbOpts), /^Error: image: cannot decode image bytes: /);
    await assert.rejects(imageToVector(Buffer.from([0xff, 0xd8, 0xff, 0, 1, 2, 3]), rgbOpts), /image: cannot decode image bytes/);
  });
});

describe('image: vectors', () => {
  it('passes a number array or Float32Array of the right length through unchanged', async () => {
    const values = Array.from({ length: 12 }, (_, i) => i / 7 - 0.5);
    const { vector, meta } = await imageToVector(values, { width: 2, height: 2, channels: 3 });
    assert.deepEqual(vector, Float32Array.from(values));
    assert.equal(meta.source, 'vector');
    const f = await imageToVector(Float32Array.from(values), { width: 2, height: 2, channels: 3 });
    assert.deepEqual(f.vector, Float32Array.from(values));
  });

  it('rejects a vector of the wrong length, saying expected and got', async () => {
    await assert.rejects(imageToVector(new Array(10).fill(0), { width: 2, height: 2, channels: 3 }), {
      message: 'image: vector has length 10, expected width x height x channels = 2 x 2 x 3 = 12',
    });
  });

  it('rejects NaN and Infinity', async () => {
    await assert.rejects(imageToVector([0, NaN, 0, 0], { width: 2, height: 2, channels: 1 }), /vector element 1 is NaN, expected a finite number/);
    await assert.rejects(imageToVector(Float32Array.from([0, 0, Infinity, 0]), { width: 2, height: 2, channels: 1 }), /vector element 2 is Infinity/);
    await assert.rejects(imageToVector([0, 0, 0, '1'], { width: 2, height: 2, channels: 1 }), /vector element 3 is "1"/);
  });

  it('rejects unsupported inputs with the list of accepted ones', async () => {
    await assert.rejects(imageToVector('/tmp/x.png', rgbOpts), /unsupported input \(the string "\/tmp\/x.png"\).*use imageFileToVector for file paths/);
    await assert.rejects(imageToVector(null, rgbOpts), /unsupported input \(null\)/);
  });
});

describe('image: options', () => {
  /** 40x20 black picture with a white 10x10 square in the middle. */
  async function centreSquare(): Promise<Buffer> {
    const raw = Buffer.alloc(40 * 20 * 3);
    for (let y = 5; y < 15; y++) for (let x = 15; x < 25; x++) raw.fill(255, (y * 40 + x) * 3, (y * 40 + x) * 3 + 3);
    return encode(raw, 40, 20, 3, 'png');
  }
  const whiteWide = async (): Promise<Buffer> => encode(Buffer.alloc(40 * 20 * 3, 255), 40, 20, 3, 'png');

  for (const fit of ['fill', 'cover', 'contain'] as const) {
    it(`fit '${fit}' produces the requested size`, async () => {
      const { vector, meta } = await imageToVector(await whiteWide(), { width: 10, height: 6, channels: 3, fit });
      assert.equal(vector.length, 10 * 6 * 3);
      assert.deepEqual([meta.width, meta.height, meta.outWidth, meta.outHeight], [40, 20, 10, 6]);
    });
  }

  it("'contain' letterboxes with black, 'cover' and 'fill' do not", async () => {
    const png = await whiteWide();
    const rowMeans = async (fit: 'fill' | 'cover' | 'contain'): Promise<number[]> => {
      const { vector } = await imageToVector(png, { width: 8, height: 8, channels: 1, fit });
      return Array.from({ length: 8 }, (_, y) => vector.subarray(y * 8, y * 8 + 8).reduce((a, b) => a + b, 0) / 8);
    };
    const contain = await rowMeans('contain');
    assert.ok(contain[0] < 0.01 && contain[7] < 0.01, `letterbox rows ${contain}`);
    assert.ok(contain[4] > 0.99);
    for (const fit of ['fill', 'cover'] as const)
      assert.ok(
        (await rowMeans(fit)).every((m) => m > 0.99),
        fit,
      );
  });

  it('centerCrop keeps a centred square of the shorter side before resizing', async () => {
    const png = await centreSquare();
    const cropped = await imageToVector(png, { width: 5, height: 5, channels: 1, centerCrop: 0.5 });
    assert.ok(
      cropped.vector.every((v) => v > 0.99),
      'the crop is the white square only',
    );
    const whole = await imageToVector(png, { width: 5, height: 5, channels: 1 });
    assert.ok(
      whole.vector.some((v) => v < 0.01),
      'without crop the black border remains',
    );
  });

  it("'zscore' standardises per image and a mean/std object per channel", async () => {
    const png = await encode(RGB, W, H, 3, 'png');
    const z = await imageToVector(png, { ...rgbOpts, normalize: 'zscore' });
    const mean = z.vector.reduce((a, b) => a + b, 0) / z.vector.length;
    const std = Math.sqrt(z.vector.reduce((a, b) => a + (b - mean) ** 2, 0) / z.vector.length);
    assert.ok(Math.abs(mean) < 1e-5 && Math.abs(std - 1) < 1e-4, `mean ${mean} std ${std}`);
    const n = await imageToVector(png, { ...rgbOpts, normalize: { mean: [0.5, 0.4, 0.3], std: [0.2, 0.25, 0.5] } });
    for (let i = 0; i < RGB.length; i++) {
      const c = i % 3;
      const want = (RGB[i] / 255 - [0.5, 0.4, 0.3][c]) / [0.2, 0.25, 0.5][c];
      assert.ok(Math.abs(n.vector[i] - want) < 1e-5, `index ${i}`);
    }
    const flat = await imageToVector({ width: 2, height: 1, encoding: 'mono8', data: [7, 7] }, { width: 2, height: 1, channels: 1, normalize: 'zscore' });
    assert.deepEqual(Array.from(flat.vector), [0, 0], 'a flat image standardises to zeros, not NaN');
  });

  it('rejects invalid options with the option name', async () => {
    await assert.rejects(imageToVector([0], { width: 0, height: 1, channels: 1 }), /options.width must be an integer from 1 to 16384, got the number 0/);
    await assert.rejects(imageToVector([0], { width: 1, height: 1, channels: 2 as 1 }), /options.channels must be 1 \(grey\) or 3 \(RGB\), got the number 2/);
    await assert.rejects(imageToVector([0], { width: 1, height: 1, channels: 1, fit: 'inside' as 'fill' }), /options.fit must be one of fill, cover, contain/);
    await assert.rejects(
      imageToVector([0], { width: 1, height: 1, channels: 1, centerCrop: 0 }),
      /centerCrop must be a fraction with 0 < f <= 1, got the number 0/,
    );
    await assert.rejects(
      imageToVector([0], { width: 1, height: 1, channels: 1, normalize: { mean: [0], std: [0] } }),
      /normalize.std entries must be finite numbers greater than 0/,
    );
    await assert.rejects(
      imageToVector([0], { width: 1, height: 1, channels: 3, normalize: { mean: [0, 0], std: [1] } }),
      /normalize.mean must have 1 or 3 entries/,
    );
  });
});

describe('image: files', () => {
  it('imageFileToVector decodes a PNG file', async () => {
    const dir = scratchDir();
    const file = path.join(dir, 'x.png');
    fs.writeFileSync(file, await encode(RGB, W, H, 3, 'png'));
    const { vector, meta } = await imageFileToVector(file, rgbOpts);
    assert.deepEqual(bytes(vector), Array.from(RGB));
    assert.deepEqual(meta, { source: 'file', width: W, height: H, encoding: 'png', outWidth: W, outHeight: H, channels: 3 });
  });

  it('names a missing or undecodable file', async () => {
    const dir = scratchDir();
    await assert.rejects(imageFileToVector(path.join(dir, 'nope.png'), rgbOpts), { message: `image: cannot read ${path.join(dir, 'nope.png')}: no such file` });
    const bad = path.join(dir, 'bad.jpg');
    fs.writeFileSync(bad, 'not an image');
    await assert.rejects(imageFileToVector(bad, rgbOpts), (e: Error) => e.message.startsWith(`image: cannot decode ${bad}: `));
  });
});
