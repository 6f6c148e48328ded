/**
 * End-to-end harness: a real Node-RED 4 started the way `npm start` starts it (dist/src/demo/start.js, in a
 * child process), a real MQTT broker (mosquitto when installed, else the demo's embedded aedes), the Admin API,
 * the editor's comms websocket for node statuses, and Debian's Chromium through playwright-core.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import WebSocket from 'ws';
import { freePort } from '../../src/demo/broker';

export const ROOT = path.resolve(__dirname, '..', '..', '..');
export const ARTIFACTS = path.join(ROOT, '.test-artifacts');
export const START_JS = path.join(ROOT, 'dist', 'src', 'demo', 'start.js');

import { tempDir } from '../helpers/data';

export { tempDir };

export interface DemoProcess {
  url: string;
  mqttUrl: string;
  userDir: string;
  child: ChildProcess;
  output(): string;
  /** SIGINT, then resolves with the exit code (SIGKILL after `graceMs`). */
  stop(graceMs?: number): Promise<number | null>;
}

/** Starts `node dist/src/demo/start.js` and waits for its "ready" line. */
export async function startDemoProcess(options: {
  name: string;
  args?: string[];
  userDir?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}): Promise<DemoProcess> {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const userDir = options.userDir ?? tempDir('hff-e2e-');
  const args = [START_JS, '--port', '0', '--user-dir', userDir, '--mqtt-port', '0', '--log-level', 'warn', ...(options.args ?? [])];
  const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, ...(options.env ?? {}) }, stdio: ['ignore', 'pipe', 'pipe'] });
  const logFile = path.join(ARTIFACTS, `${options.name}.log`);
  const log = fs.createWriteStream(logFile);
  let text = '';
  const onData = (chunk: Buffer) => {
    text += chunk.toString();
    log.write(chunk);
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const ready = await new Promise<{ url: string; mqttUrl: string }>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`demo did not get ready in ${options.timeoutMs ?? 90_000} ms; output:\n${text}`));
    }, options.timeoutMs ?? 90_000);
    const check = () => {
      const m = /hff demo ready: open (\S+)/.exec(text);
      const b = /MQTT broker .* on (mqtt:\/\/\S+)/.exec(text);
      if (m && b) {
        clearTimeout(timer);
        resolve({ url: m[1], mqttUrl: b[1] });
      }
    };
    child.stdout!.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`demo exited with code ${code} before it was ready; output:\n${text}`));
    });
  });
  return {
    ...ready,
    userDir,
    child,
    output: () => text,
    async stop(graceMs = 15_000) {
      if (child.exitCode !== null) return child.exitCode;
      child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const code = await exited;
      clearTimeout(timer);
      log.end();
      return code;
    },
  };
}

function waitForPort(port: number, host: string, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const socket = net.connect({ port, host }, () => {
        socket.destroy();
        resolve();
      });
      socket.once('error', () => {
        socket.destroy();
        if (Date.now() > until) reject(new Error(`nothing listens on ${host}:${port}`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

const MOSQUITTO = ['/usr/sbin/mosquitto', '/usr/bin/mosquitto'].find((p) => fs.existsSync(p));

/** A mosquitto broker on a free loopback port, or undefined when mosquitto is not installed. */
export async function startMosquitto(): Promise<{ url: string; stop: () => Promise<void> } | undefined> {
  if (!MOSQUITTO) return undefined;
  const port = await freePort();
  const dir = tempDir('hff-e2e-mosquitto-');
  const conf = path.join(dir, 'mosquitto.conf');
  fs.writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\n`);
  const child = spawn(MOSQUITTO, ['-c', conf], { stdio: 'ignore' });
  await waitForPort(port, '127.0.0.1', 10_000);
  return {
    url: `mqtt://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

export interface StatusEvent {
  id: string;
  fill?: string;
  shape?: string;
  text?: string;
  at: number;
}

/** Node statuses as the editor receives them, over the /comms websocket. */
export class StatusWatcher {
  readonly events: StatusEvent[] = [];
  private ws?: WebSocket;

  static async connect(url: string): Promise<StatusWatcher> {
    const w = new StatusWatcher();
    const ws = new WebSocket(`${url.replace(/^http/, 'ws').replace(/\/$/, '')}/comms`);
    w.ws = ws;
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    ws.send(JSON.stringify({ subscribe: 'status/#' }));
    ws.on('message', (data) => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(data.toString());
      } catch {
        return;
      }
      for (const m of Array.isArray(parsed) ? parsed : [parsed]) {
        const topic = (m as { topic?: string }).topic ?? '';
        if (!topic.startsWith('status/')) continue;
        const d = ((m as { data?: Record<string, string> }).data ?? {}) as Record<string, string>;
        w.events.push({ id: topic.slice('status/'.length), fill: d.fill, shape: d.shape, text: d.text, at: Date.now() });
      }
    });
    return w;
  }

  last(id: string): StatusEvent | undefined {
    for (let i = this.events.length - 1; i >= 0; i--) if (this.events[i].id === id) return this.events[i];
    return undefined;
  }

  seen(id: string, fill: string, since = 0): boolean {
    return this.events.some((e) => e.id === id && e.fill === fill && e.at >= since);
  }

  close(): void {
    this.ws?.close();
  }
}

/** Frames of the bundled recording (demo/camera.mcap) with their ground truth: 320x240 colour JPEG camera frames. */
export interface DemoFrame {
  frame: number;
  segment: string;
  label: string;
  /** The sensor_msgs/CompressedImage as recorded. */
  image: { format: string; data: Uint8Array };
}

export async function readDemoFrames(bag = path.join(ROOT, 'demo', 'camera.mcap')): Promise<DemoFrame[]> {
  const { BagReader } = require('../../src/io') as typeof import('../../src/io');
  const reader = await BagReader.open(bag);
  const frames: DemoFrame[] = [];
  let truth: { frame: number; segment: string; label: string } | undefined;
  try {
    for await (const m of reader.messages({ topics: ['/demo/truth', '/camera/image_raw'] })) {
      const msg = m.message as Record<string, unknown>;
      if (m.topic === '/demo/truth') truth = JSON.parse(String(msg.data));
      else if (truth) frames.push({ ...truth, image: msg as unknown as DemoFrame['image'] });
    }
  } finally {
    await reader.close();
  }
  return frames;
}

/** A frame as JPEG bytes (what a camera bridge or a phone would publish). */
export function frameJpeg(frame: DemoFrame): Buffer {
  if (frame.image.format !== 'jpeg') throw new Error(`frame ${frame.frame} is ${frame.image.format}, not jpeg`);
  return Buffer.from(frame.image.data);
}

export const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => fs.existsSync(p));

export function hasPlaywright(): boolean {
  try {
    require.resolve('playwright-core');
    return true;
  } catch {
    return false;
  }
}
