/**
 * The example flows 20-23 as shipped: their structure, and 20-22 run in Node-RED 4 with the
 * rclnodejs stand-in, a bag written with the MCAP libraries, and a real MQTT broker (mosquitto
 * when installed, else aedes) talking to Node-RED's own mqtt in / mqtt out nodes.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as mqtt from 'mqtt';
import sharp from 'sharp';
import type { NodeAPI } from 'node-red';
import { createRclnodejsStandin, type RclnodejsStandin } from '../helpers/rclnodejs-standin';
import { BagReader, BagWriter, setRclnodejsModule, shutdownRos2, type RclnodejsModule, type RosMessage } from '../../src/io';
import { imageToVector } from '../../src/image';
import {
  ALL_NODES,
  TAB,
  catchNodes,
  caughtText,
  collect,
  helper,
  initNodeRed4,
  nth,
  removeTempDirs,
  send,
  waitFor,
  waitStatus,
  type FlowNode,
} from './flow-helpers';
import bagInNode = require('../../nodes/hff-bag-in/hff-bag-in');
import bagOutNode = require('../../nodes/hff-bag-out/hff-bag-out');
import ros2Node = require('../../nodes/hff-ros2/hff-ros2');
import ros2InNode = require('../../nodes/hff-ros2-in/hff-ros2-in');
import ros2OutNode = require('../../nodes/hff-ros2-out/hff-ros2-out');
import { mosquittoBinary, startAedes, startMosquitto, withHooks, type Broker } from '../helpers/io';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const EXAMPLES = path.join(ROOT, 'examples');
const CORE = path.join(path.dirname(require.resolve('@node-red/nodes/package.json')), 'core');
const core = (file: string) => require(path.join(CORE, file)) as (RED: NodeAPI) => void;
const CORE_NODES = ['common/20-inject.js', 'common/90-comment.js', 'function/15-change.js', 'function/10-switch.js', 'network/10-mqtt.js'].map(core);
const OUR_NODES = [...ALL_NODES, ros2Node, ros2InNode, ros2OutNode, bagInNode, bagOutNode];
const NODES = [...OUR_NODES, ...CORE_NODES].map((m) => withHooks(m as (RED: NodeAPI) => void));

const CONFIG_TYPES = new Set(['hff-model', 'hff-ros2', 'mqtt-broker']);
const KNOWN_TYPES = new Set([
  'comment',
  'inject',
  'debug',
  'change',
  'switch',
  'mqtt in',
  'mqtt out',
  'mqtt-broker',
  'hff-model',
  'hff-image',
  'hff-classify',
  'hff-teach',
  'hff-ros2',
  'hff-ros2-in',
  'hff-ros2-out',
  'hff-bag-in',
  'hff-bag-out',
]);

function example(prefix: string): FlowNode[] {
  const file = fs.readdirSync(EXAMPLES).find((f) => f.startsWith(prefix) && f.endsWith('.json'));
  assert.ok(file, `examples/${prefix}*.json`);
  return JSON.parse(fs.readFileSync(path.join(EXAMPLES, file), 'utf8')) as FlowNode[];
}

/** The example on the test tab, debug nodes replaced by helper nodes (which record what they get). */
function onTestTab(nodes: FlowNode[]): FlowNode[] {
  return [
    TAB,
    ...nodes.map((n) => {
      if (CONFIG_TYPES.has(n.type)) return n;
      const placed = { ...n, z: 'tab' };
      return n.type === 'debug' ? { id: n.id, type: 'helper', z: 'tab', wires: [] } : placed;
    }),
  ];
}

function gray(pattern: (x: number, y: number) => number): Buffer {
  return Buffer.from(Array.from({ length: 32 * 32 }, (_, i) => pattern(i % 32, Math.floor(i / 32))));
}
const LEFT = gray((x) => (x < 16 ? 230 : 20));
const TOP = gray((_x, y) => (y < 16 ? 230 : 20));
const monoImage = (data: Buffer): RosMessage => ({
  header: { stamp: { sec: 1, nanosec: 0 }, frame_id: 'cam' },
  height: 32,
  width: 32,
  encoding: 'mono8',
  is_bigendian: 0,
  step: 32,
  data,
});
const jpeg = (data: Buffer): Promise<Buffer> =>
  sharp(data, { raw: { width: 32, height: 32, channels: 1 } })
    .jpeg({ quality: 95 })
    .toBuffer();

describe('example flows 20-23', function () {
  this.timeout(30000);

  it('each is valid: known node types, wires and config references resolve, a comment explains it first', () => {
    for (const prefix of ['20 ', '21 ', '22 ', '23 ']) {
      const nodes = example(prefix);
      const ids = new Set(nodes.map((n) => n.id));
      assert.equal(nodes[0].type, 'comment', `${prefix}: starts with a comment`);
      assert.ok(String(nodes[0].info).length > 200, `${prefix}: the comment explains the flow`);
      assert.equal(ids.size, nodes.length, `${prefix}: unique ids`);
      for (const n of nodes) {
        assert.ok(KNOWN_TYPES.has(n.type), `${prefix}: unknown type ${n.type}`);
        for (const out of (n.wires as string[][] | undefined) ?? [])
          for (const target of out) assert.ok(ids.has(target), `${prefix}: ${n.id} wires to missing ${target}`);
        for (const key of ['model', 'ros2', 'broker']) {
          if (typeof n[key] === 'string' && n[key] !== '' && !(n.type === 'mqtt-broker' && key === 'broker'))
            assert.ok(ids.has(n[key] as string), `${prefix}: ${n.id}.${key} -> ${n[key]}`);
        }
      }
    }
    const fleetModel = example('23 ').find((n) => n.type === 'hff-model') as FlowNode;
    assert.match(String(fleetModel.fleetBroker), /^mqtt:\/\//);
    assert.equal(fleetModel.fleetTopic, 'hff/fleet/parts');
  });

  describe('run in Node-RED 4', () => {
    let rcl: RclnodejsStandin;
    let userDir: string;
    beforeEach(async () => {
      await shutdownRos2();
      rcl = createRclnodejsStandin();
      setRclnodejsModule(rcl as unknown as RclnodejsModule);
      userDir = initNodeRed4();
    });
    afterEach(async () => {
      await helper.unload();
      await shutdownRos2();
    });
    after(() => {
      setRclnodejsModule(undefined);
      removeTempDirs();
    });

    it('20 ROS 2 camera classification: teach from the camera, results published on /hff/result', async () => {
      await helper.load(NODES, [...onTestTab(example('20 ')), ...catchNodes()]);
      const caught = collect('caught');
      const taught = collect('e20dbgt');
      await waitFor('camera subscriptions', () => rcl.standin.liveSubscriptions().length === 2 && rcl.standin.livePublishers('/hff/result').length === 1);
      const frame = async (data: Buffer) => {
        const before = caught.length + rcl.standin.published.length;
        rcl.standin.deliver('/camera/image_raw', monoImage(data));
        // Until a part is taught, hff-classify fails (caught); afterwards it publishes.
        await waitFor('frame handled', () => caught.length + rcl.standin.published.length > before);
      };
      await frame(LEFT);
      assert.match(caughtText(caught[0]), /no classes yet/);
      send('e20teach', {}); // "teach: bolt" with the frame just seen
      await nth(taught, 1, 'bolt taught');
      await frame(TOP);
      send('e20frame', { label: 'nut' });
      await nth(taught, 2, 'nut taught');
      await frame(gray((x, y) => (x < 16 ? 220 : 30) + (y === 5 ? 5 : 0)));
      const last = rcl.standin.published[rcl.standin.published.length - 1];
      assert.equal(last.topic, '/hff/result');
      assert.equal(JSON.parse(String((last.message as RosMessage).data)).label, 'bolt');
    });

    it('21 Bag replay: classifies a recorded bag and records the results into a new bag', async () => {
      const bagDir = path.join(userDir, 'bags', 'parts');
      fs.mkdirSync(bagDir, { recursive: true });
      const writer = await BagWriter.open(path.join(bagDir, 'parts_0.mcap'));
      const frames = [LEFT, TOP, LEFT, TOP];
      for (const [i, f] of frames.entries())
        await writer.write('/camera/image_raw', 'sensor_msgs/msg/Image', monoImage(f), { logTime: 1_700_000_000_000 + i * 100 });
      await writer.close();
      const flow = [
        ...onTestTab(example('21 ')),
        { id: 'tteach', type: 'hff-teach', z: 'tab', model: 'e20model', mode: 'mean', rate: 0.1, meanOf: '', wires: [['ttaught']] },
        { id: 'ttaught', type: 'helper', z: 'tab', wires: [] },
        ...catchNodes(),
      ];
      await helper.load(NODES, flow);
      const taught = collect('ttaught');
      const saved = collect('e21saved');
      const caught = collect('caught');
      for (const [label, data] of [
        ['left', LEFT],
        ['top', TOP],
      ] as const) {
        const v = await imageToVector(monoImage(data), { width: 32, height: 32, channels: 1, fit: 'cover', normalize: 'unit' });
        send('tteach', { payload: v.vector, label });
      }
      await nth(taught, 2, 'two parts taught');
      send('e21start', {});
      const stop = (await nth(saved, 1, 'results bag finalised')).payload as Record<string, unknown>;
      assert.equal(caught.length, 0, caught.map(caughtText).join('; '));
      assert.equal(stop.messages, 4);
      assert.match(String(stop.file), /bags[/\\]results-.*\.mcap$/);
      const reader = await BagReader.open(String(stop.file));
      const labels: string[] = [];
      for await (const m of reader.messages()) {
        assert.equal(m.topic, '/hff/result');
        labels.push(JSON.parse(String(m.message?.data)).label);
      }
      await reader.close();
      assert.deepEqual(labels, ['left', 'top', 'left', 'top']);
    });

    describe('22 MQTT sensors, with a real broker', () => {
      let broker: Broker;
      let client: mqtt.MqttClient;
      before(async () => {
        const bin = mosquittoBinary();
        broker = bin ? await startMosquitto(bin) : await startAedes();
        if (!bin) console.log('      note: mosquitto is not installed; using the in-process aedes broker');
      });
      after(async () => {
        await broker.stop();
      });
      afterEach(async () => {
        await client?.endAsync();
      });

      it('sensor vectors (JSON) and camera frames (JPEG bytes) in, results out, through mqtt in / mqtt out', async () => {
        const flow = onTestTab(example('22 ')).map((n) => (n.type === 'mqtt-broker' ? { ...n, broker: '127.0.0.1', port: String(broker.port) } : n));
        await helper.load(NODES, [...flow, ...catchNodes()]);
        const caught = collect('caught');
        client = await mqtt.connectAsync(broker.url);
        const got: Array<{ topic: string; payload: Record<string, unknown> }> = [];
        client.on('message', (topic, payload) => got.push({ topic, payload: JSON.parse(payload.toString()) as Record<string, unknown> }));
        await client.subscribeAsync(['robot/+/result', 'robot/+/taught'], { qos: 1 });
        // Node-RED's mqtt nodes connect asynchronously; wait until its subscriptions are live.
        const seen = (topic: string, n: number) => got.filter((m) => m.topic === topic).length >= n;
        const idle = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1];
        const moving = [1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0];
        // Node-RED's mqtt nodes connect asynchronously: wait for their green status.
        for (const id of ['e22vec', 'e22cam', 'e22teachin', 'e22teachcam']) await waitStatus(id, (st) => st.fill === 'green', 'connected');
        await client.publishAsync('robot/r1/teach', JSON.stringify({ label: 'idle', vector: idle }), { qos: 1 });
        await waitFor('first teach through Node-RED', () => seen('robot/r1/taught', 1));
        const taughtBefore = got.filter((m) => m.topic === 'robot/r1/taught').length;
        await client.publishAsync('robot/r1/teach', JSON.stringify({ label: 'moving', vector: moving }), { qos: 1 });
        await waitFor('moving taught', () => seen('robot/r1/taught', taughtBefore + 1));
        await client.publishAsync('robot/r1/vector', JSON.stringify([0, 0.1, 0, 0, 0, 0, 0, 0, 1, 1, 0.9, 1, 1, 1, 1, 1]), { qos: 1 });
        await client.publishAsync('robot/r2/vector', JSON.stringify([1, 1, 0.9, 1, 1, 1, 1, 1, 0, 0, 0.1, 0, 0, 0, 0, 0]), { qos: 1 });
        await waitFor('sensor results', () => seen('robot/r1/result', 1) && seen('robot/r2/result', 1));
        assert.equal(got.find((m) => m.topic === 'robot/r1/result')?.payload.label, 'idle');
        assert.equal(got.find((m) => m.topic === 'robot/r2/result')?.payload.label, 'moving');

        // Camera frames as JPEG bytes: teach two parts, then classify.
        await client.publishAsync('robot/r1/teach-camera/bolt', await jpeg(LEFT), { qos: 1 });
        await client.publishAsync('robot/r1/teach-camera/nut', await jpeg(TOP), { qos: 1 });
        await waitFor(
          'camera parts taught',
          () => got.filter((m) => m.topic === 'robot/r1/taught' && ['bolt', 'nut'].includes(String(m.payload.label))).length === 2,
        );
        const results = got.length;
        await client.publishAsync('robot/r3/camera', await jpeg(gray((x) => (x < 15 ? 210 : 40))), { qos: 1 });
        await waitFor('camera result', () => got.slice(results).some((m) => m.topic === 'robot/r3/result'));
        const camResult = got.slice(results).find((m) => m.topic === 'robot/r3/result');
        assert.equal(camResult?.payload.label, 'bolt');
        assert.equal(typeof camResult?.payload.score, 'number');
        assert.equal(caught.length, 0, caught.map(caughtText).join('; '));
      });
    });
  });
});
