/**
 * What an hff-ros2 config node holds, free of Node-RED: its settings, one TopicTransport created on
 * first use (so an unused config node never loads rclnodejs nor opens a socket), and the
 * transport's state for the client nodes' status.
 */
import { FoxgloveBridgeTransport, Ros2Transport, validateDomainId, validateNodeName, type TopicTransport, type TransportStatus } from '../../../src/io';
import { Listeners } from '../../../src/io/listeners';

export type TransportKind = 'rclnodejs' | 'foxglove-bridge';

export interface TransportSettings {
  kind: TransportKind;
  /** undefined: ROS_DOMAIN_ID of the Node-RED process (0 when unset). */
  domainId?: number;
  nodeName: string;
  namespace: string;
  /** foxglove_bridge URL, ws://robot:8765. */
  url: string;
}

/** The fields of the hff-ros2 edit dialog. */
export interface Ros2ConfigDef {
  transport?: string;
  domain?: string | number;
  nodeName?: string;
  namespace?: string;
  url?: string;
}

export const DEFAULT_NODE_NAME = 'node_red_hff';
export const DEFAULT_BRIDGE_URL = 'ws://localhost:8765';

/** Validates the dialog's fields into settings; throws an error naming the field. */
export function parseTransportSettings(def: Ros2ConfigDef): TransportSettings {
  const kind: TransportKind = def.transport === 'foxglove-bridge' ? 'foxglove-bridge' : 'rclnodejs';
  if (def.transport !== undefined && def.transport !== '' && def.transport !== 'rclnodejs' && def.transport !== 'foxglove-bridge') {
    throw new Error(`unknown transport '${def.transport}': choose rclnodejs or foxglove-bridge`);
  }
  const domainText = def.domain === undefined || def.domain === null ? '' : String(def.domain).trim();
  const domainId = domainText === '' ? undefined : Number(domainText);
  if (domainId !== undefined && !/^\d+$/.test(domainText)) throw new Error(`ROS 2 domain id must be an integer between 0 and 232, got '${domainText}'`);
  validateDomainId(domainId);
  const nodeName = String(def.nodeName ?? '').trim() || DEFAULT_NODE_NAME;
  const namespace = String(def.namespace ?? '').trim();
  validateNodeName(nodeName, namespace);
  const url = String(def.url ?? '').trim() || DEFAULT_BRIDGE_URL;
  if (kind === 'foxglove-bridge' && !/^wss?:\/\/[^/\s]+/.test(url)) {
    throw new Error(`foxglove_bridge URL must look like ws://robot.local:8765, got '${url}'`);
  }
  return { kind, domainId, nodeName, namespace, url };
}

/** Short text for a node status (the full reason goes to the log). */
export function shortReason(detail: string | undefined): string {
  if (!detail) return '';
  if (/rclnodejs could not be loaded/.test(detail)) return 'ROS 2/rclnodejs missing';
  if (/ECONNREFUSED/.test(detail)) return 'bridge refused';
  const first = detail.split(/[:;(]/)[0].trim();
  return first.length > 30 ? `${first.slice(0, 29)}…` : first;
}

/**
 * One transport per config node. Reference-counted only for information: the transport lives as
 * long as the config node and is closed (its subscriptions and publishers destroyed, never the rcl
 * context) when Node-RED closes the config node on a redeploy.
 */
export class TransportHost {
  readonly settings: TransportSettings;
  readonly #statusListeners = new Listeners<TransportStatus>();
  readonly #errorListeners = new Listeners<Error>();
  #transport: TopicTransport | undefined;
  #status: TransportStatus = { state: 'disconnected', detail: 'not started' };
  #closed = false;
  #unhook: Array<() => void> = [];

  constructor(settings: TransportSettings) {
    this.settings = settings;
  }

  get description(): string {
    const s = this.settings;
    if (s.kind === 'foxglove-bridge') return `foxglove_bridge ${s.url}`;
    return `ROS 2 ${s.domainId === undefined ? 'domain from ROS_DOMAIN_ID' : `domain ${s.domainId}`}, node ${s.namespace}/${s.nodeName}`;
  }

  get status(): TransportStatus {
    return { ...this.#status };
  }

  get started(): boolean {
    return this.#transport !== undefined;
  }

  /** The transport, created on first call. */
  transport(): TopicTransport {
    if (this.#closed) throw new Error(`${this.description} is closed (the flow is being redeployed)`);
    if (!this.#transport) {
      const s = this.settings;
      const t: TopicTransport =
        s.kind === 'foxglove-bridge'
          ? new FoxgloveBridgeTransport({ url: s.url })
          : new Ros2Transport({ domainId: s.domainId, nodeName: s.nodeName, namespace: s.namespace });
      this.#transport = t;
      this.#unhook.push(t.onStatus((st) => this.#setStatus(st)));
      this.#unhook.push(t.onError((err) => this.#errorListeners.emit(err)));
      this.#setStatus(t.status);
    }
    return this.#transport;
  }

  /** Reports a failure that is not a transport state change (e.g. rclnodejs missing at subscribe). */
  fail(detail: string): void {
    this.#setStatus({ state: 'disconnected', detail });
  }

  onStatus(listener: (status: TransportStatus) => void): () => void {
    return this.#statusListeners.add(listener);
  }

  onError(listener: (error: Error) => void): () => void {
    return this.#errorListeners.add(listener);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const t = this.#transport;
    this.#transport = undefined;
    try {
      if (t) await t.close();
    } finally {
      this.#unhook.forEach((f) => f());
      this.#unhook = [];
      this.#setStatus({ state: 'closed' });
      this.#statusListeners.clear();
      this.#errorListeners.clear();
    }
  }

  #setStatus(status: TransportStatus): void {
    if (this.#status.state === status.state && this.#status.detail === status.detail) return;
    this.#status = { ...status };
    this.#statusListeners.emit({ ...status });
  }
}
