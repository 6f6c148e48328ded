/**
 * Flow throughput benchmark: camera frames through `hff-image -> hff-classify` inside a real Node-RED 4 runtime
 * (embedded in this process), next to the same work by direct library calls (imageToVector + predict) in the
 * same run, so the runtime's overhead is a ratio. Frames enter hff-image as an upstream node's message would
 * (node.receive) and a frame is done when hff-classify sends its result (a runtime onSend hook). Frames go one at a time (the next is sent when the previous
 * result is out), so frames per second = 1 / mean latency for both paths. Rounds alternate library and flow so
 * that load from other processes hits both alike.
 *
 *   node dist/src/bench-flow/bench-flow.js [--model demo/model] [--bag demo/camera.mcap] [--frames 2000]
 *       [--warmup 200] [--rounds 3] [--json]
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Command, InvalidArgumentError } from 'commander';
import { demoAssets, packageRoot, prepareUserDir } from '../demo/userdir';
import type { EmbeddedRuntime } from '../demo/runtime';

export interface BenchFlowOptions {
  model: string;
  bag: string;
  frames: number;
  warmup: number;
  rounds: number;
  json?: boolean;
  backend?: string;
}

export interface PathStats {
  path: 'library' | 'flow';
  frames: number;
  fps: number;
  meanMs: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
}

export interface BenchFlowResult {
  inputSize: number;
  layers: number[];
  backend: string;
  library: PathStats;
  flow: PathStats;
  /** flow fps / library fps. */
  ratio: number;
  node: string;
  nodeRed: string;
  cpus: number;
  date: string;
}

type Frame = Record<string, unknown>;

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive whole number.');
  return n;
}

function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i];
}

function stats(pathName: 'library' | 'flow', latencies: number[], elapsedMs: number): PathStats {
  const sorted = [...latencies].sort((a, b) => a - b);
  const round = (x: number) => Math.round(x * 1000) / 1000;
  return {
    path: pathName,
    frames: latencies.length,
    fps: Math.round((latencies.length / elapsedMs) * 1000 * 10) / 10,
    meanMs: round(latencies.reduce((a, b) => a + b, 0) / latencies.length),
    p50Ms: round(percentile(sorted, 0.5)),
    p95Ms: round(percentile(sorted, 0.95)),
    p99Ms: round(percentile(sorted, 0.99)),
  };
}

/** Camera frames (sensor_msgs/Image objects) from the bag. */
async function readFrames(bag: string): Promise<Frame[]> {
  const { BagReader } = require('../io') as typeof import('../io');
  const reader = await BagReader.open(bag);
  const frames: Frame[] = [];
  try {
    for await (const m of reader.messages({ topics: ['/camera/image_raw'] })) frames.push(m.message as Frame);
  } finally {
    await reader.close();
  }
  if (frames.length === 0) throw new Error(`${bag} has no /camera/image_raw frames`);
  return frames;
}

interface Runner {
  /** Processes frame i and resolves when its result exists. */
  one(frame: Frame): Promise<void>;
}

async function measure(runner: Runner, frames: Frame[], count: number, offset: number): Promise<{ latencies: number[]; elapsedMs: number }> {
  const latencies: number[] = new Array(count);
  const start = performance.now();
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    await runner.one(frames[(offset + i) % frames.length]);
    latencies[i] = performance.now() - t0;
  }
  return { latencies, elapsedMs: performance.now() - start };
}

function benchFlow(): Record<string, unknown>[] {
  const z = 'bench-tab';
  return [
    { id: z, type: 'tab', label: 'bench-flow' },
    { id: 'bench-model', type: 'hff-model', name: 'bench', source: 'file', path: 'hff-models/bench', backend: 'auto', saveDelay: '1000' },
    { id: 'bench-image', type: 'hff-image', z, model: 'bench-model', width: '28', height: '28', channels: '1', fit: 'fill', centerCrop: '1', normalize: 'unit', wires: [['bench-classify']], x: 200, y: 100 },
    // The result is taken where hff-classify sends it (a runtime onSend hook), so the junction after it is not timed.
    { id: 'bench-classify', type: 'hff-classify', z, model: 'bench-model', topK: '3', threshold: '', scoring: '', outputs: 2, wires: [['bench-end'], ['bench-end']], x: 400, y: 100 },
    { id: 'bench-end', type: 'junction', z, x: 520, y: 100, wires: [] },
  ];
}

export async function runBenchFlow(options: BenchFlowOptions, log: (line: string) => void = () => undefined): Promise<BenchFlowResult> {
  if (options.backend) process.env.HFF_BACKEND = options.backend;
  const frames = await readFrames(options.bag);
  const lib = require('../index') as typeof import('../index');
  const engine = await lib.createEngine(options.backend);
  const net = await lib.loadNetwork(options.model, engine);
  const imageOptions = { width: 28, height: 28, channels: 1 as const, fit: 'fill' as const, centerCrop: 1, normalize: 'unit' as const };
  const shape = net.config.inputShape;
  if (shape) Object.assign(imageOptions, { height: shape[0], width: shape[1], channels: shape[2] });

  const library: Runner = {
    async one(frame) {
      const { vector } = await lib.imageToVector(frame, imageOptions);
      const r = net.predict(vector, 1);
      if (!r[0]) throw new Error('no prediction');
    },
  };

  // Node-RED in this process, with a throw-away user directory holding a copy of the model.
  const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hff-bench-flow-'));
  prepareUserDir({ userDir, flows: 'none' });
  fs.cpSync(options.model, path.join(userDir, 'hff-models', 'bench'), { recursive: true });
  let pending: (() => void) | undefined;
  const { startRuntime } = require('../demo/runtime') as typeof import('../demo/runtime');
  const runtime: EmbeddedRuntime = await startRuntime({
    userDir,
    host: '127.0.0.1',
    port: 0,
    logLevel: 'warn',
  });
  const hooks = (runtime.RED as unknown as { hooks: { add(name: string, fn: (events: Array<{ source?: { id?: string } }>) => void): void; remove(name: string): void } }).hooks;
  hooks.add('onSend.hffBenchFlow', (events) => {
    if (pending && events.some((e) => e.source?.id === 'bench-classify')) {
      const p = pending;
      pending = undefined;
      p();
    }
  });
  try {
    const { AdminClient, waitFor } = require('../demo/admin') as typeof import('../demo/admin');
    const admin = new AdminClient(runtime.url);
    await admin.deploy(benchFlow() as never);
    const imageNode = await waitFor('the hff-image node', () => runtime.RED.nodes.getNode('bench-image') as { receive(msg: unknown): void } | undefined);
    const flow: Runner = {
      one(frame) {
        return new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error('the flow gave no result within 10 s (see the Node-RED log)')), 10_000);
          pending = () => {
            clearTimeout(timer);
            resolve();
          };
          imageNode.receive({ payload: frame, topic: '/camera/image_raw' });
        });
      },
    };
    // The model node loads asynchronously: the first flow result also proves it is ready.
    log(`warming up (${options.warmup} frames per path)`);
    await measure(flow, frames, options.warmup, 0);
    await measure(library, frames, options.warmup, 0);

    const lat = { library: [] as number[], flow: [] as number[] };
    const elapsed = { library: 0, flow: 0 };
    const perRound = Math.ceil(options.frames / options.rounds);
    for (let r = 0; r < options.rounds; r++) {
      const order: Array<'library' | 'flow'> = r % 2 === 0 ? ['library', 'flow'] : ['flow', 'library'];
      for (const which of order) {
        const m = await measure(which === 'library' ? library : flow, frames, perRound, r * perRound);
        lat[which].push(...m.latencies);
        elapsed[which] += m.elapsedMs;
        log(`round ${r + 1}/${options.rounds} ${which}: ${((perRound / m.elapsedMs) * 1000).toFixed(1)} frames/s`);
      }
    }
    const libraryStats = stats('library', lat.library, elapsed.library);
    const flowStats = stats('flow', lat.flow, elapsed.flow);
    const nodeRedVersion = (require('node-red/package.json') as { version: string }).version;
    return {
      inputSize: net.inputSize,
      layers: [...net.config.layers],
      backend: engine.name,
      library: libraryStats,
      flow: flowStats,
      ratio: Math.round((flowStats.fps / libraryStats.fps) * 1000) / 1000,
      node: process.version,
      nodeRed: nodeRedVersion,
      cpus: os.cpus().length,
      date: new Date().toISOString(),
    };
  } finally {
    hooks.remove('onSend.hffBenchFlow');
    await runtime.stop();
    net.dispose();
    fs.rmSync(userDir, { recursive: true, force: true });
  }
}

export function formatResult(r: BenchFlowResult): string {
  const row = (s: PathStats) =>
    `| ${s.path === 'library' ? 'library (imageToVector + predict)' : 'flow (hff-image -> hff-classify)'} | ${s.frames} | ${s.fps.toFixed(1)} | ${s.p50Ms.toFixed(3)} | ${s.p95Ms.toFixed(3)} | ${s.p99Ms.toFixed(3)} |`;
  return [
    `bench-flow: ${r.inputSize}-${r.layers.join('-')} model, backend ${r.backend}, Node-RED ${r.nodeRed}, Node ${r.node}, ${r.cpus} CPUs`,
    '',
    '| path | frames | frames/s | p50 ms | p95 ms | p99 ms |',
    '|---|---:|---:|---:|---:|---:|',
    row(r.library),
    row(r.flow),
    '',
    `flow / library throughput: ${(100 * r.ratio).toFixed(1)}% (target >= 80% for 28x28 inputs: ${r.ratio >= 0.8 ? 'met' : 'NOT met'})`,
  ].join('\n');
}

export function parseBenchFlowArgs(argv: readonly string[]): BenchFlowOptions {
  const assets = demoAssets(packageRoot());
  const program = new Command('bench-flow')
    .description('frames per second and latency of hff-image -> hff-classify in Node-RED vs direct library calls')
    .option('--model <dir>', 'model directory', assets.model)
    .option('--bag <file>', 'MCAP bag with sensor_msgs/Image frames on /camera/image_raw', assets.bag)
    .option('--frames <n>', 'measured frames per path', positiveInt, 2000)
    .option('--warmup <n>', 'unmeasured frames per path first', positiveInt, 200)
    .option('--rounds <n>', 'alternating rounds the frames are split into', positiveInt, 4)
    .option('--backend <name>', 'compute backend (auto, tfjs-node, wasm, cpu)')
    .option('--json', 'print the result as one JSON line');
  program.parse([...argv], { from: 'user' });
  return program.opts<BenchFlowOptions>();
}

if (require.main === module) {
  const options = parseBenchFlowArgs(process.argv.slice(2));
  runBenchFlow(options, options.json ? undefined : (line) => console.error(line)).then(
    (r) => {
      console.log(options.json ? JSON.stringify(r) : formatResult(r));
      process.exit(0);
    },
    (err: Error) => {
      console.error(`bench-flow: ${err.message}`);
      process.exit(1);
    },
  );
}
