/** The ROS 2 and bag nodes also run on Node-RED 5 (installed as node-red-5): stand-in topics, drop while busy, a bag round trip. */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import type { NodeAPI } from 'node-red';
import { createRclnodejsStandin, type RclnodejsStandin } from '../helpers/rclnodejs-standin';
import { BagReader, BagWriter, setRclnodejsModule, shutdownRos2, type RclnodejsModule, type RosMessage } from '../../src/io';
import { tempDir } from '../helpers/data';
import { collect, helper, nth, waitFor, waitStatus, type FlowNode } from './flow-helpers';
import bagInNode = require('../../nodes/hff-bag-in/hff-bag-in');
import bagOutNode = require('../../nodes/hff-bag-out/hff-bag-out');
import ros2Node = require('../../nodes/hff-ros2/hff-ros2');
import ros2InNode = require('../../nodes/hff-ros2-in/hff-ros2-in');
import ros2OutNode = require('../../nodes/hff-ros2-out/hff-ros2-out');
import { withHooks } from '../helpers/io';
import { nodeRedPath } from '../../src/demo/runtime';
import { skipForEnvironment } from '../helpers/skip';

const NODES = [ros2Node, ros2InNode, ros2OutNode, bagInNode, bagOutNode].map((m) => withHooks(m as (RED: NodeAPI) => void, 'node-red-5'));
const TAB = { id: 'tab', type: 'tab', label: 'nr5' };

describe('hff-ros2 and bag nodes on Node-RED 5', function () {
  this.timeout(20000);
  let rcl: RclnodejsStandin;
  let dir: string;

  before(function () {
    try {
      require.resolve('node-red-5/package.json');
    } catch {
      skipForEnvironment(this, 'node-red-5 (npm:node-red@5) is not installed');
    }
  });
  beforeEach(async () => {
    await shutdownRos2();
    rcl = createRclnodejsStandin();
    setRclnodejsModule(rcl as unknown as RclnodejsModule);
    dir = tempDir('hff-nr5-');
    helper.init(require.resolve('node-red-5'));
    helper.settings({ userDir: dir });
  });
  afterEach(async () => {
    await helper.unload();
    await shutdownRos2();
  });
  after(() => {
    setRclnodejsModule(undefined);
    // Leave the shared helper on Node-RED 4 for the suites that follow.
    helper.init(nodeRedPath());
  });

  it('subscribes, drops while busy, publishes, and survives a redeploy with one rclnodejs.init', async () => {
    const flow = (topic: string) => [
      TAB,
      { id: 'ros', type: 'hff-ros2', transport: 'rclnodejs', domain: '3', nodeName: 'nr5', namespace: '', url: '' },
      {
        id: 'in',
        type: 'hff-ros2-in',
        z: 'tab',
        ros2: 'ros',
        topic,
        msgType: 'std_msgs/msg/String',
        reliability: 'best-effort',
        depth: 1,
        durability: 'volatile',
        dropWhileBusy: true,
        busyTimeout: 10,
        wires: [['got', 'out']],
      },
      {
        id: 'out',
        type: 'hff-ros2-out',
        z: 'tab',
        ros2: 'ros',
        topic: '/echo',
        msgType: 'std_msgs/msg/String',
        reliability: 'reliable',
        depth: 10,
        durability: 'volatile',
        wires: [],
      },
      { id: 'got', type: 'helper', z: 'tab' },
    ];
    await helper.load(NODES, flow('/words'));
    const got = collect('got');
    await waitFor('subscription', () => rcl.standin.liveSubscriptions('/words').length === 1 && rcl.standin.livePublishers('/echo').length === 1);
    rcl.standin.deliver('/words', { data: 'hello' });
    assert.equal(((await nth(got, 1)).payload as RosMessage).data, 'hello');
    await waitFor('echo', () => rcl.standin.published.some((p) => (p.message as RosMessage).data === 'hello'));
    await helper.setFlows(flow('/words2'), 'full');
    await waitFor('resubscribed', () => rcl.standin.liveSubscriptions('/words2').length === 1);
    assert.equal(rcl.standin.initCalls.length, 1);
    await waitStatus('in', (s) => s.fill === 'green');
  });

  it('replays a bag into a new bag', async () => {
    const source = path.join(dir, 'in.mcap');
    const writer = await BagWriter.open(source);
    for (let i = 0; i < 5; i++) await writer.write('/labels', 'std_msgs/msg/String', { data: `l${i}` }, { logTime: 1_700_000_000_000 + i * 10 });
    await writer.close();
    const copy = path.join(dir, 'out.mcap');
    const flow: FlowNode[] = [
      TAB,
      {
        id: 'bagin',
        type: 'hff-bag-in',
        z: 'tab',
        file: source,
        topics: '',
        speedMode: 'max',
        factor: 1,
        start: '',
        end: '',
        loop: false,
        autostart: true,
        busyTimeout: 10,
        wires: [['bagout'], ['events']],
      },
      { id: 'bagout', type: 'hff-bag-out', z: 'tab', file: copy, topic: '', msgType: '', time: 'message', overwrite: false, autostart: true, wires: [[]] },
      { id: 'events', type: 'helper', z: 'tab' },
    ];
    await helper.load(NODES, flow);
    const events = collect('events');
    await nth(events, 2, 'end');
    await waitStatus('bagout', (s) => /5 msgs/.test(s.text ?? ''));
    await helper.unload();
    const reader = await BagReader.open(copy);
    const data: unknown[] = [];
    for await (const m of reader.messages()) data.push(m.message?.data);
    await reader.close();
    assert.deepEqual(data, ['l0', 'l1', 'l2', 'l3', 'l4']);
  });
});
