import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { NodeAPI } from 'node-red';
import { BagReader, BagWriter, type BagMessage, type RosMessage } from '../../src/io';
import {
  TAB,
  catchNodes,
  caughtText,
  collect,
  helper,
  helperNode,
  initNodeRed4,
  newTempDir,
  nth,
  onTab,
  removeTempDirs,
  send,
  waitFor,
  waitStatus,
} from './flow-helpers';
import bagInNode = require('../../nodes/hff-bag-in/hff-bag-in');
import bagOutNode = require('../../nodes/hff-bag-out/hff-bag-out');
import imageNode = require('../../nodes/hff-image/hff-image');
import { withHooks } from '../helpers/io';

type Msg = Record<string, unknown>;

const gate = { received: [] as Msg[], release: (): void => undefined };
function slowNode(RED: NodeAPI): void {
  RED.nodes.registerType('slow-bag-test', function (this: import('node-red').Node, def: import('node-red').NodeDef) {
    RED.nodes.createNode(this, def);
    const waiting: Array<() => void> = [];
    gate.release = () => waiting.splice(0).forEach((d) => d());
    (this as unknown as { on(e: string, l: (m: Msg, s: unknown, d: () => void) => void): void }).on('input', (msg, _s, done) => {
      gate.received.push(msg);
      waiting.push(done);
    });
  });
}

const NODES = [bagInNode, bagOutNode, imageNode, slowNode].map((m) => withHooks(m as (RED: NodeAPI) => void));

const T0 = 1_700_000_000_000_000_000n;
const MS = 1_000_000n;

function image(i: number): RosMessage {
  const width = 3 + (i % 3);
  return {
    header: { stamp: { sec: 1_700_000_000 + i, nanosec: i * 1000 }, frame_id: 'camera_optical' },
    height: 2,
    width,
    encoding: 'rgb8',
    is_bigendian: 0,
    step: width * 3,
    data: Buffer.from(Array.from({ length: width * 2 * 3 }, (_, k) => (k * 29 + i) & 255)),
  };
}

interface Written {
  topic: string;
  type: string;
  message: RosMessage;
  logTime: bigint;
}

/** A bag written with the MCAP libraries (BagWriter over @mcap/core): images, JPEG frames and labels, `stepMs` apart. */
async function writeBag(file: string, count: number, stepMs: bigint): Promise<Written[]> {
  const writer = await BagWriter.open(file, { chunkSize: 4096 });
  const all: Written[] = [];
  for (let i = 0; i < count; i++) {
    const t = T0 + BigInt(i) * stepMs * MS;
    const entries: Written[] = [
      { topic: '/camera/image_raw', type: 'sensor_msgs/msg/Image', message: image(i), logTime: t },
      {
        topic: '/camera/image_raw/compressed',
        type: 'sensor_msgs/msg/CompressedImage',
        message: { header: { stamp: { sec: 5, nanosec: i }, frame_id: 'cam' }, format: 'jpeg', data: Buffer.from([0xff, 0xd8, i, 7, 0xff, 0xd9]) },
        logTime: t + 1n * MS,
      },
      { topic: '/hff/label', type: 'std_msgs/msg/String', message: { data: `part-${i} ✓` }, logTime: t + 2n * MS },
    ];
    for (const e of entries) await writer.write(e.topic, e.type, e.message, { logTime: e.logTime });
    all.push(...entries);
  }
  await writer.close();
  return all;
}

async function readAll(file: string): Promise<BagMessage[]> {
  const reader = await BagReader.open(file);
  try {
    const out: BagMessage[] = [];
    for await (const m of reader.messages()) out.push(m);
    return out;
  } finally {
    await reader.close();
  }
}

function bagIn(extra: Msg = {}): Msg & { id: string; type: string } {
  return onTab({
    id: 'bagin',
    type: 'hff-bag-in',
    file: '',
    topics: '',
    speedMode: 'max',
    factor: 1,
    start: '',
    end: '',
    loop: false,
    autostart: false,
    busyTimeout: 10,
    wires: [['msgs'], ['events']],
    ...extra,
  });
}

describe('hff-bag-in / hff-bag-out', function () {
  this.timeout(30000);
  let dir: string;
  let source: string;
  let written: Written[];

  before(async () => {
    dir = newTempDir();
    source = path.join(dir, 'source.mcap');
    written = await writeBag(source, 6, 20n);
  });
  beforeEach(() => {
    initNodeRed4();
    gate.received = [];
  });
  afterEach(async () => {
    await helper.unload();
  });
  after(removeTempDirs);

  it('round trip: replays a bag into hff-bag-out, and the copy is byte for byte the original', async () => {
    const copy = path.join(dir, 'copy', 'copy.mcap');
    const flow = [
      TAB,
      bagIn({ file: source, wires: [['msgs', 'bagout'], ['events']] }),
      onTab({ id: 'bagout', type: 'hff-bag-out', file: copy, topic: '', msgType: '', time: 'message', overwrite: false, autostart: true, wires: [['saved']] }),
      helperNode('msgs'),
      helperNode('events'),
      helperNode('saved'),
      ...catchNodes(),
    ];
    await helper.load(NODES, flow);
    const msgs = collect('msgs');
    const events = collect('events');
    const saved = collect('saved');
    const caught = collect('caught');
    send('bagin', { topic: 'start' });
    const startEvent = (await nth(events, 1)).payload as Msg;
    assert.equal(startEvent.event, 'start');
    assert.equal(startEvent.messages, written.length);
    const end = (await nth(events, 2, 'end event')).payload as Msg;
    assert.equal(end.event, 'end');
    assert.equal(end.messages, written.length);
    assert.equal(msgs.length, written.length);
    // Delivered messages are the originals, decoded.
    msgs.forEach((m, i) => {
      assert.equal(m.topic, written[i].topic);
      assert.equal((m.ros as Msg).type, written[i].type);
      assert.equal((m.ros as Msg).logTimeNs, written[i].logTime.toString());
      const p = m.payload as RosMessage;
      const expected = written[i].message;
      assert.deepEqual(p.data instanceof Uint8Array ? { ...p, data: Buffer.from(p.data) } : p, expected);
    });
    await waitStatus('bagout', (s) => /recording, 18 msgs/.test(s.text ?? ''));
    send('bagout', { topic: 'stop' });
    const stopped = (await nth(saved, 1, 'bag-out stop event')).payload as Msg;
    assert.equal(stopped.messages, written.length);
    assert.deepEqual(stopped.topics, ['/camera/image_raw', '/camera/image_raw/compressed', '/hff/label']);
    assert.equal(caught.length, 0, caught.map(caughtText).join('; '));

    const original = await readAll(source);
    const copied = await readAll(copy);
    assert.equal(copied.length, original.length);
    copied.forEach((m, i) => {
      const o = original[i];
      assert.equal(m.topic, o.topic);
      assert.equal(m.type, o.type);
      assert.equal(m.logTime, o.logTime);
      assert.equal(m.schemaText, o.schemaText);
      assert.ok(Buffer.from(m.raw).equals(Buffer.from(o.raw)), `CDR bytes of message ${i} (${m.topic}) differ`);
    });
    const info = await BagReader.open(copy).then(async (r) => {
      const i = r.info;
      await r.close();
      return i;
    });
    assert.equal(info.profile, 'ros2');
    assert.ok(info.chunked);
    assert.ok(info.topics.every((tp) => tp.messageEncoding === 'cdr' && tp.schemaEncoding === 'ros2msg' && tp.offeredQosProfiles));
  });

  it('keeps the recorded timing, or a multiple of it', async () => {
    const flow = [TAB, bagIn({ file: source, topics: '/camera/image_raw', speedMode: 'recorded' }), helperNode('msgs'), helperNode('events')];
    await helper.load(NODES, flow);
    const msgs = collect('msgs');
    const events = collect('events');
    const at: number[] = [];
    (helper.getNode('msgs') as unknown as { on(e: string, l: () => void): void }).on('input', () => at.push(Date.now()));
    // Messages are due at the replay's start plus their recorded offsets (0, 20, ... 100 ms), never earlier (1 ms
    // of slack); a late first message under load shortens the first-to-last gap, so measure from the request.
    const requested = Date.now();
    send('bagin', { topic: 'start' });
    await nth(events, 2, 'end of recorded-speed replay');
    assert.equal(msgs.length, 6);
    const recorded = at[5] - requested;
    assert.ok(recorded >= 98, `the last of 5 gaps of 20 ms came ${recorded} ms after the start`);

    at.length = 0;
    const requestedHalf = Date.now();
    send('bagin', { topic: 'start', payload: { speed: 0.5 } });
    await nth(events, 4, 'end of half-speed replay');
    const half = at[5] - requestedHalf;
    assert.ok(half >= 198, `at half speed the last of 5 gaps of 20 ms came ${half} ms after the start`);
  });

  it('replays a window of chosen topics, and loops until stopped', async () => {
    const flow = [TAB, bagIn({ file: source, topics: '/hff/label', start: 0.03, end: 0.07 }), helperNode('msgs'), helperNode('events')];
    await helper.load(NODES, flow);
    const msgs = collect('msgs');
    const events = collect('events');
    send('bagin', { topic: 'start' });
    await nth(events, 2);
    // Labels at 2, 22, 42, 62, 82, 102 ms: the window 30-70 ms holds parts 2 and 3.
    assert.deepEqual(
      msgs.map((m) => (m.payload as RosMessage).data),
      ['part-2 ✓', 'part-3 ✓'],
    );

    msgs.length = 0;
    send('bagin', { payload: { loop: true, speed: 4, start: 0, end: 1 } });
    await waitFor('three passes', () => msgs.length >= 18);
    send('bagin', { topic: 'stop' });
    const stopEvent = await waitFor('stop event', () => events.some((e) => (e.payload as Msg).event === 'stop')).then(() =>
      events.find((e) => (e.payload as Msg).event === 'stop'),
    );
    assert.ok(((stopEvent?.payload as Msg).passes as number) >= 2);
    const count = msgs.length;
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(msgs.length, count, 'nothing after stop');
    await waitStatus('bagin', (s) => /stopped/.test(s.text ?? ''));
  });

  it("at 'max' speed sends the next message only when the flow completed the previous one", async () => {
    const flow = [
      TAB,
      bagIn({ file: source, topics: '/camera/image_raw', wires: [['slow', 'img'], ['events']] }),
      onTab({ id: 'slow', type: 'slow-bag-test', wires: [] }),
      onTab({ id: 'img', type: 'hff-image', width: 3, height: 2, channels: 3, fit: 'fill', centerCrop: 1, normalize: 'unit', wires: [['vec']] }),
      helperNode('vec'),
      helperNode('events'),
    ];
    await helper.load(NODES, flow);
    const vec = collect('vec');
    const events = collect('events');
    send('bagin', { topic: 'start' });
    await waitFor('first message', () => gate.received.length === 1);
    await new Promise((r) => setTimeout(r, 80));
    assert.equal(gate.received.length, 1, 'waits for the slow node');
    for (let i = 2; i <= 6; i++) {
      gate.release();
      await waitFor(`message ${i}`, () => gate.received.length === i);
    }
    gate.release();
    await nth(events, 2, 'end');
    assert.equal(vec.length, 6, 'hff-image took every replayed frame');
    assert.ok(vec.every((m) => m.payload instanceof Float32Array && (m.payload as Float32Array).length === 18));
  });

  it('records labelled demonstrations as JSON strings and finalises the bag when the flow stops', async () => {
    const file = path.join(dir, 'demos', 'demo-{timestamp}.mcap');
    const flow = [
      TAB,
      onTab({
        id: 'bagout',
        type: 'hff-bag-out',
        file,
        topic: '/hff/demo',
        msgType: 'std_msgs/msg/String',
        time: 'now',
        overwrite: false,
        autostart: true,
        wires: [['saved']],
      }),
      helperNode('saved'),
      ...catchNodes(),
    ];
    await helper.load(NODES, flow);
    const caught = collect('caught');
    send('bagout', { payload: { label: 'bolt', vector: Float32Array.from([0.5, 0.25]) } });
    send('bagout', { payload: 'plain note' });
    await waitStatus('bagout', (s) => /recording, 2 msgs/.test(s.text ?? ''));
    await helper.unload(); // a redeploy or shutdown finalises the file
    const files = fs.readdirSync(path.join(dir, 'demos'));
    assert.equal(files.length, 1);
    assert.match(files[0], /^demo-\d{4}-\d\d-\d\dT.*\.mcap$/);
    const back = await readAll(path.join(dir, 'demos', files[0]));
    assert.deepEqual(
      back.map((m) => [m.topic, m.type, m.message?.data]),
      [
        ['/hff/demo', 'std_msgs/msg/String', JSON.stringify({ label: 'bolt', vector: [0.5, 0.25] })],
        ['/hff/demo', 'std_msgs/msg/String', 'plain note'],
      ],
    );
    assert.equal(caught.length, 0);
  });

  it('refuses messages whose fields do not fit the ROS type before writing them, and keeps recording', async () => {
    const file = path.join(dir, 'typed.mcap');
    const flow = [
      TAB,
      onTab({
        id: 'bagout',
        type: 'hff-bag-out',
        file,
        topic: '/camera/image_raw',
        msgType: 'sensor_msgs/msg/Image',
        time: 'now',
        overwrite: true,
        autostart: true,
        wires: [['saved']],
      }),
      helperNode('saved'),
      ...catchNodes(),
    ];
    await helper.load(NODES, flow);
    const caught = collect('caught');
    const saved = collect('saved');
    const bad: Array<[Msg, RegExp]> = [
      [{ ...image(1), width: 'x' }, /^sensor_msgs\/msg\/Image field 'width' must be a uint32 \(an integer from 0 to 4294967295\), got the string "x"$/],
      [{ ...image(1), height: -2 }, /field 'height' must be a uint32 .*got the number -2$/],
      [{ ...image(1), encoding: 8 }, /field 'encoding' must be a string, got the number 8$/],
      [{ ...image(1), header: { stamp: { sec: 1.5 } } }, /field 'header.stamp.sec' must be an int32 .*got the number 1.5$/],
      [{ ...image(1), data: [0, 256] }, /field 'data\[1\]' must be a byte \(an integer from 0 to 255\), got the number 256$/],
      [{ ...image(1), header: 7 }, /field 'header' must be a std_msgs\/Header message object, got the number 7$/],
    ];
    for (const [i, [payload, expected]] of bad.entries()) {
      send('bagout', { payload });
      assert.match(caughtText(await nth(caught, i + 1)), expected);
    }
    send('bagout', { payload: image(2) });
    await waitStatus('bagout', (s) => /recording, 1 msgs?/.test(s.text ?? ''));
    send('bagout', { topic: 'stop' });
    const stopped = (await nth(saved, 1)).payload as { messages: number };
    assert.equal(stopped.messages, 1);
    const back = await readAll(file);
    assert.equal(back.length, 1);
    assert.deepEqual({ ...back[0].message, data: Buffer.from(back[0].message?.data as Uint8Array) }, image(2));
    assert.equal(caught.length, bad.length);
  });

  it('reports bad input through Catch and keeps working', async () => {
    const exists = path.join(dir, 'exists.mcap');
    fs.writeFileSync(exists, 'x');
    const flow = [
      TAB,
      bagIn({ file: path.join(dir, 'missing.mcap') }),
      onTab({
        id: 'bagout',
        type: 'hff-bag-out',
        file: exists,
        folder: dir,
        topic: '',
        msgType: '',
        time: 'now',
        overwrite: false,
        autostart: false,
        wires: [[]],
      }),
      helperNode('msgs'),
      helperNode('events'),
      ...catchNodes(),
    ];
    await helper.load(NODES, flow);
    const caught = collect('caught');
    send('bagin', { topic: 'start' });
    assert.match(caughtText(await nth(caught, 1)), /Cannot open bag .*missing\.mcap.*no such file/);
    send('bagout', { topic: '/x', payload: 'y' });
    assert.match(caughtText(await nth(caught, 2)), /not recording: send a message with msg.topic 'start' first/);
    send('bagout', { topic: 'start' });
    assert.match(caughtText(await nth(caught, 3)), /already exists/);
    // A 'start' message cannot write outside the node's folder.
    const outside = path.join(path.dirname(dir), 'elsewhere.mcap');
    for (const [i, requested] of [outside, '../elsewhere.mcap', { file: 'sub/../../elsewhere.mcap' }].entries()) {
      send('bagout', { topic: 'start', payload: requested });
      assert.match(caughtText(await nth(caught, 4 + i)), /outside this node's folder .*give a file name relative to that folder/);
    }
    assert.equal(fs.existsSync(outside), false);
    send('bagout', { topic: 'start', payload: 'fresh.mcap' });
    send('bagout', { topic: 'relative', payload: 'y' });
    assert.match(caughtText(await nth(caught, 7)), /absolute name/);
    assert.ok(fs.existsSync(path.join(dir, 'fresh.mcap')));
    send('bagout', { topic: '/ok', payload: { width: 1 } });
    assert.match(caughtText(await nth(caught, 8)), /no message type for \/ok/);
    send('bagin', { topic: 'start', payload: { file: source, topics: ['/hff/label'] } });
    await waitStatus('bagin', (s) => /ended, 6 sent/.test(s.text ?? ''));
  });
});
