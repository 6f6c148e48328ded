import {
  FoxgloveClient,
  StatusLevel,
  type Channel,
  type ChannelId,
  type IWebSocket,
  type MessageData,
  type ServerInfo,
  type SubscriptionId,
} from '@foxglove/ws-protocol';
import { createDelivery, type Delivery } from '../drop-while-busy';
import { Listeners, reportError } from '../listeners';
import { Ros2MsgCodec, getCodec, type RosMessage } from '../msgs/cdr';
import { normalizeTypeName } from '../msgs/schema';
import { resolveQos, DEFAULT_QOS, type QosInput } from '../qos';
import type { MessageHandler, MessageInfo, SubscribeOptions, TopicPublisher, TopicSubscription, TopicTransport, TransportStatus } from '../types';

/** A WebSocket class compatible with the browser API (the 'ws' package's default export, or globalThis.WebSocket). */
export type WebSocketConstructor = new (url: string, protocols: string[]) => IWebSocket;

export interface ReconnectOptions {
  /** First retry delay (default 500 ms). */
  initialDelayMs?: number;
  /** Longest delay between retries (default 10 s). */
  maxDelayMs?: number;
  /** Growth per failed attempt (default 2). */
  factor?: number;
}

export interface FoxgloveBridgeOptions {
  /** e.g. ws://robot.local:8765 (foxglove_bridge's default port). */
  url: string;
  /** Reconnect with exponential backoff when the connection drops (default on); false to give up. */
  reconnect?: ReconnectOptions | false;
  /** WebSocket implementation; default the 'ws' package, else the global WebSocket. */
  WebSocket?: WebSocketConstructor;
}

/** A channel the bridge advertises, as listed by `channels()`. */
export interface BridgeChannelInfo {
  id: number;
  topic: string;
  type: string;
  encoding: string;
  schemaEncoding?: string;
}

type Decoder = (data: DataView) => RosMessage;

interface ChannelState {
  channel: Channel;
  decoder?: Decoder;
  /** Why messages of this channel cannot be decoded. */
  problem?: string;
}

interface LocalSubscription {
  topic: string;
  /** Canonical type, or '' to take whatever the bridge advertises. */
  type: string;
  delivery: Delivery<[RosMessage, MessageInfo]>;
  onError: (err: Error) => void;
  channelId?: ChannelId;
  /** Channels already reported as unusable, to report each problem once. */
  reported: Set<ChannelId>;
}

interface ServerSubscription {
  id: SubscriptionId;
  locals: Set<LocalSubscription>;
}

interface LocalPublisher {
  topic: string;
  type: string;
  clientChannelId?: number;
  encoding?: 'cdr' | 'json';
  codec?: Ros2MsgCodec;
  problem?: string;
}

const textDecoder = new TextDecoder();
const textEncoder = new TextEncoder();

function loadWebSocket(): WebSocketConstructor {
  try {
    return require('ws') as WebSocketConstructor;
  } catch {
    const global = (globalThis as { WebSocket?: unknown }).WebSocket;
    if (typeof global === 'function') return global as WebSocketConstructor;
    throw new Error("No WebSocket implementation available: run 'npm install ws' (or use Node.js >= 22)");
  }
}

function safeTypeName(name: string): string | undefined {
  try {
    return normalizeTypeName(name);
  } catch {
    return undefined;
  }
}

/** JSON for bridges without CDR client publishing: byte arrays become number arrays, bigints numbers. */
function toJsonBytes(message: RosMessage): Uint8Array {
  return textEncoder.encode(
    JSON.stringify(message, (_key, value: unknown) => {
      if (typeof value === 'bigint') return Number(value);
      if (ArrayBuffer.isView(value) && !(value instanceof DataView)) return Array.from(value as unknown as ArrayLike<number>);
      if (value && typeof value === 'object' && (value as { type?: unknown }).type === 'Buffer' && Array.isArray((value as { data?: unknown }).data)) {
        return (value as { data: number[] }).data;
      }
      return value;
    }),
  );
}

/**
 * Topics through foxglove_bridge's WebSocket protocol (foxglove.websocket.v1), for machines
 * without ROS 2: subscriptions decode CDR with the schema the bridge advertises, publishing uses
 * client channels. Subscriptions and publishers survive reconnects: they are re-bound when the
 * bridge advertises the topic again. QoS is chosen by the bridge, not by us.
 */
export class FoxgloveBridgeTransport implements TopicTransport {
  readonly url: string;
  readonly #WebSocket: WebSocketConstructor;
  readonly #reconnect: Required<ReconnectOptions> | false;
  readonly #statusListeners = new Listeners<TransportStatus>();
  readonly #errorListeners = new Listeners<Error>();
  readonly #channels = new Map<ChannelId, ChannelState>();
  readonly #wanted = new Set<LocalSubscription>();
  readonly #serverSubs = new Map<ChannelId, ServerSubscription>();
  readonly #subToChannel = new Map<SubscriptionId, ChannelId>();
  readonly #publishers = new Set<LocalPublisher>();
  #client: FoxgloveClient | undefined;
  #serverInfo: ServerInfo | undefined;
  #status: TransportStatus = { state: 'connecting' };
  #attempt = 0;
  #timer: NodeJS.Timeout | undefined;
  #lastError: Error | undefined;
  #closed = false;
  #connectedWaiters: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];

  constructor(options: FoxgloveBridgeOptions | string) {
    const opts = typeof options === 'string' ? { url: options } : options;
    let url: URL;
    try {
      url = new URL(opts.url);
    } catch {
      throw new Error(`Invalid foxglove_bridge URL '${opts.url}': expected ws://host:port, e.g. ws://robot.local:8765`);
    }
    if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
      throw new Error(`Invalid foxglove_bridge URL '${opts.url}': it must start with ws:// or wss://`);
    }
    this.url = opts.url;
    this.#WebSocket = opts.WebSocket ?? loadWebSocket();
    this.#reconnect =
      opts.reconnect === false
        ? false
        : {
            initialDelayMs: opts.reconnect?.initialDelayMs ?? 500,
            maxDelayMs: opts.reconnect?.maxDelayMs ?? 10_000,
            factor: opts.reconnect?.factor ?? 2,
          };
    this.#connect();
  }

  get description(): string {
    return `foxglove_bridge ${this.url}`;
  }

  get status(): TransportStatus {
    return { ...this.#status };
  }

  /** The bridge's self-description (name, capabilities, encodings) once connected. */
  get serverInfo(): ServerInfo | undefined {
    return this.#serverInfo;
  }

  onStatus(listener: (status: TransportStatus) => void): () => void {
    return this.#statusListeners.add(listener);
  }

  onError(listener: (error: Error) => void): () => void {
    return this.#errorListeners.add(listener);
  }

  /** Channels currently advertised by the bridge. */
  channels(): BridgeChannelInfo[] {
    return [...this.#channels.values()].map(({ channel }) => ({
      id: channel.id,
      topic: channel.topic,
      type: channel.schemaName,
      encoding: channel.encoding,
      schemaEncoding: channel.schemaEncoding,
    }));
  }

  /** Resolves once connected (immediately if already); rejects on timeout or close. */
  waitConnected(timeoutMs = 10_000): Promise<void> {
    if (this.#status.state === 'connected') return Promise.resolve();
    if (this.#closed) return Promise.reject(new Error(`${this.description} is closed`));
    return new Promise((resolve, reject) => {
      const waiter = {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (e: Error) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      const timer = setTimeout(() => {
        this.#connectedWaiters = this.#connectedWaiters.filter((w) => w !== waiter);
        reject(new Error(`Not connected to ${this.description} after ${timeoutMs} ms${this.#lastError ? `: ${this.#lastError.message}` : ''}`));
      }, timeoutMs);
      this.#connectedWaiters.push(waiter);
    });
  }

  async subscribe(topic: string, type: string, qos: QosInput, onMessage: MessageHandler, options: SubscribeOptions = {}): Promise<TopicSubscription> {
    if (this.#closed) throw new Error(`${this.description} is closed`);
    if (typeof onMessage !== 'function') throw new Error('subscribe needs an onMessage(message) callback');
    if (typeof topic !== 'string' || topic.trim() === '') throw new Error('Topic name must be a non-empty string');
    const wantedType = type === '' || type === '*' || type === undefined ? '' : normalizeTypeName(type);
    resolveQos(qos); // validated for consistency with the ROS 2 transport; the bridge picks its own QoS
    const onError = (err: Error): void => {
      if (options.onError) options.onError(err);
      else reportError(this.#errorListeners, err);
    };
    const local: LocalSubscription = {
      topic,
      type: wantedType,
      delivery: createDelivery(
        ([m, info]) => onMessage(m, info),
        options.dropWhileBusy,
        (e) => onError(new Error(`Handler for ${topic} failed: ${e.message}`)),
      ),
      onError,
      reported: new Set(),
    };
    this.#wanted.add(local);
    this.#bind(local);
    let closed = false;
    return {
      topic,
      type: wantedType,
      get stats() {
        return { ...local.delivery.stats };
      },
      close: async (): Promise<void> => {
        if (closed) return;
        closed = true;
        this.#wanted.delete(local);
        local.delivery.close();
        this.#unbind(local);
      },
    };
  }

  async advertise(topic: string, type: string, qos: QosInput): Promise<TopicPublisher> {
    if (this.#closed) throw new Error(`${this.description} is closed`);
    if (typeof topic !== 'string' || topic.trim() === '') throw new Error('Topic name must be a non-empty string');
    resolveQos(qos, DEFAULT_QOS);
    const pub: LocalPublisher = { topic, type: normalizeTypeName(type) };
    this.#publishers.add(pub);
    if (this.#serverInfo) this.#advertisePublisher(pub);
    let closed = false;
    return {
      topic,
      type: pub.type,
      publish: async (message: RosMessage): Promise<void> => {
        if (closed) throw new Error(`Publisher for ${topic} is closed`);
        if (message === null || typeof message !== 'object' || Array.isArray(message)) {
          throw new Error(`Cannot publish to ${topic}: expected a ${pub.type} message object`);
        }
        if (pub.problem) throw new Error(pub.problem);
        const client = this.#client;
        if (!client || this.#status.state !== 'connected' || pub.clientChannelId === undefined) {
          throw new Error(`Cannot publish to ${topic}: not connected to ${this.description} (${this.#status.state})`);
        }
        const bytes = pub.encoding === 'json' ? toJsonBytes(message) : (pub.codec as Ros2MsgCodec).encode(message);
        client.sendMessage(pub.clientChannelId, bytes);
      },
      close: async (): Promise<void> => {
        if (closed) return;
        closed = true;
        this.#publishers.delete(pub);
        if (pub.clientChannelId !== undefined && this.#client && this.#status.state === 'connected') {
          this.#client.unadvertise(pub.clientChannelId);
        }
        pub.clientChannelId = undefined;
      },
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const local of this.#wanted) local.delivery.close();
    this.#wanted.clear();
    this.#publishers.clear();
    const client = this.#client;
    this.#client = undefined;
    this.#resetConnectionState();
    if (client) {
      try {
        client.close();
      } catch {
        // Closing a socket that never opened may throw in some WebSocket implementations.
      }
    }
    for (const w of this.#connectedWaiters) w.reject(new Error(`${this.description} was closed`));
    this.#connectedWaiters = [];
    this.#setStatus({ state: 'closed' });
    this.#statusListeners.clear();
    this.#errorListeners.clear();
  }

  #connect(): void {
    this.#timer = undefined;
    if (this.#closed) return;
    this.#setStatus({ state: 'connecting', detail: this.#attempt > 0 ? `attempt ${this.#attempt + 1}` : this.url });
    let ws: IWebSocket;
    try {
      ws = new this.#WebSocket(this.url, [FoxgloveClient.SUPPORTED_SUBPROTOCOL]);
    } catch (err) {
      this.#lastError = err as Error;
      this.#scheduleReconnect();
      return;
    }
    const client = new FoxgloveClient({ ws });
    this.#client = client;
    const current = (): boolean => this.#client === client && !this.#closed;
    client.on('error', (err) => {
      if (current()) this.#lastError = err instanceof Error ? err : new Error(String(err));
    });
    client.on('serverInfo', (info) => {
      if (!current()) return;
      this.#serverInfo = info;
      this.#attempt = 0;
      this.#lastError = undefined;
      this.#setStatus({ state: 'connected', detail: info.name });
      for (const w of this.#connectedWaiters) w.resolve();
      this.#connectedWaiters = [];
      for (const pub of this.#publishers) this.#advertisePublisher(pub);
    });
    client.on('advertise', (channels) => {
      if (!current()) return;
      for (const channel of channels) this.#channels.set(channel.id, { channel });
      for (const local of this.#wanted) if (local.channelId === undefined) this.#bind(local);
      // CDR publishing can borrow a schema the bridge advertises for a type we have no bundled definition for.
      for (const pub of this.#publishers) if (pub.problem && this.#serverInfo) this.#advertisePublisher(pub);
    });
    client.on('unadvertise', (ids) => {
      if (!current()) return;
      for (const id of ids) {
        this.#channels.delete(id);
        const sub = this.#serverSubs.get(id);
        if (!sub) continue;
        this.#serverSubs.delete(id);
        this.#subToChannel.delete(sub.id);
        for (const local of sub.locals) local.channelId = undefined;
      }
      for (const local of this.#wanted) if (local.channelId === undefined) this.#bind(local);
    });
    client.on('message', (event) => {
      if (current()) this.#onMessage(event);
    });
    client.on('status', (status) => {
      if (!current() || status.level < StatusLevel.WARNING) return;
      reportError(this.#errorListeners, new Error(`${this.description}: ${status.message}`));
    });
    client.on('close', (event: { code?: number; reason?: string }) => {
      if (!current()) return;
      this.#client = undefined;
      this.#resetConnectionState();
      if (!this.#lastError) {
        this.#lastError = new Error(`connection closed${event?.code ? ` (code ${event.code}${event.reason ? `: ${event.reason}` : ''})` : ''}`);
      }
      this.#scheduleReconnect();
    });
  }

  #scheduleReconnect(): void {
    if (this.#closed) return;
    if (this.#reconnect === false) {
      this.#setStatus({ state: 'disconnected', detail: `${this.#lastError?.message ?? 'connection lost'}; not reconnecting` });
      return;
    }
    const { initialDelayMs, maxDelayMs, factor } = this.#reconnect;
    const delay = Math.min(maxDelayMs, initialDelayMs * factor ** this.#attempt);
    this.#attempt++;
    this.#setStatus({
      state: 'disconnected',
      detail: `${this.#lastError?.message ?? 'connection lost'}; retrying in ${Math.round(delay)} ms`,
    });
    this.#timer = setTimeout(() => this.#connect(), delay);
  }

  /** Everything tied to one WebSocket session; subscriptions and publishers themselves are kept. */
  #resetConnectionState(): void {
    this.#channels.clear();
    this.#serverSubs.clear();
    this.#subToChannel.clear();
    this.#serverInfo = undefined;
    for (const local of this.#wanted) {
      local.channelId = undefined;
      local.reported.clear();
    }
    for (const pub of this.#publishers) {
      pub.clientChannelId = undefined;
      pub.problem = undefined;
    }
  }

  #bind(local: LocalSubscription): void {
    const client = this.#client;
    if (!client || this.#status.state !== 'connected') return;
    const candidates = [...this.#channels.values()].filter((c) => c.channel.topic === local.topic);
    if (candidates.length === 0) return;
    const match = local.type === '' ? candidates[0] : candidates.find((c) => safeTypeName(c.channel.schemaName) === local.type);
    if (!match) {
      const first = candidates[0].channel;
      if (!local.reported.has(first.id)) {
        local.reported.add(first.id);
        local.onError(
          new Error(
            `${local.topic} is advertised by ${this.description} as '${candidates.map((c) => c.channel.schemaName).join("', '")}', not '${local.type}'`,
          ),
        );
      }
      return;
    }
    this.#ensureDecoder(match);
    if (match.problem) {
      if (!local.reported.has(match.channel.id)) {
        local.reported.add(match.channel.id);
        local.onError(new Error(match.problem));
      }
      return;
    }
    let sub = this.#serverSubs.get(match.channel.id);
    if (!sub) {
      sub = { id: client.subscribe(match.channel.id), locals: new Set() };
      this.#serverSubs.set(match.channel.id, sub);
      this.#subToChannel.set(sub.id, match.channel.id);
    }
    sub.locals.add(local);
    local.channelId = match.channel.id;
  }

  #unbind(local: LocalSubscription): void {
    const channelId = local.channelId;
    local.channelId = undefined;
    if (channelId === undefined) return;
    const sub = this.#serverSubs.get(channelId);
    if (!sub) return;
    sub.locals.delete(local);
    if (sub.locals.size > 0) return;
    this.#serverSubs.delete(channelId);
    this.#subToChannel.delete(sub.id);
    if (this.#client && this.#status.state === 'connected') this.#client.unsubscribe(sub.id);
  }

  #ensureDecoder(state: ChannelState): void {
    if (state.decoder || state.problem) return;
    const { channel } = state;
    const where = `${channel.topic} on ${this.description}`;
    try {
      if (channel.encoding === 'cdr') {
        const schemaEncoding = channel.schemaEncoding ?? 'ros2msg';
        if (schemaEncoding !== 'ros2msg') {
          throw new Error(`${where} uses '${schemaEncoding}' schemas; only ros2msg is supported (IDL-only types cannot be decoded here)`);
        }
        const codec = channel.schema ? new Ros2MsgCodec(channel.schemaName, channel.schema) : getCodec(channel.schemaName);
        state.decoder = (data) => codec.decode(data);
      } else if (channel.encoding === 'json') {
        const type = safeTypeName(channel.schemaName);
        let codec: Ros2MsgCodec | undefined;
        try {
          codec = type ? getCodec(type) : undefined;
        } catch {
          codec = undefined;
        }
        state.decoder = (data) => {
          const obj = JSON.parse(textDecoder.decode(data)) as RosMessage;
          return codec ? codec.normalize(obj) : obj;
        };
      } else {
        throw new Error(`${where} uses message encoding '${channel.encoding}'; only ROS 2 'cdr' and 'json' are supported`);
      }
    } catch (err) {
      state.problem = (err as Error).message.startsWith(channel.topic) ? (err as Error).message : `${where}: ${(err as Error).message}`;
    }
  }

  #onMessage(event: MessageData): void {
    const channelId = this.#subToChannel.get(event.subscriptionId);
    if (channelId === undefined) return; // late message for a subscription we already dropped
    const state = this.#channels.get(channelId);
    const sub = this.#serverSubs.get(channelId);
    if (!state?.decoder || !sub || sub.locals.size === 0) return;
    const data = event.data instanceof DataView ? event.data : new DataView(event.data.buffer, event.data.byteOffset, event.data.byteLength);
    let message: RosMessage;
    try {
      message = state.decoder(data);
    } catch (err) {
      for (const local of sub.locals) local.onError(new Error(`${state.channel.topic}: ${(err as Error).message}`));
      return;
    }
    const info: MessageInfo = {
      topic: state.channel.topic,
      type: safeTypeName(state.channel.schemaName) ?? state.channel.schemaName,
      receivedAt: Date.now(),
      sourceTime: event.timestamp,
    };
    for (const local of sub.locals) local.delivery.push([message, info]);
  }

  #advertisePublisher(pub: LocalPublisher): void {
    const client = this.#client;
    const info = this.#serverInfo;
    if (!client || !info || pub.clientChannelId !== undefined) return;
    pub.problem = undefined;
    if (!info.capabilities.includes('clientPublish')) {
      pub.problem = `${this.description} does not accept published messages: start foxglove_bridge with the 'clientPublish' capability`;
      return;
    }
    const encodings = info.supportedEncodings ?? [];
    let codec: Ros2MsgCodec | undefined;
    try {
      codec = getCodec(pub.type);
    } catch {
      const advertised = [...this.#channels.values()].find(
        (c) => safeTypeName(c.channel.schemaName) === pub.type && c.channel.schema && (c.channel.schemaEncoding ?? 'ros2msg') === 'ros2msg',
      );
      codec = advertised ? new Ros2MsgCodec(pub.type, advertised.channel.schema) : undefined;
    }
    if (codec && (encodings.includes('cdr') || encodings.length === 0)) {
      pub.encoding = 'cdr';
      pub.codec = codec;
      pub.clientChannelId = client.advertise({
        topic: pub.topic,
        encoding: 'cdr',
        schemaName: pub.type,
        schemaEncoding: 'ros2msg',
        schema: codec.schemaText,
      });
    } else if (encodings.includes('json')) {
      pub.encoding = 'json';
      pub.clientChannelId = client.advertise({ topic: pub.topic, encoding: 'json', schemaName: pub.type });
    } else {
      pub.problem = codec
        ? `${this.description} accepts client messages only as ${encodings.join(', ')}, not cdr or json`
        : `No definition for '${pub.type}' to encode it as CDR (register it with registerMessageDefinition) and ${this.description} does not accept json`;
    }
  }

  #setStatus(status: TransportStatus): void {
    if (this.#status.state === status.state && this.#status.detail === status.detail) return;
    this.#status = status;
    this.#statusListeners.emit({ ...status });
  }
}
