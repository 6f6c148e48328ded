import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as mqtt from 'mqtt';
import {
  FleetSigner,
  FleetSync,
  FLEET_FORMAT,
  updateTopic,
  type FleetRejectEvent,
  type FleetSecurity,
  type FleetSyncOptions,
  type FleetUpdate,
} from '../../src/io/fleet';
import { freePort, requireMosquitto, startAedes, startMosquitto, until, type Broker } from '../helpers/io';
import { tempDir } from '../helpers/data';

const LAYERS = [3, 2];

const MODEL = 'sha256:mqtt-test';

/** One demonstration: a unit vector per layer. */
function demo(seed: number): Float32Array[] {
  return LAYERS.map((units, l) => {
    const v = Array.from({ length: units }, (_, u) => Math.cos(seed + u * 0.7 + l));
    const n = Math.hypot(...v);
    return Float32Array.from(v.map((x) => x / n));
  });
}

/** The bytes a robot with `security` would publish for `u`. */
function wire(u: FleetUpdate, security: FleetSecurity): Buffer {
  return new FleetSigner(security, u.origin).encode(u);
}

interface Harness {
  syncs: FleetSync[];
  make(origin: string, extra?: Partial<FleetSyncOptions>): FleetSync;
  closeAll(): Promise<void>;
}

function harness(url: () => string): Harness {
  const h: Harness = {
    syncs: [],
    make(origin, extra = {}) {
      const sync = new FleetSync({
        url: url(),
        origin,
        layers: LAYERS,
        model: MODEL,
        security: { mode: 'unsigned' },
        topicBase: 'test/fleet',
        recoveryWindowMs: 100,
        mqtt: { reconnectPeriod: 100, connectTimeout: 2000 },
        ...extra,
      });
      sync.onError(() => undefined); // reconnect noise while a broker is down
      h.syncs.push(sync);
      return sync;
    },
    async closeAll() {
      await Promise.all(h.syncs.splice(0).map((s) => s.close()));
    },
  };
  return h;
}

function mergedCount(sync: FleetSync, label: string): number {
  return sync.state.merged(label)?.count ?? 0;
}

/** The behaviour every broker must give; `restart` restarts the broker on the same port (fresh state unless persistent). */
function sharedSuite(start: () => Promise<Broker>, restartFresh: (old: Broker) => Promise<Broker>): void {
  let broker: Broker;
  let h: Harness;
  beforeEach(async () => {
    broker = await start();
    h = harness(() => broker.url);
  });
  afterEach(async () => {
    await h.closeAll();
    await broker.stop();
  });

  it('shares a taught class, QoS 1 retained, and reports the delay', async () => {
    const a = h.make('robot-a');
    const b = h.make('robot-b');
    await Promise.all([a.start(), b.start()]);
    const delays: number[] = [];
    b.onMerged((e) => {
      if (e.delayMs !== undefined) delays.push(e.delayMs);
    });
    await a.publishLocal({ label: 'bolt', sums: demo(1).map((s) => s.map((x) => 2 * x)), applied: 2 });
    await until(() => mergedCount(b, 'bolt') === 2 && delays.length === 1, 'b to merge bolt');
    assert.deepEqual(b.state.merged('bolt')?.origins, ['robot-a']);
    assert.deepEqual(
      Array.from(b.state.merged('bolt')?.sums[0] ?? []),
      Array.from(demo(1)[0]).map((x) => 2 * x),
    );
    assert.equal(delays.length, 1);
    assert.ok(delays[0] >= 0 && delays[0] < 2000, `delay ${delays[0]} ms`);
    // b teaches the same class; both converge on the same merge.
    await b.publishLocal({ label: 'bolt', sums: demo(2), applied: 1 });
    await until(() => mergedCount(a, 'bolt') === 3, 'a to merge b');
    assert.deepEqual(a.state.merged('bolt')?.sums, b.state.merged('bolt')?.sums);
  });

  it('gives late joiners the whole state from retained messages, without echoes counted as merges', async () => {
    const a = h.make('robot-a');
    await a.start();
    await a.publishLocal({ label: 'nut', sums: demo(3), applied: 1 });
    await a.publishLocal({ label: 'nut', sums: demo(4), applied: 1 });
    await a.publishLocal({ label: 'washer/M8', sums: demo(5), applied: 4 });
    const late = h.make('robot-late');
    await late.start();
    await until(() => mergedCount(late, 'nut') === 2 && mergedCount(late, 'washer/M8') === 4, 'late joiner to get retained state');
    assert.equal(late.state.contribution('nut', 'robot-a')?.version, 2);
    assert.equal(a.stats.applied, 3, 'own echoes are not merged again');
  });

  it('recovers its own contribution after a restart of the instance, keeping what was taught meanwhile', async () => {
    const a1 = h.make('robot-a');
    await a1.start();
    await a1.publishLocal({ label: 'gear', sums: demo(6), applied: 2 });
    await a1.publishLocal({ label: 'gear', sums: demo(7), applied: 1 });
    await a1.close();
    const watcher = h.make('watcher');
    await watcher.start();
    await until(() => mergedCount(watcher, 'gear') === 3, 'watcher to see 3');
    // The restarted instance is taught before it has even connected.
    const a2 = h.make('robot-a');
    const early = a2.publishLocal({ label: 'gear', sums: demo(8), applied: 1 });
    await a2.start();
    await early;
    await until(() => mergedCount(watcher, 'gear') === 4, 'watcher to see 4 after the restart');
    assert.equal(a2.state.contribution('gear', 'robot-a')?.version, 3);
    assert.equal(mergedCount(a2, 'gear'), 4);
  });

  it('survives a broker restart without persistence: instances re-publish their state', async function () {
    const a = h.make('robot-a');
    const b = h.make('robot-b');
    await Promise.all([a.start(), b.start()]);
    await a.publishLocal({ label: 'cup', sums: demo(9), applied: 1 });
    await b.publishLocal({ label: 'cup', sums: demo(10), applied: 2 });
    await until(() => mergedCount(a, 'cup') === 3 && mergedCount(b, 'cup') === 3, 'both to merge');
    broker = await restartFresh(broker);
    await until(() => a.status.state === 'connected' && b.status.state === 'connected', 'reconnects', 8000);
    const late = h.make('robot-late');
    await late.start();
    await until(() => mergedCount(late, 'cup') === 3, 'late joiner after the restart', 8000);
  });

  it('with a shared secret accepts signed updates and rejects unsigned or tampered ones, logging why', async () => {
    const security: FleetSecurity = { mode: 'secret', secret: 's3cret' };
    const a = h.make('robot-a', { security });
    const b = h.make('robot-b', { security });
    const rejections: FleetRejectEvent[] = [];
    b.onReject((e) => rejections.push(e));
    await Promise.all([a.start(), b.start()]);
    await a.publishLocal({ label: 'bolt', sums: demo(1), applied: 1 });
    await until(() => mergedCount(b, 'bolt') === 1, 'signed update merged');

    // An instance without the secret, and a raw client forging / altering updates.
    const intruder = h.make('intruder');
    await intruder.start();
    await intruder.publishLocal({ label: 'bolt', sums: demo(2), applied: 50 });
    const raw = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
    try {
      const forged: FleetUpdate = {
        format: FLEET_FORMAT,
        origin: 'robot-a',
        class: 'bolt',
        version: 99,
        count: 1000,
        layers: LAYERS,
        sums: demo(3),
        model: MODEL,
      };
      await raw.publishAsync(updateTopic('test/fleet', 'robot-a', 'bolt'), wire(forged, { mode: 'secret', secret: 'guessed' }), { qos: 1 });
      const genuine = wire({ ...forged, origin: 'robot-x', version: 1, count: 1 }, security);
      genuine[genuine.length - 40] ^= 1; // tampered in transit
      await raw.publishAsync(updateTopic('test/fleet', 'robot-x', 'bolt'), genuine, { qos: 1 });
      await raw.publishAsync(updateTopic('test/fleet', 'robot-y', 'bolt'), Buffer.from('{not json'), { qos: 1 });
      const moved = wire({ ...forged, origin: 'robot-z', version: 1, count: 1 }, security);
      await raw.publishAsync(updateTopic('test/fleet', 'robot-z', 'nut'), moved, { qos: 1 });
      // Signed with the shared secret but impossible: a sum of length 1e30 for one demonstration.
      const oversized = wire({ ...forged, origin: 'robot-w', version: 1, count: 1, sums: demo(4).map((s) => s.map((x) => x * 1e30)) }, security);
      await raw.publishAsync(updateTopic('test/fleet', 'robot-w', 'bolt'), oversized, { qos: 1 });
      // Signed, but without the model fingerprint.
      const body = Buffer.from(JSON.stringify({ format: FLEET_FORMAT, origin: 'robot-v', class: 'bolt', version: 1, count: 1, layers: LAYERS }));
      const pre = Buffer.from([72, 70, 70, 50, 1, 0, body.length & 255, body.length >> 8]);
      const unsignedBody = Buffer.concat([pre, body, Buffer.from(new Float32Array(5).buffer)]);
      const noModel = Buffer.concat([unsignedBody, new FleetSigner(security, 'robot-v').sign(unsignedBody)]);
      await raw.publishAsync(updateTopic('test/fleet', 'robot-v', 'bolt'), noModel, { qos: 1 });
    } finally {
      await raw.endAsync();
    }
    await until(() => rejections.length >= 7, 'seven rejections');
    const reasons = rejections.map((r) => `${r.reason}:${r.origin}`).sort();
    assert.deepEqual(reasons, [
      'bad-signature:robot-a',
      'bad-signature:robot-x',
      'implausible:robot-w',
      'malformed:robot-v',
      'malformed:robot-y',
      'topic-mismatch:robot-z',
      'unsigned:intruder',
    ]);
    assert.ok(rejections.every((r) => r.message.length > 20 && r.topic.startsWith('test/fleet/')));
    assert.equal(mergedCount(b, 'bolt'), 1, 'nothing rejected reached the merge');
    assert.equal(b.stats.rejected, 7);
  });
}

describe('io/fleet over a real MQTT broker', function () {
  this.timeout(30000);

  describe('aedes (in-process)', () => {
    sharedSuite(
      () => startAedes(),
      async (old) => {
        await old.stop();
        return startAedes(old.port);
      },
    );
  });

  describe('mosquitto', () => {
    let bin = '';
    before(function () {
      bin = requireMosquitto(this);
    });
    sharedSuite(
      () => startMosquitto(bin),
      async (old) => {
        await old.stop();
        return startMosquitto(bin, { port: old.port });
      },
    );

    it('keeps the fleet state across a broker restart with persistence, for instances that join afterwards', async () => {
      const dir = tempDir('hff-mosq-db-');
      let broker = await startMosquitto(bin, { persistenceDir: dir, port: await freePort() });
      const h = harness(() => broker.url);
      try {
        const a = h.make('robot-a', { security: { mode: 'secret', secret: 'k' } });
        await a.start();
        await a.publishLocal({ label: 'bolt', sums: demo(1), applied: 3 });
        await a.close();
        await broker.stop();
        assert.ok(fs.existsSync(path.join(dir, 'mosquitto.db')), 'mosquitto saved its database');
        broker = await startMosquitto(bin, { persistenceDir: dir, port: broker.port });
        const late = h.make('robot-late', { security: { mode: 'secret', secret: 'k' } });
        await late.start();
        await until(() => mergedCount(late, 'bolt') === 3, 'retained state from the persisted broker');
      } finally {
        await h.closeAll();
        await broker.stop();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
