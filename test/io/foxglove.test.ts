import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { FoxgloveServer, type ChannelId } from '@foxglove/ws-protocol';
import { FoxgloveBridgeTransport, decodeCdr, encodeCdr, fullSchemaText, type RosMessage, type TransportStatus } from '../../src/io';

interface Bridge {
  server: FoxgloveServer;
  wss: WebSocketServer;
  url: string;
  channels: Record<string, ChannelId>;
  subscribed: Set<ChannelId>;
  received: Array<{ topic: string; encoding: string; schemaName: string; data: Uint8Array }>;
  close(): Promise<void>;
}

/** A real FoxgloveServer on a loopback ws server, advertising channels the way foxglove_bridge does for ROS 2. */
async function startBridge(options: { capabilities?: string[]; supportedEncodings?: string[]; port?: number } = {}): Promise<Bridge> {
  const server = new FoxgloveServer({
    name: 'test-bridge',
    capabilities: options.capabilities ?? ['clientPublish'],
    supportedEncodings: options.supportedEncodings ?? ['cdr', 'json'],
  });
  const wss = new WebSocketServer({ host: '127.0.0.1', port: options.port ?? 0, handleProtocols: (protocols) => server.handleProtocols(protocols) });
  await new Promise<void>((resolve, reject) => {
    wss.once('listening', resolve);
    wss.once('error', reject);
  });
  wss.on('connection', (conn, req) => server.handleConnection(conn as never, `${req.socket.remoteAddress}:${req.socket.remotePort}`));
  const channels: Record<string, ChannelId> = {};
  for (const [topic, type] of [
    ['/camera/image_raw', 'sensor_msgs/msg/Image'],
    ['/camera/image_raw/compressed', 'sensor_msgs/msg/CompressedImage'],
  ]) {
    channels[topic] = server.addChannel({ topic, encoding: 'cdr', schemaName: type, schema: fullSchemaText(type), schemaEncoding: 'ros2msg' });
  }
  const bridge: Bridge = {
    server,
    wss,
    channels,
    subscribed: new Set(),
    received: [],
    url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => resolve());
      }),
  };
  server.on('subscribe', (id) => bridge.subscribed.add(id));
  server.on('unsubscribe', (id) => bridge.subscribed.delete(id));
  server.on('message', ({ channel, data }) => {
    bridge.received.push({
      topic: channel.topic,
      encoding: channel.encoding,
      schemaName: channel.schemaName,
      data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice(),
    });
  });
  server.on('error', () => {});
  return bridge;
}

async function until(cond: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const t = Date.now();
  while (!cond()) {
    if (Date.now() - t > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function frame(i: number): RosMessage {
  return {
    header: { stamp: { sec: 1_700_000_000 + i, nanosec: 500 }, frame_id: 'camera_optical' },
    height: 2,
    width: 3,
    encoding: 'bgr8',
    is_bigendian: 0,
    step: 9,
    data: Buffer.from(Array.from({ length: 18 }, (_, k) => (k * 13 + i) & 255)),
  };
}

describe('io/foxglove: foxglove_bridge client transport', function () {
  this.timeout(15000);
  const cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    while (cleanup.length) await (cleanup.pop() as () => Promise<void>)();
  });

  it('receives CDR Image and CompressedImage decoded byte for byte', async () => {
    const bridge = await startBridge();
    cleanup.push(() => bridge.close());
    const t = new FoxgloveBridgeTransport({ url: bridge.url, reconnect: { initialDelayMs: 20 } });
    cleanup.push(() => t.close());
    const images: RosMessage[] = [];
    const compressed: RosMessage[] = [];
    const sub = await t.subscribe('/camera/image_raw', 'sensor_msgs/msg/Image', 'camera', (m) => {
      images.push(m);
    });
    await t.subscribe('/camera/image_raw/compressed', 'sensor_msgs/CompressedImage', undefined, (m, info) => {
      assert.equal(info.type, 'sensor_msgs/msg/CompressedImage');
      assert.equal(info.sourceTime, 42n);
      compressed.push(m);
    });
    await t.waitConnected();
    assert.equal(t.status.state, 'connected');
    assert.equal(t.serverInfo?.name, 'test-bridge');
    await until(() => bridge.subscribed.size === 2, 'server-side subscriptions');

    const sent = [frame(0), frame(1), frame(2)];
    for (const f of sent) bridge.server.sendMessage(bridge.channels['/camera/image_raw'], 42n, encodeCdr('sensor_msgs/msg/Image', f));
    const jpeg = { header: { stamp: { sec: 1, nanosec: 2 }, frame_id: 'cam' }, format: 'jpeg', data: Buffer.from([0xff, 0xd8, 1, 2, 3, 0xff, 0xd9]) };
    bridge.server.sendMessage(bridge.channels['/camera/image_raw/compressed'], 42n, encodeCdr('sensor_msgs/msg/CompressedImage', jpeg));
    await until(() => images.length === 3 && compressed.length === 1, 'messages');

    for (let i = 0; i < sent.length; i++) {
      assert.ok(Buffer.isBuffer(images[i].data));
      assert.ok((images[i].data as Buffer).equals(sent[i].data as Buffer), `pixels of frame ${i}`);
      assert.deepEqual({ ...images[i], data: null }, { ...sent[i], data: null });
      assert.ok(Buffer.from(encodeCdr('sensor_msgs/msg/Image', images[i])).equals(Buffer.from(encodeCdr('sensor_msgs/msg/Image', sent[i]))));
    }
    assert.ok(Buffer.isBuffer(compressed[0].data) && (compressed[0].data as Buffer).equals(jpeg.data));
    assert.equal(compressed[0].format, 'jpeg');
    assert.equal(sub.stats.received, 3);
    assert.deepEqual(
      t
        .channels()
        .map((c) => c.topic)
        .sort(),
      ['/camera/image_raw', '/camera/image_raw/compressed'],
    );

    await sub.close();
    await until(() => bridge.subscribed.size === 1, 'server-side unsubscribe');
  });

  it('decodes with the advertised schema even for types it does not bundle', async () => {
    const bridge = await startBridge();
    cleanup.push(() => bridge.close());
    const schema = 'string name\nfloat32[] scores\nuint8[] thumbnail\n';
    const chan = bridge.server.addChannel({ topic: '/acme/result', encoding: 'cdr', schemaName: 'acme_msgs/msg/Result', schema, schemaEncoding: 'ros2msg' });
    const t = new FoxgloveBridgeTransport(bridge.url);
    cleanup.push(() => t.close());
    const got: RosMessage[] = [];
    await t.subscribe('/acme/result', '*', undefined, (m) => {
      got.push(m);
    });
    await until(() => bridge.subscribed.has(chan), 'subscription');
    const { Ros2MsgCodec } = await import('../../src/io');
    const codec = new Ros2MsgCodec('acme_msgs/msg/Result', schema);
    bridge.server.sendMessage(chan, 1n, codec.encode({ name: 'bolt', scores: [0.5, 0.25], thumbnail: Buffer.from([1, 2]) }));
    await until(() => got.length === 1, 'message');
    assert.equal(got[0].name, 'bolt');
    assert.deepEqual(Array.from(got[0].scores as Float32Array), [0.5, 0.25]);
    assert.ok((got[0].thumbnail as Buffer).equals(Buffer.from([1, 2])));
  });

  it('publishes through client channels and the server receives the CDR', async () => {
    const bridge = await startBridge();
    cleanup.push(() => bridge.close());
    const t = new FoxgloveBridgeTransport(bridge.url);
    cleanup.push(() => t.close());
    const labels = await t.advertise('/hff/label', 'std_msgs/msg/String', 'default');
    const images = await t.advertise('/hff/debug_image', 'sensor_msgs/msg/Image', undefined);
    await t.waitConnected();
    await labels.publish({ data: 'tasse à café' });
    await images.publish(frame(7));
    await until(() => bridge.received.length === 2, 'client messages');
    const [l, img] = bridge.received;
    assert.deepEqual([l.topic, l.encoding, l.schemaName], ['/hff/label', 'cdr', 'std_msgs/msg/String']);
    assert.deepEqual(decodeCdr('std_msgs/msg/String', l.data), { data: 'tasse à café' });
    assert.ok(Buffer.from(img.data).equals(Buffer.from(encodeCdr('sensor_msgs/msg/Image', frame(7)))));
    await labels.close();
    await assert.rejects(labels.publish({ data: 'x' }), /closed/);
  });

  it('falls back to json publishing and reports bridges that refuse client messages', async () => {
    const jsonOnly = await startBridge({ supportedEncodings: ['json'] });
    cleanup.push(() => jsonOnly.close());
    const t = new FoxgloveBridgeTransport(jsonOnly.url);
    cleanup.push(() => t.close());
    const pub = await t.advertise('/cmd', 'std_msgs/msg/String', undefined);
    await t.waitConnected();
    await pub.publish({ data: 'go' });
    await until(() => jsonOnly.received.length === 1, 'json message');
    assert.equal(jsonOnly.received[0].encoding, 'json');
    assert.deepEqual(JSON.parse(Buffer.from(jsonOnly.received[0].data).toString()), { data: 'go' });

    const readOnly = await startBridge({ capabilities: [] });
    cleanup.push(() => readOnly.close());
    const r = new FoxgloveBridgeTransport(readOnly.url);
    cleanup.push(() => r.close());
    const p = await r.advertise('/cmd', 'std_msgs/msg/String', undefined);
    await r.waitConnected();
    await assert.rejects(p.publish({ data: 'go' }), /does not accept published messages.*clientPublish/);
  });

  it('reports a type mismatch and binds topics advertised later', async () => {
    const bridge = await startBridge();
    cleanup.push(() => bridge.close());
    const t = new FoxgloveBridgeTransport(bridge.url);
    cleanup.push(() => t.close());
    const errors: string[] = [];
    await t.subscribe('/camera/image_raw', 'std_msgs/msg/String', undefined, () => {}, { onError: (e) => errors.push(e.message) });
    await t.waitConnected();
    await until(() => errors.length === 1, 'mismatch error');
    assert.match(errors[0], /\/camera\/image_raw is advertised .* as 'sensor_msgs\/msg\/Image', not 'std_msgs\/msg\/String'/);

    const got: string[] = [];
    await t.subscribe('/late', 'std_msgs/msg/String', undefined, (m) => {
      got.push(m.data as string);
    });
    const chan = bridge.server.addChannel({
      topic: '/late',
      encoding: 'cdr',
      schemaName: 'std_msgs/msg/String',
      schema: fullSchemaText('std_msgs/msg/String'),
      schemaEncoding: 'ros2msg',
    });
    await until(() => bridge.subscribed.has(chan), 'late subscription');
    bridge.server.sendMessage(chan, 0n, encodeCdr('std_msgs/msg/String', { data: 'hello' }));
    await until(() => got.length === 1, 'late message');
    assert.deepEqual(got, ['hello']);
  });

  it('reconnects with backoff and restores subscriptions and publishers', async () => {
    const bridge = await startBridge();
    cleanup.push(() => bridge.close());
    const t = new FoxgloveBridgeTransport({ url: bridge.url, reconnect: { initialDelayMs: 20, maxDelayMs: 100 } });
    cleanup.push(() => t.close());
    const states: TransportStatus[] = [];
    t.onStatus((s) => states.push(s));
    const got: RosMessage[] = [];
    await t.subscribe('/camera/image_raw', 'sensor_msgs/msg/Image', undefined, (m) => {
      got.push(m);
    });
    const pub = await t.advertise('/hff/label', 'std_msgs/msg/String', undefined);
    await until(() => bridge.subscribed.size === 1, 'first subscription');

    for (const c of bridge.wss.clients) c.terminate();
    await until(() => t.status.state !== 'connected', 'disconnect');
    await assert.rejects(pub.publish({ data: 'while down' }), /not connected/);
    await t.waitConnected(3000);
    await until(() => bridge.subscribed.size === 1, 're-subscription');
    bridge.server.sendMessage(bridge.channels['/camera/image_raw'], 5n, encodeCdr('sensor_msgs/msg/Image', frame(3)));
    await until(() => got.length === 1, 'message after reconnect');
    assert.ok((got[0].data as Buffer).equals(frame(3).data as Buffer));
    await pub.publish({ data: 'back' });
    await until(() => bridge.received.length === 1, 'publish after reconnect');
    assert.deepEqual(decodeCdr('std_msgs/msg/String', bridge.received[0].data), { data: 'back' });
    const seq = states.map((s) => s.state);
    assert.ok(seq.indexOf('disconnected') > seq.indexOf('connected'));
    assert.equal(seq[seq.length - 1], 'connected');
  });

  it('keeps retrying while the bridge is down, and close() stops everything', async () => {
    // Find a free port, then start the bridge on it only after the client has failed a few times.
    const probe = await startBridge();
    const port = Number(new URL(probe.url).port);
    await probe.close();
    const t = new FoxgloveBridgeTransport({ url: `ws://127.0.0.1:${port}`, reconnect: { initialDelayMs: 10, maxDelayMs: 40 } });
    const details: string[] = [];
    t.onStatus((s) => {
      if (s.state === 'disconnected') details.push(s.detail ?? '');
    });
    await until(() => details.length >= 3, 'failed attempts');
    assert.match(details[0], /retrying in 10 ms/);
    assert.ok(
      details.some((d) => /retrying in 40 ms/.test(d)),
      'backoff grows to the maximum',
    );
    const bridge = await startBridge({ port });
    cleanup.push(() => bridge.close());
    await t.waitConnected(3000);
    const timersBefore = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    await t.close();
    assert.equal(t.status.state, 'closed');
    await until(() => bridge.wss.clients.size === 0, 'socket closed');
    assert.ok(process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length <= timersBefore);
    await assert.rejects(
      t.subscribe('/x', 'std_msgs/msg/String', undefined, () => {}),
      /closed/,
    );
    assert.throws(() => new FoxgloveBridgeTransport('http://robot:8765'), /must start with ws:\/\//);
  });
});
