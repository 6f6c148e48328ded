/**
 * The demo's embedded MQTT broker: aedes on a loopback TCP port, so the MQTT flows run without installing
 * a broker. aedes is an ES module; Node >= 20.19 loads it with require().
 */
import * as net from 'node:net';

export interface EmbeddedBroker {
  host: string;
  port: number;
  url: string;
  close(): Promise<void>;
}

interface AedesInstance {
  handle: (socket: net.Socket) => void;
  close: (cb?: () => void) => void;
}

interface AedesModule {
  Aedes: { createBroker: (options?: Record<string, unknown>) => Promise<AedesInstance> };
}

async function loadAedes(): Promise<AedesModule> {
  try {
    return require('aedes') as AedesModule;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ERR_REQUIRE_ESM') {
      // Node < 20.19 cannot require() an ES module; a real dynamic import (not rewritten by tsc) can.
      const importer = new Function('s', 'return import(s)') as (s: string) => Promise<AedesModule>;
      return importer('aedes');
    }
    if (code === 'MODULE_NOT_FOUND') throw new Error("the demo's MQTT broker needs the 'aedes' package: run npm install");
    throw err;
  }
}

/** True when `port` can be bound on `host` right now. */
export function portIsFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** A port the OS reports free on `host` (there is a small race until it is bound again). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen({ port: 0, host }, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts aedes on `host:port`; port 0 (default) takes 1883 when it is free and any free port otherwise.
 */
export async function startBroker(options: { host?: string; port?: number } = {}): Promise<EmbeddedBroker> {
  const host = options.host ?? '127.0.0.1';
  let port = options.port ?? 0;
  if (port === 0 && (await portIsFree(1883, host))) port = 1883;
  const { Aedes } = await loadAedes();
  const aedes = await Aedes.createBroker();
  const server = net.createServer((socket) => aedes.handle(socket));
  const sockets = new Set<net.Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = (server.address() as net.AddressInfo).port;
  let closing: Promise<void> | undefined;
  return {
    host,
    port: bound,
    url: `mqtt://${host}:${bound}`,
    close() {
      closing ??= new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => aedes.close(() => resolve()));
      });
      return closing;
    },
  };
}
