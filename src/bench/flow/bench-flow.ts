/**
 * Flow throughput benchmark: camera frames through `hff-image -> hff-classify` inside a real Node-RED 4 runtime
 * (embedded in this process), next to the same work by direct library calls (imageToVector + predict, top 3) in
 * the same run, so the runtime's overhead is a ratio. Frames enter hff-image as an upstream node's message would
 * (node.receive) and a frame is done when hff-classify has sent its result and completed the message (a runtime
 * onComplete hook). Frames go one at a time (the next is sent when the previous result is out), so frames per
 * second = 1 / mean latency for both paths. Short blocks alternate library and flow so that load from other
 * processes hits both alike, and the reported ratio is the median over pairs of adjacent blocks.
 *
 *   node dist/src/bench/flow/bench-flow.js [--model demo/model] [--bag demo/camera.mcap] [--frames 2000]
 *       [--warmup 200] [--block 50] [--json]
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Command } from 'commander';
import { prepareUserDir } from '../../demo/userdir';
import { declareBenchFlowOptions } from './options';
import type { EmbeddedRuntime } from '../../demo/runtime';
import { type LayerOption, layerLabel } from '../../hff/config';
import { median, percentile } from '../statistics';

/** The share of the library's frames per second that a flow must keep (issue 21). */
export const FLOW_TARGET = 0.9;

export interface BenchFlowOptions {
  model: string;
  /** Instead of `model`: an untrained network of these layers on images of `inputShape`, with 10 classes. */
  layers?: LayerOption[];
  inputShape?: [number, number, number];
  bag: string;
  frames: number;
  warmup: number;
  /** Frames in flight at once on each path (1: one at a time, the latency-bound case). */
  concurrency: number;
  /** Frames per alternating block (library block, flow block, ...). */
  block: number;
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
  /** Input and layers: `32x32x3-c32k3p2-c64k3p2-c128k3p2` (the input size instead of a shape for vectors). */
  network: string;
  inputSize: number;
  layers: number[];
  concurrency: number;
  backend: string;
  library: PathStats;
  flow: PathStats;
  /** Median over the pairs of adjacent blocks of flow frames/s / library frames/s: the figure the target is about. */
  ratio: number;
  /** Flow frames/s / library frames/s over all frames (moved by bursts of load that hit one path more). */
  pooledRatio: number;
  /** Number of block pairs behind `ratio`. */
  blocks: number;
  node: string;
  nodeRed: string;
  cpus: number;
  date: string;
}

type Frame = Record<string, unknown>;

const FLOW_TIMEOUT_MS = 10_000;

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

/** Camera frames (sensor_msgs/Image or CompressedImage objects) from the bag. */
async function readFrames(bag: string): Promise<Frame[]> {
  const { BagReader } = require('../../io') as typeof import('../../io');
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

/**
 * Runs `count` frames with at most `concurrency` in flight (1: the next frame starts when the previous result is
 * out); a frame's latency is from its start to its result.
 */
async function measure(runner: Runner, frames: Frame[], count: number, offset: number, concurrency = 1): Promise<{ latencies: number[]; elapsedMs: number }> {
  const latencies: number[] = new Array(count);
  const start = performance.now();
  let next = 0;
  const lane = async () => {
    while (next < count) {
      const i = next++;
      const t0 = performance.now();
      await runner.one(frames[(offset + i) % frames.length]);
      latencies[i] = performance.now() - t0;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
  return { latencies, elapsedMs: performance.now() - start };
}

/** What hff-image makes of a frame on both paths: the model's input shape, the frame's centre cropped to its aspect. */
interface BenchImageOptions {
  width: number;
  height: number;
  channels: 1 | 3;
  fit: 'cover';
  centerCrop: number;
  normalize: 'unit';
}

function benchFlow(image: BenchImageOptions): Record<string, unknown>[] {
  const z = 'bench-tab';
  return [
    { id: z, type: 'tab', label: 'bench-flow' },
    { id: 'bench-model', type: 'hff-model', name: 'bench', source: 'file', path: 'hff-models/bench', backend: 'auto', saveDelay: '1000' },
    {
      id: 'bench-image',
      type: 'hff-image',
      z,
      model: 'bench-model',
      width: String(image.width),
      height: String(image.height),
      channels: String(image.channels),
      fit: image.fit,
      centerCrop: String(image.centerCrop),
      normalize: image.normalize,
      wires: [['bench-classify']],
      x: 200,
      y: 100,
    },
    // hff-classify's outputs are left unwired: a frame is done when hff-classify completes it (a runtime onComplete
    // hook, which fires after its send), so no downstream node's work lands inside or between timed frames.
    { id: 'bench-classify', type: 'hff-classify', z, model: 'bench-model', topK: '3', threshold: '', scoring: '', outputs: 2, wires: [[], []], x: 400, y: 100 },
  ];
}

export async function runBenchFlow(options: BenchFlowOptions, log: (line: string) => void = () => undefined): Promise<BenchFlowResult> {
  if (options.backend) process.env.HFF_BACKEND = options.backend;
  const frames = await readFrames(options.bag);
  const lib = require('../../index') as typeof import('../../index');
  const engine = await lib.createEngine(options.backend);
  const shapeOfLayers = options.inputShape ?? [32, 32, 3];
  const net = options.layers
    ? lib.HffNetwork.create(
        engine,
        { inputSize: shapeOfLayers[0] * shapeOfLayers[1] * shapeOfLayers[2], inputShape: shapeOfLayers, layers: options.layers },
        Array.from({ length: 10 }, (_, i) => `class${i}`),
      )
    : await lib.loadNetwork(options.model, engine);
  const imageOptions: BenchImageOptions = { width: 28, height: 28, channels: 1, fit: 'cover', centerCrop: 1, normalize: 'unit' };
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
  if (options.layers) await lib.saveNetwork(path.join(userDir, 'hff-models', 'bench'), net);
  else fs.cpSync(options.model, path.join(userDir, 'hff-models', 'bench'), { recursive: true });
  // Frames in flight, by the number the flow carries in msg.benchFrame.
  const pending = new Map<number, (error?: unknown) => void>();
  let sent = 0;
  const { startRuntime, nodeRedVersion } = require('../../demo/runtime') as typeof import('../../demo/runtime');
  const runtime: EmbeddedRuntime = await startRuntime({
    userDir,
    host: '127.0.0.1',
    port: 0,
    // Errors only: Node-RED's start-up warnings would go to stdout, before the result.
    logLevel: 'error',
  });
  const hooks = (
    runtime.RED as unknown as {
      hooks: {
        add(name: string, fn: (event: { node?: { id?: string }; msg?: { benchFrame?: unknown }; error?: unknown }) => void): void;
        remove(name: string): void;
      };
    }
  ).hooks;
  hooks.add('onComplete.hffBenchFlow', (event) => {
    if (event.node?.id !== 'bench-classify') return;
    const id = event.msg?.benchFrame;
    const p = typeof id === 'number' ? pending.get(id) : undefined;
    if (p) {
      pending.delete(id as number);
      p(event.error);
    }
  });
  try {
    const { AdminClient, waitFor } = require('../../demo/admin') as typeof import('../../demo/admin');
    const admin = new AdminClient(runtime.url);
    await admin.deploy(benchFlow(imageOptions) as never);
    const imageNode = await waitFor('the hff-image node', () => runtime.RED.nodes.getNode('bench-image') as { receive(msg: unknown): void } | undefined);
    // One watchdog timer per measured block, not one per frame (timers would be measurement cost charged to the
    // flow); when it fires it rejects the frame in flight.
    let rejectFrame: ((error: Error) => void) | undefined;
    const flow: Runner = {
      one(frame) {
        return new Promise((resolve, reject) => {
          const id = sent++;
          pending.set(id, (error) => {
            if (error) reject(error instanceof Error ? error : new Error(String(error)));
            else resolve();
          });
          rejectFrame = reject;
          imageNode.receive({ payload: frame, topic: '/camera/image_raw', benchFrame: id });
        });
      },
    };
    const measureFlow = async (count: number, offset: number) => {
      const timer = setTimeout(
        () => rejectFrame?.(new Error(`the flow gave no result within ${FLOW_TIMEOUT_MS / 1000} s (see the Node-RED log)`)),
        FLOW_TIMEOUT_MS,
      );
      try {
        return await measure(flow, frames, count, offset, options.concurrency);
      } finally {
        clearTimeout(timer);
        rejectFrame = undefined;
      }
    };
    // The model node loads asynchronously: the first flow result also proves it is ready.
    log(`warming up (${options.warmup} frames per path)`);
    await measureFlow(options.warmup, 0);
    await measure(library, frames, options.warmup, 0, options.concurrency);

    // Short alternating blocks (library, flow, flow, library, ...) so that load from other processes, which comes
    // and goes within seconds, hits both paths alike.
    const lat = { library: [] as number[], flow: [] as number[] };
    const elapsed = { library: 0, flow: 0 };
    const blockFps = { library: 0, flow: 0 };
    // Flow / library throughput of each pair of adjacent blocks: load from other processes comes in bursts that
    // can fall on one path's blocks more than the other's; the median of paired ratios is not moved by them.
    const blockRatios: number[] = [];
    const blocks = Math.max(2, Math.ceil(options.frames / options.block));
    let reported = 0;
    for (let b = 0; b < blocks; b++) {
      const order: Array<'library' | 'flow'> = b % 2 === 0 ? ['library', 'flow'] : ['flow', 'library'];
      const count = Math.min(options.block, options.frames - b * options.block) || options.block;
      for (const which of order) {
        const m =
          which === 'library' ? await measure(library, frames, count, b * options.block, options.concurrency) : await measureFlow(count, b * options.block);
        lat[which].push(...m.latencies);
        elapsed[which] += m.elapsedMs;
        blockFps[which] = count / m.elapsedMs;
      }
      blockRatios.push(blockFps.flow / blockFps.library);
      const done = Math.floor((4 * (b + 1)) / blocks);
      if (done > reported) {
        reported = done;
        const fps = (w: 'library' | 'flow') => ((lat[w].length / elapsed[w]) * 1000).toFixed(1);
        log(`${lat.flow.length}/${options.frames} frames per path: library ${fps('library')} frames/s, flow ${fps('flow')} frames/s so far`);
      }
    }
    const libraryStats = stats('library', lat.library, elapsed.library);
    const flowStats = stats('flow', lat.flow, elapsed.flow);
    return {
      network: [net.config.inputShape?.join('x') ?? String(net.inputSize), ...net.config.stack.map(layerLabel)].join('-'),
      inputSize: net.inputSize,
      layers: [...net.config.layers],
      concurrency: options.concurrency,
      backend: engine.name,
      library: libraryStats,
      flow: flowStats,
      ratio: Math.round(median(blockRatios) * 1000) / 1000,
      pooledRatio: Math.round((flowStats.fps / libraryStats.fps) * 1000) / 1000,
      blocks: blockRatios.length,
      node: process.version,
      nodeRed: nodeRedVersion(),
      cpus: os.cpus().length,
      date: new Date().toISOString(),
    };
  } finally {
    hooks.remove('onComplete.hffBenchFlow');
    await runtime.stop();
    net.dispose();
    fs.rmSync(userDir, { recursive: true, force: true });
  }
}

export function formatResult(r: BenchFlowResult): string {
  const row = (s: PathStats) =>
    `| ${s.path === 'library' ? 'library (imageToVector + predict)' : 'flow (hff-image -> hff-classify)'} | ${s.frames} | ${s.fps.toFixed(1)} | ${s.p50Ms.toFixed(3)} | ${s.p95Ms.toFixed(3)} | ${s.p99Ms.toFixed(3)} |`;
  return [
    `bench-flow: ${r.network} model, backend ${r.backend}, ${r.concurrency === 1 ? 'one frame at a time' : `${r.concurrency} frames in flight`}, Node-RED ${r.nodeRed}, Node ${r.node}, ${r.cpus} CPUs`,
    '',
    '| path | frames | frames/s | p50 ms | p95 ms | p99 ms |',
    '|---|---:|---:|---:|---:|---:|',
    row(r.library),
    row(r.flow),
    '',
    `flow / library throughput: ${(100 * r.ratio).toFixed(1)}% (target >= ${100 * FLOW_TARGET}%: ${r.ratio >= FLOW_TARGET ? 'met' : 'NOT met'}); ` +
      `median of ${r.blocks} paired blocks, all frames pooled ${(100 * r.pooledRatio).toFixed(1)}%`,
  ].join('\n');
}

export function parseBenchFlowArgs(argv: readonly string[]): BenchFlowOptions {
  const program = declareBenchFlowOptions(new Command('bench-flow'));
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
