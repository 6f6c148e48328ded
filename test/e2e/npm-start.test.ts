/**
 * `npm start` itself: `node dist/src/demo/start.js` (what the npm script runs after the build) on free ports with a
 * fresh user directory comes up, serves the editor, installs the demo flows and model, and the bundled recording
 * is classified without any help from the test; Ctrl-C (SIGINT) stops it with exit code 0.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import mqtt from 'mqtt';
import { waitFor } from '../../src/demo/admin';
import { startDemoProcess, tempDir, type DemoProcess } from './harness';

interface DemoState {
  frames: number;
  known: number;
  unknown: number;
  correct: number;
  withTruth: number;
  recent: Array<{ label: string; known: boolean; truth?: string; frame?: number }>;
  drift: { state: string };
}

describe('e2e: npm start (dist/src/demo/start.js on free ports, fresh user directory)', function () {
  this.timeout(60_000);
  let demo: DemoProcess | undefined;
  const userDir = tempDir('hff-e2e-start-');

  after(async () => {
    if (demo && demo.child.exitCode === null) await demo.stop();
    fs.rmSync(userDir, { recursive: true, force: true });
  });

  it('comes up, serves the editor, classifies the bundled recording and stops cleanly on SIGINT', async () => {
    const t0 = Date.now();
    demo = await startDemoProcess({ name: 'e2e-npm-start', userDir, args: ['--log-level', 'info'] });
    const started = Date.now() - t0;
    assert.match(demo.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    assert.match(demo.output(), /MQTT broker \(aedes, embedded\) on mqtt:\/\/127\.0\.0\.1:\d+/);

    // The user directory as the first start leaves it.
    assert.ok(fs.existsSync(path.join(userDir, 'flows.json')), 'demo flows installed');
    assert.ok(fs.existsSync(path.join(userDir, 'hff-models', 'demo-parts', 'model.json')), 'bundled model copied');
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
    assert.ok(seen.every((r) => typeof r.label === 'string' && typeof r.known === 'boolean'), JSON.stringify(seen.slice(0, 3)));

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
    assert.ok(state.withTruth > 0 && state.correct / state.withTruth >= 0.7, `recording frames classified correctly: ${state.correct}/${state.withTruth}; recent: ${JSON.stringify(state.recent.map((r) => [r.frame, r.truth, r.label, r.known]))}`);

    const code = await demo.stop();
    assert.equal(code, 0, `exit code after SIGINT; output:\n${demo.output().slice(-2000)}`);
    assert.match(demo.output(), /hff demo: SIGINT, stopping/);
    assert.doesNotMatch(demo.output(), /\[error\]/, 'no errors logged');
    const engineLine = /hff: compute engine (onnx|tfjs-\w+) \(.*/.exec(demo.output());
    assert.ok(engineLine, 'one log line names the compute engine');
    if (!process.env.HFF_BACKEND) assert.equal(engineLine[1], 'onnx', `a plain start gets the onnx engine: ${engineLine[0]}`);
    console.log(`      (${engineLine[0]}; ready in ${(started / 1000).toFixed(1)} s, ${state.frames} frames classified, ${state.correct}/${state.withTruth} right, whole test ${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  });
});
