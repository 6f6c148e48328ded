/**
 * The long fuzz run (issue 18): the fuzz harness of test/fuzz with as many messages as asked, in a child process
 * so that a crash of the runtime is seen and counted, printing throughput, refusals caught, silent drops,
 * duplicates and RSS / heap / tensor counts as it goes.
 *
 *   node dist/bench/fuzz.js [--messages 1000000] [--seed 1] [--every 100000] [--json]
 *
 * Run from the repository root (the Node-RED test helper looks for the package there).
 */
import { spawn } from 'node:child_process';
import { runFuzz, tensorCount, type FuzzStats } from '../test/fuzz/harness';

interface Args {
  messages: number;
  seed: number;
  every: number;
  json: boolean;
  child: boolean;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { messages: 1_000_000, seed: 1, every: 100_000, json: false, child: false };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (flag === '--json') args.json = true;
    else if (flag === '--child') args.child = true;
    else if (flag === '--messages' || flag === '--seed' || flag === '--every') {
      const n = Number(argv[++i]);
      if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} must be a whole number >= 1, got ${argv[i]}`);
      args[flag.slice(2) as 'messages' | 'seed' | 'every'] = n;
    } else throw new Error(`unknown argument ${flag}; use --messages N --seed N --every N --json`);
  }
  return args;
}

function figures(s: FuzzStats) {
  const m = process.memoryUsage();
  return {
    messages: s.completed,
    seconds: Number(s.seconds.toFixed(1)),
    messagesPerSecond: Math.round(s.completed / Math.max(s.seconds, 1e-9)),
    errorsCaught: s.caught,
    refused: s.errors,
    duplicates: s.duplicates,
    wrongOutcomes: s.wrong.length,
    rssMB: Math.round(m.rss / 1e6),
    heapMB: Math.round(m.heapUsed / 1e6),
    tensors: tensorCount() ?? null,
  };
}

async function child(args: Args): Promise<void> {
  process.env.HFF_BACKEND = process.env.HFF_BACKEND ?? 'wasm';
  const stats = await runFuzz({
    messages: args.messages,
    seed: args.seed,
    every: args.every,
    onProgress: (s) => console.log(`PROGRESS ${JSON.stringify(figures(s))}`),
  });
  const final = {
    ...figures(stats),
    silentDrops: stats.silentDrops,
    unchangedModel: JSON.stringify(stats.probesAfter) === JSON.stringify(stats.probesBefore),
    tensorsBefore: stats.tensorsBefore ?? null,
    tensorsAfter: stats.tensorsAfter ?? null,
    wrong: stats.wrong.slice(0, 5),
  };
  console.log(`FINAL ${JSON.stringify(final)}`);
  process.exit(0);
}

async function parent(args: Args): Promise<void> {
  const started = Date.now();
  const proc = spawn(
    process.execPath,
    [__filename, '--child', '--messages', String(args.messages), '--seed', String(args.seed), '--every', String(args.every)],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let final: Record<string, unknown> | undefined;
  let buffered = '';
  proc.stdout.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) {
      if (line.startsWith('PROGRESS ')) {
        const p = JSON.parse(line.slice(9));
        if (!args.json) {
          console.log(
            `${String(p.messages).padStart(8)} msgs  ${String(p.messagesPerSecond).padStart(6)} msg/s  caught ${p.errorsCaught}  dup ${p.duplicates}  wrong ${p.wrongOutcomes}  rss ${p.rssMB} MB  heap ${p.heapMB} MB  tensors ${p.tensors}`,
          );
        }
      } else if (line.startsWith('FINAL ')) final = JSON.parse(line.slice(6));
    }
  });
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => proc.on('exit', (c, s) => resolve([c, s])));
  const crashes = code === 0 && final ? 0 : 1;
  const summary: Record<string, any> = {
    seed: args.seed,
    asked: args.messages,
    crashes,
    exit: signal ?? code,
    wallSeconds: Math.round((Date.now() - started) / 1000),
    ...(final ?? {}),
  };
  if (args.json) console.log(JSON.stringify(summary));
  else {
    console.log(
      `fuzz seed ${args.seed}: ${summary.messages ?? 0} messages, ${summary.messagesPerSecond ?? '-'} msg/s, crashes ${crashes}, errors caught ${summary.errorsCaught ?? '-'}, ` +
        `silent drops ${summary.silentDrops ?? '-'}, completed twice ${summary.duplicates ?? '-'}, wrong outcomes ${summary.wrongOutcomes ?? '-'}, ` +
        `model unchanged ${summary.unchangedModel ?? '-'}, rss ${summary.rssMB ?? '-'} MB, heap ${summary.heapMB ?? '-'} MB, tensors ${summary.tensorsBefore ?? '-'} -> ${summary.tensorsAfter ?? '-'}`,
    );
  }
  process.exitCode = crashes === 0 && summary.silentDrops === 0 && summary.duplicates === 0 && summary.wrongOutcomes === 0 ? 0 : 1;
}

const args = parseArgs(process.argv.slice(2));
(args.child ? child(args) : parent(args)).catch((err: Error) => {
  console.error(err.stack ?? err.message);
  process.exit(2);
});
