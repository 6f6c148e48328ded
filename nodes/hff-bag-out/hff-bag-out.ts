/**
 * hff-bag-out: records messages (camera frames, labelled demonstrations, results) into a rosbag2
 * MCAP file that `ros2 bag play`, `ros2 bag info` and Foxglove open. msg.topic 'start' opens a
 * new file, 'stop' finalises it (summary and index); closing the node finalises it too.
 */
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { Node, NodeAPI, NodeDef } from 'node-red';
import { BagWriter, normalizeTypeName, type TimeInput } from '../../src/io';
import { translator } from '../shared/i18n';
import { handleInput } from '../shared/node-helpers';
import { ThrottledStatus } from '../shared/status';
import { flag, resolveBagPath } from '../shared/ros/bag-settings';
import { STRING_TYPE, toRosMessage } from '../shared/ros/client';

interface HffBagOutDef extends NodeDef {
  file?: string;
  topic?: string;
  msgType?: string;
  time?: 'now' | 'message';
  overwrite?: boolean | string;
  autostart?: boolean | string;
  /** Where a 'start' message may name a file (relative to the user directory); empty: 'bags'. */
  folder?: string;
  /** Let a 'start' message name any path the Node-RED process can write. */
  anyPath?: boolean | string;
}

/**
 * The file a 'start' message names. Messages can come from anywhere (MQTT, HTTP), so unless the user opted out
 * the name must stay inside the node's folder: a relative path without '..' that resolves below it.
 */
function startFilePath(requested: string, folder: string, anyPath: boolean, userDir: string | undefined): string {
  if (anyPath) return resolveBagPath(requested, userDir);
  const base = resolveBagPath(folder.trim() === '' ? 'bags' : folder, userDir);
  const file = resolveBagPath(requested, base);
  const relative = path.relative(base, file);
  if (path.isAbsolute(requested.trim()) || relative === '' || relative.startsWith('..') || path.isAbsolute(relative)) {
    throw new Error(
      `the 'start' message names ${JSON.stringify(requested)}, which is outside this node's folder ${base}: give a file name relative to that folder (or allow any path in the node's settings)`,
    );
  }
  return file;
}

interface Recording {
  writer: BagWriter;
  file: string;
  topics: Set<string>;
}

/** The recording time of a message: now, or the time it carries from hff-bag-in / hff-ros2-in. */
function messageTime(msg: Record<string, unknown>): TimeInput | undefined {
  const ros = msg.ros as Record<string, unknown> | undefined;
  if (!ros || typeof ros !== 'object') return undefined;
  if (typeof ros.logTimeNs === 'string' && /^\d+$/.test(ros.logTimeNs)) return BigInt(ros.logTimeNs);
  for (const key of ['logTime', 'sourceTime', 'receivedAt']) {
    const v = ros[key];
    if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return v;
  }
  return undefined;
}

function isCommand(msg: Record<string, unknown>): 'start' | 'stop' | undefined {
  const topic = typeof msg.topic === 'string' ? msg.topic.trim().toLowerCase() : '';
  return topic === 'start' || topic === 'stop' ? topic : undefined;
}

export = function register(RED: NodeAPI): void {
  function HffBagOutNode(this: Node, def: HffBagOutDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const t = translator(RED, 'hff-bag-out', __dirname);
    const status = new ThrottledStatus(node);
    const userDir = (RED.settings as unknown as { userDir?: string }).userDir;
    const overwrite = flag(def.overwrite, false);
    const autostart = flag(def.autostart, true);
    const fixedTopic = String(def.topic ?? '').trim();
    const fixedType = String(def.msgType ?? '').trim();
    const useMessageTime = def.time === 'message';
    const anyPath = flag(def.anyPath, false);
    const folder = String(def.folder ?? '');
    let recording: Promise<Recording> | undefined;

    /** The file to record to: the one a 'start' message names (checked), else the node's. */
    function fileFor(requested: unknown): string {
      return typeof requested === 'string' && requested.trim() !== ''
        ? startFilePath(requested, folder, anyPath, userDir)
        : resolveBagPath(String(def.file ?? ''), userDir);
    }

    function open(file = fileFor(undefined)): Promise<Recording> {
      const p = (async () => {
        await fsp.mkdir(path.dirname(file), { recursive: true });
        const writer = await BagWriter.open(file, { overwrite });
        status.set({ colour: 'blue', shape: 'dot', text: t('status.recording', { count: 0 }) }, true);
        return { writer, file, topics: new Set<string>() };
      })();
      p.catch(() => {
        if (recording === p) recording = undefined;
      });
      return p;
    }

    /** Finalises a recording (summary and index written, file closed). */
    async function finish(r: Promise<Recording> | undefined): Promise<{ file: string; messages: number; topics: string[] } | undefined> {
      if (!r) return undefined;
      let rec: Recording;
      try {
        rec = await r;
      } catch {
        return undefined;
      }
      await rec.writer.close();
      return { file: rec.file, messages: rec.writer.messageCount, topics: [...rec.topics].sort() };
    }

    function close(): Promise<{ file: string; messages: number; topics: string[] } | undefined> {
      const r = recording;
      recording = undefined;
      return finish(r);
    }

    handleInput<Record<string, unknown>>(node, async (msg, send) => {
      const cmd = isCommand(msg);
      if (cmd === 'stop') {
        const summary = await close();
        if (summary) {
          status.set({ colour: 'green', shape: 'dot', text: t('status.saved', { count: summary.messages }) }, true);
          send({ topic: 'stop', payload: { event: 'stop', ...summary } });
        }
        return;
      }
      if (cmd === 'start') {
        const previous = recording;
        const override = typeof msg.payload === 'string' ? msg.payload : (msg.payload as { file?: unknown } | undefined)?.file;
        // Checked before anything else: a refused 'start' leaves the current recording running.
        const file = fileFor(override);
        // Set synchronously, so that messages arriving while the old file closes go to the new one.
        const next = (async () => {
          const summary = await finish(previous);
          if (summary) send({ topic: 'stop', payload: { event: 'stop', ...summary } });
          return open(file);
        })();
        next.catch(() => {
          if (recording === next) recording = undefined;
        });
        recording = next;
        const rec = await next;
        send({ topic: 'start', payload: { event: 'start', file: rec.file } });
        return;
      }
      if (!recording) {
        if (!autostart) throw new Error("not recording: send a message with msg.topic 'start' first (or tick 'start on the first message')");
        recording = open();
      }
      const rec = await recording;
      const topic = fixedTopic || (typeof msg.topic === 'string' ? msg.topic.trim() : '');
      if (!topic.startsWith('/')) {
        throw new Error(`no ROS topic for this message: set the node's topic or send msg.topic as an absolute name like /hff/demo (got '${topic}')`);
      }
      const ros = (msg.ros && typeof msg.ros === 'object' ? msg.ros : {}) as Record<string, unknown>;
      const rawType = fixedType || (typeof ros.type === 'string' ? ros.type : '') || (typeof msg.payload === 'string' ? STRING_TYPE : '');
      if (!rawType) throw new Error(`no message type for ${topic}: set the node's type or send msg.ros.type (e.g. sensor_msgs/msg/Image)`);
      const type = normalizeTypeName(rawType);
      const schemaText = typeof ros.schemaText === 'string' && type === normalizeTypeName(String(ros.type ?? '')) ? ros.schemaText : undefined;
      await rec.writer.write(topic, type, toRosMessage(msg.payload, type), {
        ...(useMessageTime ? { logTime: messageTime(msg) } : {}),
        ...(schemaText ? { schemaText } : {}),
      });
      rec.topics.add(topic);
      status.set({ colour: 'blue', shape: 'dot', text: t('status.recording', { count: rec.writer.messageCount }) });
    });

    if (!autostart) status.set({ colour: 'grey', shape: 'ring', text: t('status.idle') }, true);

    node.on('close', (_removed: boolean, done: () => void) => {
      close()
        .then(
          (summary) => {
            if (summary) node.log(`saved ${summary.messages} messages to ${summary.file}`);
          },
          (err: Error) => node.error(`finishing the bag failed: ${err.message}`),
        )
        .finally(() => {
          status.close();
          done();
        });
    });
  }

  RED.nodes.registerType('hff-bag-out', HffBagOutNode);
};
