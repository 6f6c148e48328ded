import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { McapWriter } from '@mcap/core';
import { FileHandleWritable } from '@mcap/nodejs';
import { tempDir } from '../helpers/data';
import { BagReader, BagWriter, encodeCdr, fullSchemaText, replayBag, type BagMessage, type RosMessage } from '../../src/io';

const T0 = 1_700_000_000_000_000_000n; // ns
const MS = 1_000_000n;

interface Expected {
  topic: string;
  type: string;
  message: RosMessage;
  logTime: bigint;
}

function image(i: number): RosMessage {
  const width = 4 + i;
  const height = 3;
  return {
    header: { stamp: { sec: 1_700_000_000, nanosec: i * 1000 }, frame_id: 'camera_optical' },
    height,
    width,
    encoding: 'rgb8',
    is_bigendian: 0,
    step: width * 3,
    data: Buffer.from(Array.from({ length: width * height * 3 }, (_, k) => (k * 31 + i) & 255)),
  };
}

function compressed(i: number): RosMessage {
  return {
    header: { stamp: { sec: 1_700_000_000, nanosec: i }, frame_id: 'camera' },
    format: 'jpeg',
    data: Buffer.from([0xff, 0xd8, i, i + 1, 0xff, 0xd9]),
  };
}

/** Writes a bag with our writer: images every `stepMs` on /camera/image_raw, plus compressed + string topics. */
async function writeSampleBag(file: string, count = 6, stepMs = 50n): Promise<Expected[]> {
  const expected: Expected[] = [];
  const writer = await BagWriter.open(file, { chunkSize: 4096 });
  for (let i = 0; i < count; i++) {
    const base = T0 + BigInt(i) * stepMs * MS;
    const entries: Expected[] = [
      { topic: '/camera/image_raw', type: 'sensor_msgs/msg/Image', message: image(i), logTime: base },
      { topic: '/camera/image_raw/compressed', type: 'sensor_msgs/msg/CompressedImage', message: compressed(i), logTime: base + 1n * MS },
      { topic: '/hff/label', type: 'std_msgs/msg/String', message: { data: `label-${i}-é` }, logTime: base + 2n * MS },
    ];
    for (const e of entries) {
      await writer.write(e.topic, e.type, e.message, { logTime: e.logTime });
      expected.push(e);
    }
  }
  await writer.close();
  return expected;
}

async function collect(
  file: string,
  options: Partial<Parameters<typeof replayBag>[1]> = {},
): Promise<{ messages: BagMessage[]; ms: number; summary: { messages: number; passes: number; stopped: boolean } }> {
  const messages: BagMessage[] = [];
  const t = performance.now();
  const replay = replayBag(file, {
    speed: 0,
    ...options,
    onMessage: (m) => {
      messages.push(m);
    },
  });
  const summary = await replay.done;
  return { messages, ms: performance.now() - t, summary };
}

function activeTimers(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
}

describe('io/bag: rosbag2 MCAP writing, reading and replay', function () {
  this.timeout(20000);
  let dir: string;
  let file: string;
  let expected: Expected[];

  before(async () => {
    dir = tempDir('hff-io-bag-');
    file = path.join(dir, 'sample.mcap');
    expected = await writeSampleBag(file);
  });

  after(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('writes a ros2-profile, chunked, indexed MCAP with ros2msg schemas and cdr channels', async () => {
    const reader = await BagReader.open(file);
    try {
      assert.equal(reader.info.profile, 'ros2');
      assert.equal(reader.info.chunked, true);
      assert.equal(reader.info.messageCount, expected.length);
      assert.equal(reader.info.startTime, T0);
      assert.equal(reader.info.endTime, T0 + 252n * MS);
      assert.deepEqual(
        reader.topics().map((t) => [t.topic, t.type, t.messageCount, t.messageEncoding, t.schemaEncoding, t.decodable]),
        [
          ['/camera/image_raw', 'sensor_msgs/msg/Image', 6, 'cdr', 'ros2msg', true],
          ['/camera/image_raw/compressed', 'sensor_msgs/msg/CompressedImage', 6, 'cdr', 'ros2msg', true],
          ['/hff/label', 'std_msgs/msg/String', 6, 'cdr', 'ros2msg', true],
        ],
      );
      assert.match(reader.topics()[0].offeredQosProfiles ?? '', /reliability: 1/);
    } finally {
      await reader.close();
    }
  });

  it('replays every message in log-time order, byte for byte', async () => {
    const { messages, summary } = await collect(file);
    assert.equal(messages.length, expected.length);
    assert.deepEqual(summary, { messages: expected.length, passes: 1, stopped: false });
    for (let i = 0; i < expected.length; i++) {
      const got = messages[i];
      const want = expected[i];
      assert.equal(got.topic, want.topic);
      assert.equal(got.type, want.type);
      assert.equal(got.logTime, want.logTime);
      assert.ok(Buffer.from(got.raw).equals(Buffer.from(encodeCdr(want.type, want.message))), `raw CDR of #${i}`);
      assert.ok(Buffer.from(encodeCdr(got.type, got.message as RosMessage)).equals(Buffer.from(got.raw)), `re-encoded #${i}`);
      if (want.message.data !== undefined && Buffer.isBuffer(want.message.data)) {
        assert.ok(Buffer.isBuffer(got.message?.data), 'byte data decodes to Buffer');
        assert.ok((got.message?.data as Buffer).equals(want.message.data as Buffer));
      } else {
        assert.equal(got.message?.data, want.message.data);
      }
      assert.equal(got.schemaText, fullSchemaText(want.type));
    }
    // Payload views must stay valid after later chunks were read (no shared read buffer).
    assert.ok((messages[0].message?.data as Buffer).equals(expected[0].message.data as Buffer));
  });

  it('filters topics and rejects unknown ones', async () => {
    const { messages } = await collect(file, { topics: ['/camera/image_raw/compressed'] });
    assert.equal(messages.length, 6);
    assert.ok(messages.every((m) => m.topic === '/camera/image_raw/compressed' && m.message?.format === 'jpeg'));
    await assert.rejects(collect(file, { topics: ['/nope'] }), /Topic '\/nope' is not in bag/);
  });

  it('decodes with the schema embedded in the bag, not with bundled definitions', async () => {
    const custom = path.join(dir, 'custom.mcap');
    const schemaText = [
      'std_msgs/Header header',
      'string[] labels',
      'float64 confidence',
      'Box[] boxes',
      '================================================================================',
      'MSG: std_msgs/Header',
      'builtin_interfaces/Time stamp',
      'string frame_id',
      '================================================================================',
      'MSG: builtin_interfaces/Time',
      'int32 sec',
      'uint32 nanosec',
      '================================================================================',
      'MSG: acme_msgs/Box',
      'int32 x',
      'int32 y',
      'uint8[] mask',
    ].join('\n');
    const writer = await BagWriter.open(custom);
    await writer.addTopic('/acme/detections', 'acme_msgs/msg/Detections', { schemaText });
    const msg = {
      header: { stamp: { sec: 3, nanosec: 4 }, frame_id: 'base' },
      labels: ['cup', 'tasse à café'],
      confidence: 0.75,
      boxes: [{ x: 1, y: 2, mask: Buffer.from([1, 0, 1]) }],
    };
    await writer.write('/acme/detections', 'acme_msgs/msg/Detections', msg, { logTime: T0 });
    await writer.close();
    const { messages } = await collect(custom);
    assert.equal(messages.length, 1);
    const got = messages[0].message as typeof msg;
    assert.deepEqual(got.labels, msg.labels);
    assert.equal(got.confidence, 0.75);
    assert.ok(Buffer.isBuffer(got.boxes[0].mask) && got.boxes[0].mask.equals(msg.boxes[0].mask));
    assert.equal(messages[0].type, 'acme_msgs/msg/Detections');
  });

  it('replays at recorded speed, at a multiple of it, and at max speed', async () => {
    // 6 image frames spaced 50 ms: 250 ms of recording.
    const filter = { topics: ['/camera/image_raw'] };
    const real = await collect(file, { ...filter, speed: 1 });
    const double = await collect(file, { ...filter, speed: 2 });
    const max = await collect(file, { ...filter, speed: 'max' });
    for (const run of [real, double, max]) {
      assert.equal(run.messages.length, 6);
      const times = run.messages.map((m) => m.logTime);
      assert.deepEqual(
        times,
        [...times].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)),
      );
    }
    assert.ok(real.ms >= 230 && real.ms < 1500, `speed 1 took ${real.ms} ms`);
    assert.ok(double.ms >= 110 && double.ms < real.ms, `speed 2 took ${double.ms} ms`);
    assert.ok(max.ms < double.ms && max.ms < 200, `max speed took ${max.ms} ms`);
  });

  it('awaits the consumer at max speed (backpressure, no overlap)', async () => {
    let active = 0;
    let maxActive = 0;
    let count = 0;
    const replay = replayBag(file, {
      speed: 0,
      onMessage: async () => {
        active++;
        maxActive = Math.max(maxActive, active);
        await new Promise((r) => setTimeout(r, 3));
        active--;
        count++;
      },
    });
    const summary = await replay.done;
    assert.equal(count, expected.length);
    assert.equal(summary.messages, expected.length);
    assert.equal(maxActive, 1);
  });

  it('loops a given number of passes', async () => {
    const { messages, summary } = await collect(file, { topics: ['/hff/label'], loop: 3 });
    assert.equal(messages.length, 18);
    assert.equal(summary.passes, 3);
    assert.deepEqual(
      messages.slice(0, 6).map((m) => m.message?.data),
      messages.slice(12).map((m) => m.message?.data),
    );
  });

  it('honours start and end offsets (seconds from the first message)', async () => {
    const { messages } = await collect(file, { topics: ['/camera/image_raw'], start: 0.1, end: 0.2 });
    assert.deepEqual(
      messages.map((m) => m.offsetSec),
      [0.1, 0.15, 0.2],
    );
    const tail = await collect(file, { start: 0.2015 });
    assert.deepEqual(
      tail.messages.map((m) => m.topic),
      ['/hff/label', '/camera/image_raw', '/camera/image_raw/compressed', '/hff/label'],
    );
    await assert.rejects(collect(file, { start: 0.3, end: 0.1 }), /end offset/);
  });

  it('stops mid-replay promptly, leaving no timers behind', async () => {
    const slow = path.join(dir, 'slow.mcap');
    const writer = await BagWriter.open(slow);
    for (let i = 0; i < 3; i++) await writer.write('/tick', 'std_msgs/msg/String', { data: `t${i}` }, { logTime: T0 + BigInt(i) * 30_000n * MS });
    await writer.close();
    const timersBefore = activeTimers();
    const got: string[] = [];
    let first!: () => void;
    const firstSeen = new Promise<void>((r) => {
      first = r;
    });
    const replay = replayBag(slow, {
      speed: 1,
      loop: true,
      onMessage: (m) => {
        got.push(String(m.message?.data));
        first();
      },
    });
    await firstSeen;
    await new Promise((r) => setTimeout(r, 20));
    const t = performance.now();
    const summary = await replay.stop();
    assert.ok(performance.now() - t < 200, 'stop() resolves promptly');
    assert.deepEqual(got, ['t0']);
    assert.equal(summary.stopped, true);
    assert.equal(summary.messages, 1);
    assert.deepEqual(await replay.done, summary);
    assert.equal(activeTimers(), timersBefore);
  });

  it('stop() also abandons a consumer that never settles', async () => {
    let delivered: () => void = () => {};
    const first = new Promise<void>((resolve) => (delivered = resolve));
    const replay = replayBag(file, {
      speed: 0,
      onMessage: () => {
        delivered();
        return new Promise<void>(() => {});
      },
    });
    // Stopped once the consumer holds the first message (not after a guessed delay, which load can outlast).
    await first;
    const summary = await replay.stop();
    assert.equal(summary.messages, 1);
    assert.equal(summary.stopped, true);
  });

  it('gives clear errors for truncated, corrupt and missing files', async () => {
    const bytes = fs.readFileSync(file);
    const truncated = path.join(dir, 'truncated.mcap');
    fs.writeFileSync(truncated, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
    await assert.rejects(BagReader.open(truncated), (err: Error) => {
      assert.match(err.message, /^Cannot read bag '.*truncated\.mcap'/);
      assert.match(err.message, /truncated/);
      return true;
    });
    const garbage = path.join(dir, 'garbage.mcap');
    fs.writeFileSync(garbage, Buffer.from('this is not an mcap file at all, just text'));
    await assert.rejects(BagReader.open(garbage), /not a complete MCAP file/);
    await assert.rejects(replayBag(path.join(dir, 'missing.mcap'), { onMessage: () => {} }).done, /Cannot open bag .*no such file/);
    // Damaged chunk contents (CRC mismatch) surface while reading, with the library's reason.
    const damaged = path.join(dir, 'damaged.mcap');
    const copy = Buffer.from(bytes);
    copy[300] ^= 0xff;
    fs.writeFileSync(damaged, copy);
    await assert.rejects(collect(damaged), /Cannot read messages from bag '.*damaged\.mcap': Incorrect chunk CRC.*damaged/);
  });

  it('opens a rosbag2 folder holding one .mcap file', async () => {
    const bagDir = path.join(dir, 'rosbag2_folder');
    fs.mkdirSync(bagDir);
    fs.copyFileSync(file, path.join(bagDir, 'rosbag2_folder_0.mcap'));
    fs.writeFileSync(path.join(bagDir, 'metadata.yaml'), 'rosbag2_bagfile_information: {}\n');
    const { messages } = await collect(bagDir, { topics: ['/hff/label'] });
    assert.equal(messages.length, 6);
  });

  it('reads unchunked files by scanning', async () => {
    const flat = path.join(dir, 'flat.mcap');
    const handle = await fsp.open(flat, 'w');
    const writer = new McapWriter({ writable: new FileHandleWritable(handle), useChunks: false, useStatistics: true, useSummaryOffsets: true });
    await writer.start({ profile: 'ros2', library: 'test' });
    const schemaId = await writer.registerSchema({
      name: 'std_msgs/msg/String',
      encoding: 'ros2msg',
      data: Buffer.from(fullSchemaText('std_msgs/msg/String')),
    });
    const channelId = await writer.registerChannel({ topic: '/flat', schemaId, messageEncoding: 'cdr', metadata: new Map() });
    for (let i = 0; i < 4; i++) {
      await writer.addMessage({
        channelId,
        sequence: i,
        logTime: T0 + BigInt(i) * MS,
        publishTime: T0,
        data: encodeCdr('std_msgs/msg/String', { data: `f${i}` }),
      });
    }
    await writer.end();
    await handle.close();
    const { messages } = await collect(flat, { start: 0.001 });
    assert.deepEqual(
      messages.map((m) => m.message?.data),
      ['f1', 'f2', 'f3'],
    );
  });

  it('uses chunk decompressors, with a clear message when one is missing', async () => {
    const packed = path.join(dir, 'packed.mcap');
    const handle = await fsp.open(packed, 'w');
    const writer = new McapWriter({
      writable: new FileHandleWritable(handle),
      chunkSize: 1024,
      compressChunk: (data) => ({ compression: 'xor-test', compressedData: data.map((b) => b ^ 0x5a) }),
    });
    await writer.start({ profile: 'ros2', library: 'test' });
    const schemaId = await writer.registerSchema({
      name: 'std_msgs/msg/String',
      encoding: 'ros2msg',
      data: Buffer.from(fullSchemaText('std_msgs/msg/String')),
    });
    const channelId = await writer.registerChannel({ topic: '/packed', schemaId, messageEncoding: 'cdr', metadata: new Map() });
    await writer.addMessage({ channelId, sequence: 0, logTime: T0, publishTime: T0, data: encodeCdr('std_msgs/msg/String', { data: 'xor' }) });
    await writer.end();
    await handle.close();
    const { messages } = await collect(packed, { decompressHandlers: { 'xor-test': (buf) => buf.map((b) => b ^ 0x5a) } });
    assert.equal(messages[0].message?.data, 'xor');
    await assert.rejects(collect(packed), /xor-test/);

    const hasZstd = typeof (zlib as unknown as { zstdDecompressSync?: unknown }).zstdDecompressSync === 'function';
    let hasFzstd = true;
    try {
      require.resolve('fzstd');
    } catch {
      hasFzstd = false;
    }
    if (!hasZstd && !hasFzstd) {
      const zst = path.join(dir, 'zstd.mcap');
      const h = await fsp.open(zst, 'w');
      const w = new McapWriter({ writable: new FileHandleWritable(h), compressChunk: (data) => ({ compression: 'zstd', compressedData: data }) });
      await w.start({ profile: 'ros2', library: 'test' });
      const sid = await w.registerSchema({ name: 'std_msgs/msg/String', encoding: 'ros2msg', data: Buffer.from(fullSchemaText('std_msgs/msg/String')) });
      const cid = await w.registerChannel({ topic: '/z', schemaId: sid, messageEncoding: 'cdr', metadata: new Map() });
      await w.addMessage({ channelId: cid, sequence: 0, logTime: T0, publishTime: T0, data: encodeCdr('std_msgs/msg/String', { data: 'z' }) });
      await w.end();
      await h.close();
      await assert.rejects(collect(zst), /zstd-compressed chunks.*Node\.js 22\.15 or newer.*npm install fzstd/s);
    }
  });

  it('writer: refuses to clobber, rejects bad input, serialises overlapping writes, records raw CDR', async () => {
    await assert.rejects(BagWriter.open(file), /already exists/);
    const out = path.join(dir, 'raw.mcap');
    const writer = await BagWriter.open(out);
    await assert.rejects(writer.write('no_slash', 'std_msgs/msg/String', { data: 'x' }), /absolute ROS name/);
    await assert.rejects(writer.write('/x', 'nav_msgs/msg/Odometry', {}), /No message definition/);
    const raw = encodeCdr('sensor_msgs/msg/CompressedImage', compressed(9));
    // Not awaited one by one: the writer must queue them itself.
    await Promise.all([
      writer.writeRaw('/cam/compressed', 'sensor_msgs/msg/CompressedImage', raw, { logTime: T0 + 2n * MS }),
      writer.write('/cam/compressed', 'sensor_msgs/msg/CompressedImage', compressed(10), { logTime: T0 + 3n * MS }),
      writer.write('/label', 'std_msgs/String', { data: 'a' }, { logTime: new Date(1_700_000_000_000) }),
    ]);
    await assert.rejects(writer.write('/label', 'sensor_msgs/msg/Image', image(0)), /already recorded as 'std_msgs\/msg\/String'/);
    assert.equal(writer.messageCount, 3);
    await writer.close();
    await writer.close();
    await assert.rejects(writer.write('/label', 'std_msgs/msg/String', { data: 'late' }), /closed/);
    const { messages } = await collect(out, { decode: false });
    assert.equal(messages.length, 3);
    assert.equal(messages[0].logTime, 1_700_000_000_000n * MS);
    assert.ok(Buffer.from(messages[1].raw).equals(Buffer.from(raw)));
    assert.equal(messages[1].message, undefined);
  });
});
