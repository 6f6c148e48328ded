import { createHash } from 'node:crypto';
import type { HffNetwork } from '../../hff';
import { canonicalJson } from './format';
import type { MergedClass, SeenVersions } from './state';

/** Where merged class prototypes go (an HffNetwork through NetworkFleetTarget, or anything else). */
export interface FleetTarget {
  /** Units per layer; updates for other shapes are rejected. */
  readonly layers: number[];
  /** Fingerprint of the weights; updates stamped with another one are rejected. */
  readonly model: string;
  /** Versions accepted by earlier runs (saved with the model): older ones are refused as replays. */
  readonly seen?: SeenVersions;
  /** Why remote updates may not change `label` (e.g. a class the model was trained on), or undefined. */
  protection?(label: string): string | undefined;
  /** Called with the fleet-wide merge of a class whenever it changes, and every version accepted so far. */
  apply(merged: MergedClass, seen: SeenVersions): void;
}

/** Where NetworkFleetTarget keeps the accepted versions in the model's metadata (saved with it). */
export const FLEET_METADATA_KEY = 'fleet';

/**
 * A short hash of everything that shapes a representation (architecture, activation, input
 * normalisation, weights and biases): instances whose fingerprints match can share prototypes.
 * Prototypes and class lists are left out, since those are exactly what teaching changes.
 */
export function modelFingerprint(net: HffNetwork): string {
  const files = net.toModelFiles();
  const c = net.config;
  const hash = createHash('sha256');
  hash.update(
    canonicalJson({
      inputSize: c.inputSize,
      layers: c.layers,
      activation: c.activation,
      normalizeInput: c.normalizeInput,
      ...(c.centerInput ? { centerInput: true } : {}),
    }),
  );
  for (let l = 0; l < c.layers.length; l++) {
    for (const part of ['weight', 'bias']) {
      const t = files.tensors[`layers.${l}.${part}`];
      hash.update(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    }
  }
  return `sha256:${hash.digest('hex').slice(0, 32)}`;
}

interface BaseClass {
  /** Per layer unit direction of the class as loaded. */
  directions: Float64Array[];
  count: number;
}

export interface NetworkFleetTargetOptions {
  /**
   * Keep what the model already knew about a class (its prototype weighted by its count, as loaded)
   * in the merge, so teaching refines classes a model was trained on instead of replacing them
   * (default true). Every instance must load the same model file for the fleet to agree.
   */
  includeBase?: boolean;
  /**
   * Let remote updates change classes this model was trained on (default false: they are refused,
   * so no robot of the fleet can rewrite what training taught). Taught classes are always shared.
   */
  allowTrainedUpdates?: boolean;
  /** Called after a class was set from the fleet merge. */
  onApplied?: (merged: MergedClass, result: { created: boolean; version: number }) => void;
}

/**
 * Applies fleet merges to an HffNetwork: the class prototype at every layer becomes the direction
 * of (base count × base direction + Σ over origins of their sums), i.e. the count-weighted mean of
 * all demonstrations fleet-wide, and the class count their total.
 */
export class NetworkFleetTarget implements FleetTarget {
  readonly net: HffNetwork;
  readonly layers: number[];
  readonly model: string;
  readonly seen: SeenVersions;
  readonly #base = new Map<string, BaseClass>();
  /** Bases of the classes the fleet changed, kept in the model's metadata (encoded once each). */
  readonly #savedBases = new Map<string, BaseClass>();
  readonly #encodedBases = new Map<string, { count: number; directions: string[] }>();
  readonly #trained = new Set<string>();
  readonly #onApplied: NetworkFleetTargetOptions['onApplied'];

  constructor(net: HffNetwork, options: NetworkFleetTargetOptions = {}) {
    this.net = net;
    this.layers = [...net.config.layers];
    this.model = modelFingerprint(net);
    this.seen = readSeen(net.metadata[FLEET_METADATA_KEY]);
    this.#onApplied = options.onApplied;
    // A class the fleet already changed keeps its share in the retained contributions, not in a base.
    const fromFleet = new Set(Object.keys(this.seen));
    const taught = new Set(net.taughtClassNames());
    net.classes.forEach((label, i) => {
      if (net.counts[i] > 0 && !taught.has(label) && !fromFleet.has(label) && !options.allowTrainedUpdates) this.#trained.add(label);
    });
    if (options.includeBase !== false) {
      // What a class held before the fleet first changed it was saved with the model: it stays in the merge.
      for (const [label, base] of readBases(net.metadata[FLEET_METADATA_KEY], this.layers)) {
        if (fromFleet.has(label)) this.#base.set(label, base);
      }
      this.#snapshotBase(fromFleet);
    }
  }

  protection(label: string): string | undefined {
    if (!this.#trained.has(label)) return undefined;
    return `class '${label}' was trained on this model and remote updates do not change trained classes (allow it in the model's fleet settings)`;
  }

  /** Classes whose loaded prototypes take part in merges, with their counts. */
  baseClasses(): Array<{ label: string; count: number }> {
    return [...this.#base.entries()].map(([label, b]) => ({ label, count: b.count }));
  }

  apply(merged: MergedClass, seen: SeenVersions): void {
    const base = this.#base.get(merged.label);
    if (base) this.#savedBases.set(merged.label, base);
    this.net.metadata[FLEET_METADATA_KEY] = { seen, ...(this.#savedBases.size > 0 ? { base: this.#storedBases() } : {}) };
    const perLayer = merged.sums.map((sum, l) => {
      const out = new Float64Array(sum);
      if (base) {
        const d = base.directions[l];
        for (let u = 0; u < out.length; u++) out[u] += base.count * d[u];
      }
      return Float32Array.from(out);
    });
    const count = merged.count + (base?.count ?? 0);
    // All-zero sums (only demonstrations past a meanOf cap) carry no direction: leave the class alone.
    if (perLayer.some((v) => v.every((x) => x === 0))) return;
    const result = this.net.setClassPrototypes(merged.label, perLayer, count);
    this.#onApplied?.(merged, result);
  }

  #storedBases(): Record<string, { count: number; directions: string[] }> {
    for (const [label, base] of this.#savedBases) {
      if (this.#encodedBases.has(label)) continue;
      this.#encodedBases.set(label, {
        count: base.count,
        directions: base.directions.map((d) => {
          const f = Float32Array.from(d);
          return Buffer.from(f.buffer, f.byteOffset, f.byteLength).toString('base64');
        }),
      });
    }
    return Object.fromEntries(this.#encodedBases);
  }

  #snapshotBase(skip: ReadonlySet<string>): void {
    const m = this.net.config.prototypesPerClass;
    const protos = this.net.readPrototypes();
    this.net.classes.forEach((label, i) => {
      const count = this.net.counts[i];
      if (!(count > 0) || skip.has(label)) return;
      const directions = this.layers.map((units, l) => {
        const d = new Float64Array(units);
        // Several prototypes per class: their normalised sum stands for the class.
        for (let j = 0; j < m; j++) {
          const off = (i * m + j) * units;
          for (let u = 0; u < units; u++) d[u] += protos[l][off + u];
        }
        let norm = 0;
        for (let u = 0; u < units; u++) norm += d[u] * d[u];
        norm = Math.sqrt(norm);
        if (norm > 0) for (let u = 0; u < units; u++) d[u] /= norm;
        return d;
      });
      this.#base.set(label, { directions, count });
    });
  }
}

/** Bases stored in a model's metadata (see NetworkFleetTarget.apply), ignoring anything malformed. */
function readBases(value: unknown, layers: readonly number[]): Map<string, BaseClass> {
  const out = new Map<string, BaseClass>();
  const stored = (value as { base?: unknown } | undefined)?.base;
  if (stored === null || typeof stored !== 'object' || Array.isArray(stored)) return out;
  for (const [label, entry] of Object.entries(stored as Record<string, unknown>)) {
    const e = entry as { count?: unknown; directions?: unknown } | null;
    if (!e || !Number.isFinite(e.count) || (e.count as number) <= 0 || !Array.isArray(e.directions) || e.directions.length !== layers.length) continue;
    const directions = (e.directions as unknown[]).map((text, l): Float64Array | undefined => {
      const bytes = typeof text === 'string' ? Buffer.from(text, 'base64') : Buffer.alloc(0);
      if (bytes.length !== 4 * layers[l]) return undefined;
      const f = new Float32Array(layers[l]);
      new Uint8Array(f.buffer).set(bytes);
      return f.every(Number.isFinite) ? Float64Array.from(f) : undefined;
    });
    if (directions.every((d): d is Float64Array => d !== undefined)) out.set(label, { directions, count: e.count as number });
  }
  return out;
}

/** The accepted versions stored in a model's metadata, ignoring anything malformed. */
function readSeen(value: unknown): SeenVersions {
  const seen = (value as { seen?: unknown } | undefined)?.seen;
  if (seen === null || typeof seen !== 'object' || Array.isArray(seen)) return {};
  const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
  // fromEntries defines own properties, so a class named '__proto__' stays a plain key.
  return Object.fromEntries(
    Object.entries(seen as Record<string, unknown>)
      .filter((entry): entry is [string, Record<string, unknown>] => isRecord(entry[1]))
      .map(([label, perOrigin]) => [label, Object.fromEntries(Object.entries(perOrigin).filter(([, v]) => Number.isSafeInteger(v) && (v as number) > 0))]),
  ) as SeenVersions;
}
