import { randomBytes } from 'node:crypto';
import type { IClientOptions, MqttClient } from 'mqtt';
import { Listeners } from '../listeners';
import { FleetRejection, parseUpdate, serializeUpdate, signUpdate, verifyUpdate, type FleetUpdate, type RejectReason } from './format';
import type { FleetTarget } from './network';
import { FleetState, type MergedClass } from './state';
import { DEFAULT_TOPIC_BASE, parseUpdateTopic, subscriptionTopic, updateTopic, validateTopicBase } from './topics';

export interface FleetSyncOptions {
  /** Broker URL: mqtt://host:1883, mqtts://host:8883, ws://host:9001 ... */
  url: string;
  /** This instance's id, unique in the fleet and stable across restarts (e.g. hostname + model node id). */
  origin: string;
  /** Topic base (default hff/fleet); every instance of one fleet must use the same. */
  topicBase?: string;
  /** Shared secret: sign every update and reject unsigned or tampered ones (HMAC-SHA256). */
  secret?: string;
  /** Receives merged classes (e.g. a NetworkFleetTarget); also gives the layer sizes and model fingerprint. */
  target?: FleetTarget;
  /** Units per layer, when there is no target. */
  layers?: number[];
  /** Model fingerprint stamped on local updates and required of remote ones (default target.model). */
  model?: string;
  /** Accept updates stamped with another model fingerprint (default false: rejected as incompatible). */
  acceptOtherModels?: boolean;
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
}

/** What `publishLocal` needs from a teach result (HffNetwork.teach returns all of it). */
export interface LocalTeaching {
  label: string;
  sums: readonly ArrayLike<number>[];
  /** Demonstrations that changed the prototype (TeachResult.applied). */
  applied: number;
}

const QOS = 1 as const;

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
  readonly model: string | undefined;
  readonly url: string;
  readonly stats: FleetStats = { received: 0, applied: 0, duplicates: 0, stale: 0, rejected: 0, echoes: 0, published: 0 };
  readonly #secret: string | undefined;
  readonly #target: FleetTarget | undefined;
  readonly #options: FleetSyncOptions;
  readonly #merged = new Listeners<FleetMergeEvent>();
  readonly #rejected = new Listeners<FleetRejectEvent>();
  readonly #statusListeners = new Listeners<FleetStatus>();
  readonly #errors = new Listeners<Error>();
  /** Classes whose contribution from an earlier run of this origin was already folded in. */
  readonly #recovered = new Set<string>();
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
    if (typeof options.origin !== 'string' || options.origin.trim() === '' || options.origin.length > 256) {
      throw new Error('fleet sync needs an origin id of 1-256 characters, unique per instance');
    }
    if (options.secret !== undefined && (typeof options.secret !== 'string' || options.secret === '')) {
      throw new Error('the fleet shared secret must be a non-empty string (or left out)');
    }
    const layers = options.target?.layers ?? options.layers;
    if (!layers) throw new Error('fleet sync needs a target network (or the layer sizes)');
    this.url = options.url;
    this.origin = options.origin;
    this.topicBase = validateTopicBase(options.topicBase ?? DEFAULT_TOPIC_BASE);
    this.session = randomBytes(8).toString('hex');
    this.state = new FleetState(layers);
    this.model = options.model ?? options.target?.model;
    this.#secret = options.secret;
    this.#target = options.target;
    this.#options = options;
  }

  get status(): FleetStatus {
    return { ...this.#status };
  }

  get signed(): boolean {
    return this.#secret !== undefined;
  }

  onMerged(listener: (event: FleetMergeEvent) => void): () => void {
    return this.#merged.add(listener);
  }

  /** Unsigned, tampered, malformed or incompatible updates, each with its reason. */
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
      client.on('error', (err) => this.#emitError(new Error(`fleet MQTT ${this.url}: ${err.message}`)));
      client.on('message', (topic, payload, packet) => this.#onMessage(topic, payload, packet.retain === true));
    });
    this.#ready.catch(() => undefined);
    return this.#ready;
  }

  /**
   * Records demonstrations taught here (a TeachResult), merges them with the fleet's, applies the
   * merge to the target and publishes the new contribution (retained, QoS 1). The local merge is
   * done before this returns; the promise resolves when the broker acknowledged the update (at once
   * with the unsigned update while not yet subscribed: it is published right after; with undefined
   * when nothing was applied).
   */
  publishLocal(teaching: LocalTeaching): Promise<FleetUpdate | undefined> {
    if (this.#closed) return Promise.reject(new Error('fleet sync is closed'));
    if (!teaching || typeof teaching.label !== 'string') return Promise.reject(new Error('publishLocal needs a teach result with a label'));
    const applied = Number(teaching.applied ?? 0);
    if (!(applied > 0)) return Promise.resolve(undefined);
    const update = this.state.addLocal(this.origin, teaching.label, teaching.sums, applied, this.#stamp());
    this.#applyMerge(update, true, undefined);
    return this.#publish(update);
  }

  /** Re-publishes every own contribution (done automatically on each connect). */
  async republish(): Promise<void> {
    await Promise.all(this.state.contributions(this.origin).map((u) => this.#publish(u)));
  }

  /** Disconnects; the retained contributions stay on the broker for the rest of the fleet. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const client = this.#client;
    this.#client = undefined;
    if (client) {
      // A graceful end waits for in-flight acks; do not hang on a broker that is gone.
      await Promise.race([
        client.endAsync(false).catch(() => undefined),
        new Promise<void>((r) => setTimeout(r, 1000).unref()),
      ]);
      client.end(true);
    }
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

  #stamp(): { model?: string; session: string; sentAt: number } {
    return { ...(this.model ? { model: this.model } : {}), session: this.session, sentAt: Date.now() };
  }

  async #publish(update: FleetUpdate): Promise<FleetUpdate> {
    const client = this.#client;
    // Kept locally and published by republish() once subscribed (see recoveryWindowMs).
    if (!client || this.#closed || !this.#subscribed) return update;
    const wire = this.#secret ? signUpdate(update, this.#secret) : update;
    await client.publishAsync(updateTopic(this.topicBase, update.origin, update.class), serializeUpdate(wire), { qos: QOS, retain: true });
    this.stats.published++;
    return wire;
  }

  #onMessage(topic: string, payload: Buffer, retained: boolean): void {
    if (this.#closed) return;
    const where = parseUpdateTopic(this.topicBase, topic);
    // An empty retained message is how a contribution is cleared from the broker: nothing to merge.
    if (payload.length === 0) return;
    this.stats.received++;
    let update: FleetUpdate;
    try {
      if (!where) throw new FleetRejection('malformed', `topic '${topic}' is not <base>/<origin>/<class>`);
      update = parseUpdate(payload);
      if (update.origin !== where.origin || update.class !== where.label) {
        throw new FleetRejection(
          'topic-mismatch',
          `update for class '${update.class}' from '${update.origin}' arrived on the topic of class '${where.label}' from '${where.origin}'`,
        );
      }
      if (this.#secret) verifyUpdate(update, this.#secret);
      if (this.model && update.model && update.model !== this.model && !this.#options.acceptOtherModels) {
        throw new FleetRejection(
          'incompatible',
          `update for class '${update.class}' from '${update.origin}' was taught on another model (${update.model}, this one is ${this.model}); load the same model file on every instance`,
        );
      }
    } catch (err) {
      this.#reject(err, topic, where?.origin, where?.label);
      return;
    }
    try {
      if (update.origin === this.origin) {
        this.#onOwnOrigin(update, retained, topic);
        return;
      }
      const result = this.state.offer(update);
      if (result === 'duplicate') this.stats.duplicates++;
      else if (result === 'stale') this.stats.stale++;
      else this.#applyMerge(update, false, update.sentAt);
    } catch (err) {
      if (err instanceof FleetRejection) this.#reject(err, topic, update.origin, update.class);
      else this.#emitError(err as Error);
    }
  }

  /** Our own echo, our previous run's retained contribution, or another process using our origin id. */
  #onOwnOrigin(update: FleetUpdate, retained: boolean, topic: string): void {
    if (update.session === this.session) {
      this.stats.echoes++;
      return;
    }
    const own = this.state.contribution(update.class, this.origin);
    if (retained && !this.#recovered.has(update.class)) {
      this.#recovered.add(update.class);
      if (own && own.version >= update.version && own.session !== this.session) return; // already have it
      const combined = this.state.absorbPrevious(update, own ? this.#stamp() : {});
      this.#applyMerge(combined, true, undefined);
      // Only what was taught since this start needs re-publishing; an adopted contribution is already retained.
      if (own) void this.#publish(combined).catch((err: Error) => this.#emitError(err));
      return;
    }
    if (own && canonicalEqual(own, update)) {
      this.stats.duplicates++;
      return;
    }
    this.#reject(
      new FleetRejection(
        'origin-conflict',
        `another running instance publishes as origin '${this.origin}' (class '${update.class}', version ${update.version}); give every instance its own origin id`,
      ),
      topic,
      update.origin,
      update.class,
    );
  }

  #applyMerge(update: FleetUpdate, local: boolean, sentAt: number | undefined): void {
    const merged = this.state.merged(update.class);
    if (!merged) return;
    this.stats.applied++;
    try {
      this.#target?.apply(merged);
    } catch (err) {
      this.#emitError(new Error(`applying the fleet merge of class '${update.class}' failed: ${(err as Error).message}`));
      return;
    }
    this.#merged.emit({
      label: update.class,
      origin: update.origin,
      version: update.version,
      local,
      merged,
      ...(sentAt !== undefined ? { delayMs: Date.now() - sentAt } : {}),
    });
  }

  #reject(err: unknown, topic: string, origin?: string, label?: string): void {
    this.stats.rejected++;
    const reason: RejectReason = err instanceof FleetRejection ? err.reason : 'malformed';
    const message = err instanceof Error ? err.message : String(err);
    this.#rejected.emit({ reason, message, topic, ...(origin !== undefined ? { origin } : {}), ...(label !== undefined ? { label } : {}) });
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

function canonicalEqual(a: FleetUpdate, b: FleetUpdate): boolean {
  return a.version === b.version && a.count === b.count && JSON.stringify(a.sums) === JSON.stringify(b.sums);
}
