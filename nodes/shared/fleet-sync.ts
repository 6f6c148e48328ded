/**
 * Node-RED glue for fleet-wide teaching (src/io/fleet): attaches an MQTT FleetSync to an hff-model
 * config node so that what hff-teach teaches on this instance is shared with every instance on
 * the same broker and topic base, and what they teach is merged into this model.
 *
 * Integration (hff-model.ts and hff-teach.ts):
 *   const fleet = attachFleetSync(RED, node, controller, fleetSettings(def, node.credentials, node.id));
 *   // on close, before controller.close():  await fleet?.close();
 *   RED.nodes.registerType('hff-model', HffModelNode, { credentials: FLEET_CREDENTIALS });
 *   // hff-teach, after each net.teach(...):  fleetFor(controller)?.publishLocal(result);
 */
import * as os from 'node:os';
import type { Node, NodeAPI } from 'node-red';
import type { HffNetwork } from '../../src/hff/network';
import { DEFAULT_TOPIC_BASE, FleetSync, NetworkFleetTarget, type FleetTarget, type MergedClass } from '../../src/io/fleet';

/** The fields of the model dialog's "Fleet" section (all optional: no broker, no sharing). */
export interface FleetDef {
  /** mqtt://broker:1883 (mqtts://, ws://, wss://); empty turns fleet sharing off. */
  fleetBroker?: string;
  /** Topic base, default hff/fleet; one per fleet (and per model). */
  fleetTopic?: string;
  /** This instance's id in the fleet; default <hostname>:<model node id>. */
  fleetOrigin?: string;
}

export interface FleetCredentials {
  fleetSecret?: string;
  fleetUsername?: string;
  fleetPassword?: string;
}

/** Pass as `{ credentials: FLEET_CREDENTIALS }` to RED.nodes.registerType('hff-model', ...). */
export const FLEET_CREDENTIALS = {
  fleetSecret: { type: 'password' },
  fleetUsername: { type: 'text' },
  fleetPassword: { type: 'password' },
} as const;

export interface FleetSettings {
  broker: string;
  topicBase: string;
  origin: string;
  secret?: string;
  username?: string;
  password?: string;
}

/** Settings from the dialog and credentials; undefined when no broker is set. */
export function fleetSettings(def: FleetDef, credentials: FleetCredentials | undefined, nodeId: string): FleetSettings | undefined {
  const broker = String(def.fleetBroker ?? '').trim();
  if (broker === '') return undefined;
  const origin = String(def.fleetOrigin ?? '').trim() || `${os.hostname()}:${nodeId}`;
  const text = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
  return {
    broker,
    topicBase: String(def.fleetTopic ?? '').trim() || DEFAULT_TOPIC_BASE,
    origin,
    secret: text(credentials?.fleetSecret),
    username: text(credentials?.fleetUsername),
    password: text(credentials?.fleetPassword),
  };
}

/** What the glue needs of the model node's controller (ModelController fits). */
export interface FleetModelHost {
  ready(): Promise<HffNetwork>;
  /** Records a change of the network (debounced save, clients' status). */
  learned(): void;
  onState(listener: (state: { phase: string }) => void): () => void;
}

/** The part of a TeachResult fleet sharing uses. */
export interface TeachOutcome {
  label: string;
  sums: readonly ArrayLike<number>[];
  applied: number;
  /** Network version after the teach: a result is shared once, however many times it is handed over. */
  version?: number;
}

/** Applies merges to whichever network the model currently holds (a reset replaces it). */
class CurrentNetworkTarget implements FleetTarget {
  readonly layers: number[];
  readonly model: string;
  inner: NetworkFleetTarget;
  constructor(inner: NetworkFleetTarget) {
    this.inner = inner;
    this.layers = inner.layers;
    this.model = inner.model;
  }
  apply(merged: MergedClass): void {
    this.inner.apply(merged);
  }
}

const LINKS = new WeakMap<object, FleetLink>();

/** The fleet link of a model controller, if fleet sharing is on for it. */
export function fleetFor(model: object | undefined): FleetLink | undefined {
  return model ? LINKS.get(model) : undefined;
}

export class FleetLink {
  readonly settings: FleetSettings;
  /** Resolves with the FleetSync once the model is ready (the connection goes on in the background). */
  readonly ready: Promise<FleetSync>;
  #sync: FleetSync | undefined;
  #closed = false;
  #unState: (() => void) | undefined;
  readonly #shared = new Set<string>();
  readonly #node: Node;

  constructor(node: Node, model: FleetModelHost, settings: FleetSettings) {
    this.#node = node;
    this.settings = settings;
    this.ready = model.ready().then((net) => this.#start(node, model, net));
    this.ready.catch(() => undefined);
  }

  get sync(): FleetSync | undefined {
    return this.#sync;
  }

  /**
   * Shares a teach result (call after every net.teach). Merges at once; the broker's
   * acknowledgement and any error are reported to the node's log.
   */
  publishLocal(result: TeachOutcome): void {
    if (this.#closed || !result || !(result.applied > 0)) return;
    if (result.version !== undefined) {
      const key = `${result.version}|${result.label}`;
      if (this.#shared.has(key)) return;
      this.#shared.add(key);
      if (this.#shared.size > 10_000) this.#shared.clear();
    }
    const share = (sync: FleetSync): void => {
      sync.publishLocal({ label: result.label, sums: result.sums, applied: result.applied }).catch((err: Error) => {
        this.#node.warn(`fleet: sharing class '${result.label}' failed: ${err.message}`);
      });
    };
    if (this.#sync) share(this.#sync);
    else this.ready.then(share, () => undefined);
  }

  /** Resolves once connected and subscribed for the first time. */
  async connected(): Promise<void> {
    const sync = await this.ready;
    await sync.start();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#unState?.();
    const sync = this.#sync ?? (await this.ready.catch(() => undefined));
    await sync?.close();
  }

  async #start(node: Node, model: FleetModelHost, net: HffNetwork): Promise<FleetSync> {
    if (this.#closed) throw new Error('fleet sharing was closed before the model was ready');
    const s = this.settings;
    const target = new CurrentNetworkTarget(new NetworkFleetTarget(net, { onApplied: () => model.learned() }));
    const sync = new FleetSync({
      url: s.broker,
      origin: s.origin,
      topicBase: s.topicBase,
      secret: s.secret,
      target,
      mqtt: { ...(s.username ? { username: s.username } : {}), ...(s.password ? { password: s.password } : {}) },
    });
    this.#sync = sync;
    sync.onReject((e) => node.warn(`fleet: rejected ${e.reason} update on ${e.topic}: ${e.message}`));
    sync.onError((err) => node.warn(`fleet: ${err.message}`));
    let wasConnected = false;
    sync.onStatus((st) => {
      if (st.state === 'connected') {
        wasConnected = true;
        node.log(`fleet: connected to ${s.broker} as '${s.origin}' on ${s.topicBase}${s.secret ? ' (signed)' : ''}`);
      } else if (st.state === 'disconnected' && wasConnected) {
        wasConnected = false;
        node.warn(`fleet: ${st.detail ?? 'disconnected'}; retrying`);
      }
    });
    sync.onMerged((e) => {
      if (!e.local) {
        node.log(`fleet: class '${e.label}' updated by '${e.origin}' (now ${e.merged.count} demonstrations from ${e.merged.origins.length} instances${e.delayMs !== undefined ? `, ${e.delayMs} ms after teaching` : ''})`);
      }
    });
    // A reset replaces the network: keep applying to the new one, and give it the fleet's classes again.
    this.#unState = model.onState((state) => {
      if (state.phase !== 'ready' || this.#closed) return;
      model.ready().then(
        (current) => {
          if (this.#closed || current === target.inner.net) return;
          target.inner = new NetworkFleetTarget(current, { onApplied: () => model.learned() });
          for (const label of sync.state.classes()) {
            const merged = sync.state.merged(label);
            if (merged) target.apply(merged);
          }
        },
        () => undefined,
      );
    });
    sync.start().catch((err: Error) => node.error(`fleet: cannot connect to ${s.broker}: ${err.message}`));
    return sync;
  }
}

/**
 * Starts fleet sharing for a model node when `settings` is given (fleetSettings returns undefined
 * without a broker). At most one link per model; later calls return the existing one.
 */
export function attachFleetSync(_RED: NodeAPI, node: Node, model: FleetModelHost, settings: FleetSettings | undefined): FleetLink | undefined {
  if (!settings) return undefined;
  const existing = LINKS.get(model);
  if (existing) return existing;
  const link = new FleetLink(node, model, settings);
  LINKS.set(model, link);
  return link;
}
