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
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Node, NodeAPI } from 'node-red';
import type { HffNetwork } from '../../src/hff/network';
import {
  DEFAULT_TOPIC_BASE,
  FleetConnectionError,
  FleetSync,
  NetworkFleetTarget,
  generateFleetKeyPair,
  parseAllowList,
  type FleetSecurity,
  type FleetTarget,
  type MergedClass,
  type SeenVersions,
} from '../../src/io/fleet';

export type FleetSecurityChoice = 'keys' | 'secret' | 'unsigned';

/** The fields of the model dialog's "Fleet" section (all optional: no broker, no sharing). */
export interface FleetDef {
  /** mqtt://broker:1883 (mqtts://, ws://, wss://); empty turns fleet sharing off. */
  fleetBroker?: string;
  /** Topic base, default hff/fleet; one per fleet (and per model). */
  fleetTopic?: string;
  /** This instance's id in the fleet; default <hostname>:<model node id>. */
  fleetOrigin?: string;
  /** keys (default): Ed25519 key per robot; secret: one shared HMAC secret; unsigned: nothing checked. */
  fleetSecurity?: FleetSecurityChoice;
  /** Allowed robots, one `ed25519:<public key> <origin id>` per line. */
  fleetAllowList?: string;
  /** A file with more allow-list lines (read at every deploy). */
  fleetAllowFile?: string;
  /** This robot's private key file; default <userDir>/hff-fleet-keys/<origin>.pem, created on first use. */
  fleetKeyFile?: string;
  /** Let remote updates change classes the model was trained on. */
  fleetAllowTrained?: boolean;
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
  security: FleetSecurityChoice;
  secret?: string;
  /** Allow-list text (dialog lines and the allow-list file's). */
  allowList?: string;
  /** Private key file (keys mode). */
  keyFile?: string;
  allowTrained?: boolean;
  username?: string;
  password?: string;
}

/** Settings from the dialog and credentials; undefined when no broker is set. Throws on a bad choice. */
export function fleetSettings(
  def: FleetDef,
  credentials: FleetCredentials | undefined,
  nodeId: string,
  userDir = path.join(os.homedir(), '.node-red'),
): FleetSettings | undefined {
  const broker = String(def.fleetBroker ?? '').trim();
  if (broker === '') return undefined;
  const origin = String(def.fleetOrigin ?? '').trim() || `${os.hostname()}:${nodeId}`;
  const text = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
  const secret = text(credentials?.fleetSecret);
  // Flows from before the choice existed: a secret meant a signed fleet; no secret now means robot keys, never unsigned.
  const security = def.fleetSecurity || (secret ? 'secret' : 'keys');
  if (!['keys', 'secret', 'unsigned'].includes(security)) throw new Error(`fleet security '${String(security)}' is not one of keys, secret, unsigned`);
  if (security === 'secret' && !secret) throw new Error('fleet security is "shared secret" but no secret is set: enter one in the model\'s fleet settings');
  const allowFile = String(def.fleetAllowFile ?? '').trim();
  let allowList = String(def.fleetAllowList ?? '');
  if (security === 'keys' && allowFile !== '') {
    const file = path.resolve(userDir, allowFile);
    try {
      allowList += `\n${fs.readFileSync(file, 'utf8')}`;
    } catch (err) {
      throw new Error(`cannot read the fleet allow-list file ${file}: ${(err as Error).message}`);
    }
  }
  const keyFile = String(def.fleetKeyFile ?? '').trim();
  return {
    broker,
    topicBase: String(def.fleetTopic ?? '').trim() || DEFAULT_TOPIC_BASE,
    origin,
    security,
    ...(security === 'secret' ? { secret } : {}),
    ...(security === 'keys'
      ? { allowList, keyFile: keyFile !== '' ? path.resolve(userDir, keyFile) : path.join(userDir, 'hff-fleet-keys', `${encodeURIComponent(origin)}.pem`) }
      : {}),
    allowTrained: def.fleetAllowTrained === true,
    username: text(credentials?.fleetUsername),
    password: text(credentials?.fleetPassword),
  };
}

/**
 * This robot's private key: read from `file`, or made and written there (mode 0600) on first use.
 * Returns the PEM and whether it was just created.
 */
export function robotPrivateKey(file: string): { pem: string; created: boolean } {
  try {
    return { pem: fs.readFileSync(file, 'utf8'), created: false };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`cannot read the fleet private key ${file}: ${(err as Error).message}`);
  }
  const { privateKey } = generateFleetKeyPair();
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  // 'wx': two models starting at once must not overwrite each other's fresh key.
  fs.writeFileSync(file, privateKey, { mode: 0o600, flag: 'wx' });
  return { pem: privateKey, created: true };
}

/** The FleetSecurity of the settings (keys mode reads or creates the private key file). */
export function fleetSecurity(s: FleetSettings): { security: FleetSecurity; created?: string } {
  if (s.security === 'unsigned') return { security: { mode: 'unsigned' } };
  if (s.security === 'secret') return { security: { mode: 'secret', secret: s.secret as string } };
  const key = robotPrivateKey(s.keyFile as string);
  return { security: { mode: 'keys', privateKey: key.pem, trusted: parseAllowList(s.allowList ?? '') }, ...(key.created ? { created: s.keyFile } : {}) };
}

/** What the glue needs of the model node's controller (ModelController fits). */
export interface FleetModelHost {
  ready(): Promise<HffNetwork>;
  /** Records a change of the network (debounced save, clients' status). */
  learned(): void;
  onState(listener: (state: { phase: string }) => void): () => void;
  /** Shows (or clears) a warning in the status of the model's client nodes. */
  setNotice?(text: string | undefined): void;
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
  readonly seen: SeenVersions;
  inner: NetworkFleetTarget;
  constructor(inner: NetworkFleetTarget) {
    this.inner = inner;
    this.layers = inner.layers;
    this.model = inner.model;
    this.seen = inner.seen;
  }
  protection(label: string): string | undefined {
    return this.inner.protection(label);
  }
  apply(merged: MergedClass, seen: SeenVersions): void {
    this.inner.apply(merged, seen);
  }
}

/** How often fleet events are summarised in the log: a flood gives one line per interval, not one per update. */
export const FLEET_LOG_INTERVAL_MS = 10_000;
/** A broker that stays unreachable gets one log line at once, then at most one summary per this interval. */
export const FLEET_CONNECTION_LOG_INTERVAL_MS = 60_000;
/** The model nodes' status while the fleet broker cannot be reached (the log has the reason). */
export const FLEET_UNREACHABLE_NOTICE = 'fleet: broker unreachable';

/**
 * Logs the first event at once and then at most one summary per interval (count per kind, last
 * text), so 10,000 forged or merged updates write a few lines instead of 10,000. The text of an
 * event is built only when it is logged.
 */
export class SummarisedLog {
  readonly #write: (text: string) => void;
  readonly #what: string;
  readonly #intervalMs: number;
  #held = new Map<string, number>();
  #last: () => string = () => '';
  #timer: NodeJS.Timeout | undefined;
  total = 0;

  /** `what` names the events in summaries, e.g. 'update(s) rejected'. */
  constructor(write: (text: string) => void, what: string, intervalMs = FLEET_LOG_INTERVAL_MS) {
    this.#write = write;
    this.#what = what;
    this.#intervalMs = intervalMs;
  }

  add(kind: string, text: () => string): void {
    this.total++;
    if (!this.#timer) {
      this.#write(text());
      this.#schedule();
      return;
    }
    this.#held.set(kind, (this.#held.get(kind) ?? 0) + 1);
    this.#last = text;
  }

  close(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(): void {
    this.#timer = setTimeout(() => this.#flush(), this.#intervalMs);
    this.#timer.unref();
  }

  #flush(): void {
    this.#timer = undefined;
    if (this.#held.size === 0) return;
    const n = [...this.#held.values()].reduce((a, b) => a + b, 0);
    const kinds = [...this.#held].map(([k, c]) => `${c} ${k}`).join(', ');
    this.#write(`fleet: ${n} more ${this.#what} in the last ${Math.round(this.#intervalMs / 1000)} s (${kinds}); last: ${this.#last()}`);
    this.#held = new Map();
    // Keep summarising while the flood goes on.
    this.#schedule();
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
  #logs: SummarisedLog[] = [];
  readonly #shared = new Set<string>();
  readonly #node: Node;

  constructor(node: Node, model: FleetModelHost, settings: FleetSettings) {
    this.#node = node;
    this.settings = settings;
    this.ready = model.ready().then((net) => this.#start(node, model, net));
    this.ready.catch((err: Error) => {
      if (this.#closed) return;
      node.error(`fleet: not started: ${err.message}`);
      model.setNotice?.('fleet off: bad settings (see the log)');
    });
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
    for (const log of this.#logs) log.close();
    const sync = this.#sync ?? (await this.ready.catch(() => undefined));
    await sync?.close();
  }

  async #start(node: Node, model: FleetModelHost, net: HffNetwork): Promise<FleetSync> {
    if (this.#closed) throw new Error('fleet sharing was closed before the model was ready');
    const s = this.settings;
    const targetOptions = { onApplied: () => model.learned(), allowTrainedUpdates: s.allowTrained === true };
    const target = new CurrentNetworkTarget(new NetworkFleetTarget(net, targetOptions));
    const { security, created } = fleetSecurity(s);
    const sync = new FleetSync({
      url: s.broker,
      origin: s.origin,
      topicBase: s.topicBase,
      security,
      target,
      mqtt: { ...(s.username ? { username: s.username } : {}), ...(s.password ? { password: s.password } : {}) },
    });
    this.#sync = sync;
    if (created) node.log(`fleet: created this robot's private key ${created}`);
    if (sync.signer.publicKey) node.log(`fleet: this robot's allow-list line for the other robots: ${sync.signer.publicKey} ${s.origin}`);
    const warning = sync.signer.warning;
    if (warning) node.warn(`${warning} (${sync.signer.description})`);
    // Status texts are cut at 40 characters: the log has the whole warning.
    const securityNotice = sync.signer.mode === 'unsigned' ? 'fleet UNSIGNED: anyone can teach it' : warning ? 'fleet: no other robot allowed' : undefined;
    model.setNotice?.(securityNotice);
    const rejections = new SummarisedLog((text) => node.warn(text), 'update(s) rejected');
    const merges = new SummarisedLog((text) => node.log(text), 'class update(s) merged');
    // mqtt.js retries about every second and reports each failure: without a broker that would be a log line a second.
    const connectionFailures = new SummarisedLog((text) => node.warn(text), 'failed connection attempt(s)', FLEET_CONNECTION_LOG_INTERVAL_MS);
    this.#logs = [rejections, merges, connectionFailures];
    sync.onReject((e) => {
      rejections.add(e.reason, () => `fleet: rejected ${e.reason} update on ${e.topic}: ${e.message}`);
      model.setNotice?.(`fleet: ${rejections.total} refused (${e.reason})`);
    });
    sync.onError((err) => {
      if (!(err instanceof FleetConnectionError)) {
        node.warn(`fleet: ${err.message}`);
        return;
      }
      model.setNotice?.(FLEET_UNREACHABLE_NOTICE);
      connectionFailures.add(
        'unreachable',
        () => `fleet: ${err.message}; retrying about every second until it connects (status '${FLEET_UNREACHABLE_NOTICE}')`,
      );
    });
    let wasConnected = false;
    sync.onStatus((st) => {
      if (st.state === 'disconnected') model.setNotice?.(FLEET_UNREACHABLE_NOTICE);
      if (st.state === 'connected') {
        model.setNotice?.(securityNotice);
        wasConnected = true;
        node.log(`fleet: connected to ${s.broker} as '${s.origin}' on ${s.topicBase} (${sync.signer.description})`);
      } else if (st.state === 'disconnected' && wasConnected) {
        wasConnected = false;
        node.warn(`fleet: ${st.detail ?? 'disconnected'}; retrying`);
      }
    });
    sync.onMerged((e) => {
      if (e.local) return;
      merges.add(
        'from other robots',
        () =>
          `fleet: class '${e.label}' updated by '${e.origin}' (now ${e.merged.count} demonstrations from ${e.merged.origins.length} instances${e.delayMs !== undefined ? `, ${e.delayMs} ms after teaching` : ''})`,
      );
    });
    // A reset replaces the network: keep applying to the new one, and give it the fleet's classes again.
    this.#unState = model.onState((state) => {
      if (state.phase !== 'ready' || this.#closed) return;
      model.ready().then(
        (current) => {
          if (this.#closed || current === target.inner.net) return;
          target.inner = new NetworkFleetTarget(current, targetOptions);
          for (const label of sync.state.classes()) {
            const merged = sync.state.merged(label);
            if (merged) target.apply(merged, sync.state.seenVersions());
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
