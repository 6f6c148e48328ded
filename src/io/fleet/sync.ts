import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { IClientOptions, MqttClient } from 'mqtt';
import { Listeners } from '../listeners';
import { decodeUpdate, FleetRejection, readPayload, type FleetUpdate, type RejectReason } from './format';
import type { FleetTarget } from './network';
import { FleetSigner, type FleetSecurity } from './security';
import { FleetState, type MergedClass, type SeenVersions } from './state';
import { DEFAULT_TOPIC_BASE, parseUpdateTopic, subscriptionTopic, updateTopic, validateTopicBase } from './topics';

export interface FleetSyncOptions {
  /** Broker URL: mqtt://host:1883, mqtts://host:8883, ws://host:9001 ... */
  url: string;
  /** This instance's id, unique in the fleet and stable across restarts (e.g. hostname + model node id). */
  origin: string;
  /** Topic base (default hff/fleet); every instance of one fleet must use the same. */
  topicBase?: string;
  /** How updates are signed and checked (required: an unsigned fleet is a choice, `{ mode: 'unsigned' }`). */
  security: FleetSecurity;
  /** Receives merged classes (e.g. a NetworkFleetTarget); also gives the layer sizes and model fingerprint. */
  target?: FleetTarget;
  /** Units per layer, when there is no target. */
  layers?: number[];
  /** Model fingerprint stamped on local updates and required of remote ones (default target.model). */
  model?: string;
  /** Accept updates stamped with another model fingerprint (default false: rejected as incompatible). */
  acceptOtherModels?: boolean;
  /** Versions accepted before (default target.seen): older ones are refused as replays. */
  seen?: SeenVersions;
  /** Most classes the fleet may create or hold (default 256); updates past it are refused ('limit'). */
  maxClasses?: number;
  /** Most (class, origin) contributions held (default 4096). */
  maxContributions?: number;
  /** Extra MQTT client options (username, password, TLS, keepalive ...). */
  mqtt?: IClientOptions;
  /**
   * After the first subscription, how long to wait for the broker's retained state before
   * publishing own contributions (default 300 ms), so that a restarted instance folds in what it
   * published in its previous run before overwriting it.
   */
  recoveryWindowMs?: number;
  /** Test seam / alternative client: called instead of mqtt.connect. */
  connect?: (url: string, options: IClientOptions) => MqttClient;
}

export type FleetConnectionState = 'connecting' | 'connected' | 'disconnected' | 'closed';

export interface FleetStatus {
  state: FleetConnectionState;
  detail?: string;
}

export interface FleetRejectEvent {
  reason: RejectReason;
  message: string;
  topic: string;
  origin?: string;
  label?: string;
}

export interface FleetMergeEvent {
  label: string;
  /** The origin whose update caused this merge (our own origin for local teaching). */
  origin: string;
  version: number;
  local: boolean;
  merged: MergedClass;
  /** Time from the update's creation to its merge here (clock offsets between machines included). */
  delayMs?: number;
}

export interface FleetStats {
  received: number;
  applied: number;
  duplicates: number;
  stale: number;
  rejected: number;
  echoes: number;
  published: number;
  /** Time spent handling received updates (parse, verify, merge), ms. */
  receiveMs: number;
}

/** What `publishLocal` needs from a teach result (HffNetwork.teach returns all of it). */
export interface LocalTeaching {
  label: string;
  sums: readonly ArrayLike<number>[];
  /** Demonstrations that changed the prototype (TeachResult.applied). */
  applied: number;
}

const QOS = 1 as const;

interface PendingMerge {
  update: FleetUpdate;
  local: boolean;
}

/**
 * An error of the MQTT connection itself (broker unreachable, connection refused or lost): the client keeps
 * retrying by itself, so a listener can summarise these instead of reporting each attempt.
 */
export class FleetConnectionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FleetConnectionError';
  }
}

/**
 * Shares what is taught on this instance with a fleet through an MQTT broker and merges what the
 * others teach. Every (origin, class) contribution is one retained QoS 1 message under
 * `<base>/<origin>/<class>`, so the broker's retained store is the fleet state: late joiners and
 * instances reconnecting after a broker restart (with persistence) receive it on subscribing. Own
 * contributions are kept locally and re-published on every (re)connect, which restores a broker
 * that restarted without persistence.
 */
export class FleetSync {
  readonly origin: string;
  readonly topicBase: string;
  readonly session: string;
  readonly state: FleetState;
  readonly model: string;
  readonly url: string;
  readonly signer: FleetSigner;
  readonly stats: FleetStats = { received: 0, applied: 0, duplicates: 0, stale: 0, rejected: 0, echoes: 0, published: 0, receiveMs: 0 };
  readonly #target: FleetTarget | undefined;
  readonly #options: FleetSyncOptions;
  readonly #merged = new Listeners<FleetMergeEvent>();
  readonly #rejected = new Listeners<FleetRejectEvent>();
  readonly #statusListeners = new Listeners<FleetStatus>();
  readonly #errors = new Listeners<Error>();
  /** Classes whose contribution from an earlier run of this origin was already folded in. */
  readonly #recovered = new Set<string>();
  /** Own versions accepted by earlier runs: an older own update is a replay, an equal one our last run's. */
  readonly #ownSeenBefore: Map<string, number>;
  /** Signed bytes of own contributions, made once and re-sent by every republish. */
  readonly #wire = new WeakMap<FleetUpdate, Buffer>();
  /** Remote merges waiting for the next turn of the event loop: a burst applies each class once. */
  readonly #pending = new Map<string, PendingMerge[]>();
  #flushScheduled = false;
  #client: MqttClient | undefined;
  #status: FleetStatus = { state: 'connecting' };
  #subscribed = false;
  #closed = false;
  #ready: Promise<void> | undefined;

  constructor(options: FleetSyncOptions) {
    if (!options || typeof options.url !== 'string' || options.url.trim() === '') {
      throw new Error('fleet sync needs a broker URL such as mqtt://localhost:1883');
    }
    if (!/^(mqtts?|wss?|tcp|ssl|tls):\/\//.test(options.url)) {
      throw new Error(`invalid broker URL '${options.url}': use mqtt://host:1883, mqtts://, ws:// or wss://`);
    }
    // eslint-disable-next-line no-control-regex -- control characters are what this refuses
    if (typeof options.origin !== 'string' || options.origin.trim() === '' || options.origin.length > 128 || /[\u0000-\u001f\u007f]/.test(options.origin)) {
      throw new Error('fleet sync needs an origin id of 1-128 characters without control characters, unique per instance');
    }
    const layers = options.target?.layers ?? options.layers;
    if (!layers) throw new Error('fleet sync needs a target network (or the layer sizes)');
    const model = options.model ?? options.target?.model;
    if (typeof model !== 'string' || model === '') throw new Error('fleet sync needs the model fingerprint (a target network gives it)');
    this.signer = new FleetSigner(options.security, options.origin);
    this.url = options.url;
    this.origin = options.origin;
    this.topicBase = validateTopicBase(options.topicBase ?? DEFAULT_TOPIC_BASE);
    this.session = randomBytes(8).toString('hex');
    const seen = options.seen ?? options.target?.seen;
    this.state = new FleetState(layers, { seen, maxClasses: options.maxClasses, maxContributions: options.maxContributions });
    this.#ownSeenBefore = new Map(
      Object.entries(seen ?? {}).flatMap(([label, perOrigin]) => (perOrigin[this.origin] ? [[label, perOrigin[this.origin]]] : [])),
    );
    this.model = model;
    this.#target = options.target;
    this.#options = options;
  }

  get status(): FleetStatus {
    return { ...this.#status };
  }

  get signed(): boolean {
    return this.signer.mode !== 'unsigned';
  }

  onMerged(listener: (event: FleetMergeEvent) => void): () => void {
    return this.#merged.add(listener);
  }

  /** Unsigned, forged, replayed, implausible, malformed or incompatible updates, each with its reason. */
  onReject(listener: (event: FleetRejectEvent) => void): () => void {
    return this.#rejected.add(listener);
  }

  onStatus(listener: (status: FleetStatus) => void): () => void {
    return this.#statusListeners.add(listener);
  }

  onError(listener: (error: Error) => void): () => void {
    return this.#errors.add(listener);
  }

  /**
   * Connects and subscribes. Resolves once subscribed the first time; the client keeps
   * reconnecting by itself afterwards. Retained fleet state arrives (and is merged) right after.
   */
  start(): Promise<void> {
    if (this.#closed) return Promise.reject(new Error('fleet sync is closed'));
    if (this.#ready) return this.#ready;
    this.#ready = new Promise<void>((resolve, reject) => {
      const mqttOptions: IClientOptions = {
        clientId: `hff-fleet-${this.session}`,
        clean: true,
        reconnectPeriod: 1000,
        connectTimeout: 10_000,
        ...this.#options.mqtt,
      };
      let client: MqttClient;
      try {
        const connect = this.#options.connect ?? (require('mqtt') as typeof import('mqtt')).connect;
        client = connect(this.url, mqttOptions);
      } catch (err) {
        reject(err);
        return;
      }
      this.#client = client;
      this.#setStatus({ state: 'connecting', detail: this.url });
      client.on('connect', () => {
        this.#setStatus({ state: 'connected', detail: this.url });
        void this.#onConnect().then(resolve, (err: Error) => {
          this.#emitError(err);
          reject(err);
        });
      });
      client.on('reconnect', () => this.#setStatus({ state: 'connecting', detail: `reconnecting to ${this.url}` }));
      client.on('offline', () => this.#setStatus({ state: 'disconnected', detail: `broker ${this.url} unreachable` }));
      client.on('close', () => {
        if (!this.#closed && this.#status.state === 'connected') this.#setStatus({ state: 'disconnected', detail: `lost ${this.url}` });
      });
      client.on('error', (err) => this.#emitError(new FleetConnectionError(`fleet MQTT ${this.url}: ${err.message}`)));
      client.on('message', (topic, payload, packet) => this.#onMessage(topic, payload, packet.retain === true));
    });
    this.#ready.catch(() => undefined);
    return this.#ready;
  }

  /**
   * Records demonstrations taught here (a TeachResult), merges them with the fleet's, applies the
   * merge to the target and publishes the new contribution (retained, QoS 1). The local merge is
   * done before this returns; the promise resolves when the broker acknowledged the update (at once
   * while not yet subscribed: it is published right after; with undefined when nothing was applied).
   */
  publishLocal(teaching: LocalTeaching): Promise<FleetUpdate | undefined> {
    if (this.#closed) return Promise.reject(new Error('fleet sync is closed'));
    if (!teaching || typeof teaching.label !== 'string') return Promise.reject(new Error('publishLocal needs a teach result with a label'));
    const applied = Number(teaching.applied ?? 0);
    if (!(applied > 0)) return Promise.resolve(undefined);
    let update: FleetUpdate;
    try {
      update = this.state.addLocal(this.origin, teaching.label, teaching.sums, applied, this.#stamp());
    } catch (err) {
      return Promise.reject(err);
    }
    this.#queueMerge(update, true);
    this.#applyPending(update.class);
    return this.#publish(update);
  }

  /** Re-publishes every own contribution (done automatically on each connect). */
  async republish(): Promise<void> {
    await Promise.all(this.state.contributions(this.origin).map((u) => this.#publish(u)));
  }

  /** The signed payload of an update as this instance publishes it. */
  encode(update: FleetUpdate): Buffer {
    let wire = this.#wire.get(update);
    if (!wire) {
      wire = this.signer.encode(update);
      this.#wire.set(update, wire);
    }
    return wire;
  }

  /** Disconnects; the retained contributions stay on the broker for the rest of the fleet. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const client = this.#client;
    this.#client = undefined;
    if (client) {
      // A graceful end waits for in-flight acks; do not hang on a broker that is gone.
      await Promise.race([client.endAsync(false).catch(() => undefined), new Promise<void>((r) => setTimeout(r, 1000).unref())]);
      client.end(true);
    }
    this.#pending.clear();
    this.#setStatus({ state: 'closed' });
    this.#merged.clear();
    this.#rejected.clear();
    this.#statusListeners.clear();
    this.#errors.clear();
  }

  async #onConnect(): Promise<void> {
    const client = this.#client;
    if (!client) return;
    if (!this.#subscribed) {
      // mqtt.js re-subscribes by itself after reconnects; the broker then re-sends retained state.
      await client.subscribeAsync(subscriptionTopic(this.topicBase), { qos: QOS });
      const wait = this.#options.recoveryWindowMs ?? 300;
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      this.#subscribed = true;
    }
    await this.republish();
  }

  #stamp(): { model: string; session: string; sentAt: number } {
    return { model: this.model, session: this.session, sentAt: Date.now() };
  }

  async #publish(update: FleetUpdate): Promise<FleetUpdate> {
    const client = this.#client;
    // Kept locally and published by republish() once subscribed (see recoveryWindowMs).
    if (!client || this.#closed || !this.#subscribed) return update;
    await client.publishAsync(updateTopic(this.topicBase, update.origin, update.class), this.encode(update), { qos: QOS, retain: true });
    this.stats.published++;
    return update;
  }

  #onMessage(topic: string, payload: Buffer, retained: boolean): void {
    if (this.#closed) return;
    // An empty retained message is how a contribution is cleared from the broker: nothing to merge.
    if (payload.length === 0) return;
    const started = performance.now();
    this.stats.received++;
    const where = parseUpdateTopic(this.topicBase, topic);
    let update: FleetUpdate;
    try {
      if (!where) throw new FleetRejection('malformed', `topic '${topic}' is not <base>/<origin>/<class>`);
      const p = readPayload(payload);
      const h = p.header;
      if (h.origin !== where.origin || h.class !== where.label) {
        throw new FleetRejection(
          'topic-mismatch',
          `update for class '${h.class}' from '${h.origin}' arrived on the topic of class '${where.label}' from '${where.origin}'`,
        );
      }
      if (h.origin === this.origin && h.session === this.session) {
        this.stats.echoes++;
        return;
      }
      this.signer.verify(p);
      if (h.model !== this.model && !this.#options.acceptOtherModels) {
        throw new FleetRejection(
          'incompatible',
          `update for class '${h.class}' from '${h.origin}' was taught on another model (${h.model}, this one is ${this.model}); load the same model file on every instance`,
        );
      }
      if (h.origin !== this.origin) {
        const protection = this.#target?.protection?.(h.class);
        if (protection) throw new FleetRejection('protected', `update from '${h.origin}' refused: ${protection}`);
        this.state.checkRoom(h.class, h.origin);
      }
      update = decodeUpdate(p);
      if (update.origin === this.origin) {
        this.#onOwnOrigin(update, retained);
        return;
      }
      const result = this.state.offer(update);
      if (result === 'duplicate') this.stats.duplicates++;
      else if (result === 'stale') this.stats.stale++;
      else this.#queueMerge(update, false);
    } catch (err) {
      if (err instanceof FleetRejection) this.#reject(err, topic, where?.origin, where?.label);
      else this.#emitError(err as Error);
    } finally {
      this.stats.receiveMs += performance.now() - started;
    }
  }

  /** Our previous run's retained contribution, a replay of it, or another process using our origin id. */
  #onOwnOrigin(update: FleetUpdate, retained: boolean): void {
    const before = this.#ownSeenBefore.get(update.class) ?? 0;
    if (update.version < before) {
      throw new FleetRejection(
        'replay',
        `own update for class '${update.class}' has version ${update.version}, older than version ${before} this robot published before (a replay)`,
      );
    }
    const own = this.state.contribution(update.class, this.origin);
    if (retained && !this.#recovered.has(update.class)) {
      this.#recovered.add(update.class);
      if (own && own.version >= update.version && own.session !== this.session) return; // already have it
      const combined = this.state.absorbPrevious(update, this.#stamp());
      this.#queueMerge(combined, true);
      // Only what was taught since this start needs re-publishing; an adopted contribution is already retained.
      if (combined !== update) void this.#publish(combined).catch((err: Error) => this.#emitError(err));
      return;
    }
    if (own && own.version === update.version && own.count === update.count) {
      this.stats.duplicates++;
      return;
    }
    throw new FleetRejection(
      'origin-conflict',
      `another running instance publishes as origin '${this.origin}' (class '${update.class}', version ${update.version}); give every instance its own origin id`,
    );
  }

  #queueMerge(update: FleetUpdate, local: boolean): void {
    this.stats.applied++;
    const list = this.#pending.get(update.class);
    if (list) list.push({ update, local });
    else this.#pending.set(update.class, [{ update, local }]);
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => {
        this.#flushScheduled = false;
        for (const label of [...this.#pending.keys()]) this.#applyPending(label);
      });
    }
  }

  /** Applies the merge of `label` to the target once for every update queued for it, then reports each. */
  #applyPending(label: string): void {
    const list = this.#pending.get(label);
    this.#pending.delete(label);
    if (!list || this.#closed) return;
    // Computed at most once, and only when the target or a listener reads it.
    let merged: MergedClass | undefined;
    const mergedOnce = (): MergedClass => (merged ??= this.state.merged(label) as MergedClass);
    if (this.#target) {
      try {
        this.#target.apply(mergedOnce(), this.state.seenVersions());
      } catch (err) {
        this.#emitError(new Error(`applying the fleet merge of class '${label}' failed: ${(err as Error).message}`));
        return;
      }
    }
    if (this.#merged.size === 0) return;
    const now = Date.now();
    for (const { update, local } of list) {
      const sentAt = local ? undefined : update.sentAt;
      const event = { label, origin: update.origin, version: update.version, local, ...(sentAt !== undefined ? { delayMs: now - sentAt } : {}) };
      Object.defineProperty(event, 'merged', { get: mergedOnce, enumerable: true });
      this.#merged.emit(event as FleetMergeEvent);
    }
  }

  #reject(err: FleetRejection, topic: string, origin?: string, label?: string): void {
    this.stats.rejected++;
    this.#rejected.emit({
      reason: err.reason,
      message: err.message,
      topic,
      ...(origin !== undefined ? { origin } : {}),
      ...(label !== undefined ? { label } : {}),
    });
  }

  #emitError(err: Error): void {
    if (this.#errors.size > 0) this.#errors.emit(err);
    else process.emitWarning(err.message, { code: 'HFF_FLEET' });
  }

  #setStatus(status: FleetStatus): void {
    if (this.#status.state === status.state && this.#status.detail === status.detail) return;
    this.#status = status;
    this.#statusListeners.emit({ ...status });
  }
}
