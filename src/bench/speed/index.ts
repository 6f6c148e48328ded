/**
 * Speed benchmark (bench/SPEED.md): per engine, the median time of a training step (batch 256 forward + local
 * gradients + Adam), a single-image prediction and a batch-64 prediction per image, on the HFF network
 * 784-1000-1000-1000 with 10 classes; and, when PyTorch is installed, bench/torch_reference.py's figures for the
 * same network, loss and batch, measured in the same run and printed side by side with the ratios.
 *
 *   node dist/src/bench/speed/index.js [--engines onnx,wasm] [--rounds 3] [--torch-threads 1,2] [--json]
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
import { HffNetwork } from '../../hff/network';
import { SeededRandom } from '../../hff/random';

export interface SpeedOptions {
  engines: string[];
  rounds: number;
  torchThreads: number[];
  /** onnx engine intra-op threads. */
  threads?: number;
  layers: number[];
  inputSize: number;
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
}

export interface SpeedReport {
  machine: { cpu: string; cores: number; node: string; loadBefore: number[]; loadAfter: number[] };
  network: string;
  engines: Figures[];
  torch: Figures[];
  torchError?: string;
}

const median = (values: number[]): number => {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
};

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

const emptySamples = (): Samples => ({ train: [], infer1: [], infer64: [] });

interface Subject {
  name: string;
  threads?: number;
  net: HffNetwork;
  samples: Samples;
  cpuSamples: Samples;
}

function record(s: { samples: Samples; cpuSamples: Samples }, key: keyof Samples, t: { wall: number[]; cpu: number[] }): void {
  s.samples[key].push(...t.wall);
  s.cpuSamples[key].push(...t.cpu);
}

function inputs(o: SpeedOptions): { x: Float32Array; y: Int32Array } {
  const r = new SeededRandom(7);
  const x = Float32Array.from({ length: o.batch * o.inputSize }, () => r.next());
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
}

function runTorch(python: string, threads: number, o: SpeedOptions, steps: number): TorchRun {
  const args = [
    torchScript(),
    '--json',
    '--threads',
    String(threads),
    '--layers',
    [o.inputSize, ...o.layers].join(','),
    '--classes',
    String(o.classes),
    '--batch',
    String(o.batch),
    '--train-steps',
    String(steps),
  ];
  const r = spawnSync(python, args, { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`torch_reference.py failed: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}`);
  const j = JSON.parse(r.stdout.trim().split('\n').pop() as string) as Record<string, number[]> & { torch: string };
  return {
    version: j.torch,
    samples: { train: j.train_samples_ms, infer1: j.infer1_samples_ms, infer64: j.infer64_samples_ms },
    cpuSamples: { train: j.cpu_train_samples_ms, infer1: j.cpu_infer1_samples_ms, infer64: j.cpu_infer64_samples_ms },
  };
}

export async function runSpeed(o: SpeedOptions, log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): Promise<SpeedReport> {
  const loadBefore = os.loadavg();
  const classNames = Array.from({ length: o.classes }, (_, i) => `c${i}`);
  const { x, y } = inputs(o);
  const x1 = x.subarray(0, o.inputSize);
  const x64 = x.subarray(0, 64 * o.inputSize);
  const subjects: Subject[] = [];
  for (const choice of o.engines) {
    if (choice === 'onnx' && !onnxAvailability().available) {
      log(`skipping engine onnx: ${onnxAvailability().reason}`);
      continue;
    }
    const engine: Engine = await createEngine(choice, o.threads !== undefined ? { threads: o.threads } : {});
    const net = HffNetwork.create(engine, { inputSize: o.inputSize, layers: o.layers, seed: 1 }, classNames);
    const threads = (engine as { threads?: number }).threads;
    subjects.push({ name: engine.name, threads, net, samples: emptySamples(), cpuSamples: emptySamples() });
  }
  let python: string | undefined;
  let torchError: string | undefined;
  if (o.torch) {
    const found = findTorchPython(o.python);
    python = found.python;
    torchError = found.error;
    if (torchError) log(`PyTorch reference skipped: ${torchError}`);
  }
  const torch = new Map<number, { name: string; threads: number; samples: Samples; cpuSamples: Samples }>();
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
    }
    if (python && !torchError) {
      for (const threads of o.torchThreads) {
        log(`round ${round}/${o.rounds}: pytorch, ${threads} thread(s) (load ${os.loadavg()[0].toFixed(2)})`);
        try {
          const r = runTorch(python, threads, o, 8);
          const f = torch.get(threads) ?? { name: `pytorch-${r.version}`, threads, samples: emptySamples(), cpuSamples: emptySamples() };
          for (const key of ['train', 'infer1', 'infer64'] as const) record(f, key, { wall: r.samples[key], cpu: r.cpuSamples[key] });
          torch.set(threads, f);
        } catch (err) {
          torchError = (err as Error).message;
          log(torchError);
        }
      }
    }
  }
  const figures = (name: string, threads: number | undefined, samples: Samples, cpuSamples: Samples): Figures => ({
    name,
    ...(threads !== undefined ? { threads } : {}),
    trainMs: median(samples.train),
    infer1Ms: median(samples.infer1),
    infer64PerImageMs: median(samples.infer64),
    cpu: { trainMs: median(cpuSamples.train), infer1Ms: median(cpuSamples.infer1), infer64PerImageMs: median(cpuSamples.infer64) },
    samples,
    cpuSamples,
  });
  const report: SpeedReport = {
    machine: { cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, node: process.version, loadBefore, loadAfter: os.loadavg() },
    network: `${[o.inputSize, ...o.layers].join('-')}, ${o.classes} classes, training batch ${o.batch}`,
    engines: subjects.map((s) => figures(s.name, s.threads, s.samples, s.cpuSamples)),
    torch: [...torch.values()].map((t) => figures(t.name, t.threads, t.samples, t.cpuSamples)),
    ...(torchError ? { torchError } : {}),
  };
  subjects.forEach((s) => s.net.dispose());
  return report;
}

const fmt = (v: number, digits: number) => (Number.isFinite(v) ? v.toFixed(digits) : '-');

/** The report as a markdown table with ratios to each PyTorch configuration. */
export function formatReport(r: SpeedReport): string {
  const lines: string[] = [];
  lines.push(`Network ${r.network}. CPU ${r.machine.cpu}, ${r.machine.cores} cores, Node ${r.machine.node}.`);
  lines.push(
    `Load average (1, 5, 15 min) before: ${r.machine.loadBefore.map((v) => v.toFixed(2)).join(', ')}; after: ${r.machine.loadAfter.map((v) => v.toFixed(2)).join(', ')}.`,
  );
  lines.push('');
  lines.push('Medians of wall-clock time; in brackets, medians of the process CPU time (all threads) of the same calls.');
  lines.push('');
  lines.push('| engine | threads | training step (ms) | inference batch 1 (ms) | batch 64, per image (ms) |');
  lines.push('|---|---|---|---|---|');
  for (const f of [...r.torch, ...r.engines]) {
    lines.push(
      `| ${f.name} | ${f.threads ?? 1} | ${fmt(f.trainMs, 1)} (${fmt(f.cpu.trainMs, 1)}) | ${fmt(f.infer1Ms, 3)} (${fmt(f.cpu.infer1Ms, 3)}) | ` +
        `${fmt(f.infer64PerImageMs, 4)} (${fmt(f.cpu.infer64PerImageMs, 4)}) |`,
    );
  }
  for (const t of r.torch) {
    lines.push('');
    lines.push(`Ratios to PyTorch with ${t.threads} thread(s) (targets: training <= 1.25, batch 1 <= 0.5, batch 64 <= 1.0):`);
    lines.push('');
    lines.push('| engine | training step | inference batch 1 | batch 64, per image |');
    lines.push('|---|---|---|---|');
    for (const f of r.engines) {
      const ratio = (a: number, b: number, target: number) => {
        const v = a / b;
        return `${fmt(v, 2)}x ${v <= target ? 'met' : 'MISSED'}`;
      };
      lines.push(
        `| ${f.name} | ${ratio(f.trainMs, t.trainMs, 1.25)} | ${ratio(f.infer1Ms, t.infer1Ms, 0.5)} | ${ratio(f.infer64PerImageMs, t.infer64PerImageMs, 1.0)} |`,
      );
    }
  }
  if (r.torchError) lines.push('', `PyTorch: ${r.torchError}`);
  return lines.join('\n');
}

function parseArgs(argv: string[]): SpeedOptions {
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
    else if (a === '--layers') o.layers = next().split(',').map(positive);
    else if (a === '--input-size') o.inputSize = positive(next());
    else if (a === '--classes') o.classes = positive(next());
    else if (a === '--batch') o.batch = positive(next());
    else if (a === '--python') o.python = next();
    else if (a === '--no-torch') o.torch = false;
    else if (a === '--json') o.json = true;
    else if (a === '--help' || a === '-h') {
      process.stdout.write(
        'usage: node dist/src/bench/speed/index.js [--engines onnx,wasm] [--rounds 3] [--torch-threads 1,2] [--threads N] [--no-torch] [--python PATH] [--json]\n',
      );
      process.exit(0);
    } else throw new Error(`unknown option ${a}`);
  }
  return o;
}

/** Command-line entry (also used by bench/speed.js). */
export async function main(argv: string[]): Promise<void> {
  const o = parseArgs(argv);
  const report = await runSpeed(o);
  process.stdout.write(o.json ? `${JSON.stringify(report)}\n` : `${formatReport(report)}\n`);
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((err) => {
    process.stderr.write(`bench-speed: ${(err as Error).message}\n`);
    process.exit(1);
  });
}
