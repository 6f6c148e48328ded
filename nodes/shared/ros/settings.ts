/** Validated settings of hff-ros2-in and hff-ros2-out (shared with their tests). */
import type { NodeDef } from 'node-red';
import { CAMERA_QOS, DEFAULT_QOS, normalizeTypeName, resolveQos, type QosSettings } from '../../../src/io';
import { numberSetting } from '../settings';
import { busyTimeoutMs } from './bag-settings';
import { STRING_TYPE } from './client';

export interface HffRos2InDef extends NodeDef {
  ros2?: string;
  topic?: string;
  msgType?: string;
  reliability?: string;
  durability?: string;
  depth?: string | number;
  dropWhileBusy?: boolean | string;
  busyTimeout?: string | number;
}

/** The settings of one hff-ros2-in node, validated. */
export function inSettings(def: HffRos2InDef, bridge: boolean): { topic: string; type: string; qos: QosSettings; drop: boolean; timeoutMs: number } {
  const topic = String(def.topic ?? '').trim();
  if (topic === '') throw new Error('no topic is set: enter the ROS 2 topic, e.g. /camera/image_raw');
  const rawType = String(def.msgType ?? '').trim();
  if (rawType === '' && !bridge) throw new Error('no message type is set: enter it, e.g. sensor_msgs/msg/Image (see ros2 topic info)');
  const type = rawType === '' ? '' : normalizeTypeName(rawType);
  const qos = qosOf(def, CAMERA_QOS);
  const drop = def.dropWhileBusy === undefined ? true : def.dropWhileBusy === true || def.dropWhileBusy === 'true';
  return { topic, type, qos, drop, timeoutMs: busyTimeoutMs(def.busyTimeout) };
}

export interface HffRos2OutDef extends NodeDef {
  ros2?: string;
  topic?: string;
  msgType?: string;
  reliability?: string;
  durability?: string;
  depth?: string | number;
}

export function outSettings(def: HffRos2OutDef): { topic: string; type: string; qos: QosSettings } {
  const topic = String(def.topic ?? '').trim();
  if (topic === '') throw new Error('no topic is set: enter the ROS 2 topic to publish on, e.g. /hff/result');
  const type = normalizeTypeName(String(def.msgType ?? '').trim() || STRING_TYPE);
  return { topic, type, qos: qosOf(def, DEFAULT_QOS) };
}

/** The dialog's QoS fields (reliability, durability, depth; keep-last history), each empty one from `defaults`. */
function qosOf(def: { reliability?: string; durability?: string; depth?: string | number }, defaults: QosSettings): QosSettings {
  const depth = numberSetting(def.depth, 'depth', { integer: true, min: 0, max: 100000 }) ?? defaults.depth;
  return resolveQos(
    {
      reliability: (def.reliability as QosSettings['reliability']) || defaults.reliability,
      durability: (def.durability as QosSettings['durability']) || defaults.durability,
      history: 'keep-last',
      depth,
    },
    defaults,
  );
}
