/**
 * The example flows 01-09 (this package's core nodes) import and deploy without errors, every hff node starts,
 * and the walk-through each comment node describes works when its inject nodes are clicked.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tinyIdx, writeIdxPair } from '../datasets/fixtures';
import { projectRoot } from '../helpers/data';
import { ALL_NODES, assertNoUnhandledRejection, collect, helper, initNodeRed4, nth, removeTempDirs, waitFor, waitStatus } from './flow-helpers';

const core = (file: string) => require(path.join(path.dirname(require.resolve('@node-red/nodes/package.json')), 'core', file));
const CORE_NODES = [
  core('common/20-inject.js'),
  core('common/21-debug.js'),
  core('common/90-comment.js'),
  core('function/10-function.js'),
  core('function/15-change.js'),
  core('network/21-httpin.js'),
  core('storage/10-file.js'),
];
const HFF_TYPES = ['hff-model', 'hff-layer', 'hff-classify', 'hff-teach', 'hff-drift', 'hff-train', 'hff-image', 'hff-teach-ui'];
const CORE_TYPES = ['tab', 'comment', 'inject', 'debug', 'function', 'change', 'catch', 'http in', 'http response', 'file in'];

type FlowNode = Record<string, unknown> & { id: string; type: string; name?: string; z?: string };

const examplesDir = path.join(projectRoot, 'examples');
/** This package's core examples; 2x and later belong to the ROS 2 / bag / MQTT nodes. */
const files = fs
  .readdirSync(examplesDir)
  .filter((f) => /^0\d .*\.json$/.test(f))
  .sort();

function load(file: string): FlowNode[] {
  return JSON.parse(fs.readFileSync(path.join(examplesDir, file), 'utf8')) as FlowNode[];
}

function byName(flow: FlowNode[], type: string, name: string): FlowNode {
  const found = flow.find((n) => n.type === type && n.name === name);
  assert.ok(found, `${type} '${name}' in the example`);
  return found;
}

function click(flow: FlowNode[], name: string): void {
  helper.getNode(byName(flow, 'inject', name).id).receive({} as never);
}

interface LogCall {
  args: [{ level: number; msg: unknown; type?: string; id?: string }];
}

function errorsLogged(): string[] {
  const spy = helper.log() as unknown as { getCalls(): LogCall[]; ERROR: number };
  return spy
    .getCalls()
    .map((c) => c.args[0])
    .filter((e) => e && e.level <= spy.ERROR)
    .map((e) => `${e.type}: ${String(e.msg)}`);
}

describe('examples', function () {
  let userDir: string;
  beforeEach(() => {
    userDir = initNodeRed4();
  });
  afterEach(async () => {
    await helper.unload();
    assertNoUnhandledRejection();
  });
  after(removeTempDirs);

  it('there are the five required examples, numbered, each starting with an explaining comment', () => {
    for (const title of ['Classify camera frames', 'Teach a new part', 'Draw a network as a chain of layers', 'Watch for drift', 'Train from a dataset']) {
      assert.ok(
        files.some((f) => f.endsWith(` ${title}.json`)),
        `examples/NN ${title}.json`,
      );
    }
    const used = new Set<string>();
    for (const file of files) {
      const flow = load(file);
      const first = flow.find((n) => n.type !== 'tab' && n.type !== 'hff-model');
      assert.equal(first?.type, 'comment', `${file} starts with a comment node`);
      assert.ok(String(first?.info ?? '').length > 100, `${file}: the comment explains the flow`);
      for (const n of flow) {
        used.add(n.type);
        assert.ok([...HFF_TYPES, ...CORE_TYPES].includes(n.type), `${file}: node type ${n.type} is available`);
      }
    }
    for (const type of HFF_TYPES) assert.ok(used.has(type), `some example uses ${type}`);
  });

  it('node ids are unique (also across examples, which may be imported together) and every wire leads to a node', () => {
    const seen = new Map<string, string>();
    for (const file of files) {
      const flow = load(file);
      const ids = new Set(flow.map((n) => n.id));
      for (const n of flow) {
        assert.ok(!seen.has(n.id), `${file}: id ${n.id} is also used in ${seen.get(n.id)}`);
        seen.set(n.id, file);
        for (const port of (n.wires as string[][] | undefined) ?? []) {
          for (const target of port) assert.ok(ids.has(target), `${file}: ${n.type} ${n.id} is wired to a missing node ${target}`);
        }
        const z = n.z as string | undefined;
        if (z !== undefined) assert.ok(ids.has(z), `${file}: ${n.id} is on a missing tab`);
      }
    }
  });

  for (const file of files) {
    it(`${file} deploys: every hff node starts without error`, async () => {
      const flow = load(file);
      await helper.load([...ALL_NODES, ...CORE_NODES], flow);
      for (const n of flow.filter((x) => x.type.startsWith('hff-'))) {
        assert.ok(helper.getNode(n.id), `${n.type} ${n.id} started`);
        if (n.type === 'hff-model' || n.type === 'hff-drift' || n.type === 'hff-image') continue;
        await waitStatus(n.id, (s) => s.fill === 'green', `${n.type} ready`);
      }
      assert.deepEqual(errorsLogged(), []);
    });
  }

  it('07: the synthetic camera reaches the teaching page, which classifies the frames itself', async () => {
    const flow = load('07 Teach from a web page.json');
    await helper.load([...ALL_NODES, ...CORE_NODES], flow);
    await waitStatus(
      byName(flow, 'hff-teach-ui', 'teaching page').id,
      (s) => /^\/hff\/teach-example: 0 viewing, [1-9]\d* frames$/.test(s.text ?? ''),
      'frames on the page',
    );
    assert.deepEqual(errorsLogged(), []);
  });

  it('01: teach two parts, then frames are classified; an untaught colour goes to output 2', async () => {
    const flow = load('01 Classify camera frames.json');
    await helper.load([...ALL_NODES, ...CORE_NODES], flow);
    const taught = collect(byName(flow, 'debug', 'taught').id);
    const known = collect(byName(flow, 'debug', 'known part').id);
    const unknown = collect(byName(flow, 'debug', 'unknown part: teach it').id);
    for (let i = 0; i < 3; i++) {
      click(flow, 'teach: red part');
      click(flow, 'teach: blue part');
    }
    await nth(taught, 6, 'teach updates');
    click(flow, 'frame: red');
    assert.equal(((await nth(known, 1)).payload as { label: string }).label, 'red part');
    click(flow, 'frame: blue');
    assert.equal(((await nth(known, 2)).payload as { label: string }).label, 'blue part');
    click(flow, 'frame: green');
    assert.equal(((await nth(unknown, 1)).payload as { known: boolean }).known, false);
    await waitFor('the model saved', () => fs.existsSync(path.join(userDir, 'hff-models', 'parts', 'model.json')));
    assert.deepEqual(errorsLogged(), []);
  });

  it('01: POST /hff/classify answers a PNG with the classification and a body that is not an image with 400 and the reason', async () => {
    const flow = load('01 Classify camera frames.json');
    // The helper serves http-in routes on an app of its own (RED.httpNode), which a node module can reach.
    let httpNode: unknown;
    const captureHttpNode = (RED: { httpNode: unknown }) => {
      httpNode = RED.httpNode;
    };
    await helper.load([...ALL_NODES, ...CORE_NODES, captureHttpNode], flow);
    const request = () => (require('supertest') as (app: unknown) => ReturnType<typeof helper.request>)(httpNode);
    const taught = collect(byName(flow, 'debug', 'taught').id);
    click(flow, 'teach: red part');
    await nth(taught, 1, 'teach update');
    const sharp = require('sharp') as typeof import('sharp').default;
    const png = await sharp({ create: { width: 64, height: 48, channels: 3, background: { r: 220, g: 40, b: 40 } } })
      .png()
      .toBuffer();
    const ok = await request().post('/hff/classify').set('Content-Type', 'image/png').send(png);
    assert.equal(ok.status, 200, ok.text);
    assert.equal((ok.body as { label: string }).label, 'red part');
    const bad = await request().post('/hff/classify').set('Content-Type', 'text/plain').send('not an image').timeout(10_000);
    assert.equal(bad.status, 400, bad.text);
    assert.match(String((bad.body as { error: string }).error), /\S/, 'the reason');
    console.log(`      (non-image: 400 ${JSON.stringify(bad.body)})`);
  });

  it('02: an unknown part is kept, named by the operator, and recognised afterwards; commands work', async () => {
    const flow = load('02 Teach a new part.json');
    await helper.load([...ALL_NODES, ...CORE_NODES], flow);
    const updates = collect(byName(flow, 'debug', 'teach updates (share with other robots)').id);
    const known = collect(byName(flow, 'debug', 'known part').id);
    const ask = collect(byName(flow, 'debug', 'ask the operator').id);
    for (let i = 0; i < 3; i++) click(flow, 'teach: bolt (grey-blue)');
    await nth(updates, 3);
    click(flow, 'frame: gear (yellow)');
    assert.match(String((await nth(ask, 1)).payload), /^Unknown part \(best guess bolt/);
    click(flow, 'name it: gear');
    const created = (await nth(updates, 4)).payload as { label: string; created: boolean };
    assert.deepEqual([created.label, created.created], ['gear', true]);
    click(flow, 'frame: gear (yellow)');
    assert.equal(((await nth(known, 1)).payload as { label: string }).label, 'gear');
    click(flow, 'rename gear → spur gear');
    assert.equal(((await nth(updates, 5)).payload as { label: string }).label, 'spur gear');
    click(flow, 'forget spur gear');
    assert.deepEqual(((await nth(updates, 6)).payload as { classes: string[] }).classes, ['bolt']);
    click(flow, 'save now');
    assert.equal(((await nth(updates, 7)).payload as { action: string }).action, 'save');
    click(flow, 'reset the model');
    assert.deepEqual(((await nth(updates, 8)).payload as { classes: string[] }).classes, []);
    assert.deepEqual(errorsLogged(), []);
  });

  it('03: labelled vectors train the chain of layers; a vector is classified at the end', async () => {
    const flow = load('03 Draw a network as a chain of layers.json');
    await helper.load([...ALL_NODES, ...CORE_NODES], flow);
    const decisions = collect(byName(flow, 'debug', 'decision').id);
    const unsure = collect(byName(flow, 'debug', 'unsure (under the threshold)').id);
    for (let i = 0; i < 5; i++) click(flow, 'train: 20 labelled vectors');
    await nth(decisions, 5);
    click(flow, 'classify a left vector');
    await waitFor('the single decision', () => [...decisions, ...unsure].some((m) => !Array.isArray(m.payload)));
    const d = [...decisions, ...unsure].find((m) => !Array.isArray(m.payload))?.payload as { label: string };
    assert.ok(['left', 'right'].includes(d.label));
    assert.deepEqual(errorsLogged(), []);
  });

  it('04: a falling score is reported as drift; DDM finds the rising error rate', async () => {
    const flow = load('04 Watch for drift.json');
    await helper.load([...ALL_NODES, ...CORE_NODES], flow);
    const changes = collect(byName(flow, 'debug', 'state changes').id);
    const ddm = collect(byName(flow, 'debug', 'DDM state changes').id);
    click(flow, 'simulate: 300 results, score drops');
    await waitFor('a drift', () => changes.some((m) => (m.drift as { drift: boolean }).drift));
    click(flow, 'simulate: 400 results with truth');
    await waitFor('a DDM drift', () => ddm.some((m) => (m.drift as { drift: boolean }).drift));
    click(flow, 'reset the detector');
    await waitStatus(byName(flow, 'hff-drift', '').id, (s) => s.fill === 'grey');
    assert.deepEqual(errorsLogged(), []);
  });

  it('05: trains from MNIST files under userDir/hff-data/mnist and reports test accuracy', async function () {
    const dir = path.join(userDir, 'hff-data', 'mnist');
    fs.mkdirSync(dir, { recursive: true });
    writeIdxPair(dir, 'train', tinyIdx(60, 28, 28, 10), 28, 28, { gzip: true });
    writeIdxPair(dir, 't10k', tinyIdx(20, 28, 28, 10), 28, 28, { gzip: true });
    const flow = load('05 Train from a dataset.json');
    await helper.load([...ALL_NODES, ...CORE_NODES], flow);
    const metrics = collect(byName(flow, 'debug', 'final metrics').id);
    click(flow, 'train');
    const r = (await nth(metrics, 1, 'final metrics', 60_000)).payload as { n: number; evaluation: { on: string; n: number } };
    assert.equal(r.n, 60);
    assert.deepEqual([r.evaluation.on, r.evaluation.n], ['test', 20]);
    assert.ok(fs.existsSync(path.join(userDir, 'hff-models', 'digits', 'model.json')));
    assert.deepEqual(errorsLogged(), []);
  });

  it('06: buffered labelled messages train the model', async () => {
    const flow = load('06 Train from labelled messages.json');
    await helper.load([...ALL_NODES, ...CORE_NODES], flow);
    const metrics = collect(byName(flow, 'debug', 'final metrics').id);
    click(flow, 'collect 40 samples');
    await waitStatus(byName(flow, 'hff-train', '').id, (s) => s.text === '40 samples buffered');
    click(flow, 'train');
    const r = (await nth(metrics, 1, 'final metrics', 30_000)).payload as { n: number; classes: string[] };
    assert.equal(r.n, 40);
    assert.deepEqual(r.classes.sort(), ['high', 'low']);
    assert.deepEqual(errorsLogged(), []);
  });
});
