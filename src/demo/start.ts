/**
 * `npm start`: Node-RED 4 with this package and the demo flows, on embedded defaults: an in-process MQTT broker
 * (aedes, loopback), the bundled camera recording replayed as the camera, and the bundled pretrained model.
 *
 *   npm start -- [--port 1880] [--host 127.0.0.1] [--user-dir ~/.node-red-hff-demo] [--mqtt-port 0]
 *                [--flows demo|none|FILE] [--reset] [--log-level info]
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { startBroker, type EmbeddedBroker } from './broker';
import { startRuntime, type EmbeddedRuntime } from './runtime';
import { DEFAULT_USER_DIR, demoAssets, prepareUserDir } from './userdir';

export interface StartOptions {
  port: number;
  host: string;
  userDir: string;
  mqttPort: number;
  /** mqtt://host:port of a broker to use instead of the embedded one. */
  mqttBroker?: string;
  flows: string;
  reset: boolean;
  logLevel: string;
}

export interface RunningDemo {
  url: string;
  runtime: EmbeddedRuntime;
  broker: EmbeddedBroker;
  stop(): Promise<void>;
}

function port(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || n > 65535) throw new InvalidArgumentError('expected a port number 0..65535.');
  return n;
}

/** Environment the demo flows read their settings from (Node-RED substitutes `${NAME}` property values). */
export function demoEnvironment(broker: EmbeddedBroker): Record<string, string> {
  return {
    HFF_DEMO_BAG: demoAssets().bag,
    HFF_DEMO_MQTT_HOST: broker.host,
    HFF_DEMO_MQTT_PORT: String(broker.port),
  };
}

export async function startDemo(options: StartOptions, log: (line: string) => void = (l) => console.log(l)): Promise<RunningDemo> {
  const prepared = prepareUserDir({ userDir: options.userDir, flows: options.flows, reset: options.reset });
  const broker = options.mqttBroker ? externalBroker(options.mqttBroker) : await startBroker({ host: '127.0.0.1', port: options.mqttPort });
  Object.assign(process.env, demoEnvironment(broker));
  let runtime: EmbeddedRuntime;
  try {
    runtime = await startRuntime({
      userDir: prepared.userDir,
      flowFile: path.basename(prepared.flowFile),
      host: options.host,
      port: options.port,
      logLevel: options.logLevel,
    });
  } catch (err) {
    await broker.close();
    throw err;
  }
  for (const note of prepared.notes) log(`hff demo: ${note}`);
  log(`hff demo: MQTT broker ${options.mqttBroker ? '(external)' : '(aedes, embedded)'} on ${broker.url}`);
  log(`hff demo: user directory ${prepared.userDir}`);
  log(`hff demo ready: open ${runtime.url} (Ctrl-C stops)`);
  const base = runtime.url.replace(/\/$/, '');
  log(`hff demo: teach the unseen fruit: curl -X POST '${base}/teach?label=Pineapple'`);
  log(`hff demo: latest classification:  curl ${base}/demo/state`);
  let stopping: Promise<void> | undefined;
  return {
    url: runtime.url,
    runtime,
    broker,
    stop() {
      stopping ??= (async () => {
        await runtime.stop().catch((err: Error) => log(`hff demo: stopping Node-RED: ${err.message}`));
        await broker.close();
      })();
      return stopping;
    },
  };
}

function externalBroker(url: string): EmbeddedBroker {
  const u = new URL(url);
  if (u.protocol !== 'mqtt:') throw new Error(`--mqtt-broker must be an mqtt://host:port URL, got ${url}`);
  const port = Number(u.port || 1883);
  return { host: u.hostname, port, url: `mqtt://${u.hostname}:${port}`, close: async () => undefined };
}

export function parseStartArgs(argv: readonly string[]): StartOptions {
  const program = new Command('npm start --')
    .description('Node-RED with node-red-contrib-hff and its demo flows, no broker or ROS 2 needed')
    .addOption(new Option('--port <n>', 'editor and HTTP port').argParser(port).default(Number(process.env.HFF_DEMO_PORT ?? 1880)))
    .addOption(new Option('--host <address>', 'address to listen on').default(process.env.HFF_DEMO_HOST ?? '127.0.0.1'))
    .addOption(new Option('--user-dir <dir>', 'Node-RED user directory').default(process.env.HFF_DEMO_USER_DIR ?? DEFAULT_USER_DIR))
    .addOption(new Option('--mqtt-port <n>', 'port of the embedded MQTT broker (0: 1883 if free, else any free port)').argParser(port).default(0))
    .option('--mqtt-broker <url>', 'use this MQTT broker (mqtt://host:port) instead of the embedded one')
    .option('--flows <what>', "flows on first start: 'demo', 'none' or a flows file", 'demo')
    .option('--reset', 'restore the bundled demo flows and model in the user directory', false)
    .addOption(new Option('--log-level <level>', 'Node-RED log level').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'))
    .helpOption('-h, --help')
    .allowExcessArguments(false);
  program.parse([...argv], { from: 'user' });
  const o = program.opts<StartOptions>();
  return { ...o, userDir: path.resolve(o.userDir) };
}

async function main(): Promise<void> {
  const options = parseStartArgs(process.argv.slice(2));
  if (!fs.existsSync(demoAssets().flows) && options.flows === 'demo') {
    throw new Error(`the demo flows (${demoAssets().flows}) are missing from this checkout`);
  }
  const demo = await startDemo(options);
  let signals = 0;
  const shutdown = (signal: string) => {
    signals += 1;
    if (signals > 1) process.exit(130);
    console.log(`hff demo: ${signal}, stopping`);
    demo.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

if (require.main === module) {
  main().catch((err: Error) => {
    console.error(`hff demo: ${err.message}`);
    process.exit(1);
  });
}
