/**
 * hff-teach-ui's server side in a Node-RED runtime (node-red-node-test-helper): frames from a real hff-classify,
 * the page's HTTP commands (teach, forget, rename, record) and their refusals, the gallery kept beside the model
 * across restarts, Server-Sent Events, the drift state and the node's own input errors. The page itself is driven
 * in Chromium by test/e2e/teach-ui.test.ts.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import type { NodeAPI } from 'node-red';
import sharp from 'sharp';
import { checkClassName, MAX_NAME_LENGTH } from '../../nodes/hff-teach-ui/teach-session';
import {
  ALL_NODES,
  type FlowNode,
  TAB,
  assertNoUnhandledRejection,
  catchNodes,
  caughtText,
  collect,
  helper,
  helperNode,
  initNodeRed4,
  modelConfig,
  modelDir,
  nth,
  onTab,
  removeTempDirs,
  send,
  waitFor,
  waitStatus,
} from './flow-helpers';

type Json = Record<string, any>;

/** A stand-in node type whose only job is to hand the test the httpNode app the runtime gives nodes. */
let nodeApp: http.RequestListener | undefined;
function captureHttpNode(RED: NodeAPI): void {
  nodeApp = (RED as unknown as { httpNode: http.RequestListener }).httpNode;
  RED.nodes.registerType('capture-http-node', function (this: unknown, def: unknown) {
    RED.nodes.createNode(this as never, def as never);
  });
}

describe('hff-teach-ui', function () {
  let userDir: string;
  let server: http.Server | undefined;
  let base = '';

  beforeEach(() => {
    userDir = initNodeRed4();
  });
  /** Stops the flows (as Node-RED does on shutdown) and the test's HTTP server. */
  async function stop(): Promise<void> {
    await helper.unload();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
  }

  afterEach(async () => {
    await stop();
    assertNoUnhandledRejection();
  });
  after(removeTempDirs);

  function flow(ui: Record<string, unknown> = {}, model: Record<string, unknown> = {}) {
    return [
      TAB,
      modelConfig({ inputShape: '4x4x1', ...model }),
      { id: 'capture', type: 'capture-http-node', z: 'tab' },
      onTab({ id: 'classify', type: 'hff-classify', model: 'model', threshold: '', wires: [['ui'], ['ui']] }),
      onTab({ id: 'teach', type: 'hff-teach', model: 'model', mode: 'mean', wires: [[]] }),
      onTab({
        id: 'ui',
        type: 'hff-teach-ui',
        model: 'model',
        path: '/hff/teach',
        picture: 'picture',
        fps: 30,
        strip: 6,
        keep: 8,
        window: 5,
        closeCosine: 0.8,
        wires: [['out']],
        ...ui,
      }),
      helperNode('out'),
      ...catchNodes(),
    ];
  }

  async function start(ui: Record<string, unknown> = {}, extra: FlowNode[] = [], model: Record<string, unknown> = {}): Promise<void> {
    await helper.load([...ALL_NODES, captureHttpNode], [...flow(ui, model), ...extra]);
    const app = nodeApp as http.RequestListener;
    server = http.createServer((req, res) => app(req, res));
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', () => resolve()));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hff/teach`;
    await waitStatus('ui', (s) => s.fill === 'green', 'page serving');
  }

  async function state(): Promise<Json> {
    const res = await fetch(`${base}/state`);
    assert.equal(res.status, 200);
    return (await res.json()) as Json;
  }

  async function command(name: string, body: unknown, contentType = 'application/json'): Promise<{ status: number; body: Json }> {
    const res = await fetch(`${base}/${name}`, {
      method: 'POST',
      headers: { 'Content-Type': contentType },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Json };
  }

  /** Polls the page's state until `check` accepts it. */
  async function stateWhen(what: string, check: (s: Json) => boolean): Promise<Json> {
    for (const until = Date.now() + 5000; ;) {
      const s = await state();
      if (check(s)) return s;
      if (Date.now() > until) throw new Error(`timed out waiting for ${what}; state: ${JSON.stringify(s).slice(0, 300)}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Sends one message into `id` and waits until the page kept it as a frame (30 frames/s: one every 40 ms). */
  async function shown(id: string, msg: Record<string, unknown>): Promise<Json> {
    const before = (await state()).last?.id;
    await new Promise((r) => setTimeout(r, 40));
    send(id, msg);
    return (await stateWhen('the frame on the page', (s) => !!s.last && s.last.id !== before)).last;
  }

  /** Sends frames of part `kind` through hff-classify, each once the page kept the one before; their page ids. */
  async function frames(kind: number, seeds: number[]): Promise<string[]> {
    const ids: string[] = [];
    for (const seed of seeds) ids.push((await shown('classify', { payload: part(kind, seed) })).id);
    return ids;
  }

  /** Class 'bolt' (part 0), taught by hff-teach: hff-classify needs a class to classify against. */
  async function seedClass(): Promise<void> {
    send('teach', { payload: [part(0, 100), part(0, 101)], label: 'bolt' });
    await waitFor('class bolt', () => ((helper.getNode('model') as any).controller.readyNetwork?.classes ?? []).includes('bolt'));
  }

  it('serves the page and its assets under httpNode; the path without its slash redirects', async () => {
    await start();
    const page = await fetch(`${base}/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /text\/html/);
    assert.match(await page.text(), /<script src="page.js">/);
    for (const asset of ['page.js', 'page.css']) assert.equal((await fetch(`${base}/${asset}`)).status, 200, asset);
    const bare = await fetch(base, { redirect: 'manual' });
    assert.equal(bare.status, 302);
    assert.equal(bare.headers.get('location'), 'teach/');
    const missing = await fetch(`${base}/nothing`);
    assert.equal(missing.status, 404);
    assert.match(((await missing.json()) as Json).error, /nothing at \/nothing/);
  });

  it('shows classified frames with their pictures (the model input drawn when the message has no picture)', async () => {
    await start();
    await seedClass();
    const ids = await frames(1, [1, 2, 3]);
    const s = await state();
    assert.deepEqual(
      s.strip.map((f: Json) => f.id),
      ids,
    );
    assert.equal(s.model, 'tiny');
    assert.deepEqual(
      s.classes.map((c: Json) => c.label),
      ['bolt'],
    );
    const live = await fetch(`${base}/frames/${ids[2]}/live`);
    assert.equal(live.status, 200);
    assert.equal(live.headers.get('content-type'), 'image/png');
    const png = Buffer.from(await live.arrayBuffer());
    assert.deepEqual([...png.subarray(1, 4)].map((b) => String.fromCharCode(b)).join(''), 'PNG');
    assert.equal(png.readUInt32BE(16), 4, 'a 4x4 input drawn 4 pixels wide');
    assert.equal((await fetch(`${base}/frames/${ids[0]}/thumb`)).status, 200);
    assert.equal((await fetch(`${base}/frames/nope-1/thumb`)).status, 404);
    await waitStatus('ui', (st) => /\/hff\/teach: 0 viewing, 3 frames/.test(st.text ?? ''));
  });

  it('shows the camera picture from msg.picture, scaled down to fit the live view', async () => {
    await start({ picture: 'camera.frame' });
    await seedClass();
    const jpeg = await sharp({ create: { width: 1280, height: 960, channels: 3, background: { r: 200, g: 30, b: 30 } } })
      .jpeg()
      .toBuffer();
    const { id } = await shown('classify', { payload: part(1, 5), camera: { frame: jpeg } });
    const live = await fetch(`${base}/frames/${id}/live`);
    assert.equal(live.headers.get('content-type'), 'image/jpeg');
    const meta = await sharp(Buffer.from(await live.arrayBuffer())).metadata();
    assert.deepEqual([meta.width, meta.height], [960, 720]);
    const thumb = await sharp(Buffer.from(await (await fetch(`${base}/frames/${id}/thumb`)).arrayBuffer())).metadata();
    assert.deepEqual([thumb.width, thumb.height], [128, 96]);
  });

  it('teaches a class from selected frames: created, its gallery kept beside the model, recognised afterwards', async () => {
    await start();
    await seedClass();
    const out = collect('out');
    const ids = await frames(1, [1, 2, 3]);
    const r = await command('teach', { label: '  gear ', frames: ids });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.label, 'gear');
    assert.equal(r.body.created, true);
    assert.equal(r.body.count, 3);
    assert.equal(r.body.examples, 3);
    assert.equal(r.body.recognised, 3);
    const msg = await nth(out, 1);
    assert.equal(msg.topic, 'teach');
    assert.deepEqual((msg.payload as Json).classes, ['bolt', 'gear']);
    const s = await state();
    const gear = s.classes.find((c: Json) => c.label === 'gear');
    assert.equal(gear.kind, 'taught');
    assert.equal(gear.examples, 3);
    assert.equal(gear.gallery.length, 3);
    assert.ok(gear.taughtAt);
    assert.ok(
      s.activity.some((a: Json) => /^created class 'gear' from 3 frames; it holds 3 examples$/.test(a.text)),
      JSON.stringify(s.activity),
    );
    // Before 'gear' existed the model called these frames 'bolt', its only class: the page says so.
    assert.match(r.body.warnings[0], /taught from 3 of 3 frames the model recognised as another class \(3 as 'bolt'\)/);
    const dir = path.join(modelDir(userDir), 'teach-gallery');
    const index = JSON.parse(fs.readFileSync(path.join(dir, 'gallery.json'), 'utf8'));
    assert.deepEqual(
      index.classes.map((c: Json) => [c.label, c.examples.length, c.taught]),
      [['gear', 3, 3]],
    );
    for (const e of gear.gallery) {
      assert.ok(fs.existsSync(path.join(dir, e.file)));
      assert.equal((await fetch(`${base}/gallery/${e.file}`)).status, 200);
    }
    assert.equal((await fetch(`${base}/gallery/..%2Fmodel.json`)).status, 404);
    // The same part again is recognised as the taught class.
    const after = await frames(1, [4]);
    assert.equal((await state()).strip.find((f: Json) => f.id === after[0]).label, 'gear');
    // Taught again: updated, the gallery grows.
    const again = await command('teach', { label: 'gear', frames: after });
    assert.deepEqual([again.body.created, again.body.count], [false, 4]);
    assert.equal((await state()).classes.find((c: Json) => c.label === 'gear').gallery.length, 4);
  });

  it('refuses bad commands with a clear message and changes nothing', async () => {
    await start();
    await seedClass();
    const ids = await frames(1, [3, 4]);
    const net = (helper.getNode('model') as any).controller.readyNetwork;
    const version = net.version;
    const cases: [string, unknown, number, RegExp][] = [
      ['teach', { label: '', frames: ids }, 400, /the class name is empty/],
      ['teach', { label: '   ', frames: ids }, 400, /the class name is empty/],
      ['teach', { label: 'x'.repeat(10_000), frames: ids }, 400, new RegExp(`has 10000 characters: give at most ${MAX_NAME_LENGTH}`)],
      ['teach', { label: '__proto__', frames: ids }, 400, /'__proto__' cannot be a class name/],
      ['teach', { label: 'line\nbreak', frames: ids }, 400, /control characters/],
      ['teach', { label: 42, frames: ids }, 400, /the class name must be text/],
      ['teach', { label: 'gear', frames: [] }, 400, /no frames are selected/],
      ['teach', { label: 'gear' }, 400, /no frames are selected/],
      ['teach', { label: 'gear', frames: [ids[0], 'old-1'] }, 409, /1 of the 2 selected frames has expired .* nothing was taught/],
      ['teach', { label: 'gear', frames: [1, 2] }, 400, /ids \(text\)/],
      ['forget', { label: 'nut' }, 404, /has no class 'nut' \(its classes: bolt\)/],
      ['forget', { label: '__proto__' }, 400, /cannot be a class name/],
      ['rename', { label: 'bolt', to: '' }, 400, /the new name is empty/],
      ['rename', { label: 'bolt', to: 'y'.repeat(61) }, 400, /the new name has 61 characters/],
      ['record', { on: 'yes' }, 400, /'on' must be true .* or false/],
      ['launch', {}, 404, /unknown command \/launch/],
    ];
    for (const [name, body, status, pattern] of cases) {
      const r = await command(name, body);
      assert.equal(r.status, status, `${name} ${JSON.stringify(body).slice(0, 60)}: ${r.body.error}`);
      assert.match(r.body.error, pattern);
    }
    const form = await command('teach', 'label=gear', 'application/x-www-form-urlencoded');
    assert.equal(form.status, 415);
    assert.match(form.body.error, /send the command as JSON/);
    const broken = await command('teach', '{"label": ', 'application/json');
    assert.equal(broken.status, 400);
    assert.match(broken.body.error, /not valid JSON/);
    const expired = await command('teach', { label: 'gear', frames: ['old-1', 'old-2'] });
    assert.deepEqual(expired.body.expired, ['old-1', 'old-2']);
    assert.equal(net.version, version, 'the model did not change');
    assert.deepEqual(net.classes, ['bolt']);
    assert.equal(fs.existsSync(path.join(modelDir(userDir), 'teach-gallery', 'gallery.json')), false, 'no gallery written');
    assert.equal(collect('caught').length, 0);
  });

  it('frames older than the kept ones expire', async () => {
    await start({ keep: 4, strip: 4 });
    await seedClass();
    const first = await frames(1, [1, 2]);
    await frames(1, [3, 4, 5, 6]);
    const r = await command('teach', { label: 'gear', frames: first });
    assert.equal(r.status, 409);
    assert.match(r.body.error, /2 of the 2 selected frames have expired \(the page keeps the last 4 frames/);
    assert.deepEqual(r.body.expired, first);
  });

  it('forgets and renames classes from the page; their galleries follow', async () => {
    await start();
    await seedClass();
    const out = collect('out');
    const ids = await frames(1, [8, 9]);
    assert.equal((await command('teach', { label: 'gear', frames: ids })).status, 200);
    assert.equal((await shown('classify', { payload: part(1, 10) })).label, 'gear');
    const renamed = await command('rename', { label: 'gear', to: 'spur gear' });
    assert.equal(renamed.status, 200, renamed.body.error);
    assert.deepEqual([renamed.body.previous, renamed.body.label], ['gear', 'spur gear']);
    let s = await state();
    assert.deepEqual(
      s.classes.map((c: Json) => c.label),
      ['bolt', 'spur gear'],
    );
    assert.deepEqual(s.stats.perClass.map((c: Json) => c.label).sort(), ['bolt', 'spur gear'], 'predictions count under the new name');
    const files = s.classes[1].gallery.map((e: Json) => e.file);
    assert.equal(files.length, 2);
    const clash = await command('rename', { label: 'spur gear', to: 'bolt' });
    assert.equal(clash.status, 409);
    assert.match(clash.body.error, /a class named 'bolt' exists already/);
    const forgot = await command('forget', { label: 'spur gear' });
    assert.equal(forgot.status, 200);
    s = await state();
    assert.deepEqual(
      s.classes.map((c: Json) => c.label),
      ['bolt'],
    );
    const dir = path.join(modelDir(userDir), 'teach-gallery');
    for (const f of files) assert.equal(fs.existsSync(path.join(dir, f)), false, `${f} removed`);
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(dir, 'gallery.json'), 'utf8')).classes, []);
    assert.deepEqual((await nth(out, 3)).payload, { action: 'forget', label: 'spur gear', version: forgot.body.version, classes: ['bolt'] });
  });

  it('keeps the gallery across a restart, and drops galleries of classes removed elsewhere', async () => {
    await start();
    await seedClass();
    const ids = await frames(1, [11, 12]);
    assert.equal((await command('teach', { label: 'gear', frames: ids })).status, 200);
    assert.equal((await command('teach', { label: 'nut', frames: await frames(2, [13]) })).status, 200);
    // The model saves itself after 50 ms (saveDelay); unloading saves the rest.
    await stop();
    initNodeRedAgain(userDir);
    await start();
    const s = await stateWhen('the three classes', (st) => st.classes.length === 3);
    const gear = s.classes.find((c: Json) => c.label === 'gear');
    assert.equal(gear.gallery.length, 2, 'gallery after the restart');
    assert.equal((await fetch(`${base}/gallery/${gear.gallery[0].file}`)).status, 200);
    // hff-teach forgets 'nut': its gallery goes too.
    send('teach', { topic: 'forget', label: 'nut' });
    await waitFor('the gallery without nut', () => {
      const index = JSON.parse(fs.readFileSync(path.join(modelDir(userDir), 'teach-gallery', 'gallery.json'), 'utf8'));
      return index.classes.length === 1 && index.classes[0].label === 'gear';
    });
  });

  it('streams the state and then every change as Server-Sent Events, and ends the stream on close', async () => {
    await start();
    await seedClass();
    const events: { name: string; data: Json }[] = [];
    let ended = false;
    const req = http.get(`${base}/events`, (res) => {
      assert.equal(res.headers['content-type'], 'text/event-stream; charset=utf-8');
      let buffer = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let cut: number;
        while ((cut = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const name = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (name && data) events.push({ name, data: JSON.parse(data) });
        }
      });
      res.on('end', () => {
        ended = true;
      });
    });
    req.on('error', () => undefined);
    await waitFor('the state event', () => events.some((e) => e.name === 'state'));
    const ids = await frames(1, [21]);
    await waitFor('a frame event', () => events.some((e) => e.name === 'frame' && e.data.id === ids[0]));
    await waitStatus('ui', (s) => /1 viewing/.test(s.text ?? ''));
    assert.equal((await command('teach', { label: 'gear', frames: ids })).status, 200);
    await waitFor('taught, classes and activity events', () => ['taught', 'classes', 'activity'].every((n) => events.some((e) => e.name === n)));
    const classes = events.filter((e) => e.name === 'classes').pop()!.data;
    assert.deepEqual(
      classes.classes.map((c: Json) => c.label),
      ['bolt', 'gear'],
    );
    await waitFor('a stats event', () => events.some((e) => e.name === 'stats'), 5000);
    await helper.unload();
    await waitFor('the stream ended', () => ended);
  });

  it('takes the drift state from msg.drift, and counts a frame that comes twice once', async () => {
    await start({}, [onTab({ id: 'drift', type: 'hff-drift', detector: 'page-hinkley', wires: [['ui'], []] })]);
    await seedClass();
    // One classified frame reaches the page directly and again through hff-drift (which adds msg.drift).
    const msg = { payload: { label: 'bolt', score: 0.9, known: true, top: [] }, vector: new Float32Array(part(0, 1)), _msgid: 'm1' };
    send('ui', msg);
    send('drift', { ...msg });
    let s = await stateWhen('the drift state', (st) => !!st.drift);
    assert.equal(s.drift.state, 'ok');
    assert.equal(s.drift.detector, 'page-hinkley');
    assert.equal(s.stats.frames, 1, 'counted once');
    send('ui', { payload: 0.5, drift: { state: 'drift', drifts: 2, n: 40, detector: 'adwin' } });
    s = await stateWhen('drift', (st) => st.drift.state === 'drift');
    assert.deepEqual([s.drift.state, s.drift.drifts], ['drift', 2]);
    assert.equal(s.stats.frames, 1);
  });

  it('sends messages that are not classifications to Catch with what is accepted, and keeps working', async () => {
    await start();
    await seedClass();
    const caught = collect('caught');
    send('ui', { payload: 'hello' });
    assert.match(
      caughtText(await nth(caught, 1)),
      /msg.payload must be an hff-classify result \{label, score, known\} or a model input vector \(from hff-image\)/,
    );
    send('ui', { payload: { label: 'bolt', score: 0.5, known: true } });
    assert.match(caughtText(await nth(caught, 2)), /msg.vector is missing or not a vector: wire hff-teach-ui after hff-classify/);
    send('ui', { payload: [1, 2, 3] });
    assert.match(caughtText(await nth(caught, 3)), /msg.payload: expected a vector of length 16, got length 3/);
    assert.equal((await frames(1, [2])).length, 1);
  });

  it('classifies model inputs itself (hff-image -> hff-teach-ui), so an empty model can be taught its first class', async () => {
    await start();
    const ids: string[] = [];
    for (const seed of [1, 2]) {
      const last = await shown('ui', { payload: new Float32Array(part(1, seed)), image: { outWidth: 4, outHeight: 4, channels: 1 } });
      assert.deepEqual([last.label, last.known], ['no classes yet', false]);
      ids.push(last.id);
    }
    assert.equal((await command('teach', { label: 'gear', frames: ids })).status, 200);
    const last = await shown('ui', { payload: part(1, 3) });
    assert.deepEqual([last.label, last.known], ['gear', true]);
  });

  it('warns about frames the model called another class, and about classes too close to tell apart', async () => {
    await start({ closeCosine: 0.5 });
    await seedClass();
    const msg = (seed: number, label: string, known: boolean) => ({ payload: { label, score: 0.9, known }, vector: new Float32Array(part(0, seed)) });
    const ids: string[] = [];
    for (const [seed, label, known] of [
      [100.01, 'bolt', true],
      [100.02, 'bolt', true],
      [100.03, 'washer', false],
    ] as [number, string, boolean][]) {
      ids.push((await shown('ui', msg(seed, label, known))).id);
    }
    const r = await command('teach', { label: 'screw', frames: ids });
    assert.equal(r.status, 200);
    assert.match(r.body.warnings[0], /taught from 2 of 3 frames the model recognised as another class \(2 as 'bolt'\)/);
    const s = await state();
    const screw = s.classes.find((c: Json) => c.label === 'screw');
    assert.ok(
      screw.warnings.some((w: string) => /too close to 'bolt' \(prototype cosine \d\.\d\d\)/.test(w)),
      JSON.stringify(screw.warnings),
    );
    assert.ok(screw.warnings.some((w: string) => /recognised as another class/.test(w)));
    assert.deepEqual(
      s.close.map((c: Json) => [c.a, c.b]),
      [['bolt', 'screw']],
    );
  });

  it('records frames while asked, and teaches them', async () => {
    await start();
    await seedClass();
    assert.deepEqual((await command('record', { on: true })).body, { recording: true, frames: [] });
    const ids = await frames(1, [31, 32, 33]);
    const stopped = await command('record', { on: false });
    assert.deepEqual(stopped.body, { recording: false, frames: ids });
    assert.equal((await command('teach', { label: 'gear', frames: stopped.body.frames })).body.count, 3);
  });

  it('refuses a second page on the same path, and settings out of range', async () => {
    await start({}, [
      onTab({ id: 'ui2', type: 'hff-teach-ui', model: 'model', path: 'hff/teach', wires: [[]] }),
      onTab({ id: 'ui3', type: 'hff-teach-ui', model: 'model', path: '/x', fps: 100, wires: [[]] }),
    ]);
    await waitStatus('ui2', (s) => s.fill === 'red');
    await waitStatus('ui3', (s) => s.fill === 'red');
    const caught = collect('caught');
    send('ui2', { payload: { label: 'a', score: 1, known: true }, vector: [1] });
    assert.match(caughtText(await nth(caught, 1)), /another hff-teach-ui node already serves \/hff\/teach/);
    send('ui3', { payload: { label: 'a', score: 1, known: true }, vector: [1] });
    assert.match(caughtText(await nth(caught, 2)), /frames per second must be a number from 0.2 to 30, got 100/);
  });

  it('two pages on one model share its gallery; a trained class taught from a page stays a trained class', async () => {
    await start({}, [onTab({ id: 'ui2', type: 'hff-teach-ui', model: 'model', path: '/hff/teach-2', fps: 30, wires: [[]] })]);
    await seedClass();
    const taught = await command('teach', { label: 'gear', frames: await frames(1, [1, 2]) });
    assert.equal(taught.status, 200);
    const other = (await (await fetch(`${base}-2/state`)).json()) as Json;
    assert.equal(other.classes.find((c: Json) => c.label === 'gear').gallery.length, 2);
    await stop();
    fs.rmSync(modelDir(userDir), { recursive: true, force: true });
    initNodeRedAgain(userDir);
    await start({}, [], { classes: 'nut,washer' });
    const r = await command('teach', { label: 'nut', frames: await frames(1, [3]) });
    assert.deepEqual([r.status, r.body.created], [200, false]);
    const nut = (await stateWhen('nut updated', (s) => s.classes.some((c: Json) => c.label === 'nut' && c.gallery.length === 1))).classes[0];
    assert.equal(nut.kind, 'trained');
  });

  it('serves the page and teaches from it on Node-RED 5 too', async () => {
    helper.init(require.resolve('node-red-5'));
    helper.settings({ userDir });
    try {
      await start();
      assert.match((helper as unknown as { _RED: { version(): string } })._RED.version(), /^5\./);
      assert.equal((await fetch(`${base}/`)).status, 200);
      await seedClass();
      const r = await command('teach', { label: 'gear', frames: await frames(1, [1, 2]) });
      assert.deepEqual([r.status, r.body.created, r.body.count], [200, true, 2]);
      assert.equal((await command('teach', { label: '__proto__', frames: [] })).status, 400);
    } finally {
      await helper.unload();
      helper.init(require.resolve('node-red'));
    }
  });

  it('checks class names: trimmed, 1 to 60 characters, no control characters, no reserved names', () => {
    assert.equal(checkClassName('  Bag '), 'Bag');
    assert.equal(checkClassName('x'.repeat(60)), 'x'.repeat(60));
    for (const bad of ['', ' ', 'x'.repeat(61), '__proto__', 'constructor', 'a\tb', null, 3]) assert.throws(() => checkClassName(bad));
  });
});

/** A 4x4 grey picture of part `kind` (0-3: which quarter is bright) with a little noise that depends on `seed`. */
function part(kind: number, seed: number): number[] {
  return Array.from({ length: 16 }, (_, i) => {
    const quarter = (Math.floor(i / 4) < 2 ? 0 : 2) + (i % 4 < 2 ? 0 : 1);
    return (quarter === kind ? 0.9 : 0.1) + 0.05 * Math.sin(seed * 12.9898 + i * 78.233);
  });
}

/** The helper again on the same userDir (a restart of Node-RED). */
function initNodeRedAgain(userDir: string): void {
  helper.init(require.resolve('node-red'));
  helper.settings({ userDir });
}
