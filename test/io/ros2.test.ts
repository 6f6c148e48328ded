import assert from 'node:assert/strict';
import * as path from 'node:path';
import { createRclnodejsStandin, type RclnodejsStandin, type StandinQoS } from '../helpers/rclnodejs-standin';
import {
  DropWhileBusy,
  Ros2Transport,
  loadRclnodejs,
  ros2RuntimeInfo,
  setRclnodejsLoader,
  setRclnodejsModule,
  shutdownRos2,
  toRclQos,
  resolveQos,
  type RclnodejsModule,
  type RosMessage,
} from '../../src/io';

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('io/ros2: rclnodejs wrapper', () => {
  let rcl: RclnodejsStandin;

  beforeEach(async () => {
    await shutdownRos2();
    rcl = createRclnodejsStandin();
    setRclnodejsModule(rcl as unknown as RclnodejsModule);
  });

  after(async () => {
    await shutdownRos2();
    setRclnodejsModule(undefined);
    setRclnodejsLoader(undefined);
  });

  it('initialises rclnodejs once for many nodes and across a simulated redeploy', async () => {
    const deploy = async (): Promise<Ros2Transport[]> => {
      const transports = [
        new Ros2Transport({ domainId: 3, nodeName: 'hff' }),
        new Ros2Transport({ domainId: 3, nodeName: 'hff' }),
        new Ros2Transport({ domainId: 3, nodeName: 'hff_other' }),
      ];
      await Promise.all(transports.map((t, i) => t.subscribe(`/cam${i}`, 'sensor_msgs/msg/Image', undefined, () => {})));
      await transports[0].advertise('/hff/label', 'std_msgs/msg/String', 'default');
      return transports;
    };
    const first = await deploy();
    assert.equal(rcl.standin.initCalls.length, 1);
    assert.equal(rcl.standin.initCalls[0].context.requestedDomainId, 3n);
    assert.deepEqual(rcl.standin.initCalls[0].argv, []);
    const liveNodes = () => rcl.standin.nodes.filter((n) => !n.destroyed);
    assert.deepEqual(
      liveNodes()
        .map((n) => n.name)
        .sort(),
      ['hff', 'hff_other'],
      'same (domain, name) shares one node',
    );
    assert.ok(liveNodes().every((n) => n.spinCalls === 1));
    assert.equal(first[0].status.state, 'connected');
    assert.equal(first[0].description, 'ROS 2 domain 3, node /hff');

    // Redeploy: Node-RED closes every node, then starts the new flows.
    await Promise.all(first.map((t) => t.close()));
    assert.equal(rcl.standin.liveSubscriptions().length, 0);
    assert.equal(rcl.standin.livePublishers().length, 0);
    assert.equal(liveNodes().length, 0);
    assert.ok(rcl.standin.contexts[0].isInitialized(), 'the context survives redeploys');
    assert.equal(first[0].status.state, 'closed');

    const second = await deploy();
    assert.equal(rcl.standin.initCalls.length, 1, 'no second init after redeploy');
    // The stand-in behaves like rclnodejs: initialising the same context again fails.
    await assert.rejects(rcl.init(rcl.standin.contexts[0]), /already been initialized/);
    assert.equal(rcl.standin.liveSubscriptions().length, 3);
    assert.equal(rcl.standin.contexts.length, 1);
    await Promise.all(second.map((t) => t.close()));
  });

  it('keeps the runtime on globalThis, so a second copy of the module does not init again', async () => {
    const t1 = new Ros2Transport({ domainId: 1, nodeName: 'copy_a' });
    await t1.ready();
    const runtimePath = require.resolve('../../src/io/ros2/runtime');
    const transportPath = require.resolve('../../src/io/ros2/transport');
    const saved = [runtimePath, transportPath].map((p) => [p, require.cache[p]] as const);
    for (const [p] of saved) delete require.cache[p];
    try {
      const fresh = require(transportPath) as typeof import('../../src/io/ros2/transport');
      assert.notEqual(fresh.Ros2Transport, Ros2Transport);
      const t2 = new fresh.Ros2Transport({ domainId: 1, nodeName: 'copy_b' });
      await t2.ready();
      assert.equal(rcl.standin.initCalls.length, 1);
      await t2.close();
    } finally {
      for (const [p, m] of saved) if (m) require.cache[p] = m;
    }
    await t1.close();
    assert.ok(path.isAbsolute(runtimePath));
  });

  it('uses one context per domain id, passed as bigint, and the default context without one', async () => {
    const a = new Ros2Transport({ domainId: 7, nodeName: 'a' });
    const b = new Ros2Transport({ domainId: 8, nodeName: 'a' });
    const c = new Ros2Transport({ nodeName: 'a' });
    await Promise.all([a.ready(), b.ready(), c.ready()]);
    assert.deepEqual(
      rcl.standin.initCalls.map((i) => i.context.requestedDomainId),
      [7n, 8n, undefined],
    );
    assert.equal(rcl.standin.nodes.length, 3);
    assert.deepEqual(ros2RuntimeInfo().contexts.sort(), ['domain:7', 'domain:8', 'env']);
    await Promise.all([a.close(), b.close(), c.close()]);
    assert.throws(() => new Ros2Transport({ domainId: 300 }), /domain id must be an integer between 0 and 232/);
    assert.throws(() => new Ros2Transport({ nodeName: '1bad-name' }), /Invalid ROS 2 node name/);
  });

  it('close() of a subscription destroys exactly that subscription', async () => {
    const t = new Ros2Transport({ domainId: 0, nodeName: 'subs' });
    const got: string[] = [];
    const s1 = await t.subscribe('/chatter', 'std_msgs/msg/String', 'default', (m) => {
      got.push(`s1:${m.data}`);
    });
    const s2 = await t.subscribe('/chatter', 'std_msgs/String', 'default', (m) => {
      got.push(`s2:${m.data}`);
    });
    assert.equal(rcl.standin.deliver('/chatter', { data: 'a' }), 2);
    const [sub1] = rcl.standin.liveSubscriptions('/chatter');
    await s1.close();
    await s1.close();
    assert.ok(sub1.destroyed);
    assert.equal(rcl.standin.deliver('/chatter', { data: 'b' }), 1);
    assert.deepEqual(got, ['s1:a', 's2:a', 's2:b']);
    assert.equal(rcl.standin.calls.filter((c) => c.startsWith('subs.destroySubscription')).length, 1);
    assert.equal(s2.type, 'std_msgs/msg/String');
    assert.deepEqual(s2.stats, { received: 2, delivered: 2, dropped: 0, errors: 0 });
    await t.close();
    assert.equal(rcl.standin.liveSubscriptions().length, 0);
  });

  it('maps QoS settings onto rclnodejs QoS objects', async () => {
    const t = new Ros2Transport({ domainId: 0, nodeName: 'qos' });
    await t.subscribe('/camera/image_raw', 'sensor_msgs/msg/Image', undefined, () => {});
    await t.subscribe('/map', 'std_msgs/msg/String', { reliability: 'reliable', durability: 'transient-local', depth: 5 }, () => {});
    await t.advertise('/out', 'std_msgs/msg/String', undefined);
    await t.advertise('/all', 'std_msgs/msg/String', { history: 'keep-all', reliability: 'best-effort' });
    const q = (o: { qos?: unknown }) => {
      const qos = o.qos as StandinQoS;
      return [qos.history, qos.depth, qos.reliability, qos.durability];
    };
    const [cam, map] = rcl.standin.liveSubscriptions();
    const [out, all] = rcl.standin.livePublishers();
    assert.ok(cam.options.qos instanceof rcl.QoS);
    assert.deepEqual(q(cam.options), [1, 1, 2, 2], 'camera default: keep last 1, best effort, volatile');
    assert.deepEqual(q(map.options), [1, 5, 1, 1]);
    assert.deepEqual(q(out.options), [1, 10, 1, 2], 'publisher default: reliable depth 10');
    assert.deepEqual(q(all.options), [2, 10, 2, 2]);
    assert.equal(cam.options.enableTypedArray, true);
    const plain = toRclQos(rcl as unknown as RclnodejsModule, resolveQos('latched'));
    assert.deepEqual([plain.history, plain.depth, plain.reliability, plain.durability], [1, 1, 1, 1]);
    await assert.rejects(
      t.subscribe('/x', 'std_msgs/msg/String', { reliability: 'maybe' as never }, () => {}),
      /Invalid QoS reliability/,
    );
    await t.close();
  });

  it('drops messages while the handler is busy, keeping only the latest', async () => {
    const t = new Ros2Transport({ domainId: 0, nodeName: 'busy' });
    const seen: number[] = [];
    let gate = deferred();
    const sub = await t.subscribe('/n', 'std_msgs/msg/Int32', undefined, async (m) => {
      seen.push(m.data as number);
      await gate.promise;
    });
    for (let i = 1; i <= 5; i++) rcl.standin.deliver('/n', { data: i });
    assert.deepEqual(seen, [1]);
    const release = gate;
    gate = deferred();
    release.resolve();
    await tick();
    assert.deepEqual(seen, [1, 5], 'only the newest pending message is delivered');
    rcl.standin.deliver('/n', { data: 6 });
    assert.deepEqual(seen, [1, 5], '6 waits while 5 is processed');
    gate.resolve();
    await tick();
    await tick();
    assert.deepEqual(seen, [1, 5, 6]);
    assert.deepEqual(sub.stats, { received: 6, delivered: 3, dropped: 3, errors: 0 });
    rcl.standin.deliver('/n', { data: 7 });
    assert.deepEqual(seen, [1, 5, 6, 7], 'an idle handler gets the message at once');

    // dropWhileBusy: false hands over everything immediately.
    const all: number[] = [];
    const sub2 = await t.subscribe(
      '/m',
      'std_msgs/msg/Int32',
      undefined,
      async (m) => {
        all.push(m.data as number);
        await new Promise((r) => setTimeout(r, 5));
      },
      { dropWhileBusy: false },
    );
    for (let i = 1; i <= 4; i++) rcl.standin.deliver('/m', { data: i });
    assert.deepEqual(all, [1, 2, 3, 4]);
    assert.equal(sub2.stats.dropped, 0);
    await t.close();
  });

  it('DropWhileBusy: sync handlers, errors and idle()', async () => {
    const got: number[] = [];
    const errors: string[] = [];
    const d = new DropWhileBusy<number>(
      (n) => {
        if (n === 2) throw new Error('boom');
        got.push(n);
      },
      (e, n) => errors.push(`${n}:${e.message}`),
    );
    [1, 2, 3].forEach((n) => d.push(n));
    assert.deepEqual(got, [1, 3]);
    assert.deepEqual(errors, ['2:boom']);
    assert.deepEqual(d.stats, { received: 3, delivered: 3, dropped: 0, errors: 1 });
    let gate = deferred();
    const slow = new DropWhileBusy<number>(async (n) => {
      got.push(n);
      await gate.promise;
    });
    slow.push(10);
    slow.push(11);
    slow.push(12);
    const idle = slow.idle();
    assert.equal(slow.busy, true);
    const g = gate;
    gate = deferred();
    g.resolve();
    gate.resolve();
    await idle;
    assert.deepEqual(got.slice(2), [10, 12]);
    slow.push(13);
    slow.close();
    slow.push(14);
    await slow.idle();
    assert.deepEqual(got.slice(2), [10, 12, 13]);
  });

  it('delivers image bytes as Buffer whatever rclnodejs hands over', async () => {
    const t = new Ros2Transport({ domainId: 0, nodeName: 'img' });
    const got: RosMessage[] = [];
    await t.subscribe('/camera/image_raw', 'sensor_msgs/msg/Image', undefined, (m) => {
      got.push(m);
    });
    await t.subscribe('/camera/compressed', 'sensor_msgs/msg/CompressedImage', undefined, (m) => {
      got.push(m);
    });
    const header = { stamp: { sec: 1, nanosec: 2 }, frame_id: 'cam' };
    rcl.standin.deliver('/camera/image_raw', { header, height: 1, width: 2, encoding: 'mono8', is_bigendian: 0, step: 2, data: [7, 8] });
    rcl.standin.deliver('/camera/image_raw', { header, height: 1, width: 2, encoding: 'mono8', is_bigendian: 0, step: 2, data: new Uint8Array([9, 10]) });
    rcl.standin.deliver('/camera/compressed', { header, format: 'jpeg', data: Uint8Array.from([0xff, 0xd8]) });
    assert.equal(got.length, 3);
    assert.ok(got.every((m) => Buffer.isBuffer(m.data)));
    assert.deepEqual(
      got.map((m) => [...(m.data as Buffer)]),
      [
        [7, 8],
        [9, 10],
        [0xff, 0xd8],
      ],
    );
    assert.deepEqual(got[0].header, header);
    await t.close();
  });

  it('publishes through rclnodejs and destroys exactly the closed publisher', async () => {
    const t = new Ros2Transport({ domainId: 0, nodeName: 'pub' });
    const images = await t.advertise('/debug/image', 'sensor_msgs/msg/Image', 'camera');
    const labels = await t.advertise('/hff/label', 'std_msgs/msg/String', 'default');
    await images.publish({ height: 1, width: 1, encoding: 'mono8', step: 1, data: { type: 'Buffer', data: [42] } });
    await labels.publish({ data: 'mug' });
    assert.deepEqual(
      rcl.standin.published.map((p) => [p.topic, p.type]),
      [
        ['/debug/image', 'sensor_msgs/msg/Image'],
        ['/hff/label', 'std_msgs/msg/String'],
      ],
    );
    const img = rcl.standin.published[0].message as RosMessage;
    assert.ok(Buffer.isBuffer(img.data) && (img.data as Buffer)[0] === 42);
    await images.close();
    assert.deepEqual(
      rcl.standin.livePublishers().map((p) => p.topic),
      ['/hff/label'],
    );
    await assert.rejects(images.publish({ data: 'x' }), /closed/);
    await assert.rejects(labels.publish('text' as never), /expected a std_msgs\/msg\/String message object/);
    await t.close();
    await assert.rejects(t.advertise('/late', 'std_msgs/msg/String', undefined), /closed/);
  });

  it('reports handler errors to onError and recovers from a failed init', async () => {
    const t = new Ros2Transport({ domainId: 0, nodeName: 'err' });
    const errs: string[] = [];
    await t.subscribe(
      '/e',
      'std_msgs/msg/String',
      undefined,
      () => {
        throw new Error('bad frame');
      },
      { onError: (e) => errs.push(e.message) },
    );
    rcl.standin.deliver('/e', { data: 'x' });
    assert.deepEqual(errs, ['Handler for /e failed: bad frame']);
    await t.close();

    rcl.standin.failNextInit = new Error('rmw_create_node failed');
    const failing = new Ros2Transport({ domainId: 9, nodeName: 'retry' });
    const states: string[] = [];
    failing.onStatus((s) => states.push(s.state));
    await assert.rejects(failing.ready(), /rmw_create_node failed/);
    assert.equal(failing.status.state, 'disconnected');
    await failing.ready();
    assert.deepEqual(states, ['disconnected', 'connecting', 'connected']);
    assert.equal(rcl.standin.initCalls.length, 3, 'retry initialises a fresh context, never the same one twice');
    assert.notEqual(rcl.standin.initCalls[1].context, rcl.standin.initCalls[2].context);
    await failing.close();
  });

  it('explains how to install ROS 2 when rclnodejs cannot be loaded', async () => {
    setRclnodejsLoader(() => {
      const err = new Error("Cannot find module 'rclnodejs'") as NodeJS.ErrnoException;
      err.code = 'MODULE_NOT_FOUND';
      throw err;
    });
    const check = (err: Error): boolean => {
      assert.match(err.message, /rclnodejs package is not installed/);
      assert.match(err.message, /install ROS 2 \(Humble or Jazzy\)/);
      assert.match(err.message, /source \/opt\/ros\/<distro>\/setup\.bash/);
      assert.match(err.message, /npm install rclnodejs/);
      assert.match(err.message, /Node-RED user directory/);
      return true;
    };
    assert.throws(() => loadRclnodejs(), check);
    const t = new Ros2Transport({ nodeName: 'missing' });
    await assert.rejects(
      t.subscribe('/x', 'std_msgs/msg/String', undefined, () => {}),
      check,
    );
    assert.equal(t.status.state, 'disconnected');
    await t.close();

    setRclnodejsLoader(() => ({ init: 1 }));
    assert.throws(() => loadRclnodejs(), /lacks init\/Node\/QoS/);

    // And the real lookup, on this machine without ROS 2.
    setRclnodejsLoader(undefined);
    let installed = true;
    try {
      require.resolve('rclnodejs');
    } catch {
      installed = false;
    }
    if (!installed) assert.throws(() => loadRclnodejs(), check);
  });
});
