/** nodes/shared/fleet-sync: the Node-RED glue between an hff-model's controller and FleetSync (aedes broker). */
import assert from 'node:assert/strict';
import * as os from 'node:os';
import type { Node, NodeAPI } from 'node-red';
import { createEngine } from '../../../src/engines/backend';
import type { Engine } from '../../../src/engines/types';
import { HffNetwork } from '../../../src/hff';
import { FLEET_UNREACHABLE_NOTICE, SummarisedLog, attachFleetSync, fleetFor, fleetSettings, type FleetModelHost } from '../../../nodes/shared/fleet-sync';
import { createServer, type AddressInfo } from 'node:net';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { generateFleetKeyPair } from '../../../src/io/fleet';
import { tempDir } from '../../helpers/data';
import { startAedes, until, type Broker } from '../../helpers/io';

interface FakeNode {
  logs: string[];
  warnings: string[];
  errors: string[];
}

function fakeNode(): Node & FakeNode {
  const n: FakeNode = { logs: [], warnings: [], errors: [] };
  return Object.assign(n, {
    log: (t: string) => n.logs.push(t),
    warn: (t: string) => n.warnings.push(t),
    error: (t: string) => n.errors.push(t),
  }) as unknown as Node & FakeNode;
}

class FakeModel implements FleetModelHost {
  learnedCalls = 0;
  notice: string | undefined;
  readonly #listeners = new Set<(s: { phase: string }) => void>();
  constructor(public net: HffNetwork) {}
  ready(): Promise<HffNetwork> {
    return Promise.resolve(this.net);
  }
  learned(): void {
    this.learnedCalls++;
  }
  setNotice(text: string | undefined): void {
    this.notice = text;
  }
  onState(listener: (s: { phase: string }) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
  /** Simulates hff-teach's 'reset': a fresh network replaces the old one. */
  replace(net: HffNetwork): void {
    this.net = net;
    for (const l of this.#listeners) l({ phase: 'ready' });
  }
}

const RED = {} as NodeAPI;

describe('fleet glue for hff-model (nodes/shared/fleet-sync)', function () {
  this.timeout(20000);
  let engine: Engine;
  let broker: Broker;
  const nets: HffNetwork[] = [];
  const closers: Array<() => Promise<void>> = [];

  before(async () => {
    engine = await createEngine(process.env.HFF_BACKEND ?? 'wasm');
    broker = await startAedes();
  });
  afterEach(async () => {
    await Promise.all(closers.splice(0).map((c) => c()));
    nets.splice(0).forEach((n) => n.dispose());
  });
  after(async () => {
    await broker.stop();
  });

  const net = (): HffNetwork => {
    const n = HffNetwork.create(engine, { inputSize: 6, layers: [10, 8], seed: 3 });
    nets.push(n);
    return n;
  };

  it('reads the dialog: no broker, no fleet; origin defaults to hostname:node id; secrets from credentials', () => {
    assert.equal(fleetSettings({ fleetBroker: ' ' }, {}, 'abc'), undefined);
    // A flow from before the security choice: a secret meant a signed fleet.
    assert.deepEqual(fleetSettings({ fleetBroker: 'mqtt://b:1883' }, { fleetSecret: 's', fleetPassword: '' }, 'abc', '/ud'), {
      broker: 'mqtt://b:1883',
      topicBase: 'hff/fleet',
      origin: `${os.hostname()}:abc`,
      security: 'secret',
      secret: 's',
      allowTrained: false,
      username: undefined,
      password: undefined,
    });
    // No secret never means unsigned: robot keys, with the private key under the user directory.
    const keys = fleetSettings({ fleetBroker: 'mqtt://b', fleetOrigin: 'arm 2' }, {}, 'abc', '/ud');
    assert.equal(keys?.security, 'keys');
    assert.equal(keys?.keyFile, '/ud/hff-fleet-keys/arm%202.pem');
    assert.throws(() => fleetSettings({ fleetBroker: 'mqtt://b', fleetSecurity: 'secret' }, {}, 'abc'), /no secret is set/);
    assert.throws(() => fleetSettings({ fleetBroker: 'mqtt://b', fleetSecurity: 'none' as 'unsigned' }, {}, 'abc'), /not one of keys, secret, unsigned/);
    assert.throws(
      () => fleetSettings({ fleetBroker: 'mqtt://b', fleetAllowFile: 'missing.txt' }, {}, 'abc', '/nonexistent'),
      /cannot read the fleet allow-list file/,
    );
    assert.equal(fleetSettings({ fleetBroker: 'mqtt://b', fleetOrigin: 'arm-2', fleetTopic: 'plant/hff' }, undefined, 'x')?.origin, 'arm-2');
  });

  it('shares teach results once, merges remote classes into the model, and follows a reset', async () => {
    const settings = (origin: string) => ({ broker: broker.url, topicBase: 'glue/test', origin, security: 'secret' as const, secret: 'k' });
    const nodeA = fakeNode();
    const nodeB = fakeNode();
    const modelA = new FakeModel(net());
    const modelB = new FakeModel(net());
    const linkA = attachFleetSync(RED, nodeA, modelA, settings('A'));
    const linkB = attachFleetSync(RED, nodeB, modelB, settings('B'));
    assert.ok(linkA && linkB);
    closers.push(
      () => linkA.close(),
      () => linkB.close(),
    );
    assert.equal(fleetFor(modelA), linkA);
    assert.equal(attachFleetSync(RED, nodeA, modelA, settings('A')), linkA, 'one link per model');
    assert.equal(attachFleetSync(RED, nodeA, new FakeModel(modelA.net), undefined), undefined);
    await Promise.all([linkA.connected(), linkB.connected()]);

    const rows = Float32Array.from([1, 0.5, 0, 0, 0.2, 0.1, 0.9, 0.6, 0.1, 0, 0.2, 0.1]);
    const r = modelA.net.teach('bolt', rows, 2);
    linkA.publishLocal(r);
    linkA.publishLocal(r); // handed over twice (e.g. native hook and a flow): shared once
    await until(() => modelB.net.classes.includes('bolt'), 'B learns bolt');
    assert.equal(modelB.net.counts[0], 2);
    assert.ok(modelB.learnedCalls > 0, 'a merge is saved like teaching');
    assert.ok(
      nodeB.logs.some((l) => /class 'bolt' updated by 'A'/.test(l)),
      nodeB.logs.join('\n'),
    );
    assert.equal(linkA.sync?.state.contribution('bolt', 'A')?.version, 1);

    // B is reset to a fresh network: the fleet's classes are applied to it again.
    modelB.replace(net());
    await until(() => modelB.net.classes.includes('bolt'), 'the fresh network gets bolt again');
    assert.equal(nodeA.warnings.length + nodeB.warnings.length, 0, [...nodeA.warnings, ...nodeB.warnings].join('\n'));
  });

  it('robot keys: creates the private key (0600) on first start and reuses it, logs the allow-list line, warns when nobody else is listed', async () => {
    const dir = tempDir('hff-fleet-keys-');
    try {
      const other = generateFleetKeyPair();
      const nodeA = fakeNode();
      const modelA = new FakeModel(net());
      const keyFile = path.join(dir, 'keys', 'A.pem');
      const linkA = attachFleetSync(RED, nodeA, modelA, {
        broker: broker.url,
        topicBase: 'glue/keys',
        origin: 'A',
        security: 'keys',
        keyFile,
        allowList: `${other.publicKey} B`,
      });
      assert.ok(linkA);
      closers.push(() => linkA.close());
      await linkA.connected();
      assert.equal(fs.statSync(keyFile).mode & 0o777, 0o600);
      const line = nodeA.logs.find((l) => /allow-list line/.test(l)) ?? '';
      assert.match(line, /ed25519:[A-Za-z0-9+/]{43}= A$/);
      assert.equal(modelA.notice, undefined, 'a listed robot: no warning');
      // The same key file is used again, not replaced, on the next start.
      const again = fs.readFileSync(keyFile, 'utf8');
      const nodeA2 = fakeNode();
      const modelA2 = new FakeModel(net());
      const linkA2 = attachFleetSync(RED, nodeA2, modelA2, {
        broker: broker.url,
        topicBase: 'glue/keys2',
        origin: 'A',
        security: 'keys',
        keyFile,
        allowList: '',
      });
      assert.ok(linkA2);
      closers.push(() => linkA2.close());
      await linkA2.connected();
      assert.equal(fs.readFileSync(keyFile, 'utf8'), again);
      assert.ok(
        nodeA2.logs.some((l) => l.endsWith(line.slice(line.indexOf('ed25519:')))),
        'the same public key',
      );
      assert.ok(nodeA2.warnings.some((w) => /no other robot in the allow-list/.test(w)));
      assert.equal(modelA2.notice, 'fleet: no other robot allowed');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a bad allow-list line stops fleet sharing with an error naming the line and what is accepted', async () => {
    const dir = tempDir('hff-fleet-keys-');
    try {
      const node = fakeNode();
      const model = new FakeModel(net());
      const link = attachFleetSync(RED, node, model, {
        broker: broker.url,
        topicBase: 'glue/bad',
        origin: 'A',
        security: 'keys',
        keyFile: path.join(dir, 'A.pem'),
        allowList: 'ed25519:short B',
      });
      assert.ok(link);
      closers.push(() => link.close());
      await assert.rejects(link.ready, /allow-list line 1 must be 'ed25519:' followed by the base64 of 32 bytes, got 'ed25519:short'/);
      await until(() => node.errors.length === 1, 'the error');
      assert.match(node.errors[0], /^fleet: not started: allow-list line 1/);
      assert.equal(model.notice, 'fleet off: bad settings (see the log)');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("an unsigned fleet is a visible choice: a warning in the log and on the model nodes' status", async () => {
    const node = fakeNode();
    const model = new FakeModel(net());
    const link = attachFleetSync(RED, node, model, { broker: broker.url, topicBase: 'glue/open', origin: 'A', security: 'unsigned' });
    assert.ok(link);
    closers.push(() => link.close());
    await link.connected();
    assert.match(model.notice ?? '', /UNSIGNED/);
    assert.ok(node.warnings.some((w) => /UNSIGNED: any client of the broker can change classes/.test(w)));
  });

  it('without a reachable broker: one log line naming the reason and a status, not a line per retry; cleared on connect', async () => {
    const port = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, '127.0.0.1', () => {
        const { port: p } = server.address() as AddressInfo;
        server.close(() => resolve(p));
      });
    });
    const node = fakeNode();
    const model = new FakeModel(net());
    const link = attachFleetSync(RED, node, model, { broker: `mqtt://127.0.0.1:${port}`, topicBase: 'glue/down', origin: 'A', security: 'unsigned' });
    assert.ok(link);
    closers.push(() => link.close());
    await until(() => model.notice === FLEET_UNREACHABLE_NOTICE, 'the unreachable status');
    // mqtt.js retries about every second: give it three attempts.
    await new Promise((resolve) => setTimeout(resolve, 3500));
    const failures = node.warnings.filter((w) => /ECONNREFUSED/.test(w));
    assert.equal(failures.length, 1, node.warnings.join('\n'));
    assert.match(failures[0], new RegExp(`fleet MQTT mqtt://127.0.0.1:${port}: connect ECONNREFUSED.*retrying`));
    assert.equal(model.notice, FLEET_UNREACHABLE_NOTICE);
    assert.deepEqual(node.errors, []);

    const late = await startAedes(port);
    try {
      await link.connected();
      await until(() => model.notice !== FLEET_UNREACHABLE_NOTICE, 'the status back to the connected one');
      assert.match(model.notice ?? '', /UNSIGNED/);
    } finally {
      await link.close();
      await late.stop();
    }
  });

  it('summarises a flood of rejections: one line at once, then one per interval with the count per reason', async () => {
    const lines: string[] = [];
    const log = new SummarisedLog((t) => lines.push(t), 'update(s) rejected', 50);
    try {
      for (let i = 0; i < 10_000; i++) log.add(i % 2 ? 'unsigned' : 'replay', () => `fleet: rejected update ${i}`);
      assert.deepEqual(lines, ['fleet: rejected update 0']);
      await until(() => lines.length === 2, 'the summary');
      assert.match(lines[1], /9999 more update\(s\) rejected .*\(5000 unsigned, 4999 replay\)|9999 more update\(s\) rejected .*\(4999 replay, 5000 unsigned\)/);
      assert.equal(log.total, 10_000);
    } finally {
      log.close();
    }
  });

  it('logs rejected updates from an instance with another secret', async () => {
    const good = fakeNode();
    const model = new FakeModel(net());
    const link = attachFleetSync(RED, good, model, { broker: broker.url, topicBase: 'glue/secret', origin: 'good', security: 'secret', secret: 'right' });
    const rogueModel = new FakeModel(net());
    const rogue = attachFleetSync(RED, fakeNode(), rogueModel, {
      broker: broker.url,
      topicBase: 'glue/secret',
      origin: 'rogue',
      security: 'secret',
      secret: 'wrong',
    });
    assert.ok(link && rogue);
    closers.push(
      () => link.close(),
      () => rogue.close(),
    );
    await Promise.all([link.connected(), rogue.connected()]);
    rogue.publishLocal(rogueModel.net.teach('fake', Float32Array.from([0, 0, 1, 1, 0, 0]), 1));
    await until(() => good.warnings.some((w) => /rejected bad-signature update/.test(w)), 'a logged rejection');
    assert.ok(!model.net.classes.includes('fake'));
  });
});
