/**
 * Teaching the whole fleet, end to end over a real broker (mosquitto when installed, else the
 * in-process aedes broker, said so in the output): a part taught on one instance is recognised by
 * another; the delay is printed.
 *  1. two library instances (HffNetwork + FleetSync), the same model on both;
 *  2. two Node-RED 4 runtimes in child processes: hff-teach on the first, hff-classify on the second.
 */
import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { createEngine } from '../../src/engines/backend';
import type { Engine } from '../../src/engines/types';
import { HffNetwork } from '../../src/hff';
import { FleetSync, NetworkFleetTarget, generateFleetKeyPair, type FleetMergeEvent } from '../../src/io/fleet';
import { toBatch } from '../../nodes/shared/vectors';
import { mosquittoBinary, startAedes, startMosquitto, until, type Broker } from '../helpers/io';
import { skipForEnvironment } from '../helpers/skip';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const INPUT = 8;
const WIDGET = [1, 0.8, 0.1, 0, 0.2, 0, 0.9, 0.1];
const GADGET = [0, 0.1, 0.9, 1, 0, 0.7, 0.1, 0.2];

function jitter(center: number[], n: number, amount: number, seed: number): number[][] {
  return Array.from({ length: n }, (_, i) => center.map((c, j) => c + amount * Math.sin(seed * 3.1 + i * 7.7 + j * 1.3)));
}

async function startBroker(): Promise<{ broker: Broker; kind: string }> {
  const bin = mosquittoBinary();
  if (bin) return { broker: await startMosquitto(bin), kind: 'mosquitto' };
  console.log('      note: mosquitto is not installed (apt-get install -y mosquitto); using the in-process aedes broker');
  return { broker: await startAedes(), kind: 'aedes' };
}

describe('e2e: teaching the whole fleet', function () {
  this.timeout(60000);
  let broker: Broker;
  let kind = '';

  before(async () => {
    ({ broker, kind } = await startBroker());
  });
  after(async () => {
    await broker?.stop();
  });

  describe('two instances of the library', () => {
    let engine: Engine;
    const syncs: FleetSync[] = [];
    const nets: HffNetwork[] = [];
    before(async () => {
      engine = await createEngine(process.env.HFF_BACKEND ?? 'wasm');
    });
    after(async () => {
      await Promise.all(syncs.map((s) => s.close()));
      nets.forEach((n) => n.dispose());
    });

    it(`a part taught on A is recognised by B through the broker, signed with each robot's key`, async () => {
      const keys = { 'robot-a': generateFleetKeyPair(), 'robot-b': generateFleetKeyPair() };
      const allowList = Object.entries(keys)
        .map(([origin, k]) => `${k.publicKey} ${origin}`)
        .join('\n');
      const make = (origin: keyof typeof keys) => {
        const net = HffNetwork.create(engine, { inputSize: INPUT, layers: [24, 16], seed: 21 });
        const security = { mode: 'keys' as const, privateKey: keys[origin].privateKey, trusted: allowList };
        const sync = new FleetSync({ url: broker.url, origin, topicBase: 'e2e/lib', security, target: new NetworkFleetTarget(net), recoveryWindowMs: 50 });
        nets.push(net);
        syncs.push(sync);
        return { net, sync };
      };
      const a = make('robot-a');
      const b = make('robot-b');
      await Promise.all([a.sync.start(), b.sync.start()]);
      const merges: FleetMergeEvent[] = [];
      b.sync.onMerged((e) => merges.push(e));

      const t0 = performance.now();
      for (const [label, center, seed] of [
        ['widget', WIDGET, 1],
        ['gadget', GADGET, 2],
      ] as const) {
        const rows = jitter([...center], 3, 0.05, seed);
        const { data, batch } = toBatch(rows, a.net.inputSize);
        const r = a.net.teach(label, data, batch);
        void a.sync.publishLocal(r);
      }
      await until(() => b.net.classes.includes('widget') && b.net.classes.includes('gadget'), 'B to learn both parts');
      const delay = performance.now() - t0;
      const probe = (center: number[], seed: number) => b.net.predict(toBatch(jitter(center, 1, 0.08, seed), b.net.inputSize).data, 1)[0];
      assert.equal(probe(WIDGET, 9).label, 'widget');
      assert.equal(probe(GADGET, 10).label, 'gadget');
      assert.equal(b.net.counts[b.net.classes.indexOf('widget')], 3);
      const transport = merges.map((m) => m.delayMs ?? NaN);
      console.log(
        `      fleet delay (library, ${kind}): taught on A -> recognised on B in ${delay.toFixed(1)} ms (broker transit ${transport.map((d) => `${d} ms`).join(', ')})`,
      );
      assert.ok(delay < 5000);
    });
  });

  describe('two Node-RED runtimes', () => {
    const children: ChildProcess[] = [];
    let genDir = '';

    before(function () {
      if (!fs.existsSync(path.join(ROOT, 'dist', 'nodes', 'hff-teach', 'hff-teach.html'))) {
        skipForEnvironment(this, 'the core nodes are not built (run npm run build)');
      }
      genDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hff-fleet-e2e-'));
      writeTestNodes(path.join(genDir, 'nodes'));
    });
    after(async () => {
      await Promise.all(children.map((c) => stopChild(c)));
      if (genDir) fs.rmSync(genDir, { recursive: true, force: true });
    });

    it('a part taught on the first runtime is recognised by the second', async () => {
      // The model nodes themselves share through the broker (their Fleet fields and secret); the link node only
      // reports what the model's fleet connection merges.
      // Each runtime has its own private key file and lists the other's public key (robot keys, the default mode).
      const pairs = { 'runtime-a': generateFleetKeyPair(), 'runtime-b': generateFleetKeyPair() };
      const allowList = Object.entries(pairs)
        .map(([origin, k]) => `${k.publicKey} ${origin}`)
        .join('\n');
      const model = (name: string, origin: keyof typeof pairs) => {
        const keyFile = path.join(genDir, `${origin}.pem`);
        fs.writeFileSync(keyFile, pairs[origin].privateKey, { mode: 0o600 });
        return {
          id: 'model',
          type: 'hff-model',
          name,
          source: 'auto',
          path: '',
          backend: 'auto',
          inputSize: INPUT,
          inputShape: '',
          layers: '24,16',
          classes: '',
          tau: 0.1,
          learningRate: 0.01,
          unknownThreshold: 0.3,
          seed: 21,
          saveDelay: 200,
          fleetBroker: broker.url,
          fleetTopic: 'e2e/red',
          fleetOrigin: origin,
          fleetSecurity: 'keys',
          fleetKeyFile: keyFile,
          fleetAllowList: allowList,
        };
      };
      const link = { id: 'link', type: 'fleet-e2e-link', z: 'tab', model: 'model', wires: [] };
      const tab = { id: 'tab', type: 'tab', label: 'fleet' };
      const flowsA = [
        tab,
        model('fleetA', 'runtime-a'),
        { id: 'teach', type: 'hff-teach', z: 'tab', model: 'model', mode: 'mean', rate: '', meanOf: '', wires: [[]] },
        link,
      ];
      const flowsB = [
        tab,
        model('fleetB', 'runtime-b'),
        link,
        { id: 'classify', type: 'hff-classify', z: 'tab', model: 'model', topK: 2, threshold: '', scoring: '', wires: [['cap'], ['cap']] },
        { id: 'cap', type: 'e2e-capture', z: 'tab', wires: [] },
        { id: 'catcher', type: 'catch', z: 'tab', scope: ['classify'], uncaught: false, wires: [['cap']] },
      ];
      const tStart = performance.now();
      const [a, b] = await Promise.all([
        startRuntime(path.join(genDir, 'a'), flowsA, genDir, children),
        startRuntime(path.join(genDir, 'b'), flowsB, genDir, children),
      ]);
      await Promise.all([a.waitFor((m) => m.type === 'fleet-connected'), b.waitFor((m) => m.type === 'fleet-connected')]);
      const startup = performance.now() - tStart;

      const rows = [...jitter(WIDGET, 3, 0.05, 1), ...jitter(GADGET, 3, 0.05, 2)];
      const labels = ['widget', 'widget', 'widget', 'gadget', 'gadget', 'gadget'];
      const t0 = performance.now();
      a.send('teach', { payload: rows, label: labels });
      // Probe B until it names both parts right.
      let widgetAt: number | undefined;
      let gadgetAt: number | undefined;
      let probes = 0;
      while (widgetAt === undefined || gadgetAt === undefined) {
        if (performance.now() - t0 > 15000) throw new Error(`B did not recognise the parts in 15 s; B's messages: ${JSON.stringify(b.messages.slice(-5))}`);
        probes++;
        const w = await b.request('classify', { payload: jitter(WIDGET, 1, 0.08, 100 + probes)[0], probe: `w${probes}` });
        if (widgetAt === undefined && (w.payload as { label?: string } | undefined)?.label === 'widget') widgetAt = performance.now();
        const g = await b.request('classify', { payload: jitter(GADGET, 1, 0.08, 200 + probes)[0], probe: `g${probes}` });
        if (gadgetAt === undefined && (g.payload as { label?: string } | undefined)?.label === 'gadget') gadgetAt = performance.now();
        if (widgetAt === undefined || gadgetAt === undefined) await new Promise((r) => setTimeout(r, 10));
      }
      const merged = b.messages.filter((m) => m.type === 'merged' && !m.local);
      assert.ok(merged.some((m) => m.label === 'widget' && m.origin === 'runtime-a'));
      console.log(
        `      fleet delay (two Node-RED runtimes, ${kind}): taught on A -> recognised on B in ${(Math.max(widgetAt, gadgetAt) - t0).toFixed(1)} ms ` +
          `(widget ${(widgetAt - t0).toFixed(1)} ms, gadget ${(gadgetAt - t0).toFixed(1)} ms; broker transit ${merged.map((m) => `${m.delayMs} ms`).join(', ')}; ` +
          `${probes} probes; runtimes started in ${(startup / 1000).toFixed(1)} s)`,
      );
    });
  });
});

interface Runtime {
  messages: Array<Record<string, unknown>>;
  send(node: string, msg: Record<string, unknown>): void;
  waitFor(pred: (m: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Sends msg (with a unique msg.probe) and resolves with the message e2e-capture reports for it. */
  request(node: string, msg: Record<string, unknown>): Promise<Record<string, unknown>>;
}

function startRuntime(userDir: string, flows: unknown[], genDir: string, children: ChildProcess[]): Promise<Runtime> {
  const script = path.join(ROOT, 'dist', 'test', 'e2e', 'fleet-runtime.js');
  const config = {
    userDir,
    flows,
    nodesDir: [path.join(ROOT, 'dist', 'nodes'), path.join(genDir, 'nodes')],
  };
  const child = fork(script, [JSON.stringify(config)], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    env: { ...process.env, HFF_BACKEND: process.env.HFF_BACKEND ?? 'wasm' },
  });
  children.push(child);
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const messages: Array<Record<string, unknown>> = [];
  const waiters: Array<{ pred: (m: Record<string, unknown>) => boolean; resolve: (m: Record<string, unknown>) => void }> = [];
  child.on('message', (m: Record<string, unknown>) => {
    messages.push(m);
    for (const w of [...waiters]) {
      if (w.pred(m)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  });
  const rt: Runtime = {
    messages,
    send: (node, msg) => child.send({ cmd: 'send', node, msg }),
    waitFor: (pred, timeoutMs = 30000) => {
      const found = messages.find(pred);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`runtime ${userDir}: timed out; output:\n${output}`)), timeoutMs);
        waiters.push({
          pred,
          resolve: (m) => {
            clearTimeout(timer);
            resolve(m);
          },
        });
      });
    },
    request: (node, msg) => {
      const p = rt.waitFor((m) => m.type === 'captured' && m.probe === msg.probe, 5000);
      rt.send(node, msg);
      return p;
    },
  };
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`runtime exited with ${code}:\n${output}`)));
    rt.waitFor((m) => m.type === 'ready' || m.type === 'error', 45000).then((m) => {
      if (m.type === 'error') reject(new Error(String(m.message)));
      else resolve(rt);
    }, reject);
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve();
      return;
    }
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    try {
      child.send({ cmd: 'stop' });
    } catch {
      child.kill('SIGTERM');
    }
  });
}

/**
 * Two small node types for the child runtimes: 'fleet-e2e-link' reports what the model node's fleet
 * connection merges and when it is connected; 'e2e-capture' reports what it receives to the parent process.
 */
function writeTestNodes(dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  const glue = JSON.stringify(path.join(ROOT, 'dist', 'nodes', 'shared', 'fleet-sync.js'));
  fs.writeFileSync(
    path.join(dir, 'fleet-e2e-link.js'),
    `module.exports = function (RED) {
  const { fleetFor } = require(${glue});
  function Link(config) {
    RED.nodes.createNode(this, config);
    const node = this;
    const link = fleetFor(RED.nodes.getNode(config.model).controller);
    if (!link) throw new Error('the model node did not attach fleet sharing');
    link.ready.then((sync) => sync.onMerged((e) => process.send && process.send({ type: 'merged', label: e.label, origin: e.origin, local: e.local, delayMs: e.delayMs, count: e.merged.count })));
    link.connected().then(() => process.send && process.send({ type: 'fleet-connected' }), (err) => node.error(err.message));

  }
  RED.nodes.registerType('fleet-e2e-link', Link);
};
`,
  );
  fs.writeFileSync(
    path.join(dir, 'fleet-e2e-link.html'),
    `<script type="text/javascript">RED.nodes.registerType('fleet-e2e-link', { category: 'test', defaults: {}, inputs: 0, outputs: 0 });</script>\n`,
  );
  fs.writeFileSync(
    path.join(dir, 'e2e-capture.js'),
    `module.exports = function (RED) {
  function Capture(config) {
    RED.nodes.createNode(this, config);
    this.on('input', (msg, send, done) => {
      let payload = msg.payload;
      try { payload = JSON.parse(JSON.stringify(payload)); } catch (e) { payload = String(payload); }
      process.send && process.send({ type: 'captured', probe: msg.probe, payload, error: msg.error && msg.error.message });
      done();
    });
  }
  RED.nodes.registerType('e2e-capture', Capture);
};
`,
  );
  fs.writeFileSync(
    path.join(dir, 'e2e-capture.html'),
    `<script type="text/javascript">RED.nodes.registerType('e2e-capture', { category: 'test', defaults: {}, inputs: 1, outputs: 0 });</script>\n`,
  );
}
