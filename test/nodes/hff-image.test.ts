import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { channelMeansModel } from '../feature-stage/fixtures';
import {
  ALL_NODES,
  assertNoUnhandledRejection,
  TAB,
  catchNodes,
  caughtText,
  collect,
  helper,
  helperNode,
  initNodeRed4,
  modelConfig,
  nth,
  onTab,
  removeTempDirs,
  send,
  waitStatus,
} from './flow-helpers';

interface Meta {
  source: string;
  width: number;
  height: number;
  encoding?: string;
  outWidth: number;
  outHeight: number;
  channels: number;
}

/** An 8x6 RGB picture: left half red, right half blue. */
const W = 8;
const H = 6;
function rgbPixels(): Buffer {
  const b = Buffer.alloc(W * H * 3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const o = (y * W + x) * 3;
      if (x < W / 2) b[o] = 255;
      else b[o + 2] = 255;
    }
  }
  return b;
}

describe('hff-image', function () {
  beforeEach(() => {
    initNodeRed4();
  });
  afterEach(async () => {
    await helper.unload();
    assertNoUnhandledRejection();
  });
  after(removeTempDirs);

  function flow(image: Record<string, unknown> = {}, model?: Record<string, unknown>) {
    return [
      TAB,
      ...(model ? [modelConfig(model)] : []),
      onTab({
        id: 'image',
        type: 'hff-image',
        model: model ? 'model' : '',
        width: 4,
        height: 4,
        channels: 3,
        fit: 'fill',
        centerCrop: 1,
        normalize: 'unit',
        wires: [['out']],
        ...image,
      }),
      helperNode('out'),
      ...catchNodes(),
    ];
  }

  it('converts a sensor_msgs/Image (bgr8 with row padding) into a Float32Array and msg.image', async () => {
    await helper.load(ALL_NODES, flow());
    const out = collect('out');
    const rgb = rgbPixels();
    const step = W * 3 + 4;
    const data = Buffer.alloc(step * H, 0x77);
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const s = (y * W + x) * 3;
        const d = y * step + x * 3;
        data[d] = rgb[s + 2];
        data[d + 1] = rgb[s + 1];
        data[d + 2] = rgb[s];
      }
    }
    send('image', { payload: { header: {}, height: H, width: W, encoding: 'bgr8', is_bigendian: 0, step, data } });
    const msg = await nth(out, 1);
    const v = msg.payload as Float32Array;
    assert.ok(v instanceof Float32Array);
    assert.equal(v.length, 4 * 4 * 3);
    assert.deepEqual(Array.from(v.subarray(0, 3)), [1, 0, 0], 'top-left is red');
    assert.deepEqual(Array.from(v.subarray(9, 12)), [0, 0, 1], 'top-right is blue');
    const meta = msg.image as Meta;
    assert.deepEqual(meta, { source: 'sensor_msgs/Image', width: W, height: H, encoding: 'bgr8', outWidth: 4, outHeight: 4, channels: 3 });
    await waitStatus('image', (s) => s.fill === 'green' && s.text === '4x4x3 from bgr8');
  });

  it('takes mono16 big-endian, CompressedImage, JPEG/PNG Buffers, JSON-ed Buffers and number arrays', async () => {
    await helper.load(ALL_NODES, flow({ channels: 1, width: 2, height: 2 }));
    const out = collect('out');
    const mono = Buffer.alloc(4 * 2 * 2);
    for (let i = 0; i < 8; i++) mono.writeUInt16BE(65535, i * 2);
    send('image', { payload: { height: 2, width: 4, encoding: 'mono16', is_bigendian: 1, step: 8, data: mono } });
    const m = await nth(out, 1);
    assert.deepEqual(Array.from(m.payload as Float32Array), [1, 1, 1, 1]);
    const png = await sharp(rgbPixels(), { raw: { width: W, height: H, channels: 3 } })
      .png()
      .toBuffer();
    const jpeg = await sharp(rgbPixels(), { raw: { width: W, height: H, channels: 3 } })
      .jpeg()
      .toBuffer();
    send('image', { payload: { format: 'png', data: png } });
    send('image', { payload: jpeg });
    send('image', { payload: JSON.parse(JSON.stringify(png)) });
    send('image', { payload: [0, 0.5, 1, 0.25] });
    const sources = [];
    for (let i = 2; i <= 5; i++) sources.push(((await nth(out, i)).image as Meta).source);
    // Decoding is asynchronous: a number array can overtake the pictures.
    assert.deepEqual(sources.sort(), ['jpeg', 'png', 'sensor_msgs/CompressedImage', 'vector']);
    const passed = out.find((o) => (o.image as Meta).source === 'vector') as Record<string, unknown>;
    assert.deepEqual(Array.from(passed.payload as Float32Array), [0, 0.5, 1, 0.25]);
  });

  it("uses the selected model's image shape, and checks the node's size against a model without one", async () => {
    await helper.load(ALL_NODES, [
      ...flow({ width: 8, height: 8 }, { inputSize: 16, inputShape: '4x4x1' }),
      onTab({ id: 'image2', type: 'hff-image', model: 'model', width: 5, height: 5, channels: 1, wires: [['out']] }),
    ]);
    const out = collect('out');
    const caught = collect('caught');
    await waitStatus('image', (s) => s.fill === 'green' && s.text === 'ready');
    const png = await sharp(rgbPixels(), { raw: { width: W, height: H, channels: 3 } })
      .png()
      .toBuffer();
    send('image', { payload: png });
    const m = await nth(out, 1);
    assert.equal((m.payload as Float32Array).length, 16);
    assert.deepEqual([(m.image as Meta).outWidth, (m.image as Meta).outHeight, (m.image as Meta).channels], [4, 4, 1]);
    await helper.unload();
    initNodeRed4();
    await helper.load(ALL_NODES, [...flow({ width: 5, height: 5, channels: 1 }, { inputSize: 16 })]);
    const caught2 = collect('caught');
    send('image', { payload: png });
    assert.match(
      caughtText(await nth(caught2, 1)),
      /hff-image makes vectors of 5x5x1 = 25 values but model tiny takes 16: set width, height and channels to match/,
    );
    assert.equal(caught.length, 0);
  });

  it("scales camera frames of another size to a feature stage's input, and the classifier names them", async () => {
    const userDir = initNodeRed4();
    fs.writeFileSync(path.join(userDir, 'means.onnx'), channelMeansModel());
    await helper.load(ALL_NODES, [
      ...flow({ width: 2, height: 2, fit: 'cover', wires: [['classify']] }, { inputSize: 48, inputShape: '4x4x3', featureStage: 'means.onnx', layers: '8' }),
      onTab({ id: 'teach', type: 'hff-teach', model: 'model', mode: 'mean', wires: [['out']] }),
      onTab({ id: 'classify', type: 'hff-classify', model: 'model', wires: [['out'], ['out']] }),
    ]);
    const out = collect('out');
    await waitStatus('image', (s) => s.fill === 'green' && s.text === 'ready');
    const solid = (rgb: number[]) => Array.from({ length: 48 }, (_, i) => rgb[i % 3]);
    send('teach', { payload: solid([1, 0, 0]), label: 'red' });
    send('teach', { payload: solid([0, 0, 1]), label: 'blue' });
    await nth(out, 2);
    // A 40x30 camera frame, red with a blue band on the right: 'cover' keeps its centre square, mostly red.
    const frame = Buffer.alloc(40 * 30 * 3);
    for (let p = 0; p < 40 * 30; p++) frame[p * 3 + (p % 40 < 32 ? 0 : 2)] = 255;
    send('image', {
      payload: await sharp(frame, { raw: { width: 40, height: 30, channels: 3 } })
        .png()
        .toBuffer(),
    });
    const m = await nth(out, 3);
    assert.equal((m.payload as { label: string }).label, 'red');
    assert.deepEqual(
      [(m.image as Meta).outWidth, (m.image as Meta).outHeight, (m.image as Meta).channels],
      [4, 4, 3],
      "the stage's input, not the node's own size",
    );
  });

  it('reports undecodable pictures, unsupported encodings, bad sizes and a missing model to a Catch node', async () => {
    await helper.load(ALL_NODES, [...flow(), onTab({ id: 'orphan', type: 'hff-image', model: 'gone', width: 4, height: 4, channels: 1, wires: [[]] })]);
    const out = collect('out');
    const caught = collect('caught');
    await waitStatus('orphan', (s) => s.fill === 'red' && s.text === 'no model selected');
    const cases: [string, Record<string, unknown>, RegExp][] = [
      ['image', { payload: Buffer.from([0xff, 0xd8, 0xff, 1, 2, 3]) }, /image: cannot decode image bytes/],
      ['image', { payload: Buffer.from('hello') }, /neither JPEG nor PNG/],
      ['image', { payload: { height: 2, width: 2, encoding: 'yuv422', step: 4, data: Buffer.alloc(8) } }, /unsupported sensor_msgs\/Image encoding 'yuv422'/],
      [
        'image',
        { payload: { height: 2, width: 2, encoding: 'rgb8', step: 6, data: Buffer.alloc(5) } },
        /data has 5 bytes, expected step x height = 6 x 2 = 12 .*do not match the data/,
      ],
      ['image', { payload: { format: 'tiff', data: Buffer.from('xx') } }, /unsupported sensor_msgs\/CompressedImage format 'tiff'/],
      ['image', { payload: 'not an image' }, /msg\.payload is a string/],
      ['image', { payload: [1, 2, 3] }, /vector has length 3, expected .* = 48/],
      ['image', { payload: 42 }, /unsupported input \(the number 42\)/],
      ['orphan', { payload: [1] }, /the selected hff-model is missing/],
    ];
    for (const [id, msg, pattern] of cases) {
      const before = caught.length;
      send(id, msg);
      const text = caughtText(await nth(caught, before + 1, `error for ${JSON.stringify(msg).slice(0, 80)}`));
      if (process.env.SHOW_ERRORS) console.log(text);
      assert.match(text, pattern);
    }
    send('image', { payload: new Array(48).fill(0.5) });
    await nth(out, 1);
  });
});
