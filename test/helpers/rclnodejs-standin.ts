/**
 * A stand-in for the rclnodejs module with the API surface src/io/ros2 uses, mirroring the real
 * behaviour that matters (checked against RobotWebTools/rclnodejs index.js, lib/context.js,
 * lib/node.js, lib/qos.js): init() rejects a context that is already initialised, nodes need an
 * initialised context, a node spins once, callbacks only run on spinning nodes. It records every
 * call and lets tests deliver messages and inspect published ones.
 */

const HistoryPolicy = Object.freeze({
  RMW_QOS_POLICY_HISTORY_SYSTEM_DEFAULT: 0,
  RMW_QOS_POLICY_HISTORY_KEEP_LAST: 1,
  RMW_QOS_POLICY_HISTORY_KEEP_ALL: 2,
});
const ReliabilityPolicy = Object.freeze({
  RMW_QOS_POLICY_RELIABILITY_SYSTEM_DEFAULT: 0,
  RMW_QOS_POLICY_RELIABILITY_RELIABLE: 1,
  RMW_QOS_POLICY_RELIABILITY_BEST_EFFORT: 2,
});
const DurabilityPolicy = Object.freeze({
  RMW_QOS_POLICY_DURABILITY_SYSTEM_DEFAULT: 0,
  RMW_QOS_POLICY_DURABILITY_TRANSIENT_LOCAL: 1,
  RMW_QOS_POLICY_DURABILITY_VOLATILE: 2,
});

export class StandinQoS {
  static get HistoryPolicy(): typeof HistoryPolicy {
    return HistoryPolicy;
  }
  static get ReliabilityPolicy(): typeof ReliabilityPolicy {
    return ReliabilityPolicy;
  }
  static get DurabilityPolicy(): typeof DurabilityPolicy {
    return DurabilityPolicy;
  }
  static get profileDefault(): string {
    return 'qos_profile_default';
  }
  static get profileSensorData(): string {
    return 'qos_profile_sensor_data';
  }
  history: number;
  depth: number;
  reliability: number;
  durability: number;
  avoidRosNameSpaceConventions: boolean;
  constructor(history = 0, depth = 0, reliability = 0, durability = 0, avoidRosNameSpaceConventions = false) {
    this.history = history;
    this.depth = depth;
    this.reliability = reliability;
    this.durability = durability;
    this.avoidRosNameSpaceConventions = avoidRosNameSpaceConventions;
  }
}

export interface StandinSubscription {
  node: StandinNode;
  type: string;
  topic: string;
  options: { qos?: StandinQoS | string; enableTypedArray?: boolean };
  callback: (message: unknown) => void;
  destroyed: boolean;
}

export interface StandinPublisher {
  node: StandinNode;
  type: string;
  topic: string;
  options: { qos?: StandinQoS | string };
  destroyed: boolean;
  published: unknown[];
  publish(message: unknown): void;
}

export interface StandinContext {
  readonly id: number;
  readonly requestedDomainId: bigint | undefined;
  readonly domainId: bigint;
  initialized: boolean;
  shutDown: boolean;
  isUninitialized(): boolean;
  isInitialized(): boolean;
  isShutdown(): boolean;
  shutdown(): void;
}

export interface StandinNode {
  readonly name: string;
  readonly namespace: string;
  readonly context: StandinContext;
  spinning: boolean;
  destroyed: boolean;
  spinCalls: number;
  subscriptions: StandinSubscription[];
  publishers: StandinPublisher[];
  createSubscription(type: string, topic: string, options: unknown, callback?: (message: unknown) => void): StandinSubscription;
  createPublisher(type: string, topic: string, options?: unknown): StandinPublisher;
  destroySubscription(sub: StandinSubscription): void;
  destroyPublisher(pub: StandinPublisher): void;
  spin(timeout?: number): void;
  destroy(): void;
}

export interface RclnodejsStandin {
  init(context?: StandinContext, argv?: string[]): Promise<void>;
  Context: { new (domainId?: bigint): StandinContext; defaultContext(): StandinContext };
  Node: new (name: string, namespace?: string, context?: StandinContext) => StandinNode;
  createNode(name: string, namespace?: string, context?: StandinContext): StandinNode;
  QoS: typeof StandinQoS;
  spin(node: StandinNode, timeout?: number): void;
  shutdown(context?: StandinContext): void;
  isShutdown(): boolean;
  /** Test controls and records. */
  readonly standin: {
    initCalls: Array<{ context: StandinContext; argv: string[] | undefined }>;
    contexts: StandinContext[];
    nodes: StandinNode[];
    calls: string[];
    /** Messages published on any live or destroyed publisher, in order. */
    published: Array<{ topic: string; type: string; message: unknown }>;
    /** Makes the next init() reject with this error (once). */
    failNextInit: Error | undefined;
    /** Delivers a message to every live subscription on `topic` of a spinning node; returns how many got it. */
    deliver(topic: string, message: unknown): number;
    liveSubscriptions(topic?: string): StandinSubscription[];
    livePublishers(topic?: string): StandinPublisher[];
  };
}

/** A fresh, independent stand-in module (its own default context and records). */
export function createRclnodejsStandin(): RclnodejsStandin {
  let nextContextId = 1;
  let defaultCtx: StandinContext | undefined;
  const records: RclnodejsStandin['standin'] = {
    initCalls: [],
    contexts: [],
    nodes: [],
    calls: [],
    published: [],
    failNextInit: undefined,
    deliver(topic, message) {
      let n = 0;
      for (const sub of records.liveSubscriptions(topic)) {
        if (!sub.node.spinning) continue;
        sub.callback(message);
        n++;
      }
      return n;
    },
    liveSubscriptions(topic) {
      return records.nodes.flatMap((node) => node.subscriptions).filter((s) => !s.destroyed && (topic === undefined || s.topic === topic));
    },
    livePublishers(topic) {
      return records.nodes.flatMap((node) => node.publishers).filter((p) => !p.destroyed && (topic === undefined || p.topic === topic));
    },
  };

  class Context implements StandinContext {
    readonly id = nextContextId++;
    readonly requestedDomainId: bigint | undefined;
    initialized = false;
    shutDown = false;
    constructor(domainId?: bigint) {
      if (domainId !== undefined && typeof domainId !== 'bigint') {
        // The real native init silently ignores non-bigint ids and joins ROS_DOMAIN_ID instead.
        throw new TypeError('stand-in: Context domainId must be a bigint, as rclnodejs requires');
      }
      this.requestedDomainId = domainId;
      records.contexts.push(this);
      records.calls.push(`new Context(${domainId === undefined ? '' : `${domainId}n`})`);
    }
    get domainId(): bigint {
      return this.requestedDomainId ?? BigInt(process.env.ROS_DOMAIN_ID ?? 0);
    }
    isUninitialized(): boolean {
      return !this.initialized && !this.shutDown;
    }
    isInitialized(): boolean {
      return this.initialized && !this.shutDown;
    }
    isShutdown(): boolean {
      return this.shutDown;
    }
    shutdown(): void {
      if (this.shutDown) return;
      for (const node of records.nodes.filter((n) => n.context === this && !n.destroyed)) node.destroy();
      this.shutDown = true;
      this.initialized = false;
      if (defaultCtx === this) defaultCtx = undefined;
      records.calls.push(`context#${this.id}.shutdown()`);
    }
    static defaultContext(): StandinContext {
      defaultCtx ??= new Context();
      return defaultCtx;
    }
  }

  class Node implements StandinNode {
    readonly name: string;
    readonly namespace: string;
    readonly context: StandinContext;
    spinning = false;
    destroyed = false;
    spinCalls = 0;
    subscriptions: StandinSubscription[] = [];
    publishers: StandinPublisher[] = [];

    constructor(name: string, namespace = '', context: StandinContext = Context.defaultContext()) {
      if (!context.isInitialized()) throw new Error('stand-in: the context is not initialized; call rclnodejs.init(context) first');
      this.name = name;
      this.namespace = namespace;
      this.context = context;
      records.nodes.push(this);
      records.calls.push(`new Node(${name}, '${namespace}', context#${context.id})`);
    }

    #live(): void {
      if (this.destroyed) throw new Error(`stand-in: node ${this.name} is destroyed`);
    }

    createSubscription(type: string, topic: string, options: unknown, callback?: (message: unknown) => void): StandinSubscription {
      this.#live();
      // rclnodejs allows omitting options: createSubscription(type, topic, callback).
      const cb = typeof options === 'function' ? (options as (m: unknown) => void) : callback;
      if (typeof cb !== 'function') throw new TypeError('stand-in: createSubscription needs a callback');
      const sub: StandinSubscription = {
        node: this,
        type,
        topic,
        options: (typeof options === 'object' && options !== null ? options : {}) as StandinSubscription['options'],
        callback: cb,
        destroyed: false,
      };
      this.subscriptions.push(sub);
      records.calls.push(`${this.name}.createSubscription(${type}, ${topic})`);
      return sub;
    }

    createPublisher(type: string, topic: string, options: unknown = {}): StandinPublisher {
      this.#live();
      const pub: StandinPublisher = {
        node: this,
        type,
        topic,
        options: options as StandinPublisher['options'],
        destroyed: false,
        published: [],
        publish(message: unknown): void {
          if (pub.destroyed) throw new Error('stand-in: publisher is destroyed');
          if (message === null || typeof message !== 'object') throw new TypeError('stand-in: message must be an object');
          pub.published.push(message);
          records.published.push({ topic, type, message });
        },
      };
      this.publishers.push(pub);
      records.calls.push(`${this.name}.createPublisher(${type}, ${topic})`);
      return pub;
    }

    destroySubscription(sub: StandinSubscription): void {
      if (!this.subscriptions.includes(sub)) throw new Error('stand-in: subscription does not belong to this node');
      sub.destroyed = true;
      this.subscriptions = this.subscriptions.filter((s) => s !== sub);
      records.calls.push(`${this.name}.destroySubscription(${sub.topic})`);
    }

    destroyPublisher(pub: StandinPublisher): void {
      if (!this.publishers.includes(pub)) throw new Error('stand-in: publisher does not belong to this node');
      pub.destroyed = true;
      this.publishers = this.publishers.filter((p) => p !== pub);
      records.calls.push(`${this.name}.destroyPublisher(${pub.topic})`);
    }

    spin(): void {
      this.#live();
      if (this.spinning) throw new Error('The node is already spinning.');
      this.spinning = true;
      this.spinCalls++;
      records.calls.push(`${this.name}.spin()`);
    }

    destroy(): void {
      if (this.destroyed) return;
      for (const s of this.subscriptions) s.destroyed = true;
      for (const p of this.publishers) p.destroyed = true;
      this.subscriptions = [];
      this.publishers = [];
      this.destroyed = true;
      this.spinning = false;
      records.calls.push(`${this.name}.destroy()`);
    }
  }

  return {
    async init(context: StandinContext = Context.defaultContext(), argv?: string[]): Promise<void> {
      records.calls.push(`init(context#${context.id})`);
      records.initCalls.push({ context, argv });
      if (!context.isUninitialized()) throw new Error('The context has already been initialized.');
      await Promise.resolve();
      if (records.failNextInit) {
        const err = records.failNextInit;
        records.failNextInit = undefined;
        throw err;
      }
      (context as Context).initialized = true;
    },
    Context,
    Node,
    createNode(name: string, namespace = '', context?: StandinContext): StandinNode {
      return new Node(name, namespace, context);
    },
    QoS: StandinQoS,
    spin(node: StandinNode): void {
      node.spin();
    },
    shutdown(context: StandinContext = Context.defaultContext()): void {
      context.shutdown();
    },
    isShutdown(): boolean {
      return defaultCtx === undefined || defaultCtx.isShutdown();
    },
    standin: records,
  };
}
