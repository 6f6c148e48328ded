/**
 * hff-ros2: the config node shared by hff-ros2-in / hff-ros2-out. It names how topics are reached
 * (rclnodejs with a ROS 2 domain id and node name, or a robot's foxglove_bridge URL) and owns one
 * transport, created on first use. Closing it (redeploy) destroys the subscriptions and publishers
 * made through it and releases its ROS node; the rclnodejs context is initialised once per process
 * and never shut down by a redeploy.
 */
import type { NodeAPI, NodeDef } from 'node-red';
import type { Ros2ConfigNode } from '../shared/ros/client';
import { parseTransportSettings, TransportHost, type Ros2ConfigDef } from '../shared/ros/transport-host';

interface HffRos2Def extends NodeDef, Ros2ConfigDef {}

export = function register(RED: NodeAPI): void {
  function HffRos2Node(this: Ros2ConfigNode, def: HffRos2Def) {
    RED.nodes.createNode(this, def);
    const node = this;
    try {
      node.host = new TransportHost(parseTransportSettings(def));
    } catch (err) {
      node.problem = (err as Error).message;
      node.error(`hff-ros2 ${def.name || node.id}: ${node.problem}`);
    }
    const host = node.host;
    if (host) {
      // Full reasons (e.g. exactly what to install and source) go to the log once per change.
      let lastLogged = '';
      host.onStatus((status) => {
        if (status.state === 'disconnected' && status.detail && status.detail !== lastLogged && status.detail !== 'not started') {
          lastLogged = status.detail;
          node.warn(`${host.description}: ${status.detail}`);
        } else if (status.state === 'connected') {
          lastLogged = '';
          node.log(`connected: ${status.detail ?? host.description}`);
        }
      });
    }

    node.on('close', (_removed: boolean, done: () => void) => {
      if (!host) {
        done();
        return;
      }
      host.close().then(
        () => done(),
        (err: Error) => {
          node.warn(err.message);
          done();
        },
      );
    });
  }

  RED.nodes.registerType('hff-ros2', HffRos2Node);
};
