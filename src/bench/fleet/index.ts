/**
 * The fleet convergence benchmark behind `hff bench-fleet`: N robots (the library's FleetSync
 * clients, all in this process) on one broker; P of them are each taught one part at the same
 * moment; measured is the time until every robot has merged every part, what receiving one update
 * costs, and how many bytes one update is on the wire.
 */
import { randomBytes, type KeyObject } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { FleetSync, generateFleetKeyPair, readPublicKey, type FleetSecurity } from '../../io/fleet';
import { mosquittoBinary, startAedes, startMosquitto, type Broker } from './brokers';

export type BenchFleetBroker = 'auto' | 'mosquitto' | 'aedes';
export type BenchFleetSecurity = 'keys' | 'secret' | 'unsigned';

export interface BenchFleetOptions {
  robots: number;
  parts: number;
  layers: number[];
  security: BenchFleetSecurity;
  /** Which broker to start: auto takes mosquitto when installed, else aedes in-process. */
  broker: BenchFleetBroker;
  /** Use this running broker instead of starting one. */
  url?: string;
  /** Give up after this long (default 60 s). */
  timeoutMs?: number;
}

export interface BenchFleetResult {
  robots: number;
  parts: number;
  layers: number[];
  security: BenchFleetSecurity;
  /** What carried the updates: 'mosquitto <path>', 'aedes (in-process)' or the given URL. */
  broker: string;
  /** From the parts being taught to the last robot merging the last part. */
  convergenceMs: number;
  /** Updates received from other robots, over all robots ((robots - 1) x parts). */
  updatesReceived: number;
  /** Mean time one robot spends handling one received update (parse, signature check, plausibility, merge). */
  receiveMsPerUpdate: number;
  /** Size of one update on the wire (payload bytes, signature included). */
  bytesPerUpdate: number;
  /**
   * CPU time this process (all robots) used from teaching to convergence: on a busy machine the wall-clock
   * convergence time grows with the wait for a core, this much less.
   */
  cpuMs: number;
  /** Every robot ended with bit-identical merges of every part. */
  identical: boolean;
  /** Connecting and subscribing all robots (not part of the convergence time). */
  connectMs: number;
}

/** A demonstration: one unit vector per layer, different for every part. */
function demonstration(part: number, layers: readonly number[]): Float32Array[] {
  return layers.map((units, l) => {
    const v = new Float32Array(units);
    let norm = 0;
    for (let u = 0; u < units; u++) {
      v[u] = Math.max(0, Math.sin(part * 12.9898 + u * 78.233 + l * 3.1));
      norm += v[u] * v[u];
    }
    norm = Math.sqrt(norm) || 1;
    for (let u = 0; u < units; u++) v[u] /= norm;
    return v;
  });
}

async function startBroker(choice: BenchFleetBroker): Promise<{ broker: Broker; name: string }> {
  const bin = mosquittoBinary();
  if (choice === 'mosquitto' && !bin) throw new Error('mosquitto is not installed (apt-get install -y mosquitto), or use --broker aedes');
  if (bin && choice !== 'aedes') return { broker: await startMosquitto(bin), name: `mosquitto (${bin})` };
  try {
    return { broker: await startAedes(), name: 'aedes (in-process)' };
  } catch (err) {
    throw new Error(`no broker: mosquitto is not installed and aedes cannot be loaded (${(err as Error).message}); install one, or give --url`);
  }
}

function securityFor(kind: BenchFleetSecurity, origin: string, keys: Map<string, { privateKey: string }>, trusted: Map<string, KeyObject>): FleetSecurity {
  if (kind === 'unsigned') return { mode: 'unsigned' };
  if (kind === 'secret') return { mode: 'secret', secret: 'bench-fleet-secret' };
  return { mode: 'keys', privateKey: (keys.get(origin) as { privateKey: string }).privateKey, trusted };
}

export async function runBenchFleet(options: BenchFleetOptions, log: (line: string) => void = () => undefined): Promise<BenchFleetResult> {
  const { robots, parts, layers, security } = options;
  if (!Number.isInteger(robots) || robots < 2) throw new Error('--robots must be an integer >= 2');
  if (!Number.isInteger(parts) || parts < 1 || parts > robots) throw new Error(`--parts must be an integer from 1 to the number of robots (${robots})`);
  const timeoutMs = options.timeoutMs ?? 60_000;
  const started = options.url ? undefined : await startBroker(options.broker);
  const url = options.url ?? (started as { broker: Broker }).broker.url;
  const brokerName = started?.name ?? url;
  log(`broker: ${brokerName}`);
  const origins = Array.from({ length: robots }, (_, i) => `robot-${String(i).padStart(3, '0')}`);
  const keys = new Map<string, { privateKey: string }>();
  const trusted = new Map<string, KeyObject>();
  if (security === 'keys') {
    for (const origin of origins) {
      const pair = generateFleetKeyPair();
      keys.set(origin, pair);
      trusted.set(origin, readPublicKey(pair.publicKey));
    }
  }
  const topicBase = `hff-bench/${randomBytes(4).toString('hex')}`;
  const syncs = origins.map(
    (origin) =>
      new FleetSync({
        url,
        origin,
        topicBase,
        layers,
        model: 'sha256:bench-fleet',
        security: securityFor(security, origin, keys, trusted),
        recoveryWindowMs: 0,
        mqtt: { reconnectPeriod: 500 },
      }),
  );
  try {
    const t0 = performance.now();
    await Promise.all(syncs.map((s) => s.start()));
    const connectMs = performance.now() - t0;
    log(`${robots} robots connected in ${connectMs.toFixed(0)} ms; teaching ${parts} parts at once`);
    const labels = Array.from({ length: parts }, (_, p) => `part-${p}`);
    let remaining = robots;
    let convergedAt = 0;
    const done = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the fleet did not converge within ${timeoutMs} ms`)), timeoutMs);
      for (const sync of syncs) {
        let finished = false;
        const unsubscribe = sync.onMerged(() => {
          if (finished || sync.state.classes().length < parts) return;
          finished = true;
          unsubscribe();
          if (--remaining === 0) {
            convergedAt = performance.now();
            const cpu = process.cpuUsage(cpuStart);
            cpuMs = (cpu.user + cpu.system) / 1000;
            clearTimeout(timer);
            resolve();
          }
        });
      }
    });
    const cpuStart = process.cpuUsage();
    let cpuMs = 0;
    const teachStart = performance.now();
    const published = labels.map((label, p) => syncs[p].publishLocal({ label, sums: demonstration(p, layers), applied: 1 }));
    await done;
    await Promise.all(published);
    const convergenceMs = convergedAt - teachStart;
    const reference = labels.map((label) => syncs[0].state.merged(label));
    const identical = syncs.every((s) =>
      labels.every((label, i) => {
        const a = s.state.merged(label);
        const b = reference[i];
        return !!a && !!b && a.count === b.count && a.sums.every((v, l) => Buffer.compare(Buffer.from(v.buffer), Buffer.from(b.sums[l].buffer)) === 0);
      }),
    );
    const received = syncs.reduce((n, s) => n + s.stats.received - s.stats.echoes, 0);
    const receiveMs = syncs.reduce((t, s) => t + s.stats.receiveMs, 0);
    const first = syncs[0].state.contribution(labels[0], origins[0]);
    return {
      robots,
      parts,
      layers: [...layers],
      security,
      broker: brokerName,
      convergenceMs: round(convergenceMs),
      cpuMs: round(cpuMs),
      updatesReceived: received,
      receiveMsPerUpdate: round(receiveMs / Math.max(1, received), 4),
      bytesPerUpdate: first ? syncs[0].encode(first).length : 0,
      identical,
      connectMs: round(connectMs),
    };
  } finally {
    await Promise.all(syncs.map((s) => s.close()));
    await started?.broker.stop();
  }
}

function round(x: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export function formatBenchFleet(r: BenchFleetResult): string {
  return [
    `${r.robots} robots, ${r.parts} parts taught at once, layers ${r.layers.join(',')}, ${r.security === 'keys' ? 'signed (Ed25519 robot keys)' : r.security === 'secret' ? 'signed (shared secret)' : 'UNSIGNED'}, broker ${r.broker}`,
    `converged in ${r.convergenceMs} ms, ${r.cpuMs} ms of CPU in this process (${r.identical ? 'every robot has identical merges' : 'MERGES DIFFER'})`,
    `receiving one update: ${r.receiveMsPerUpdate} ms (${r.updatesReceived} updates received in all)`,
    `one update on the wire: ${r.bytesPerUpdate} bytes`,
  ].join('\n');
}
