/**
 * Real MQTT brokers on a free loopback port, for `hff bench-fleet` and the tests: Debian's `mosquitto`
 * binary with a temporary configuration, or the in-process `aedes` broker (a development dependency).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

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
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hff-mosquitto-'));
  // Started as root, mosquitto would switch to the 'mosquitto' user, which cannot write our temporary folders.
  const lines = [
    `listener ${port} 127.0.0.1`,
    `user ${os.userInfo().username}`,
    'allow_anonymous true',
    'log_dest stderr',
    'log_type error',
    'log_type warning',
  ];
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
