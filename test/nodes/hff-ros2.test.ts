import assert from 'node:assert/strict';
import type { NodeAPI } from 'node-red';
import { createRclnodejsStandin, type RclnodejsStandin, type StandinQoS } from '../helpers/rclnodejs-standin';
import { decodeCdr, encodeCdr, setRclnodejsLoader, setRclnodejsModule, shutdownRos2, type RclnodejsModule, type RosMessage } from '../../src/io';
import { imageToVector } from '../../src/image';
import {
  TAB,
  catchNodes,
  caughtText,
  collect,
  helper,
  helperNode,
  initNodeRed4,
  nth,
  onTab,
  removeTempDirs,
  send,
  waitFor,
  waitStatus,
  type FlowNode,
} from './flow-helpers';
import imageNode = require('../../nodes/hff-image/hff-image');
import ros2Node = require('../../nodes/hff-ros2/hff-ros2');
import ros2InNode = require('../../nodes/hff-ros2-in/hff-ros2-in');
import ros2OutNode = require('../../nodes/hff-ros2-out/hff-ros2-out');
import { startBridge, withHooks, type Bridge } from '../helpers/io';

type Msg = Record<string, unknown>;

/** A test node that holds every message until the test releases it (a slow classifier). */
interface Gate {
  received: Msg[];
  release(): void;
}
const gate: Gate = { received: [], release: () => undefined };
function slowNode(RED: NodeAPI): void {
  RED.nodes.registerType('slow-test', function (this: import('node-red').Node, def: import('node-red').NodeDef) {
    RED.nodes.createNode(this, def);
    const waiting: Array<() => void> = [];
    gate.release = () => waiting.splice(0).forEach((done) => done());
    (this as unknown as { on(e: string, l: (m: Msg, s: unknown, d: () => void) => void): void }).on('input', (msg, _send, done) => {
      gate.received.push(msg);
      waiting.push(done);
    });
  });
}

const NODES = [ros2Node, ros2InNode, ros2OutNode, imageNode, slowNode].map((m) => withHooks(m as (RED: NodeAPI) => void));

function image(i: number, width = 4, height = 3): RosMessage {
  return {
    header: { stamp: { sec: 1_700_000_000 + i, nanosec: 7 }, frame_id: 'camera_optical' },
    height,
    width,
    encoding: 'rgb8',
    is_bigendian: 0,
    step: width * 3,
    data: Buffer.from(Array.from({ length: width * height * 3 }, (_, k) => (k * 17 + i) & 255)),
  };
}

function config(extra: Msg = {}): FlowNode {
  return { id: 'ros', type: 'hff-ros2', transport: 'rclnodejs', domain: '7', nodeName: 'hff_test', namespace: '', url: '', ...extra };
}

function inNode(extra: Msg = {}): FlowNode {
  return onTab({
    id: 'in',
    type: 'hff-ros2-in',
    ros2: 'ros',
    topic: '/camera/image_raw',
    msgType: 'sensor_msgs/msg/Image',
    reliability: 'best-effort',
    depth: 1,
    durability: 'volatile',
    dropWhileBusy: false,
    busyTimeout: 10,
    wires: [['got']],
    ...extra,
  });
}

function outNode(extra: Msg = {}): FlowNode {
  return onTab({
    id: 'out',
    type: 'hff-ros2-out',
    ros2: 'ros',
    topic: '/hff/result',
    msgType: 'std_msgs/msg/String',
    reliability: 'reliable',
    depth: 10,
    durability: 'volatile',
    wires: [],
    ...extra,
  });
}

describe('hff-ros2 nodes with the rclnodejs stand-in', function () {
  this.timeout(20000);
  let rcl: RclnodejsStandin;

  beforeEach(async () => {
    await shutdownRos2();
    rcl = createRclnodejsStandin();
    setRclnodejsModule(rcl as unknown as RclnodejsModule);
    gate.received = [];
    initNodeRed4();
  });
  afterEach(async () => {
    await helper.unload();
    await shutdownRos2();
  });
  after(() => {
    setRclnodejsModule(undefined);
    setRclnodejsLoader(undefined);
    removeTempDirs();
  });

  it('subscribes with camera QoS and sends plain messages that hff-image turns into vectors', async () => {
    const flow = [
      TAB,
      config(),
      inNode({ wires: [['got', 'img']] }),
      onTab({ id: 'img', type: 'hff-image', width: 4, height: 3, channels: 3, fit: 'fill', centerCrop: 1, normalize: 'unit', wires: [['vec']] }),
      helperNode('got'),
      helperNode('vec'),
    ];
    await helper.load(NODES, flow);
    const got = collect('got');
    const vec = collect('vec');
    await waitFor('subscription', () => rcl.standin.liveSubscriptions('/camera/image_raw').length === 1);
    const sub = rcl.standin.liveSubscriptions('/camera/image_raw')[0];
    assert.equal(sub.type, 'sensor_msgs/msg/Image');
    const qos = sub.options.qos as StandinQoS;
    assert.deepEqual(
      { reliability: qos.reliability, depth: qos.depth, durability: qos.durability, history: qos.history },
      { reliability: 2, depth: 1, durability: 2, history: 1 },
    );
    assert.equal(sub.node.context.domainId, 7n);
    assert.equal(sub.node.name, 'hff_test');

    rcl.standin.deliver('/camera/image_raw', image(1));
    const msg = await nth(got, 1);
    assert.equal(msg.topic, '/camera/image_raw');
    assert.equal((msg.ros as Msg).type, 'sensor_msgs/msg/Image');
    assert.equal(typeof (msg.ros as Msg).receivedAt, 'number');
    const payload = msg.payload as RosMessage;
    assert.ok(Buffer.isBuffer(payload.data) || payload.data instanceof Uint8Array);
    assert.deepEqual(Buffer.from(payload.data as Uint8Array), image(1).data);
    assert.equal(payload.width, 4);
    // hff-image accepts the payload as it arrives.
    const v = await nth(vec, 1, 'image vector');
    assert.ok(v.payload instanceof Float32Array);
    assert.equal((v.payload as Float32Array).length, 4 * 3 * 3);
    const direct = await imageToVector(payload, { width: 4, height: 3, channels: 3 });
    assert.equal(direct.vector.length, 36);
    await waitStatus('in', (s) => s.fill === 'green' && /1 received/.test(s.text ?? ''));
  });

  it('publishes results as std_msgs/String JSON, strings as data, and other types as objects', async () => {
    const flow = [TAB, config(), outNode(), outNode({ id: 'outImg', topic: '/debug/image', msgType: 'sensor_msgs/Image' }), ...catchNodes()];
    await helper.load(NODES, flow);
    const caught = collect('caught');
    await waitFor('publishers', () => rcl.standin.livePublishers().length === 2);
    const pub = rcl.standin.livePublishers('/hff/result')[0];
    assert.equal(pub.type, 'std_msgs/msg/String');
    assert.equal((pub.options.qos as StandinQoS).reliability, 1);
    send('out', { payload: { label: 'bolt', score: 0.93, known: true, top: [{ label: 'bolt', score: 0.93 }] } });
    send('out', { payload: 'plain text' });
    send('out', { payload: { data: 'already a String' } });
    send('outImg', { payload: image(2) });
    await waitFor('4 published', () => rcl.standin.published.length === 4);
    const bySent = rcl.standin.published.map((p) => p.message as RosMessage);
    assert.deepEqual(JSON.parse(String(bySent.filter((m) => typeof m.data === 'string')[0].data)), {
      label: 'bolt',
      score: 0.93,
      known: true,
      top: [{ label: 'bolt', score: 0.93 }],
    });
    assert.deepEqual(
      bySent
        .filter((m) => typeof m.data === 'string')
        .map((m) => m.data)
        .slice(1),
      ['plain text', 'already a String'],
    );
    const img = rcl.standin.published.find((p) => p.topic === '/debug/image')?.message as RosMessage;
    assert.deepEqual(Buffer.from(img.data as Uint8Array), image(2).data);
    // A wrong payload fails that message only; the node keeps working.
    send('outImg', { payload: 'not an image' });
    const err = await nth(caught, 1, 'caught error');
    assert.match(caughtText(err), /must be a sensor_msgs\/msg\/Image message object/);
    send('out', { payload: 'still working' });
    await waitFor('5 published', () => rcl.standin.published.length === 5);
    await waitStatus('out', (s) => s.fill === 'green' && /4 sent/.test(s.text ?? ''));
  });

  it('refuses messages whose fields do not fit the ROS type before publishing them, and keeps publishing', async () => {
    const flow = [
      TAB,
      config(),
      outNode({ id: 'outImg', topic: '/debug/image', msgType: 'sensor_msgs/msg/Image' }),
      outNode({ id: 'outFloat', topic: '/debug/values', msgType: 'std_msgs/msg/Float32MultiArray' }),
      ...catchNodes(),
    ];
    await helper.load(NODES, flow);
    const caught = collect('caught');
    await waitFor('publishers', () => rcl.standin.livePublishers().length === 2);
    const bad: Array<[string, Msg, RegExp]> = [
      [
        'outImg',
        { ...image(1), width: 'x' },
        /sensor_msgs\/msg\/Image field 'width' must be a uint32 \(an integer from 0 to 4294967295\), got the string "x"$/,
      ],
      ['outImg', { ...image(1), step: 2 ** 40 }, /field 'step' must be a uint32 .*got the number 1099511627776$/],
      ['outImg', { ...image(1), is_bigendian: true }, /field 'is_bigendian' must be a uint8 .*got the boolean true$/],
      ['outImg', { ...image(1), header: { frame_id: 3 } }, /field 'header.frame_id' must be a string, got the number 3$/],
      ['outImg', { ...image(1), data: [1, 2.5] }, /field 'data\[1\]' must be a byte .*got the number 2.5$/],
      ['outFloat', { data: [0.5, 'high'] }, /std_msgs\/msg\/Float32MultiArray field 'data\[1\]' must be a float32 .*got the string "high"$/],
      ['outFloat', { layout: { dim: [{ label: 4 }] } }, /field 'layout.dim\[0\].label' must be a string, got the number 4$/],
    ];
    for (const [i, [id, payload, expected]] of bad.entries()) {
      send(id, { payload });
      assert.match(caughtText(await nth(caught, i + 1)), expected);
    }
    assert.equal(rcl.standin.published.length, 0);
    send('outImg', { payload: image(2) });
    send('outFloat', { payload: { data: [0.5, 0.25] } });
    await waitFor('2 published', () => rcl.standin.published.length === 2);
    const img = rcl.standin.published.find((p) => p.topic === '/debug/image')?.message as RosMessage;
    assert.deepEqual(Buffer.from(img.data as Uint8Array), image(2).data);
    assert.equal(img.width, 4);
    await waitStatus('outImg', (s) => s.fill === 'green' && /1 sent/.test(s.text ?? ''));
    assert.equal(caught.length, bad.length);
  });

  it('initialises rclnodejs once across redeploys, destroying and recreating subscriptions and publishers', async () => {
    const flow = [TAB, config(), inNode(), outNode(), helperNode('got')];
    await helper.load(NODES, flow);
    await waitFor('first deploy', () => rcl.standin.liveSubscriptions().length === 1 && rcl.standin.livePublishers().length === 1);
    assert.equal(rcl.standin.initCalls.length, 1);
    const firstSub = rcl.standin.liveSubscriptions()[0];
    const firstPub = rcl.standin.livePublishers()[0];

    // Full redeploy with a changed topic: everything is closed and started again.
    await helper.setFlows([TAB, config(), inNode({ topic: '/camera2/image_raw' }), outNode(), helperNode('got')], 'full');
    await waitFor('second deploy', () => rcl.standin.liveSubscriptions('/camera2/image_raw').length === 1 && rcl.standin.livePublishers().length === 1);
    assert.ok(firstSub.destroyed, 'old subscription destroyed');
    assert.ok(firstPub.destroyed, 'old publisher destroyed');
    assert.equal(rcl.standin.liveSubscriptions('/camera/image_raw').length, 0);

    // "Modified nodes" redeploy of the in-node alone.
    const secondPub = rcl.standin.livePublishers()[0];
    await helper.setFlows([TAB, config(), inNode({ topic: '/camera3/image_raw' }), outNode(), helperNode('got')], 'nodes');
    await waitFor('third deploy', () => rcl.standin.liveSubscriptions('/camera3/image_raw').length === 1);
    assert.equal(rcl.standin.liveSubscriptions().length, 1);
    assert.ok(!secondPub.destroyed, 'an unchanged publisher survives a modified-nodes deploy');

    assert.equal(rcl.standin.initCalls.length, 1, 'rclnodejs.init ran once for the process');
    assert.ok(
      rcl.standin.contexts.every((c) => !c.shutDown),
      'no context was shut down',
    );
    const got = collect('got');
    rcl.standin.deliver('/camera3/image_raw', image(3));
    assert.equal((await nth(got, 1)).topic, '/camera3/image_raw');
    send('out', { payload: 'after redeploys' });
    await waitFor('published', () => rcl.standin.published.some((p) => (p.message as RosMessage).data === 'after redeploys'));
  });

  it('drops messages while the flow is busy and delivers the newest when it is done', async () => {
    const flow = [
      TAB,
      config(),
      inNode({ dropWhileBusy: true, wires: [['slow', 'got']] }),
      onTab({ id: 'slow', type: 'slow-test', wires: [] }),
      helperNode('got'),
    ];
    await helper.load(NODES, flow);
    const got = collect('got');
    await waitFor('subscription', () => rcl.standin.liveSubscriptions().length === 1);
    for (let i = 1; i <= 10; i++) rcl.standin.deliver('/camera/image_raw', image(i));
    await waitFor('first frame at the slow node', () => gate.received.length === 1);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(gate.received.length, 1, 'nothing more while the slow node works');
    assert.equal(got.length, 1);
    gate.release();
    await waitFor('second frame', () => gate.received.length === 2);
    assert.deepEqual(Buffer.from((gate.received[1].payload as RosMessage).data as Uint8Array), image(10).data, 'the newest frame, not the next one');
    gate.release();
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(gate.received.length, 2);
    await waitStatus('in', (s) => /10 received, 8 dropped/.test(s.text ?? ''));
  });

  it('waits at most the busy timeout for a node that never completes a message', async () => {
    const flow = [TAB, config(), inNode({ dropWhileBusy: true, busyTimeout: 0.2, wires: [['slow']] }), onTab({ id: 'slow', type: 'slow-test', wires: [] })];
    await helper.load(NODES, flow);
    await waitFor('subscription', () => rcl.standin.liveSubscriptions().length === 1);
    const t0 = Date.now();
    rcl.standin.deliver('/camera/image_raw', image(1));
    rcl.standin.deliver('/camera/image_raw', image(2));
    await waitFor('second frame after the timeout', () => gate.received.length === 2, 3000);
    const waited = Date.now() - t0;
    assert.ok(waited >= 190 && waited < 1500, `waited ${waited} ms`);
    gate.release();
  });

  it('without drop-while-busy sends every message at once', async () => {
    const flow = [TAB, config(), inNode({ dropWhileBusy: false, wires: [['slow']] }), onTab({ id: 'slow', type: 'slow-test', wires: [] })];
    await helper.load(NODES, flow);
    await waitFor('subscription', () => rcl.standin.liveSubscriptions().length === 1);
    for (let i = 1; i <= 5; i++) rcl.standin.deliver('/camera/image_raw', image(i));
    await waitFor('all frames', () => gate.received.length === 5);
    gate.release();
  });

  it('without rclnodejs shows a red status and says exactly what to install and source; other nodes keep working', async () => {
    setRclnodejsLoader(() => {
      const err = new Error("Cannot find module 'rclnodejs'") as NodeJS.ErrnoException;
      err.code = 'MODULE_NOT_FOUND';
      throw err;
    });
    const flow = [
      TAB,
      config(),
      inNode(),
      outNode(),
      ...catchNodes(),
      onTab({ id: 'img', type: 'hff-image', width: 2, height: 2, channels: 1, fit: 'fill', centerCrop: 1, normalize: 'unit', wires: [['vec']] }),
      helperNode('vec'),
    ];
    await helper.load(NODES, flow);
    const caught = collect('caught');
    const vec = collect('vec');
    const st = await waitStatus('in', (s) => s.fill === 'red');
    assert.equal(st.text, 'ROS 2/rclnodejs missing');
    await waitStatus('out', (s) => s.fill === 'red');
    const inNodeObj = helper.getNode('in') as unknown as { error: { getCalls(): Array<{ args: unknown[] }> } };
    await waitFor('logged error', () => inNodeObj.error.getCalls().length > 0);
    const logged = String(inNodeObj.error.getCalls()[0].args[0]);
    assert.match(logged, /rclnodejs package is not installed/);
    assert.match(logged, /install ROS 2 \(Humble or Jazzy\)/);
    assert.match(logged, /source \/opt\/ros\/<distro>\/setup\.bash/);
    assert.match(logged, /npm install rclnodejs/);
    send('out', { payload: 'x' });
    assert.match(caughtText(await nth(caught, 1)), /npm install rclnodejs/);
    // The rest of the package works.
    send('img', { payload: { height: 2, width: 2, encoding: 'mono8', is_bigendian: 0, step: 2, data: Buffer.from([0, 64, 128, 255]) } });
    assert.equal(((await nth(vec, 1)).payload as Float32Array).length, 4);
  });

  it('reports invalid connection settings in the status and log', async () => {
    const flow = [TAB, config({ domain: '999' }), inNode(), helperNode('got')];
    await helper.load(NODES, flow);
    await waitStatus('in', (s) => s.fill === 'red' && s.text === 'configuration error');
  });
});

describe('hff-ros2 nodes through foxglove_bridge (a real FoxgloveServer)', function () {
  this.timeout(20000);
  let bridge: Bridge;

  beforeEach(async () => {
    bridge = await startBridge([
      ['/camera/image_raw', 'sensor_msgs/msg/Image'],
      ['/camera/image_raw/compressed', 'sensor_msgs/msg/CompressedImage'],
    ]);
    initNodeRed4();
  });
  afterEach(async () => {
    await helper.unload();
    await bridge.close();
  });
  after(removeTempDirs);

  it('receives CDR images decoded to plain objects and publishes results back to the bridge', async () => {
    const flow = [
      TAB,
      { id: 'ros', type: 'hff-ros2', transport: 'foxglove-bridge', url: bridge.url, domain: '', nodeName: '', namespace: '' },
      inNode({ dropWhileBusy: true }),
      inNode({ id: 'inAny', topic: '/camera/image_raw/compressed', msgType: '', wires: [['gotC']] }),
      outNode(),
      helperNode('got'),
      helperNode('gotC'),
    ];
    await helper.load(NODES, flow);
    const got = collect('got');
    const gotC = collect('gotC');
    await waitFor('bridge subscriptions', () => bridge.subscribed.size === 2);
    const frames = [image(1, 5, 4), image(2, 5, 4)];
    for (const [i, f] of frames.entries()) {
      bridge.server.sendMessage(bridge.channels['/camera/image_raw'], BigInt(1_700_000_000_000_000_000 + i), encodeCdr('sensor_msgs/msg/Image', f));
      await nth(got, i + 1, `frame ${i + 1}`);
    }
    got.forEach((m, i) => {
      const p = m.payload as RosMessage;
      assert.deepEqual({ ...p, data: Buffer.from(p.data as Uint8Array) }, { ...frames[i], data: frames[i].data });
      assert.equal((m.ros as Msg).type, 'sensor_msgs/msg/Image');
      assert.equal(typeof (m.ros as Msg).sourceTime, 'number');
    });
    const jpeg = { header: { stamp: { sec: 1, nanosec: 2 }, frame_id: 'cam' }, format: 'jpeg', data: Buffer.from([0xff, 0xd8, 1, 2, 3, 0xff, 0xd9]) };
    bridge.server.sendMessage(bridge.channels['/camera/image_raw/compressed'], 5n, encodeCdr('sensor_msgs/msg/CompressedImage', jpeg));
    const c = await nth(gotC, 1);
    assert.equal((c.ros as Msg).type, 'sensor_msgs/msg/CompressedImage');
    assert.deepEqual(Buffer.from((c.payload as RosMessage).data as Uint8Array), jpeg.data);

    await waitStatus('out', (s) => s.fill === 'green');
    send('out', { payload: { label: 'bolt', score: 0.8 } });
    await waitFor('bridge got the result', () => bridge.received.length === 1);
    const r = bridge.received[0];
    assert.equal(r.topic, '/hff/result');
    assert.equal(r.schemaName, 'std_msgs/msg/String');
    assert.deepEqual(JSON.parse(String(decodeCdr('std_msgs/msg/String', r.data).data)), { label: 'bolt', score: 0.8 });
  });
});
