/**
 * `npm start` itself: `node dist/src/demo/start.js` (what the npm script runs after the build) on free ports with a
 * fresh user directory comes up, serves the editor, installs the demo flows and model, and the bundled recording
 * is classified without any help from the test; the never-seen Pineapple is taught live over HTTP and its next frames
 * are named; Ctrl-C (SIGINT) stops it with exit code 0.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import mqtt from 'mqtt';
import { waitFor } from '../../src/demo/admin';
import { freePort } from '../../src/demo/broker';
import { ROOT, startDemoProcess, tempDir, type DemoProcess } from './harness';
import { skipForEnvironment } from '../helpers/skip';

interface DemoState {
  frames: number;
  known: number;
  unknown: number;
  correct: number;
  withTruth: number;
  recent: Array<{ label: string; known: boolean; truth?: string; segment?: string; frame?: number; at: number }>;
  last?: { segment?: string };
  drift: { state: string };
}

describe('e2e: npm start (dist/src/demo/start.js on free ports, fresh user directory)', function () {
  this.timeout(90_000);
  let demo: DemoProcess | undefined;
  const userDir = tempDir('hff-e2e-start-');

  after(async () => {
    if (demo && demo.child.exitCode === null) await demo.stop();
    fs.rmSync(userDir, { recursive: true, force: true });
  });

  it('comes up, serves the editor, classifies the bundled recording and stops cleanly on SIGINT', async () => {
    const t0 = Date.now();
    // An editor tab left open reconnects while the demo starts: it gets 503 until Node-RED runs, and no [error].
    const port = await freePort();
    const early = new Set<number>();
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const status = await fetch(`http://127.0.0.1:${port}/`).then(
          (r) => r.status,
          () => 0,
        );
        if (status) early.add(status);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    try {
      demo = await startDemoProcess({ name: 'e2e-npm-start', userDir, args: ['--log-level', 'info', '--port', String(port)] });
    } finally {
      polling = false;
      await poller;
    }
    const started = Date.now() - t0;
    assert.ok(
      [...early].every((s) => s === 503 || s === 200),
      `editor answers while starting: ${[...early].join(', ')}`,
    );
    assert.equal(demo.url, `http://127.0.0.1:${port}/`);
    assert.match(demo.output(), /MQTT broker \(aedes, embedded\) on mqtt:\/\/127\.0\.0\.1:\d+/);

    // The user directory as the first start leaves it.
    assert.ok(fs.existsSync(path.join(userDir, 'flows.json')), 'demo flows installed');
    assert.ok(fs.existsSync(path.join(userDir, 'hff-models', 'demo-fruit', 'model.json')), 'bundled model copied');
    assert.equal(fs.realpathSync(path.join(userDir, 'node_modules', 'node-red-contrib-hff')), fs.realpathSync(path.resolve(__dirname, '..', '..', '..')));

    // The editor.
    const page = await fetch(demo.url);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /text\/html/);
    const html = await page.text();
    assert.match(html, /<title>Node-RED · HFF demo<\/title>/);
    assert.match(html, /red\/red(\.min)?\.js/);

    // Classifications arrive on MQTT from the recording alone.
    const client = await mqtt.connectAsync(demo.mqttUrl, { clientId: `hff-e2e-start-${process.pid}` });
    const seen: Array<{ label: string; known: boolean }> = [];
    client.on('message', (_topic, payload) => seen.push(JSON.parse(payload.toString())));
    await client.subscribeAsync('hff/demo/classification');
    try {
      await waitFor('10 classifications on MQTT hff/demo/classification', () => seen.length >= 10, 20_000);
    } finally {
      await client.endAsync();
    }
    assert.ok(
      seen.every((r) => typeof r.label === 'string' && typeof r.known === 'boolean'),
      JSON.stringify(seen.slice(0, 3)),
    );

    // ... and in the demo's own state endpoint, with the recording's ground truth mostly matched.
    const state = await waitFor(
      'GET /demo/state with 20 classified frames',
      async () => {
        const res = await fetch(`${demo!.url}demo/state`);
        const s = (await res.json()) as DemoState;
        return s.frames >= 20 ? s : undefined;
      },
      20_000,
    );
    assert.ok(state.known > 0, JSON.stringify(state));
    // The recording starts with known fruit (the model names 21 of the first 30 right, 107 of all 120 known frames).
    assert.ok(
      state.withTruth > 0 && state.correct / state.withTruth >= 0.6,
      `recording frames classified correctly: ${state.correct}/${state.withTruth}; recent: ${JSON.stringify(state.recent.map((r) => [r.frame, r.truth, r.label, r.known]))}`,
    );

    // README's live teach: while the never-seen Pineapple is on camera, POST /teach?label=Pineapple takes its last 5
    // unknown frames, and the recording's next Pineapple frames are named.
    const demoState = async () => (await (await fetch(`${demo!.url}demo/state`)).json()) as DemoState;
    await waitFor(
      "6 frames into the recording's Pineapple segment",
      async () => {
        const recent = (await demoState()).recent.slice(-6);
        return recent.length === 6 && recent.every((r) => r.segment === 'unseen' && !r.known) ? true : undefined;
      },
      40_000,
    );
    const live = await fetch(`${demo.url}teach?label=Pineapple`, { method: 'POST' });
    const liveReply = (await live.json()) as { label?: string; created?: boolean; count?: number; from?: string };
    assert.equal(live.status, 200, JSON.stringify(liveReply));
    assert.deepEqual([liveReply.label, liveReply.created, liveReply.count, liveReply.from], ['Pineapple', true, 5, 'unknown']);
    const taughtAt = Date.now();
    const later = await waitFor(
      'the rest of the Pineapple segment',
      async () => {
        const s = await demoState();
        const after = s.recent.filter((r) => r.at > taughtAt && r.segment === 'unseen');
        return s.last?.segment !== 'unseen' && after.length > 0 ? after : undefined;
      },
      20_000,
    );
    const named = later.filter((r) => r.known && r.label === 'Pineapple').length;
    assert.ok(
      named >= 0.9 * later.length,
      `Pineapple frames after teaching: ${named}/${later.length} named; ${JSON.stringify(later.map((r) => [r.label, r.known]))}`,
    );

    // README's example: teach Pineapple from the shipped picture (demo/pineapple.jpg, a Pineapple frame of the recording).
    const taught = await fetch(`${demo.url}teach?label=Pineapple`, {
      method: 'POST',
      headers: { 'content-type': 'image/jpeg' },
      body: fs.readFileSync(path.resolve(__dirname, '..', '..', '..', 'demo', 'pineapple.jpg')),
    });
    const reply = (await taught.json()) as { label?: string; classes?: string[] };
    assert.equal(taught.status, 200, JSON.stringify(reply));
    assert.equal(reply.label, 'Pineapple');
    assert.ok(reply.classes?.includes('Pineapple'), JSON.stringify(reply));

    const code = await demo.stop();
    assert.equal(code, 0, `exit code after SIGINT; output:\n${demo.output().slice(-2000)}`);
    assert.match(demo.output(), /hff demo: SIGINT, stopping/);
    assert.doesNotMatch(demo.output(), /\[error\]/, 'no errors logged');
    const engineLine = /hff: compute engine (onnx|tfjs-\w+) \(.*/.exec(demo.output());
    assert.ok(engineLine, 'one log line names the compute engine');
    if (!process.env.HFF_BACKEND) assert.equal(engineLine[1], 'onnx', `a plain start gets the onnx engine: ${engineLine[0]}`);
    console.log(
      `      (${engineLine[0]}; ready in ${(started / 1000).toFixed(1)} s, ${state.frames} frames classified, ${state.correct}/${state.withTruth} right, ${named}/${later.length} Pineapple frames named after the live teach, whole test ${((Date.now() - t0) / 1000).toFixed(1)} s)`,
    );
  });

  it('`npm start` itself: skips the build when dist/ is up to date, and stops on SIGTERM sent to the npm process', async function () {
    const { isStale } = require(path.join(ROOT, 'scripts', 'build-state.js')) as { isStale(): boolean };
    // npm start would recompile into the dist/ these tests run from: only `npm test` (which builds first) runs this.
    if (isStale())
      skipForEnvironment(this, 'dist/ is older than the sources (`npm start` would recompile the dist/ these tests run from; `npm test` builds first)');
    const dir = tempDir('hff-e2e-npm-');
    const t0 = Date.now();
    // What a supervisor does: start `npm start` and signal the PID it started (not the process group).
    const npm = spawn('npm', ['start', '--', '--port', '0', '--mqtt-port', '0', '--user-dir', dir, '--log-level', 'warn'], {
      cwd: ROOT,
      // npm and its script run on the Node that runs the tests (CI's matrix runs them on Node 22 too).
      env: { ...process.env, PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH ?? ''}` },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let text = '';
    npm.stdout!.on('data', (d: Buffer) => (text += d.toString()));
    npm.stderr!.on('data', (d: Buffer) => (text += d.toString()));
    const exited = new Promise<number | null>((resolve) => npm.once('exit', (code) => resolve(code)));
    try {
      const url = await waitFor('npm start to be ready', () => /hff demo ready: open (\S+)/.exec(text)?.[1], 60_000);
      const ready = Date.now() - t0;
      assert.doesNotMatch(text, /sources changed since the last build/, 'dist/ was just built: no compile');
      npm.kill('SIGTERM');
      const code = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r('still running'), 15_000))]);
      assert.equal(code, 0, `npm start after SIGTERM; output:\n${text.slice(-2000)}`);
      assert.match(text, /hff demo: SIGTERM, stopping/);
      const after = await fetch(url).then(
        () => 'still answering',
        () => 'closed',
      );
      assert.equal(after, 'closed', 'the Node-RED it started is gone');
      assert.doesNotMatch(text, /\[error\]/);
      console.log(`      (npm start with dist/ up to date: ready in ${(ready / 1000).toFixed(1)} s; SIGTERM to npm stopped it)`);
    } finally {
      // SIGKILL would leave the Node-RED npm started running: SIGTERM first (npm forwards it), SIGKILL if it hangs.
      if (npm.exitCode === null) {
        npm.kill('SIGTERM');
        const timer = setTimeout(() => npm.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
