/**
 * The part of rclnodejs's API this package uses (checked against RobotWebTools/rclnodejs:
 * index.js, lib/context.js, lib/node.js, lib/qos.js). Kept structural so tests can inject a
 * stand-in and so we do not need rclnodejs's own typings at build time.
 */

export interface RclQoS {
  history: number;
  depth: number;
  reliability: number;
  durability: number;
}

export interface RclQoSClass {
  new (history?: number, depth?: number, reliability?: number, durability?: number, avoidRosNameSpaceConventions?: boolean): RclQoS;
  readonly HistoryPolicy?: Readonly<Record<string, number>>;
  readonly ReliabilityPolicy?: Readonly<Record<string, number>>;
  readonly DurabilityPolicy?: Readonly<Record<string, number>>;
}

/** Opaque subscription entity; only handed back to `node.destroySubscription`. */
export type RclSubscription = object;

export interface RclPublisher {
  publish(message: unknown): void;
}

export interface RclCommunicationOptions {
  qos?: RclQoS | string;
  enableTypedArray?: boolean;
}

export interface RclNode {
  createSubscription(typeClass: string, topic: string, options: RclCommunicationOptions, callback: (message: unknown) => void): RclSubscription;
  createPublisher(typeClass: string, topic: string, options?: RclCommunicationOptions): RclPublisher;
  destroySubscription(subscription: RclSubscription): void;
  destroyPublisher(publisher: RclPublisher): void;
  /** rclnodejs >= 0.18; older versions only have the module-level `spin(node)`. */
  spin?(timeout?: number): void;
  destroy(): void;
}

export interface RclContext {
  isUninitialized?(): boolean;
  isShutdown?(): boolean;
  shutdown?(): void;
  /** rclnodejs >= 0.22 reads it back from rcl; a bigint. */
  readonly domainId?: bigint | number;
}

export interface RclContextClass {
  /** The domain id must be a bigint: rclnodejs's native init ignores other types. */
  new (domainId?: bigint): RclContext;
  defaultContext?(): RclContext;
}

export interface RclnodejsModule {
  init(context?: RclContext, argv?: string[]): Promise<void>;
  Context?: RclContextClass;
  Node?: new (nodeName: string, namespace?: string, context?: RclContext) => RclNode;
  createNode?(nodeName: string, namespace?: string, context?: RclContext): RclNode;
  QoS: RclQoSClass;
  spin?(node: RclNode, timeout?: number): void;
  shutdown?(context?: RclContext): void;
}

/** The message every ROS 2 node shows when rclnodejs is unusable; it says exactly what to do. */
export function rclnodejsMissingMessage(cause: string): string {
  const sourced = process.env.AMENT_PREFIX_PATH
    ? `the ROS 2 environment is sourced (ROS_DISTRO=${process.env.ROS_DISTRO ?? '?'})`
    : 'the ROS 2 environment is NOT sourced in this process (AMENT_PREFIX_PATH is not set)';
  return (
    `ROS 2 is not available to Node-RED: rclnodejs could not be loaded (${cause}); ${sourced}. To fix: ` +
    '1) install ROS 2 (Humble or Jazzy); ' +
    "2) run 'source /opt/ros/<distro>/setup.bash' (e.g. /opt/ros/jazzy/setup.bash) in the shell, service or " +
    'container that starts Node-RED, before starting it; ' +
    "3) run 'npm install rclnodejs' in the Node-RED user directory (usually ~/.node-red) and restart Node-RED. " +
    'Without ROS 2 on this machine, connect through foxglove_bridge running on the robot instead.'
  );
}
