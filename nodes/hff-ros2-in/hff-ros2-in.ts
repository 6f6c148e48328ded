/**
 * hff-ros2-in: subscribes to a ROS 2 topic through an hff-ros2 connection (rclnodejs or
 * foxglove_bridge) and sends each message as a plain object in msg.payload (image data as a
 * Buffer), ready for hff-image. With "drop while busy" a new message waits until the flow has
 * finished with the previous one, and only the newest waiting message is kept.
 */
import type { Node, NodeAPI } from 'node-red';
import type { MessageInfo, RosMessage, TopicSubscription } from '../../src/io';
import { inSettings, type HffRos2InDef } from '../shared/ros/settings';
import { translator } from '../shared/i18n';
import { ThrottledStatus } from '../shared/status';
import { findRos2, nsToMs, transportStatus } from '../shared/ros/client';
import { FlowCompletion } from '../shared/ros/flow-completion';
import { shortReason, type TransportHost } from '../shared/ros/transport-host';

export = function register(RED: NodeAPI): void {
  function HffRos2InNode(this: Node, def: HffRos2InDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const t = translator(RED, 'hff-ros2-in', __dirname);
    const status = new ThrottledStatus(node);
    let closed = false;
    let subscription: TopicSubscription | undefined;
    let releaseCompletion: (() => void) | undefined;

    let host: TransportHost;
    let settings: ReturnType<typeof inSettings>;
    try {
      host = findRos2(RED, def.ros2);
      settings = inSettings(def, host.settings.kind === 'foxglove-bridge');
    } catch (err) {
      status.set({ colour: 'red', shape: 'ring', text: t('status.config') }, true);
      node.error((err as Error).message);
      node.on('close', (_removed: boolean, done: () => void) => {
        status.close();
        done();
      });
      return;
    }
    const { topic, type, qos, drop, timeoutMs } = settings;
    const completion = drop ? FlowCompletion.of(RED) : undefined;
    if (completion) releaseCompletion = completion.acquire();

    const counters = (): string => {
      const s = subscription?.stats;
      if (!s || s.received === 0) return t('status.subscribed', { topic });
      return s.dropped > 0 ? t('status.receivedDropped', { count: s.received, dropped: s.dropped }) : t('status.received', { count: s.received });
    };
    const unStatus = host.onStatus((st) => status.set(transportStatus(st, counters()), true));

    const onMessage = (message: RosMessage, info: MessageInfo): void | Promise<void> => {
      if (closed) return;
      const ros: Record<string, unknown> = { type: info.type, receivedAt: info.receivedAt };
      if (info.sourceTime !== undefined) ros.sourceTime = nsToMs(info.sourceTime);
      const msg = { _msgid: RED.util.generateId(), topic: info.topic, payload: message, ros };
      status.set({ colour: 'green', shape: 'dot', text: counters() });
      if (!completion) {
        node.send(msg);
        return;
      }
      return completion.track(msg._msgid, () => node.send(msg), timeoutMs).then(() => undefined);
    };

    status.set({ colour: 'yellow', shape: 'ring', text: t('status.connecting') }, true);
    (async () => {
      const transport = host.transport();
      const sub = await transport.subscribe(topic, type, qos, onMessage, {
        dropWhileBusy: drop,
        onError: (err) => node.error(err.message),
      });
      if (closed) {
        await sub.close();
        return;
      }
      subscription = sub;
      status.set(transportStatus(transport.status, counters()), true);
    })().catch((err: Error) => {
      if (closed) return;
      host.fail(err.message);
      status.set({ colour: 'red', shape: 'ring', text: shortReason(err.message) || t('status.failed') }, true);
      node.error(`cannot subscribe to ${topic}: ${err.message}`);
    });

    node.on('close', (_removed: boolean, done: () => void) => {
      closed = true;
      unStatus();
      status.close();
      const sub = subscription;
      subscription = undefined;
      Promise.resolve(sub?.close())
        .catch((err: Error) => node.warn(err.message))
        .finally(() => {
          releaseCompletion?.();
          done();
        });
    });
  }

  RED.nodes.registerType('hff-ros2-in', HffRos2InNode);
};
