import { createDelivery, type Delivery } from '../drop-while-busy';
import { Listeners, reportError } from '../listeners';
import { checkMessage, normalizeMessage, type RosMessage } from '../msgs/cdr';
import { normalizeTypeName } from '../msgs/schema';
import { CAMERA_QOS, DEFAULT_QOS, RMW_QOS, resolveQos, type QosInput, type QosSettings } from '../qos';
import type { MessageHandler, MessageInfo, SubscribeOptions, TopicPublisher, TopicSubscription, TopicTransport, TransportStatus } from '../types';
import type { RclnodejsModule, RclQoS, RclPublisher, RclSubscription } from './rclnodejs';
import { acquireNode, validateDomainId, validateNodeName, type NodeLease } from './runtime';

export interface Ros2TransportOptions {
  /** ROS_DOMAIN_ID for this node; undefined = rclnodejs default context (ROS_DOMAIN_ID env, else 0). */
  domainId?: number;
  /** ROS node name (default 'node_red_hff'); transports with the same domain and name share one node. */
  nodeName?: string;
  namespace?: string;
}

/** Maps our QoS settings onto rclnodejs's QoS class, using its own enum tables when present. */
export function toRclQos(mod: Pick<RclnodejsModule, 'QoS'>, qos: QosSettings): RclQoS {
  const Q = mod.QoS;
  const history =
    Q.HistoryPolicy?.[qos.history === 'keep-all' ? 'RMW_QOS_POLICY_HISTORY_KEEP_ALL' : 'RMW_QOS_POLICY_HISTORY_KEEP_LAST'] ?? RMW_QOS.history[qos.history];
  const reliability =
    Q.ReliabilityPolicy?.[qos.reliability === 'reliable' ? 'RMW_QOS_POLICY_RELIABILITY_RELIABLE' : 'RMW_QOS_POLICY_RELIABILITY_BEST_EFFORT'] ??
    RMW_QOS.reliability[qos.reliability];
  const durability =
    Q.DurabilityPolicy?.[qos.durability === 'transient-local' ? 'RMW_QOS_POLICY_DURABILITY_TRANSIENT_LOCAL' : 'RMW_QOS_POLICY_DURABILITY_VOLATILE'] ??
    RMW_QOS.durability[qos.durability];
  return new Q(history, qos.depth, reliability, durability);
}

/**
 * Topics through rclnodejs. The rcl context is process-wide and initialised once; the ROS node is
 * shared by every transport with the same (domain, namespace, name); `close()` destroys only the
 * subscriptions and publishers made through this transport and releases its share of the node.
 */
export class Ros2Transport implements TopicTransport {
  readonly domainId: number | undefined;
  readonly nodeName: string;
  readonly namespace: string;
  readonly #statusListeners = new Listeners<TransportStatus>();
  readonly #errorListeners = new Listeners<Error>();
  readonly #subscriptions = new Set<{ close(): Promise<void> }>();
  readonly #publishers = new Set<{ close(): Promise<void> }>();
  #status: TransportStatus = { state: 'connecting' };
  #lease: Promise<NodeLease> | undefined;
  #closed = false;

  constructor(options: Ros2TransportOptions = {}) {
    const domainId = options.domainId === null || (options.domainId as unknown) === '' ? undefined : options.domainId;
    validateDomainId(domainId === undefined ? undefined : Number(domainId));
    this.domainId = domainId === undefined ? undefined : Number(domainId);
    this.nodeName = options.nodeName ?? 'node_red_hff';
    this.namespace = options.namespace ?? '';
    validateNodeName(this.nodeName, this.namespace);
  }

  get description(): string {
    const domain = this.domainId === undefined ? `domain ${process.env.ROS_DOMAIN_ID ?? '0'} (ROS_DOMAIN_ID)` : `domain ${this.domainId}`;
    return `ROS 2 ${domain}, node ${this.namespace}/${this.nodeName}`;
  }

  get status(): TransportStatus {
    return { ...this.#status };
  }

  onStatus(listener: (status: TransportStatus) => void): () => void {
    return this.#statusListeners.add(listener);
  }

  onError(listener: (error: Error) => void): () => void {
    return this.#errorListeners.add(listener);
  }

  /** Initialises rclnodejs (once per process) and creates/joins the shared node. */
  ready(): Promise<void> {
    return this.#node().then(() => undefined);
  }

  async subscribe(topic: string, type: string, qos: QosInput, onMessage: MessageHandler, options: SubscribeOptions = {}): Promise<TopicSubscription> {
    if (typeof onMessage !== 'function') throw new Error('subscribe needs an onMessage(message) callback');
    checkTopic(topic);
    const canonical = normalizeTypeName(type);
    const settings = resolveQos(qos, CAMERA_QOS);
    const lease = await this.#node();
    this.#assertOpen();
    const onError = (err: Error): void => {
      const wrapped = new Error(`Handler for ${topic} failed: ${err.message}`);
      if (options.onError) options.onError(wrapped);
      else reportError(this.#errorListeners, wrapped);
    };
    const delivery: Delivery<[RosMessage, MessageInfo]> = createDelivery(([message, info]) => onMessage(message, info), options.dropWhileBusy, onError);
    let rclSub: RclSubscription;
    try {
      rclSub = lease.node.createSubscription(canonical, topic, { qos: toRclQos(lease.module, settings), enableTypedArray: true }, (raw: unknown) => {
        let message: RosMessage;
        try {
          message = normalizeMessage(canonical, raw as RosMessage);
        } catch (err) {
          onError(err as Error);
          return;
        }
        delivery.push([message, { topic, type: canonical, receivedAt: Date.now() }]);
      });
    } catch (err) {
      delivery.close();
      throw new Error(`Cannot subscribe to ${topic} (${canonical}) on ${this.description}: ${(err as Error).message}`);
    }
    let closed = false;
    const handle = {
      topic,
      type: canonical,
      qos: settings,
      get stats() {
        return { ...delivery.stats };
      },
      close: async (): Promise<void> => {
        if (closed) return;
        closed = true;
        this.#subscriptions.delete(handle);
        delivery.close();
        lease.node.destroySubscription(rclSub);
      },
    };
    this.#subscriptions.add(handle);
    return handle;
  }

  async advertise(topic: string, type: string, qos: QosInput): Promise<TopicPublisher> {
    checkTopic(topic);
    const canonical = normalizeTypeName(type);
    const settings = resolveQos(qos, DEFAULT_QOS);
    const lease = await this.#node();
    this.#assertOpen();
    let publisher: RclPublisher;
    try {
      publisher = lease.node.createPublisher(canonical, topic, { qos: toRclQos(lease.module, settings) });
    } catch (err) {
      throw new Error(`Cannot advertise ${topic} (${canonical}) on ${this.description}: ${(err as Error).message}`);
    }
    let closed = false;
    const handle = {
      topic,
      type: canonical,
      qos: settings,
      publish: async (message: RosMessage): Promise<void> => {
        if (closed) throw new Error(`Publisher for ${topic} is closed`);
        if (message === null || typeof message !== 'object' || Array.isArray(message)) {
          throw new Error(`Cannot publish to ${topic}: expected a ${canonical} message object`);
        }
        try {
          // The same field checks as the CDR writer's, so a wrong value gets the same clear error on every transport.
          checkMessage(canonical, message);
          // Buffers serialised to JSON ({type:'Buffer', data}) or number[] become Buffers rclnodejs accepts for uint8[].
          publisher.publish(normalizeMessage(canonical, message));
        } catch (err) {
          throw new Error(`Cannot publish to ${topic} (${canonical}): ${(err as Error).message}`);
        }
      },
      close: async (): Promise<void> => {
        if (closed) return;
        closed = true;
        this.#publishers.delete(handle);
        lease.node.destroyPublisher(publisher);
      },
    };
    this.#publishers.add(handle);
    return handle;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const errors: string[] = [];
    for (const h of [...this.#subscriptions, ...this.#publishers]) {
      try {
        await h.close();
      } catch (err) {
        errors.push((err as Error).message);
      }
    }
    if (this.#lease) {
      let lease: NodeLease | undefined;
      try {
        lease = await this.#lease;
      } catch {
        // Never acquired (rclnodejs missing, init failed): nothing to release; already reported via status.
      }
      try {
        lease?.release();
      } catch (err) {
        errors.push((err as Error).message);
      }
    }
    this.#setStatus({ state: 'closed' });
    this.#statusListeners.clear();
    this.#errorListeners.clear();
    if (errors.length) throw new Error(`Errors while closing ${this.description}: ${errors.join('; ')}`);
  }

  #node(): Promise<NodeLease> {
    if (this.#closed) return Promise.reject(new Error(`${this.description} is closed`));
    if (!this.#lease) {
      this.#setStatus({ state: 'connecting' });
      const lease = acquireNode(this.domainId, this.nodeName, this.namespace);
      this.#lease = lease;
      lease.then(
        (l) => {
          if (this.#closed) l.release();
          else this.#setStatus({ state: 'connected', detail: this.description });
        },
        (err: Error) => {
          // Forget the failure so a later call retries (e.g. after ROS 2 was started).
          if (this.#lease === lease) this.#lease = undefined;
          this.#setStatus({ state: 'disconnected', detail: err.message });
        },
      );
    }
    return this.#lease;
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error(`${this.description} is closed`);
  }

  #setStatus(status: TransportStatus): void {
    if (this.#status.state === status.state && this.#status.detail === status.detail) return;
    this.#status = status;
    this.#statusListeners.emit({ ...status });
  }
}

function checkTopic(topic: string): void {
  if (typeof topic !== 'string' || topic.trim() === '') throw new Error('Topic name must be a non-empty string');
}
