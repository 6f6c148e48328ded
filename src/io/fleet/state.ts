import { FLEET_FORMAT, FleetRejection, nameProblem, type FleetUpdate } from './format';

/** Outcome of offering an update to the state. */
export type OfferResult = 'applied' | 'duplicate' | 'stale';

/** A class's merged state over every origin. */
export interface MergedClass {
  label: string;
  /** Per layer, Σ over origins of their sums (accumulated in float64, in sorted origin order). */
  sums: Float64Array[];
  /** Σ over origins of their counts. */
  count: number;
  /** Contributing origins, sorted. */
  origins: string[];
}

/** Extra fields stamped on local contributions. */
export interface LocalStamp {
  model: string;
  session?: string;
  sentAt?: number;
}

/** Highest version accepted per class and origin: `{ [class]: { [origin]: version } }`, kept with the model. */
export type SeenVersions = Record<string, Record<string, number>>;

export interface FleetStateOptions {
  /** Versions accepted before (e.g. by an earlier run, saved with the model): older ones are refused as replays. */
  seen?: SeenVersions;
  /** Most classes the fleet may hold (default 256): updates creating more are refused. */
  maxClasses?: number;
  /** Most (class, origin) contributions held (default 4096). */
  maxContributions?: number;
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A total order of two updates with equal versions, the same on every instance. */
function compareContent(a: FleetUpdate, b: FleetUpdate): number {
  if (a.count !== b.count) return a.count - b.count;
  const bySession = compareStrings(a.session ?? '', b.session ?? '');
  if (bySession !== 0) return bySession;
  for (let l = 0; l < a.sums.length; l++) {
    const x = a.sums[l];
    const y = b.sums[l];
    const order = Buffer.compare(Buffer.from(x.buffer, x.byteOffset, x.byteLength), Buffer.from(y.buffer, y.byteOffset, y.byteLength));
    if (order !== 0) return order;
  }
  return 0;
}

/**
 * The fleet's knowledge as a set of contributions, one per (class, origin), each the latest
 * version that origin published. Merging is a pure function of that set, so it does not depend on
 * the order updates arrived in, and offering the same update again changes nothing.
 */
export class FleetState {
  readonly layers: number[];
  readonly maxClasses: number;
  readonly maxContributions: number;
  readonly #classes = new Map<string, Map<string, FleetUpdate>>();
  readonly #seen = new Map<string, Map<string, number>>();
  #contributions = 0;

  constructor(layers: readonly number[], options: FleetStateOptions = {}) {
    if (!Array.isArray(layers) || layers.length === 0 || layers.some((n) => !Number.isSafeInteger(n) || n < 1)) {
      throw new Error('FleetState needs the units of every layer, e.g. [64, 32]');
    }
    this.layers = [...layers];
    this.maxClasses = options.maxClasses ?? 256;
    this.maxContributions = options.maxContributions ?? 4096;
    for (const [label, perOrigin] of Object.entries(options.seen ?? {})) {
      if (perOrigin === null || typeof perOrigin !== 'object') continue;
      for (const [origin, version] of Object.entries(perOrigin)) {
        if (Number.isSafeInteger(version) && version > 0) this.#remember(label, origin, version);
      }
    }
  }

  /**
   * Keeps `update` if it is newer than what is known from its origin for its class. Equal versions
   * with different content (two processes claiming one origin) resolve the same way on every
   * instance. Throws a FleetRejection for a version older than one accepted before ('replay'), for
   * another architecture, and past the class and contribution limits ('limit').
   */
  offer(update: FleetUpdate): OfferResult {
    this.#checkShape(update);
    const perOrigin = this.#classes.get(update.class);
    const existing = perOrigin?.get(update.origin);
    const highest = this.#seen.get(update.class)?.get(update.origin) ?? 0;
    if (existing && update.version === existing.version) {
      const order = compareContent(update, existing);
      if (order === 0) return 'duplicate';
      if (order < 0) return 'stale';
    } else if (existing && update.version < existing.version) {
      // Held: an older copy changes nothing (counted, not merged).
      return 'stale';
    } else if (update.version < highest) {
      // Not held, yet a newer version was accepted before (e.g. by the previous run): a replay of a retained old update.
      throw new FleetRejection(
        'replay',
        `update for class '${update.class}' from '${update.origin}' has version ${update.version}, older than version ${highest} already accepted (a replay)`,
      );
    }
    if (!existing) this.checkRoom(update.class, update.origin);
    this.#set(update);
    return 'applied';
  }

  /** Whether `offer` would refuse a new (class, origin) for the limits: checked before the sums are even decoded. */
  checkRoom(label: string, origin: string): void {
    const perOrigin = this.#classes.get(label);
    if (perOrigin?.has(origin)) return;
    if (!perOrigin && this.#classes.size >= this.maxClasses) {
      throw new FleetRejection('limit', `update for class '${label}' from '${origin}' refused: the fleet already holds ${this.maxClasses} classes (the limit)`);
    }
    if (this.#contributions >= this.maxContributions) {
      throw new FleetRejection('limit', `update for class '${label}' from '${origin}' refused: ${this.maxContributions} contributions held (the limit)`);
    }
  }

  /** Highest version accepted from `origin` for `label` (0: none). */
  highestSeen(label: string, origin: string): number {
    return this.#seen.get(label)?.get(origin) ?? 0;
  }

  /** Every highest accepted version, to save with the model. */
  seenVersions(): SeenVersions {
    // fromEntries defines own properties, so a class named '__proto__' stays a plain key.
    return Object.fromEntries([...this.#seen].map(([label, perOrigin]) => [label, Object.fromEntries(perOrigin)]));
  }

  /**
   * Adds demonstrations taught on this instance to its own contribution for `label` and returns
   * the new version (unsigned) to publish.
   */
  addLocal(origin: string, label: string, sums: readonly ArrayLike<number>[], count: number, stamp: LocalStamp): FleetUpdate {
    if (!Number.isSafeInteger(count) || count < 1) throw new Error(`demonstration count must be an integer >= 1, got ${count}`);
    const problem = nameProblem(label, 'the class name');
    if (problem) throw new Error(`cannot share class: ${problem}`);
    if (sums.length !== this.layers.length) throw new Error(`expected sums for ${this.layers.length} layers, got ${sums.length}`);
    const previous = this.contribution(label, origin);
    const next = this.layers.map((units, l) => {
      const s = sums[l];
      if (!s || s.length !== units) throw new Error(`layer ${l}: expected a sum of length ${units}, got ${s?.length}`);
      const out = previous ? Float32Array.from(previous.sums[l]) : new Float32Array(units);
      for (let u = 0; u < units; u++) {
        const v = Number(s[u]);
        if (!Number.isFinite(v)) throw new Error(`layer ${l}: the sum holds a non-finite value`);
        out[u] += v;
      }
      return out;
    });
    const update = this.#stamped(
      origin,
      label,
      Math.max(previous?.version ?? 0, this.highestSeen(label, origin)) + 1,
      (previous?.count ?? 0) + count,
      next,
      stamp,
    );
    if (!previous) this.checkRoom(label, origin);
    this.#set(update);
    return update;
  }

  /**
   * Folds a contribution published by an earlier run of this same origin into the current one
   * (which then holds only what was taught since the start): used once per class after a restart
   * so that nothing taught before or after it is lost. Returns the combined update to publish.
   */
  absorbPrevious(previous: FleetUpdate, stamp: LocalStamp): FleetUpdate {
    this.#checkShape(previous);
    const current = this.contribution(previous.class, previous.origin);
    if (!current) {
      this.checkRoom(previous.class, previous.origin);
      this.#set(previous);
      return previous;
    }
    const sums = this.layers.map((units, l) => {
      const out = Float32Array.from(previous.sums[l]);
      for (let u = 0; u < units; u++) out[u] += current.sums[l][u];
      return out;
    });
    const combined = this.#stamped(previous.origin, previous.class, previous.version + current.version, previous.count + current.count, sums, stamp);
    this.#set(combined);
    return combined;
  }

  /** The latest contribution of `origin` to `label`, if any. */
  contribution(label: string, origin: string): FleetUpdate | undefined {
    return this.#classes.get(label)?.get(origin);
  }

  /** Every contribution, sorted by class then origin (what a node republishes or shows). */
  contributions(origin?: string): FleetUpdate[] {
    const out: FleetUpdate[] = [];
    for (const label of this.classes()) {
      const perOrigin = this.#classes.get(label) as Map<string, FleetUpdate>;
      for (const o of [...perOrigin.keys()].sort(compareStrings)) {
        if (origin === undefined || o === origin) out.push(perOrigin.get(o) as FleetUpdate);
      }
    }
    return out;
  }

  classes(): string[] {
    return [...this.#classes.keys()].sort(compareStrings);
  }

  /** Count-weighted merge of every origin's contribution to `label`. */
  merged(label: string): MergedClass | undefined {
    const perOrigin = this.#classes.get(label);
    if (!perOrigin || perOrigin.size === 0) return undefined;
    const origins = [...perOrigin.keys()].sort(compareStrings);
    const sums = this.layers.map((units) => new Float64Array(units));
    let count = 0;
    // Summing in a fixed (sorted) order makes the result bit-identical whatever the arrival order.
    for (const origin of origins) {
      const c = perOrigin.get(origin) as FleetUpdate;
      count += c.count;
      c.sums.forEach((s, l) => {
        const acc = sums[l];
        for (let u = 0; u < acc.length; u++) acc[u] += s[u];
      });
    }
    return { label, sums, count, origins };
  }

  #stamped(origin: string, label: string, version: number, count: number, sums: Float32Array[], stamp: LocalStamp): FleetUpdate {
    const update: FleetUpdate = { format: FLEET_FORMAT, origin, class: label, version, count, layers: [...this.layers], sums, model: stamp.model };
    if (stamp.session !== undefined) update.session = stamp.session;
    if (stamp.sentAt !== undefined) update.sentAt = stamp.sentAt;
    return update;
  }

  #set(update: FleetUpdate): void {
    let perOrigin = this.#classes.get(update.class);
    if (!perOrigin) {
      perOrigin = new Map();
      this.#classes.set(update.class, perOrigin);
    }
    if (!perOrigin.has(update.origin)) this.#contributions++;
    perOrigin.set(update.origin, update);
    this.#remember(update.class, update.origin, update.version);
  }

  #remember(label: string, origin: string, version: number): void {
    let perOrigin = this.#seen.get(label);
    if (!perOrigin) {
      perOrigin = new Map();
      this.#seen.set(label, perOrigin);
    }
    if (version > (perOrigin.get(origin) ?? 0)) perOrigin.set(origin, version);
  }

  #checkShape(update: FleetUpdate): void {
    const same = update.layers.length === this.layers.length && update.layers.every((n, l) => n === this.layers[l]);
    if (!same) {
      throw new FleetRejection(
        'incompatible',
        `update for class '${update.class}' from '${update.origin}' has layers [${update.layers}] but this network has [${this.layers}]`,
      );
    }
  }
}
