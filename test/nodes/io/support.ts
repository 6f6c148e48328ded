/**
 * Real MQTT brokers for tests (never mocks): the in-process `aedes` broker, and Debian's `mosquitto`
 * binary started on a free loopback port with a temporary configuration (skipped with a printed
 * reason when it is not installed; `.ci/run` installs it).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { tempDir } from '../../helpers/data';
import { nodeRedPath } from '../../../src/demo/runtime';

export interface Broker {
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

function loadAedes(): Promise<{ Aedes: { createBroker(options?: object): Promise<AedesInstance> } }> {
  try {
    // aedes is an ES module; Node.js >= 20.19 can require() it.
    return Promise.resolve(require('aedes'));
  } catch {
    return (new Function('s', 'return import(s)') as (s: string) => Promise<never>)('aedes');
  }
}

interface AedesInstance {
  handle: (socket: net.Socket) => void;
  close(cb?: () => void): void;
}

/** An in-process aedes broker on a free loopback port (in-memory persistence). */
export async function startAedes(port?: number): Promise<Broker> {
  const { Aedes } = await loadAedes();
  const broker = await Aedes.createBroker();
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    broker.handle(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port ?? 0, '127.0.0.1', () => resolve());
  });
  const actual = (server.address() as net.AddressInfo).port;
  return {
    url: `mqtt://127.0.0.1:${actual}`,
    port: actual,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => broker.close(() => resolve()));
      }),
  };
}

/** Path of the mosquitto binary, or undefined when it is not installed. */
export function mosquittoBinary(): string | undefined {
  const candidates = [process.env.MOSQUITTO_BIN, '/usr/sbin/mosquitto', '/usr/bin/mosquitto', '/usr/local/sbin/mosquitto', '/usr/local/bin/mosquitto'];
  for (const c of candidates) if (c && fs.existsSync(c)) return c;
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const c = path.join(dir, 'mosquitto');
    if (dir && fs.existsSync(c)) return c;
  }
  return undefined;
}

/** Skips the running test (or hook) with a printed reason when mosquitto is not installed. */
export function requireMosquitto(ctx: Mocha.Context): string {
  const bin = mosquittoBinary();
  if (!bin) {
    console.log("      skipped: mosquitto is not installed (apt-get install -y mosquitto; .ci/run installs it)");
    ctx.skip();
  }
  return bin as string;
}

export interface MosquittoOptions {
  port?: number;
  /** Folder for mosquitto.db; persistence is off when absent. */
  persistenceDir?: string;
}

export interface MosquittoBroker extends Broker {
  readonly process: ChildProcess;
  readonly log: string[];
}

async function waitForPort(port: number, child: ChildProcess, log: string[], timeoutMs = 5000): Promise<void> {
  const t0 = Date.now();
  for (;;) {
    if (child.exitCode !== null) throw new Error(`mosquitto exited with ${child.exitCode}: ${log.join('').trim()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() - t0 > timeoutMs) throw new Error(`mosquitto did not listen on ${port} within ${timeoutMs} ms: ${log.join('').trim()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Starts mosquitto on 127.0.0.1 with a temporary config; `stop()` ends it (saving persistence). */
export async function startMosquitto(bin: string, options: MosquittoOptions = {}): Promise<MosquittoBroker> {
  const port = options.port ?? (await freePort());
  const dir = tempDir('hff-mosquitto-');
  // Started as root, mosquitto would switch to the 'mosquitto' user, which cannot write our temporary folders.
  const lines = [`listener ${port} 127.0.0.1`, `user ${os.userInfo().username}`, 'allow_anonymous true', 'log_dest stderr', 'log_type error', 'log_type warning'];
  if (options.persistenceDir) {
    lines.push('persistence true', `persistence_location ${options.persistenceDir.replace(/\/?$/, '/')}`, 'autosave_interval 1');
  } else {
    lines.push('persistence false');
  }
  const conf = path.join(dir, 'mosquitto.conf');
  fs.writeFileSync(conf, `${lines.join('\n')}\n`);
  const child = spawn(bin, ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  const log: string[] = [];
  child.stdout?.on('data', (d: Buffer) => log.push(d.toString()));
  child.stderr?.on('data', (d: Buffer) => log.push(d.toString()));
  try {
    await waitForPort(port, child, log);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    process: child,
    log,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) {
          fs.rmSync(dir, { recursive: true, force: true });
          resolve();
          return;
        }
        const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
        child.once('exit', () => {
          clearTimeout(timer);
          fs.rmSync(dir, { recursive: true, force: true });
          resolve();
        });
        child.kill('SIGTERM');
      }),
  };
}

/** Polls `cond` every 5 ms until it holds; fails with `what` after `timeoutMs`. */
export async function until(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const t = Date.now();
  while (!cond()) {
    if (Date.now() - t > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

// ---------------------------------------------------------------------------------------------
// A real FoxgloveServer (the @foxglove/ws-protocol server class foxglove_bridge implements) on a
// loopback WebSocket server, advertising CDR channels the way foxglove_bridge does for ROS 2.

import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { FoxgloveServer, type ChannelId } from '@foxglove/ws-protocol';
import { fullSchemaText } from '../../../src/io';

export interface Bridge {
  server: FoxgloveServer;
  url: string;
  channels: Record<string, ChannelId>;
  subscribed: Set<ChannelId>;
  received: Array<{ topic: string; encoding: string; schemaName: string; data: Uint8Array }>;
  close(): Promise<void>;
}

export async function startBridge(topics: Array<[string, string]>): Promise<Bridge> {
  const server = new FoxgloveServer({ name: 'test-bridge', capabilities: ['clientPublish'], supportedEncodings: ['cdr', 'json'] });
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: (protocols) => server.handleProtocols(protocols) });
  await new Promise<void>((resolve, reject) => {
    wss.once('listening', resolve);
    wss.once('error', reject);
  });
  wss.on('connection', (conn, req) => server.handleConnection(conn as never, `${req.socket.remoteAddress}:${req.socket.remotePort}`));
  const channels: Record<string, ChannelId> = {};
  for (const [topic, type] of topics) {
    channels[topic] = server.addChannel({ topic, encoding: 'cdr', schemaName: type, schema: fullSchemaText(type), schemaEncoding: 'ros2msg' });
  }
  const bridge: Bridge = {
    server,
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
  server.on('error', () => undefined);
  return bridge;
}

/** The hooks object of the Node-RED runtime the helper runs (the test helper's RED lacks RED.hooks). */
export function runtimeHooks(nodeRedPackage = 'node-red'): unknown {
  // 'node-red' is the one the tests run on ($HFF_NODE_RED in CI's version matrix).
  const main = nodeRedPackage === 'node-red' ? nodeRedPath() : require.resolve(`${nodeRedPackage}/package.json`);
  const nodeRedDir = require('node:path').dirname(main) as string;
  return (require(require.resolve('@node-red/util', { paths: [nodeRedDir] })) as { hooks: unknown }).hooks;
}

/** Wraps a node module so that RED.hooks is the runtime's, as in a real Node-RED. */
export function withHooks<R extends object>(register: (RED: R) => void, nodeRedPackage = 'node-red'): (RED: R) => void {
  return (RED: R) => {
    const r = RED as R & { hooks?: unknown };
    if (!r.hooks) r.hooks = runtimeHooks(nodeRedPackage);
    register(RED);
  };
}
