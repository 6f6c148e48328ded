/**
 * hff-bag-in: replays a rosbag2 MCAP file topic by topic, decoding each CDR message with the
 * ros2msg schema stored in the bag, at recorded speed, a multiple of it, or as fast as the flow
 * takes them (each message waits until the flow has completed the previous one). Control with
 * msg.topic (or msg.payload) 'start' / 'stop'.
 */
import type { Node, NodeAPI } from 'node-red';
import { hasMessageDefinition, replayBag, type BagMessage, type BagReplay } from '../../src/io';
import { translator } from '../shared/i18n';
import { handleInput } from '../shared/node-helpers';
import { ThrottledStatus } from '../shared/status';
import { bagInRun, busyTimeoutMs, flag, replayOptions, type BagInDef, type BagInRun } from '../shared/ros/bag-settings';
import { nsToMs } from '../shared/ros/client';
import { FlowCompletion } from '../shared/ros/flow-completion';
import type { NodeDef } from 'node-red';

interface HffBagInDef extends NodeDef, BagInDef {}

function command(msg: Record<string, unknown>): 'start' | 'stop' | undefined {
  for (const v of [msg.topic, msg.payload]) {
    const s = typeof v === 'string' ? v.trim().toLowerCase() : '';
    if (s === 'start' || s === 'stop') return s;
  }
  return undefined;
}

export = function register(RED: NodeAPI): void {
  function HffBagInNode(this: Node, def: HffBagInDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const t = translator(RED, 'hff-bag-in', __dirname);
    const status = new ThrottledStatus(node);
    const userDir = (RED.settings as unknown as { userDir?: string }).userDir;
    const completion = FlowCompletion.of(RED);
    const releaseCompletion = completion?.acquire();
    let timeoutMs = 10_000;
    try {
      timeoutMs = busyTimeoutMs(def.busyTimeout);
    } catch (err) {
      node.warn(`${(err as Error).message}; using 10 s`);
    }
    let current: { replay: BagReplay; run: BagInRun; id: number } | undefined;
    let runs = 0;
    let closed = false;

    async function stop(): Promise<void> {
      const c = current;
      current = undefined;
      if (c) await c.replay.stop();
    }

    async function start(override: Record<string, unknown>): Promise<void> {
      await stop();
      const run = bagInRun(def, userDir, override);
      const id = ++runs;
      let total: number | undefined;
      let sent = 0;
      const onMessage = (m: BagMessage): void | Promise<void> => {
        if (closed || current?.id !== id) return;
        const ros: Record<string, unknown> = {
          type: m.type,
          logTime: nsToMs(m.logTime),
          logTimeNs: m.logTime.toString(),
          publishTime: nsToMs(m.publishTime),
          offset: m.offsetSec,
          sequence: m.sequence,
          bag: run.file,
        };
        // Types this package does not bundle carry their schema, so hff-bag-out can record them again.
        if (!hasMessageDefinition(m.type)) ros.schemaText = m.schemaText;
        const msg = { _msgid: RED.util.generateId(), topic: m.topic, payload: m.message, ros };
        sent++;
        status.set({ colour: 'blue', shape: 'dot', text: total ? t('status.playingOf', { sent, total }) : t('status.playing', { sent }) });
        if (run.speed === 'max' && completion) {
          return completion.track(msg._msgid, () => node.send([msg, null]), timeoutMs).then(() => undefined);
        }
        node.send([msg, null]);
      };
      const replay = replayBag(run.file, { ...replayOptions(run), onMessage });
      current = { replay, run, id };
      const info = await replay.info; // rejects (and so fails this 'start' message) when the file cannot be read
      const windowed = run.topics ? info.topics.filter((tp) => run.topics?.includes(tp.topic)) : info.topics.filter((tp) => tp.decodable);
      total = run.start === undefined && run.end === undefined ? windowed.reduce((s, tp) => s + (tp.messageCount ?? 0), 0) || undefined : undefined;
      status.set({ colour: 'blue', shape: 'dot', text: t('status.playing', { sent }) }, true);
      node.send([
        null,
        {
          topic: 'start',
          payload: {
            event: 'start',
            file: run.file,
            speed: run.speed,
            loop: run.loop,
            duration: info.durationSec,
            messages: info.messageCount,
            topics: windowed.map((tp) => ({ topic: tp.topic, type: tp.type, messages: tp.messageCount })),
          },
        },
      ]);
      replay.done.then(
        (summary) => {
          if (closed || runs !== id) return;
          if (current?.id === id) current = undefined;
          status.set(
            summary.stopped
              ? { colour: 'grey', shape: 'ring', text: t('status.stopped', { sent: summary.messages }) }
              : { colour: 'green', shape: 'dot', text: t('status.ended', { sent: summary.messages }) },
            true,
          );
          node.send([null, { topic: summary.stopped ? 'stop' : 'end', payload: { event: summary.stopped ? 'stop' : 'end', file: run.file, ...summary } }]);
        },
        (err: Error) => {
          if (closed) return;
          if (current?.id === id) current = undefined;
          status.set({ colour: 'red', shape: 'ring', text: t('status.failed') }, true);
          node.error(`replay of ${run.file} failed: ${err.message}`);
        },
      );
    }

    handleInput<Record<string, unknown>>(node, async (msg) => {
      const cmd = command(msg);
      if (cmd === 'stop') {
        if (!current) return;
        const c = current;
        await stop();
        const summary = c.replay.progress;
        status.set({ colour: 'grey', shape: 'ring', text: t('status.stopped', { sent: summary.messages }) }, true);
        return;
      }
      const override =
        msg.payload !== null && typeof msg.payload === 'object' && !Array.isArray(msg.payload) && !Buffer.isBuffer(msg.payload)
          ? (msg.payload as Record<string, unknown>)
          : {};
      if (cmd === 'start' || Object.keys(override).length > 0) {
        await start(override);
        return;
      }
      throw new Error("send msg.topic (or msg.payload) 'start' or 'stop'; a 'start' message's payload may set {file, topics, speed, start, end, loop}");
    });

    if (flag(def.autostart, false)) {
      // Give the rest of the flow a moment to start before the first message.
      const timer = setTimeout(() => {
        start({}).catch((err: Error) => {
          status.set({ colour: 'red', shape: 'ring', text: t('status.failed') }, true);
          node.error(err.message);
        });
      }, 100);
      node.on('close', () => clearTimeout(timer));
    } else {
      status.set({ colour: 'grey', shape: 'ring', text: t('status.idle') }, true);
    }

    node.on('close', (_removed: boolean, done: () => void) => {
      closed = true;
      stop()
        .catch(() => undefined)
        .finally(() => {
          releaseCompletion?.();
          status.close();
          done();
        });
    });
  }

  RED.nodes.registerType('hff-bag-in', HffBagInNode);
};
