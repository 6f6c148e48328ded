/**
 * Real MQTT brokers for tests (never mocks): the in-process `aedes` broker, and Debian's `mosquitto`
 * binary started on a free loopback port with a temporary configuration (skipped with a printed
 * reason when it is not installed; `.ci/run` installs it).
 */
import { mosquittoBinary } from '../../src/bench/fleet/brokers';
import { nodeRedPath } from '../../src/demo/runtime';

export { freePort, mosquittoBinary, startAedes, startMosquitto, type Broker, type MosquittoBroker, type MosquittoOptions } from '../../src/bench/fleet/brokers';

/** Skips the running test (or hook) with a printed reason when mosquitto is not installed. */
export function requireMosquitto(ctx: Mocha.Context): string {
  const bin = mosquittoBinary();
  if (!bin) {
    skipForEnvironment(ctx, 'mosquitto is not installed (apt-get install -y mosquitto; .ci/run installs it)');
  }
  return bin as string;
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
import { fullSchemaText } from '../../src/io';
import { skipForEnvironment } from './skip';

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
