/**
 * hff-ros2-out: publishes msg.payload on a ROS 2 topic through an hff-ros2 connection. With the
 * default type std_msgs/msg/String, strings are sent as they are and anything else (for example an
 * hff-classify result) as JSON text; other types take the message object in msg.payload.
 */
import type { Node, NodeAPI } from 'node-red';
import type { TopicPublisher } from '../../src/io';
import { outSettings, type HffRos2OutDef } from '../shared/ros/settings';
import { translator } from '../shared/i18n';
import { handleInput } from '../shared/node-helpers';
import { ThrottledStatus } from '../shared/status';
import { findRos2, toRosMessage, transportStatus } from '../shared/ros/client';
import { shortReason, type TransportHost } from '../shared/ros/transport-host';

export = function register(RED: NodeAPI): void {
  function HffRos2OutNode(this: Node, def: HffRos2OutDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const t = translator(RED, 'hff-ros2-out', __dirname);
    const status = new ThrottledStatus(node);
    let closed = false;
    let sent = 0;
    let host: TransportHost | undefined;
    let settings: ReturnType<typeof outSettings> | undefined;
    let problem: Error | undefined;
    try {
      host = findRos2(RED, def.ros2);
      settings = outSettings(def);
    } catch (err) {
      problem = err as Error;
      status.set({ colour: 'red', shape: 'ring', text: t('status.config') }, true);
      node.error(problem.message);
    }

    let publisher: Promise<TopicPublisher> | undefined;
    const advertise = (): Promise<TopicPublisher> => {
      if (!host || !settings) return Promise.reject(problem ?? new Error('not configured'));
      const { topic, type, qos } = settings;
      const h = host;
      const p = (async () => h.transport().advertise(topic, type, qos))();
      p.then(
        async (pub) => {
          if (closed) await pub.close();
          else status.set(transportStatus(h.transport().status, t('status.ready', { topic })), true);
        },
        (err: Error) => {
          if (closed) return;
          // Forget the failure: the next message tries again (e.g. after the bridge came up).
          if (publisher === p) publisher = undefined;
          h.fail(err.message);
          status.set({ colour: 'red', shape: 'ring', text: shortReason(err.message) || t('status.failed') }, true);
        },
      );
      return p;
    };
    const unStatus = host?.onStatus((st) =>
      status.set(transportStatus(st, sent ? t('status.sent', { count: sent }) : t('status.ready', { topic: settings?.topic ?? '' })), true),
    );
    if (host && settings) {
      status.set({ colour: 'yellow', shape: 'ring', text: t('status.connecting') }, true);
      publisher = advertise();
      publisher.catch((err: Error) => node.error(`cannot publish on ${settings?.topic}: ${err.message}`));
    }

    handleInput<Record<string, unknown>>(node, async (msg) => {
      if (problem || !settings) throw problem ?? new Error('not configured');
      publisher ??= advertise();
      let pub: TopicPublisher;
      try {
        pub = await publisher;
      } catch (err) {
        throw new Error(`cannot publish on ${settings.topic}: ${(err as Error).message}`);
      }
      await pub.publish(toRosMessage(msg.payload, settings.type));
      sent++;
      status.set({ colour: 'green', shape: 'dot', text: t('status.sent', { count: sent }) });
    });

    node.on('close', (_removed: boolean, done: () => void) => {
      closed = true;
      unStatus?.();
      status.close();
      const p = publisher;
      publisher = undefined;
      Promise.resolve(p)
        .then((pub) => pub?.close())
        .catch(() => undefined)
        .finally(() => done());
    });
  }

  RED.nodes.registerType('hff-ros2-out', HffRos2OutNode);
};
