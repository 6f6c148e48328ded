/**
 * Node-RED 4 embedded in this process (express + RED.init), with the demo's user directory and settings.
 * Used by `npm start` and by the flow throughput benchmark. Node-RED is a process-wide singleton, so one
 * runtime per process.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';

/**
 * The Node-RED package to embed: $HFF_NODE_RED (a node-red package folder; CI runs the suites on other Node-RED
 * versions this way), else the node-red this package resolves.
 */
export function nodeRedPath(): string {
  const chosen = process.env.HFF_NODE_RED;
  return chosen ? require.resolve(path.resolve(chosen)) : require.resolve('node-red');
}

/** The version of the Node-RED package nodeRedPath() embeds (read from its package.json). */
export function nodeRedVersion(): string {
  let dir = path.dirname(nodeRedPath());
  for (;;) {
    const manifest = path.join(dir, 'package.json');
    if (fs.existsSync(manifest)) {
      const pkg = JSON.parse(fs.readFileSync(manifest, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'node-red' && pkg.version) return pkg.version;
    }
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`no node-red package.json above ${nodeRedPath()}`);
    dir = parent;
  }
}

export interface RuntimeOptions {
  userDir: string;
  flowFile?: string;
  host: string;
  /** 0 = any free port. */
  port: number;
  /** Node-RED log level: fatal, error, warn, info, debug, trace (default info). */
  logLevel?: string;
  /** Log each flow deployment and node start (default true). */
  quiet?: boolean;
  /** Extra Node-RED settings merged over the demo's. */
  settings?: Record<string, unknown>;
}

export interface EmbeddedRuntime {
  url: string;
  port: number;
  /** The node-red module (RED.nodes, RED.events, ...). */
  RED: NodeRedModule;
  stop(): Promise<void>;
}

export interface NodeRedModule {
  init(server: http.Server, settings: Record<string, unknown>): void;
  start(): Promise<void>;
  stop(): Promise<void>;
  httpAdmin: http.RequestListener;
  httpNode: http.RequestListener;
  events: { on(event: string, listener: (...args: unknown[]) => void): void; off?(event: string, listener: (...args: unknown[]) => void): void; removeListener(event: string, listener: (...args: unknown[]) => void): void };
  nodes: { getNode(id: string): unknown; eachNode(cb: (n: Record<string, unknown>) => void): void };
}

export function demoSettings(options: RuntimeOptions): Record<string, unknown> {
  return {
    uiHost: options.host,
    uiPort: options.port,
    userDir: options.userDir,
    flowFile: options.flowFile ?? 'flows.json',
    flowFilePretty: true,
    httpAdminRoot: '/',
    httpNodeRoot: '/',
    // A fixed key: the demo's only credentials are an empty MQTT login, and a generated key would make
    // Node-RED print a warning and write .config.runtime.json secrets on every fresh user directory.
    credentialSecret: 'node-red-contrib-hff-demo',
    logging: { console: { level: options.logLevel ?? 'info', metrics: false, audit: false } },
    telemetry: { enabled: false, updateNotification: false },
    diagnostics: { enabled: true, ui: true },
    externalModules: { autoInstall: false, palette: { allowInstall: true } },
    editorTheme: {
      page: { title: 'Node-RED · HFF demo' },
      header: { title: 'Node-RED · HFF demo' },
      projects: { enabled: false },
      tours: false,
      // No node catalogue: the demo makes no request beyond loopback (robot cells are often offline, and tests
      // must not reach outside addresses).
      palette: { categories: ['HFF', 'robotics', 'common', 'function', 'network', 'sequence', 'parser', 'storage'], catalogues: [] },
    },
    ...(options.settings ?? {}),
  };
}

function listen(server: http.Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host }, () => {
      server.off('error', reject);
      resolve((server.address() as net.AddressInfo).port);
    });
  });
}

/** Resolves when the deployed flows have started (or after `timeoutMs`, whichever is first). */
function flowsStarted(RED: NodeRedModule, timeoutMs: number): { promise: Promise<void>; cancel: () => void } {
  let cancel = () => undefined as void;
  const promise = new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      RED.events.removeListener('flows:started', done);
      resolve();
    };
    const timer = setTimeout(done, timeoutMs);
    RED.events.on('flows:started', done);
    cancel = done;
  });
  return { promise, cancel };
}

export async function startRuntime(options: RuntimeOptions): Promise<EmbeddedRuntime> {
  const red = nodeRedPath();
  const express = require(require.resolve('express', { paths: [red] })) as () => http.RequestListener & { use: (path: string, handler: unknown) => void };
  const RED = require(red) as NodeRedModule;
  const app = express();
  const server = http.createServer(app);
  const sockets = new Set<net.Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  const settings = demoSettings(options);
  // Bind first, so a busy port fails with a clear message before Node-RED prints its banner.
  const port = await listen(server, options.port, options.host).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'EADDRINUSE') throw new Error(`port ${options.port} on ${options.host} is in use; choose another with --port`);
    throw err;
  });
  settings.uiPort = port;
  RED.init(server, settings);
  // Until the runtime has started, Node-RED's editor answers each request with an "[error] Node-RED runtime not
  // started" log line; an editor tab left open from the last run reconnects in that window. Answer 503 ourselves.
  let runtimeStarted = false;
  app.use('/', (req: http.IncomingMessage, res: http.ServerResponse, next: () => void) => {
    if (runtimeStarted) return next();
    res.writeHead(503, { 'Retry-After': '1', 'Content-Type': 'text/plain' }).end('Node-RED is starting\n');
  });
  app.use(settings.httpAdminRoot as string, RED.httpAdmin);
  app.use(settings.httpNodeRoot as string, RED.httpNode);
  const started = flowsStarted(RED, 30_000);
  await RED.start();
  runtimeStarted = true;
  await started.promise;
  const url = `http://${options.host.includes(':') ? `[${options.host}]` : options.host}:${port}/`;
  let stopping: Promise<void> | undefined;
  return {
    url,
    port,
    RED,
    stop() {
      stopping ??= (async () => {
        started.cancel();
        await RED.stop();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          for (const s of sockets) s.destroy();
        });
      })();
      return stopping;
    },
  };
}
