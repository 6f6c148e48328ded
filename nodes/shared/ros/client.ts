/**
 * What hff-ros2-in, hff-ros2-out, hff-bag-in and hff-bag-out share: finding the hff-ros2 config
 * node, turning transport states into short statuses, and turning msg.payload into ROS messages.
 */
import type { Node, NodeAPI } from 'node-red';
import { normalizeTypeName, type RosMessage, type TransportStatus } from '../../../src/io';
import type { StatusValue } from '../status';
import { shortReason, type TransportHost } from './transport-host';
import { describe } from '../settings';

/** The hff-ros2 config node as its clients see it. */
export interface Ros2ConfigNode extends Node {
  /** Undefined when the settings are invalid (see `problem`). */
  host?: TransportHost;
  problem?: string;
}

export function findRos2(RED: NodeAPI, id: unknown): TransportHost {
  const config = typeof id === 'string' && id !== '' ? (RED.nodes.getNode(id) as unknown as Ros2ConfigNode | null) : null;
  if (!config) throw new Error('no hff-ros2 connection is selected (or it is disabled): open the node and choose one');
  if (!config.host) throw new Error(`the hff-ros2 connection is invalid: ${config.problem ?? 'unknown problem'}`);
  return config.host;
}

/** Status of a client node for a transport state; `okText` is shown while connected. */
export function transportStatus(status: TransportStatus, okText: string): StatusValue {
  switch (status.state) {
    case 'connected':
      return { colour: 'green', shape: 'dot', text: okText };
    case 'connecting':
      return { colour: 'yellow', shape: 'ring', text: status.detail && /attempt|reconnect/.test(status.detail) ? `reconnecting` : 'connecting' };
    case 'closed':
      return { colour: 'grey', shape: 'ring', text: 'closed' };
    default:
      return { colour: 'red', shape: 'ring', text: shortReason(status.detail) || 'disconnected' };
  }
}

export const STRING_TYPE = 'std_msgs/msg/String';

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !ArrayBuffer.isView(v) && !(v instanceof ArrayBuffer);
}

/** JSON for std_msgs/String payloads: typed arrays become arrays, bigints numbers (or text past 2^53). */
export function jsonText(value: unknown): string {
  const text = JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v === 'bigint') return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
    if (ArrayBuffer.isView(v) && !(v instanceof DataView) && !Buffer.isBuffer(v)) {
      return Array.from(v as unknown as ArrayLike<number | bigint>, (x) => (typeof x === 'bigint' ? Number(x) : x));
    }
    return v;
  });
  if (text === undefined) throw new Error(`cannot turn ${describe(value)} into JSON`);
  return text;
}

/**
 * msg.payload as a message of `type`. For std_msgs/msg/String: a string is the data, an object
 * {data: string} is taken as is, anything else (e.g. a classification result) is sent as JSON.
 * Other types need the message as an object (byte arrays as Buffer, Uint8Array or number[]).
 */
export function toRosMessage(payload: unknown, type: string, what = 'msg.payload'): RosMessage {
  const canonical = normalizeTypeName(type);
  if (canonical === STRING_TYPE) {
    if (typeof payload === 'string') return { data: payload };
    if (isPlainObject(payload) && Object.keys(payload).length === 1 && typeof payload.data === 'string') return payload;
    if (payload === undefined) throw new Error(`${what} is empty: nothing to send as ${STRING_TYPE}`);
    return { data: jsonText(payload) };
  }
  if (!isPlainObject(payload)) {
    throw new Error(`${what} must be a ${canonical} message object (fields as in 'ros2 interface show ${canonical}'), got ${describe(payload)}`);
  }
  return payload;
}

/** ns bigint as ms number (fraction keeps µs), for msg properties that must survive JSON. */
export function nsToMs(ns: bigint): number {
  return Number(ns / 1000n) / 1000;
}
