import { rclnodejsMissingMessage, type RclContext, type RclNode, type RclnodejsModule } from './rclnodejs';

interface ContextEntry {
  domainId: number | undefined;
  module: RclnodejsModule;
  context: RclContext | undefined;
  init: Promise<void>;
}

interface NodeEntry {
  key: string;
  node: RclNode;
  refs: number;
  destroyed: boolean;
  context: ContextEntry;
}

interface Runtime {
  module: RclnodejsModule | undefined;
  loader: (() => unknown) | undefined;
  contexts: Map<string, ContextEntry>;
  nodes: Map<string, Promise<NodeEntry>>;
}

/**
 * Kept on globalThis, not in module scope: if two copies of this package are loaded (nested
 * installs, reloaded modules) they must still share one rcl context, since initialising a
 * context twice fails and a second context would duplicate every DDS participant.
 */
const RUNTIME_KEY = Symbol.for('node-red-contrib-hff.ros2.runtime');

function runtime(): Runtime {
  const g = globalThis as unknown as Record<symbol, Runtime | undefined>;
  let rt = g[RUNTIME_KEY];
  if (!rt) {
    rt = { module: undefined, loader: undefined, contexts: new Map(), nodes: new Map() };
    g[RUNTIME_KEY] = rt;
  }
  return rt;
}

/**
 * Test seam: use `mod` instead of `require('rclnodejs')` (undefined restores the real module).
 * Forgets contexts and nodes created with the previous module without shutting them down.
 */
export function setRclnodejsModule(mod: RclnodejsModule | undefined): void {
  const rt = runtime();
  rt.module = mod;
  rt.contexts.clear();
  rt.nodes.clear();
}

/** Test seam: replace how rclnodejs is required (undefined restores `require('rclnodejs')`). */
export function setRclnodejsLoader(loader: (() => unknown) | undefined): void {
  const rt = runtime();
  rt.loader = loader;
  rt.module = undefined;
  rt.contexts.clear();
  rt.nodes.clear();
}

/** Loads rclnodejs on first use; throws an actionable error when it is not installed or not usable. */
export function loadRclnodejs(): RclnodejsModule {
  const rt = runtime();
  if (rt.module) return rt.module;
  let mod: unknown;
  try {
    mod = rt.loader ? rt.loader() : require('rclnodejs');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const cause = e.code === 'MODULE_NOT_FOUND' && /'rclnodejs'/.test(e.message) ? 'the rclnodejs package is not installed' : e.message;
    throw new Error(rclnodejsMissingMessage(cause));
  }
  const m = mod as Partial<RclnodejsModule> | undefined;
  if (!m || typeof m.init !== 'function' || typeof m.QoS !== 'function' || (typeof m.Node !== 'function' && typeof m.createNode !== 'function')) {
    throw new Error(rclnodejsMissingMessage('the loaded rclnodejs module lacks init/Node/QoS; it is too old or broken'));
  }
  rt.module = m as RclnodejsModule;
  return rt.module;
}

const NODE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const NAMESPACE = /^(\/[A-Za-z_][A-Za-z0-9_]*)*$/;

export function validateDomainId(domainId: number | undefined): void {
  // 0-232 is what rcl accepts; DDS port arithmetic limits usable ids further (0-101, 215-232 on Linux).
  if (domainId !== undefined && (!Number.isInteger(domainId) || domainId < 0 || domainId > 232)) {
    throw new Error(`ROS 2 domain id must be an integer between 0 and 232, got ${String(domainId)}`);
  }
}

export function validateNodeName(name: string, namespace: string): void {
  if (!NODE_NAME.test(name)) {
    throw new Error(`Invalid ROS 2 node name '${name}': use letters, digits and underscores, not starting with a digit`);
  }
  if (namespace !== '' && (!NAMESPACE.test(namespace) || namespace.endsWith('/'))) {
    throw new Error(`Invalid ROS 2 namespace '${namespace}': use '' or a path like '/robot1'`);
  }
}

function contextKey(domainId: number | undefined): string {
  return domainId === undefined ? 'env' : `domain:${domainId}`;
}

/**
 * The rcl context for a domain id, initialised once per process. `undefined` uses rclnodejs's
 * default context, whose domain comes from ROS_DOMAIN_ID (0 when unset).
 */
export function ensureContext(domainId: number | undefined): ContextEntry {
  validateDomainId(domainId);
  const rt = runtime();
  const key = contextKey(domainId);
  const existing = rt.contexts.get(key);
  if (existing) return existing;
  const mod = loadRclnodejs();
  let context: RclContext | undefined;
  if (domainId === undefined) {
    context = mod.Context?.defaultContext?.();
  } else {
    if (typeof mod.Context !== 'function') {
      throw new Error(
        'This rclnodejs has no Context class, so the domain id cannot be chosen per node; leave it empty and set ROS_DOMAIN_ID before starting Node-RED',
      );
    }
    context = new mod.Context(BigInt(domainId));
  }
  const entry: ContextEntry = {
    domainId,
    module: mod,
    context,
    init: (async () => {
      // argv is empty: Node-RED's own command line is not meant for rcl's argument parser.
      await (context ? mod.init(context, []) : mod.init(undefined, []));
      const actual = context?.domainId;
      if (domainId !== undefined && actual !== undefined && BigInt(actual) !== BigInt(domainId)) {
        throw new Error(
          `rclnodejs joined ROS 2 domain ${actual} instead of ${domainId}: this rclnodejs version ignores the per-context ` +
            'domain id; upgrade rclnodejs or set ROS_DOMAIN_ID before starting Node-RED and leave the domain id empty',
        );
      }
    })(),
  };
  rt.contexts.set(key, entry);
  entry.init.catch(() => {
    // A failed init must not poison the process: the next use builds and initialises a fresh context.
    if (rt.contexts.get(key) === entry) rt.contexts.delete(key);
  });
  return entry;
}

/** A shared, spinning ROS node; `release()` destroys it once its last user is gone. */
export interface NodeLease {
  readonly node: RclNode;
  readonly module: RclnodejsModule;
  readonly key: string;
  release(): void;
}

/**
 * Gets (creating on first use) the node for (domain id, namespace, node name). Nodes are shared
 * and spun once; the context outlives them all, so redeploys never re-initialise rcl.
 */
export async function acquireNode(domainId: number | undefined, nodeName: string, namespace = ''): Promise<NodeLease> {
  validateDomainId(domainId);
  validateNodeName(nodeName, namespace);
  const rt = runtime();
  const key = `${contextKey(domainId)}|${namespace}/${nodeName}`;
  let pending = rt.nodes.get(key);
  if (!pending) {
    const ctx = ensureContext(domainId);
    pending = (async (): Promise<NodeEntry> => {
      await ctx.init;
      const mod = ctx.module;
      let node: RclNode;
      if (typeof mod.Node === 'function') node = new mod.Node(nodeName, namespace, ctx.context);
      else node = (mod.createNode as NonNullable<RclnodejsModule['createNode']>)(nodeName, namespace, ctx.context);
      if (typeof node.spin === 'function') node.spin();
      else if (typeof mod.spin === 'function') mod.spin(node);
      else throw new Error('rclnodejs offers neither node.spin() nor spin(node)');
      return { key, node, refs: 0, destroyed: false, context: ctx };
    })();
    rt.nodes.set(key, pending);
    pending.catch(() => {
      if (rt.nodes.get(key) === pending) rt.nodes.delete(key);
    });
  }
  const entry = await pending;
  // The last user may have released (and destroyed) this node while we were waiting.
  if (entry.destroyed) return acquireNode(domainId, nodeName, namespace);
  entry.refs++;
  let released = false;
  return {
    node: entry.node,
    module: entry.context.module,
    key,
    release(): void {
      if (released) return;
      released = true;
      entry.refs--;
      if (entry.refs > 0) return;
      if (rt.nodes.get(key) === pending) rt.nodes.delete(key);
      entry.destroyed = true;
      entry.node.destroy();
    },
  };
}

/** Number of live shared nodes and initialised contexts (for status pages and tests). */
export function ros2RuntimeInfo(): { contexts: string[]; nodes: string[] } {
  const rt = runtime();
  return { contexts: [...rt.contexts.keys()], nodes: [...rt.nodes.keys()] };
}

/**
 * Destroys every node and shuts every context down (process exit, tests). After this the next
 * use initialises fresh contexts; normal redeploys never need it.
 */
export async function shutdownRos2(): Promise<void> {
  const rt = runtime();
  const nodes = [...rt.nodes.values()];
  const contexts = [...rt.contexts.values()];
  rt.nodes.clear();
  rt.contexts.clear();
  for (const pending of nodes) {
    try {
      const entry = await pending;
      entry.destroyed = true;
      entry.node.destroy();
    } catch {
      // Nodes that failed to start or were already destroyed need no cleanup.
    }
  }
  for (const ctx of contexts) {
    try {
      await ctx.init;
    } catch {
      continue;
    }
    if (typeof ctx.module.shutdown === 'function') ctx.module.shutdown(ctx.context);
    else ctx.context?.shutdown?.();
  }
}
