import type { QosInput } from './qos';
import type { RosMessage } from './msgs/cdr';

/** Details delivered with each message next to the decoded object. */
export interface MessageInfo {
  topic: string;
  /** Canonical type name (`pkg/msg/Type`) of the message as sent by the publisher/bridge. */
  type: string;
  /** Wall-clock time the message reached us, ms since the Unix epoch. */
  receivedAt: number;
  /** Timestamp the sender attached (foxglove_bridge: receive time on the robot, ns), when known. */
  sourceTime?: bigint;
}

/** Consumer of subscribed messages; a returned promise marks the consumer busy until it settles. */
export type MessageHandler = (message: RosMessage, info: MessageInfo) => void | Promise<void>;

export interface SubscribeOptions {
  /**
   * Keep only the newest message while the handler is still working on the previous one (default
   * true): a slow classifier then always sees the latest camera frame instead of an ever older
   * backlog. With false every message is handed over as it arrives, without waiting.
   */
  dropWhileBusy?: boolean;
  /** Receives handler failures and decode problems of this subscription. */
  onError?: (error: Error) => void;
}

/** Counters of one subscription. */
export interface DeliveryStats {
  /** Messages that arrived from the transport. */
  received: number;
  /** Messages handed to the handler. */
  delivered: number;
  /** Messages replaced by a newer one while the handler was busy. */
  dropped: number;
  /** Handler calls that threw or rejected. */
  errors: number;
}

export interface TopicSubscription {
  readonly topic: string;
  readonly type: string;
  readonly stats: Readonly<DeliveryStats>;
  /** Destroys exactly this subscription; pending (not yet delivered) messages are discarded. */
  close(): Promise<void>;
}

export interface TopicPublisher {
  readonly topic: string;
  readonly type: string;
  /** Publishes a plain message object (byte arrays as Buffer, Uint8Array or number[]). */
  publish(message: RosMessage): Promise<void>;
  /** Destroys exactly this publisher. */
  close(): Promise<void>;
}

export type TransportState = 'connecting' | 'connected' | 'disconnected' | 'closed';

export interface TransportStatus {
  state: TransportState;
  /** Human-readable reason (error text, retry delay, bridge name). */
  detail?: string;
}

/**
 * What the Node-RED `hff-ros2-in`/`hff-ros2-out` nodes talk to: implemented by the rclnodejs
 * wrapper (`Ros2Transport`) and by the foxglove_bridge client (`FoxgloveBridgeTransport`).
 */
export interface TopicTransport {
  /** For node status and logs, e.g. `ROS 2 domain 0, node /hff` or `foxglove_bridge ws://robot:8765`. */
  readonly description: string;
  readonly status: TransportStatus;
  /**
   * Subscribes to `topic`. `type` is `pkg/msg/Type`; the foxglove bridge also accepts '' or '*'
   * to take whatever type the bridge advertises. `qos` is settings or a preset name
   * (default: camera profile, best-effort depth 1).
   */
  subscribe(topic: string, type: string, qos: QosInput, onMessage: MessageHandler, options?: SubscribeOptions): Promise<TopicSubscription>;
  /** Creates a publisher (`qos` default: reliable, volatile, depth 10). */
  advertise(topic: string, type: string, qos: QosInput): Promise<TopicPublisher>;
  /** Listens to connection state changes; returns a function removing the listener. */
  onStatus(listener: (status: TransportStatus) => void): () => void;
  /** Listens to errors not tied to a call (connection failures, handler errors without onError). */
  onError(listener: (error: Error) => void): () => void;
  /** Destroys every subscription and publisher created through this transport and releases it. */
  close(): Promise<void>;
}
