/**
 * The soak run (issue 18): camera frames through hff-image -> hff-classify -> hff-drift in a real Node-RED
 * runtime (Node-RED's flow engine through node-red-node-test-helper), printing RSS, heap and tfjs tensor counts
 * every 100,000 frames; they must stay flat.
 *
 *   node dist/bench/soak.js [--frames 1000000] [--every 100000] [--json]
 *
 * Frames are 28x28 mono8 sensor_msgs/Image messages of three taught parts with noise; run from the repository root.
 */
import type { NodeAPI } from 'node-red';
import { ALL_NODES, TAB, helper, initNodeRed4, modelConfig, onTab, removeTempDirs, send } from '../test/nodes/flow-helpers';
import { runtimeHooks, withHooks } from '../test/helpers/io';
import { seededRandom } from '../test/drift/streams';
import { tensorCount } from '../test/fuzz/harness';

type Msg = Record<string, unknown>;
interface Hooks {
  add(name: string, fn: (event: { msg: Msg; error?: Error; node: { id: string } }) => void): void;
  remove(name: string): void;
}

function parseArgs(argv: string[]): { frames: number; every: number; json: boolean } {
  const args = { frames: 1_000_000, every: 100_000, json: false };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (flag === '--json') args.json = true;
    else if (flag === '--frames' || flag === '--every') {
      const n = Number(argv[++i]);
      if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} must be a whole number >= 1, got ${argv[i]}`);
      args[flag.slice(2) as 'frames' | 'every'] = n;
    } else throw new Error(`unknown argument ${flag}; use --frames N --every N --json`);
  }
  return args;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  process.env.HFF_BACKEND = process.env.HFF_BACKEND ?? 'wasm';
  initNodeRed4();
  const flow = [
    TAB,
    modelConfig({ inputSize: 784, inputShape: '28x28x1', layers: '128,128', saveDelay: 60_000, unknownThreshold: 0.3 }),
    onTab({
      id: 'image',
      type: 'hff-image',
      model: 'model',
      width: 28,
      height: 28,
      channels: 1,
      fit: 'fill',
      centerCrop: 1,
      normalize: 'unit',
      wires: [['classify']],
    }),
    onTab({ id: 'classify', type: 'hff-classify', model: 'model', wires: [['drift'], ['drift']] }),
    onTab({ id: 'drift', type: 'hff-drift', detector: 'page-hinkley', direction: 'down', wires: [[], []] }),
    onTab({ id: 'teach', type: 'hff-teach', model: 'model', mode: 'mean', wires: [[]] }),
    { id: 'catch', type: 'catch', z: 'tab', x: 100, y: 300, scope: null, uncaught: false, wires: [[]] },
  ];
  await helper.load(
    ALL_NODES.map((m) => withHooks(m as (RED: NodeAPI) => void)),
    flow,
  );
  const hooks = runtimeHooks() as Hooks;
  const sandbox = (helper as unknown as { _sandbox: { resetHistory(): void } })._sandbox;
  const random = seededRandom(7);
  // Three parts: bright squares at different places; a frame is a part with noise.
  const parts = [0, 1, 2].map((p) => {
    const img = new Uint8Array(784);
    for (let y = 4 + p * 6; y < 12 + p * 6; y++) for (let x = 4 + p * 4; x < 14 + p * 4; x++) img[y * 28 + x] = 230;
    return img;
  });
  const frame = (part: number): Msg => {
    const data = Buffer.from(parts[part]);
    for (let i = 0; i < 60; i++) data[Math.floor(random() * 784)] = Math.floor(random() * 256);
    return { width: 28, height: 28, encoding: 'mono8', step: 28, is_bigendian: 0, data };
  };
  let completed = 0;
  let errors = 0;
  let known = 0;
  let taught = 0;
  hooks.add('onComplete.hffSoak', (event) => {
    if (event.node.id === 'teach') taught++;
    if (event.node.id !== 'drift' && !(event.error && (event.node.id === 'image' || event.node.id === 'classify'))) return;
    completed++;
    if (event.error) errors++;
    else if ((event.msg.payload as { known?: boolean }).known) known++;
  });
  // Teach the parts through hff-image's output, as a flow would (image -> teach).
  const { imageToVector } = await import('../src/image');
  for (let p = 0; p < 3; p++) {
    for (let k = 0; k < 3; k++) {
      const { vector } = await imageToVector(frame(p), { width: 28, height: 28, channels: 1 });
      send('teach', { payload: vector, label: `part-${p}` });
    }
  }
  while (taught < 9) await new Promise((r) => setTimeout(r, 10));

  const start = Date.now();
  const window = 64;
  const lines: Record<string, unknown>[] = [];
  const report = (frames: number) => {
    const m = process.memoryUsage();
    const line = {
      frames,
      seconds: Number(((Date.now() - start) / 1000).toFixed(1)),
      framesPerSecond: frames === 0 ? 0 : Math.round(frames / ((Date.now() - start) / 1000)),
      rssMB: Math.round(m.rss / 1e6),
      heapMB: Math.round(m.heapUsed / 1e6),
      tensors: tensorCount() ?? null,
      knownShare: Number((known / Math.max(1, completed - errors)).toFixed(3)),
      errors,
    };
    lines.push(line);
    if (!args.json) {
      console.log(
        `${String(frames).padStart(8)} frames  ${String(line.framesPerSecond).padStart(5)} frames/s  rss ${line.rssMB} MB  heap ${line.heapMB} MB  tensors ${line.tensors}  known ${line.knownShare}  errors ${errors}`,
      );
    }
  };
  report(0);
  for (let i = 1; i <= args.frames; i++) {
    send('image', { payload: frame(i % 3) });
    if (i - completed >= window) {
      while (i - completed > window / 2) await new Promise((r) => setImmediate(r));
    }
    // The test helper records every node method call (with its message): forget them often, so that the
    // figures are the runtime's and not that record's.
    if (i % 2000 === 0) sandbox.resetHistory();
    if (i % args.every === 0) {
      while (completed < i) await new Promise((r) => setImmediate(r));
      report(i);
    }
  }
  hooks.remove('onComplete.hffSoak');
  await helper.unload();
  removeTempDirs();
  if (args.json) console.log(JSON.stringify({ frames: args.frames, reports: lines }));
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    console.error(err.stack ?? err.message);
    process.exit(2);
  },
);
