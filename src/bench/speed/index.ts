/**
 * Speed benchmark (bench/SPEED.md): per engine, the median time of a training step (batch 256 forward + local
 * gradients + Adam), a single-image prediction and a batch-64 prediction per image, on the HFF network
 * 784-1000-1000-1000 with 10 classes; and, when PyTorch is installed, bench/torch_reference.py's figures for the
 * same network, loss and batch, measured in the same run and printed side by side with the ratios.
 *
 *   node dist/src/bench/speed/index.js [--engines onnx,wasm] [--rounds 3] [--torch-threads 1,2] [--json]
 *
 * A convolutional network is the same run on images: `--layers c32k3p2,c64k3p2,c128k3p2 --input-shape 32x32x3
 * --batch 128 --infer-shapes 64x64x3,224x224x3` (the stack as `hff train --layers` writes it); --infer-shapes adds
 * single-image predictions at other image sizes, by networks of the same stack and seed built for them.
 *
 * Measurements are taken in rounds that alternate between the engines and PyTorch, so that a change of machine
 * load during the run affects all of them alike; each figure is the median over all rounds' samples.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createEngine, onnxAvailability } from '../../engines/backend';
import type { Engine } from '../../engines/types';
import { type LayerOption, layerLabel, parseLayerStack } from '../../hff/config';
import { HffNetwork } from '../../hff/network';
import { SeededRandom } from '../../hff/random';
import { parseImageShape, parseImageShapes } from '../image-shape';
import { median } from '../statistics';

export interface SpeedOptions {
  engines: string[];
  rounds: number;
  torchThreads: number[];
  /** onnx engine intra-op threads. */
  threads?: number;
  layers: LayerOption[];
  /** Input width of a network on vectors; with inputShape, its product. */
  inputSize: number;
  /** Height, width, channels: the network takes images (required by convolutional layers). */
  inputShape?: [number, number, number];
  /** Other image sizes to time single-image predictions at (networks of the same stack built for them). */
  inferShapes?: [number, number, number][];
  classes: number;
  batch: number;
  json: boolean;
  torch: boolean;
  python?: string;
}

interface Samples {
  train: number[];
  infer1: number[];
  infer64: number[];
}

export interface Figures {
  name: string;
  threads?: number;
  /** Medians of wall-clock time. */
  trainMs: number;
  infer1Ms: number;
  infer64PerImageMs: number;
  /** Medians of the process's CPU time (all threads) for the same calls. */
  cpu: { trainMs: number; infer1Ms: number; infer64PerImageMs: number };
  samples: Samples;
  cpuSamples: Samples;
  /** Single-image predictions at each of SpeedOptions.inferShapes, in their order. */
  shapes: ShapeFigures[];
}

export interface ShapeFigures {
  /** HxWxC. */
  shape: string;
  ms: number;
  cpuMs: number;
  samples: number[];
  cpuSamples: number[];
}

/** The series of single-image predictions at one other image size. */
interface ShapeSamples {
  shape: string;
  wall: number[];
  cpu: number[];
}

export interface SpeedReport {
  machine: { cpu: string; cores: number; node: string; loadBefore: number[]; loadAfter: number[] };
  network: string;
  /** A network with convolutional layers: issue 20's targets apply instead of issue 7's. */
  convolutional: boolean;
  engines: Figures[];
  torch: Figures[];
  torchError?: string;
}

/** Wall-clock and CPU milliseconds of each of `runs` calls (divided by `per`). */
function timeMs(fn: () => void, runs: number, warmup: number, per = 1): { wall: number[]; cpu: number[] } {
  for (let i = 0; i < warmup; i++) fn();
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < runs; i++) {
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    fn();
    wall.push(Number(process.hrtime.bigint() - t0) / 1e6 / per);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000 / per);
  }
  return { wall, cpu };
}

/** As timeMs, with as many runs (5 to 200) as fit in about `budgetMs`, judged by one first call. */
function timeWithin(fn: () => void, budgetMs: number): { wall: number[]; cpu: number[] } {
  const t0 = process.hrtime.bigint();
  fn();
  const once = Number(process.hrtime.bigint() - t0) / 1e6;
  return timeMs(fn, Math.max(5, Math.min(200, Math.round(budgetMs / Math.max(once, 1e-3)))), 1);
}

/** Time given to each round's series of single-image predictions at another image size, per engine. */
const SHAPE_BUDGET_MS = 1500;

const emptySamples = (): Samples => ({ train: [], infer1: [], infer64: [] });
const shapeText = (shape: readonly number[]) => shape.join('x');

interface Subject {
  name: string;
  threads?: number;
  net: HffNetwork;
  samples: Samples;
  cpuSamples: Samples;
  /** A network per SpeedOptions.inferShapes entry, with one image of its size. */
  shapeNets: { net: HffNetwork; x: Float32Array }[];
  shapes: ShapeSamples[];
}

function record(s: { samples: Samples; cpuSamples: Samples }, key: keyof Samples, t: { wall: number[]; cpu: number[] }): void {
  s.samples[key].push(...t.wall);
  s.cpuSamples[key].push(...t.cpu);
}

function inputs(o: SpeedOptions, inputSize: number): { x: Float32Array; y: Int32Array } {
  const r = new SeededRandom(7);
  const x = Float32Array.from({ length: o.batch * inputSize }, () => r.next());
  const y = Int32Array.from({ length: o.batch }, (_, i) => i % o.classes);
  return { x, y };
}

/** A python that imports torch: $HFF_PYTHON, else python3, else /usr/bin/python3 (Debian's python3-torch). */
export function findTorchPython(preferred?: string): { python?: string; error?: string } {
  const candidates = [preferred, process.env.HFF_PYTHON, 'python3', '/usr/bin/python3'].filter((c): c is string => Boolean(c));
  for (const python of [...new Set(candidates)]) {
    const r = spawnSync(python, ['-c', 'import torch'], { encoding: 'utf8' });
    if (r.status === 0) return { python };
  }
  return { error: `no python with torch among ${[...new Set(candidates)].join(', ')} (apt-get install python3-torch libopenblas0-pthread)` };
}

function torchScript(): string {
  // dist/src/bench/speed -> project root/bench
  const fromDist = path.resolve(__dirname, '..', '..', '..', '..', 'bench', 'torch_reference.py');
  return fs.existsSync(fromDist) ? fromDist : path.resolve(process.cwd(), 'bench', 'torch_reference.py');
}

interface TorchRun {
  version: string;
  samples: Samples;
  cpuSamples: Samples;
  shapes: ShapeSamples[];
}

/** The network as the benchmark prints it and torch_reference.py's --layers: `784-1000-...` or `32x32x3-c32k3p2-...`. */
function networkLayers(o: SpeedOptions): string[] {
  return [o.inputShape ? shapeText(o.inputShape) : String(o.inputSize), ...o.layers.map(layerLabel)];
}

function runTorch(python: string, threads: number, o: SpeedOptions, steps: number): TorchRun {
  const [input, ...layers] = networkLayers(o);
  const args = [
    torchScript(),
    '--json',
    '--threads',
    String(threads),
    ...(o.inputShape ? ['--input-shape', input, '--layers', layers.join(',')] : ['--layers', [input, ...layers].join(',')]),
    ...(o.inferShapes?.length ? ['--infer-shapes', o.inferShapes.map(shapeText).join(','), '--infer-budget-ms', String(SHAPE_BUDGET_MS)] : []),
    '--classes',
    String(o.classes),
    '--batch',
    String(o.batch),
    '--train-steps',
    String(steps),
  ];
  const r = spawnSync(python, args, { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`torch_reference.py failed: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}`);
  const j = JSON.parse(r.stdout.trim().split('\n').pop() as string) as Record<string, number[]> & {
    torch: string;
    infer_shapes?: Record<string, { samples_ms: number[]; cpu_samples_ms: number[] }>;
  };
  return {
    version: j.torch,
    samples: { train: j.train_samples_ms, infer1: j.infer1_samples_ms, infer64: j.infer64_samples_ms },
    cpuSamples: { train: j.cpu_train_samples_ms, infer1: j.cpu_infer1_samples_ms, infer64: j.cpu_infer64_samples_ms },
    shapes: (o.inferShapes ?? []).map((shape) => {
      const s = j.infer_shapes?.[shapeText(shape)];
      return { shape: shapeText(shape), wall: s?.samples_ms ?? [], cpu: s?.cpu_samples_ms ?? [] };
    }),
  };
}

export async function runSpeed(o: SpeedOptions, log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): Promise<SpeedReport> {
  const loadBefore = os.loadavg();
  const classNames = Array.from({ length: o.classes }, (_, i) => `c${i}`);
  const inputSize = o.inputShape ? o.inputShape[0] * o.inputShape[1] * o.inputShape[2] : o.inputSize;
  const { x, y } = inputs(o, inputSize);
  const x1 = x.subarray(0, inputSize);
  const x64 = x.subarray(0, 64 * inputSize);
  const inferShapes = o.inferShapes ?? [];
  const shapeInputs = inferShapes.map((shape) => {
    const r = new SeededRandom(11);
    return Float32Array.from({ length: shape[0] * shape[1] * shape[2] }, () => r.next());
  });
  const build = (engine: Engine, inputShape: [number, number, number] | undefined) =>
    HffNetwork.create(
      engine,
      inputShape
        ? { inputSize: inputShape[0] * inputShape[1] * inputShape[2], inputShape, layers: o.layers, seed: 1 }
        : { inputSize, layers: o.layers, seed: 1 },
      classNames,
    );
  const subjects: Subject[] = [];
  for (const choice of o.engines) {
    if (choice === 'onnx' && !onnxAvailability().available) {
      log(`skipping engine onnx: ${onnxAvailability().reason}`);
      continue;
    }
    const engine: Engine = await createEngine(choice, o.threads !== undefined ? { threads: o.threads } : {});
    const threads = (engine as { threads?: number }).threads;
    subjects.push({
      name: engine.name,
      threads,
      net: build(engine, o.inputShape),
      samples: emptySamples(),
      cpuSamples: emptySamples(),
      shapeNets: inferShapes.map((shape, i) => ({ net: build(engine, shape), x: shapeInputs[i] })),
      shapes: inferShapes.map((shape) => ({ shape: shapeText(shape), wall: [], cpu: [] })),
    });
  }
  let python: string | undefined;
  let torchError: string | undefined;
  if (o.torch) {
    const found = findTorchPython(o.python);
    python = found.python;
    torchError = found.error;
    if (torchError) log(`PyTorch reference skipped: ${torchError}`);
  }
  const torch = new Map<number, { name: string; threads: number; samples: Samples; cpuSamples: Samples; shapes: ShapeSamples[] }>();
  for (let round = 1; round <= o.rounds; round++) {
    for (const s of subjects) {
      const slow = !s.name.startsWith('onnx');
      log(`round ${round}/${o.rounds}: ${s.name} (load ${os.loadavg()[0].toFixed(2)})`);
      record(
        s,
        'train',
        timeMs(() => s.net.trainBatch(x, o.batch, y), slow ? 4 : 8, round === 1 ? 2 : 1),
      );
      record(
        s,
        'infer1',
        timeMs(() => s.net.predict(x1, 1), 200, 20),
      );
      record(
        s,
        'infer64',
        timeMs(() => s.net.predict(x64, 64), slow ? 10 : 30, 3, 64),
      );
      s.shapeNets.forEach(({ net, x: image }, i) => {
        const t = timeWithin(() => net.predict(image, 1), SHAPE_BUDGET_MS);
        s.shapes[i].wall.push(...t.wall);
        s.shapes[i].cpu.push(...t.cpu);
      });
    }
    if (python && !torchError) {
      for (const threads of o.torchThreads) {
        log(`round ${round}/${o.rounds}: pytorch, ${threads} thread(s) (load ${os.loadavg()[0].toFixed(2)})`);
        try {
          const r = runTorch(python, threads, o, 8);
          const f = torch.get(threads) ?? {
            name: `pytorch-${r.version}`,
            threads,
            samples: emptySamples(),
            cpuSamples: emptySamples(),
            shapes: r.shapes.map((s) => ({ shape: s.shape, wall: [] as number[], cpu: [] as number[] })),
          };
          for (const key of ['train', 'infer1', 'infer64'] as const) record(f, key, { wall: r.samples[key], cpu: r.cpuSamples[key] });
          r.shapes.forEach((s, i) => {
            f.shapes[i].wall.push(...s.wall);
            f.shapes[i].cpu.push(...s.cpu);
          });
          torch.set(threads, f);
        } catch (err) {
          torchError = (err as Error).message;
          log(torchError);
        }
      }
    }
  }
  const figures = (name: string, threads: number | undefined, samples: Samples, cpuSamples: Samples, shapes: ShapeSamples[]): Figures => ({
    name,
    ...(threads !== undefined ? { threads } : {}),
    trainMs: median(samples.train),
    infer1Ms: median(samples.infer1),
    infer64PerImageMs: median(samples.infer64),
    cpu: { trainMs: median(cpuSamples.train), infer1Ms: median(cpuSamples.infer1), infer64PerImageMs: median(cpuSamples.infer64) },
    samples,
    cpuSamples,
    shapes: shapes.map((s) => ({ shape: s.shape, ms: median(s.wall), cpuMs: median(s.cpu), samples: s.wall, cpuSamples: s.cpu })),
  });
  const report: SpeedReport = {
    machine: { cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, node: process.version, loadBefore, loadAfter: os.loadavg() },
    network: `${networkLayers(o).join('-')}, ${o.classes} classes, training batch ${o.batch}`,
    convolutional: o.layers.some((l) => typeof l !== 'number' && l.kind === 'conv2d'),
    engines: subjects.map((s) => figures(s.name, s.threads, s.samples, s.cpuSamples, s.shapes)),
    torch: [...torch.values()].map((t) => figures(t.name, t.threads, t.samples, t.cpuSamples, t.shapes)),
    ...(torchError ? { torchError } : {}),
  };
  for (const s of subjects) {
    s.net.dispose();
    s.shapeNets.forEach((n) => n.net.dispose());
  }
  return report;
}

const fmt = (v: number, digits: number) => (Number.isFinite(v) ? v.toFixed(digits) : '-');

/**
 * Ratio targets to PyTorch: issue 7's for the dense network; issue 20's for a convolutional one (training step and
 * single-image inference at every image size; none for batch 64).
 */
export function speedTargets(convolutional: boolean): { train: number; infer1: number; infer64?: number } {
  return convolutional ? { train: 1.25, infer1: 1.0 } : { train: 1.25, infer1: 0.5, infer64: 1.0 };
}

/** The report as a markdown table with ratios to each PyTorch configuration. */
export function formatReport(r: SpeedReport): string {
  const lines: string[] = [];
  const shapes = r.engines[0]?.shapes.map((s) => s.shape) ?? [];
  lines.push(`Network ${r.network}. CPU ${r.machine.cpu}, ${r.machine.cores} cores, Node ${r.machine.node}.`);
  lines.push(
    `Load average (1, 5, 15 min) before: ${r.machine.loadBefore.map((v) => v.toFixed(2)).join(', ')}; after: ${r.machine.loadAfter.map((v) => v.toFixed(2)).join(', ')}.`,
  );
  lines.push('');
  lines.push('Medians of wall-clock time; in brackets, medians of the process CPU time (all threads) of the same calls.');
  lines.push('');
  lines.push(
    `| engine | threads | training step (ms) | inference batch 1 (ms) | batch 64, per image (ms) |${shapes.map((s) => ` batch 1 at ${s} (ms) |`).join('')}`,
  );
  lines.push(`|---|---|---|---|---|${shapes.map(() => '---|').join('')}`);
  for (const f of [...r.torch, ...r.engines]) {
    lines.push(
      `| ${f.name} | ${f.threads ?? 1} | ${fmt(f.trainMs, 1)} (${fmt(f.cpu.trainMs, 1)}) | ${fmt(f.infer1Ms, 3)} (${fmt(f.cpu.infer1Ms, 3)}) | ` +
        `${fmt(f.infer64PerImageMs, 4)} (${fmt(f.cpu.infer64PerImageMs, 4)}) |${f.shapes.map((s) => ` ${fmt(s.ms, 3)} (${fmt(s.cpuMs, 3)}) |`).join('')}`,
    );
  }
  const targets = speedTargets(r.convolutional);
  const targetText = (v: number | undefined) => (v === undefined ? 'none' : `<= ${v}`);
  for (const t of r.torch) {
    lines.push('');
    lines.push(
      `Ratios to PyTorch with ${t.threads} thread(s) (targets: training ${targetText(targets.train)}, batch 1 ${targetText(targets.infer1)}` +
        `${shapes.length ? ' at every size' : ''}, batch 64 ${targetText(targets.infer64)}):`,
    );
    lines.push('');
    lines.push(`| engine | training step | inference batch 1 | batch 64, per image |${shapes.map((s) => ` batch 1 at ${s} |`).join('')}`);
    lines.push(`|---|---|---|---|${shapes.map(() => '---|').join('')}`);
    const ratio = (a: number, b: number, target: number | undefined) => {
      const v = a / b;
      return `${fmt(v, 2)}x${target === undefined ? '' : v <= target ? ' met' : ' MISSED'}`;
    };
    for (const f of r.engines) {
      lines.push(
        `| ${f.name} | ${ratio(f.trainMs, t.trainMs, targets.train)} | ${ratio(f.infer1Ms, t.infer1Ms, targets.infer1)} | ` +
          `${ratio(f.infer64PerImageMs, t.infer64PerImageMs, targets.infer64)} |${f.shapes.map((s, i) => ` ${ratio(s.ms, t.shapes[i]?.ms ?? NaN, targets.infer1)} |`).join('')}`,
      );
    }
  }
  if (r.torchError) lines.push('', `PyTorch: ${r.torchError}`);
  return lines.join('\n');
}

export function parseSpeedArgs(argv: string[]): SpeedOptions {
  const o: SpeedOptions = {
    engines: ['onnx', 'wasm'],
    rounds: 3,
    torchThreads: [1, 2],
    layers: [1000, 1000, 1000],
    inputSize: 784,
    classes: 10,
    batch: 256,
    json: false,
    torch: true,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    const positive = (v: string) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) throw new Error(`${a}: expected a positive integer, got ${v}`);
      return n;
    };
    if (a === '--engines') o.engines = next().split(',');
    else if (a === '--rounds') o.rounds = positive(next());
    else if (a === '--torch-threads') o.torchThreads = next().split(',').map(positive);
    else if (a === '--threads') o.threads = positive(next());
    else if (a === '--layers') o.layers = parseLayerStack(next());
    else if (a === '--input-shape') o.inputShape = parseImageShape(next(), a);
    else if (a === '--infer-shapes') o.inferShapes = parseImageShapes(next(), a);
    else if (a === '--input-size') o.inputSize = positive(next());
    else if (a === '--classes') o.classes = positive(next());
    else if (a === '--batch') o.batch = positive(next());
    else if (a === '--python') o.python = next();
    else if (a === '--no-torch') o.torch = false;
    else if (a === '--json') o.json = true;
    else if (a === '--help' || a === '-h') {
      process.stdout.write(
        'usage: node dist/src/bench/speed/index.js [--engines onnx,wasm] [--rounds 3] [--torch-threads 1,2] [--threads N] [--no-torch] [--python PATH] [--json]\n' +
          '         [--layers 1000,1000,1000 | c32k3p2,c64k3p2,c128k3p2] [--input-size 784 | --input-shape 32x32x3] [--infer-shapes 64x64x3,224x224x3]\n' +
          '         [--classes 10] [--batch 256]\n',
      );
      process.exit(0);
    } else throw new Error(`unknown option ${a}`);
  }
  return o;
}

/** Command-line entry (also used by bench/speed.js). */
export async function main(argv: string[]): Promise<void> {
  const o = parseSpeedArgs(argv);
  const report = await runSpeed(o);
  process.stdout.write(o.json ? `${JSON.stringify(report)}\n` : `${formatReport(report)}\n`);
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((err) => {
    process.stderr.write(`bench-speed: ${(err as Error).message}\n`);
    process.exit(1);
  });
}
