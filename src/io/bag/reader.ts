import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { McapIndexedReader, McapStreamReader, type McapTypes } from '@mcap/core';
import { Ros2MsgCodec, type RosMessage } from '../msgs/cdr';
import { StableFileReadable } from './readable';
import { decompressHandlers } from './decompress';

export interface BagTopicInfo {
  topic: string;
  /** Schema name, `pkg/msg/Type` in rosbag2 files. */
  type: string;
  /** From the summary statistics; undefined when the file has none. */
  messageCount?: number;
  messageEncoding: string;
  schemaEncoding: string;
  /** True when messages can be decoded to objects (CDR with an embedded ros2msg schema). */
  decodable: boolean;
  /** rosbag2's recorded publisher QoS (YAML), when present. */
  offeredQosProfiles?: string;
}

export interface BagInfo {
  path: string;
  profile: string;
  library: string;
  /** Log time of the first and last message, ns since the Unix epoch. */
  startTime: bigint;
  endTime: bigint;
  durationSec: number;
  messageCount?: number;
  topics: BagTopicInfo[];
  /** Chunked files are read through their index; unchunked ones by scanning the data section. */
  chunked: boolean;
}

export interface BagMessage {
  topic: string;
  type: string;
  /** Recording time, ns since the Unix epoch; replay order follows it. */
  logTime: bigint;
  publishTime: bigint;
  sequence: number;
  /** Seconds since the bag's first message. */
  offsetSec: number;
  /** The payload exactly as stored (CDR for ROS 2 bags). */
  raw: Uint8Array;
  /** Decoded with the schema embedded in the bag (absent when decoding was turned off). */
  message?: RosMessage;
  /** The embedded schema text, so the message can be re-recorded as is. */
  schemaText: string;
}

export interface ReadMessagesOptions {
  /** Topics to read; default all topics (when decoding: all decodable topics). */
  topics?: readonly string[];
  /** Seconds from the bag's first message at which to begin (inclusive). */
  start?: number;
  /** Seconds from the bag's first message at which to end (inclusive). */
  end?: number;
  /** Decode payloads with the embedded schemas (default true). */
  decode?: boolean;
}

export interface BagReaderOptions {
  /** Extra or replacement chunk decompressors, keyed by MCAP compression name. */
  decompressHandlers?: McapTypes.DecompressHandlers;
}

const NS_PER_SEC = 1_000_000_000;
const textDecoder = new TextDecoder();

/** Accepts a .mcap file or a rosbag2 folder holding exactly one .mcap file. */
async function resolveBagFile(bagPath: string): Promise<string> {
  let stat: fs.Stats;
  try {
    stat = await fsp.stat(bagPath);
  } catch (err) {
    throw new Error(`Cannot open bag '${bagPath}': ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or folder' : (err as Error).message}`);
  }
  if (!stat.isDirectory()) return bagPath;
  const files = (await fsp.readdir(bagPath)).filter((f) => f.endsWith('.mcap')).sort();
  if (files.length === 1) return path.join(bagPath, files[0]);
  if (files.length === 0)
    throw new Error(`Cannot open bag '${bagPath}': the folder contains no .mcap file (only the MCAP storage format is supported, not sqlite3 .db3)`);
  throw new Error(`Cannot open bag '${bagPath}': the folder holds ${files.length} .mcap files (a split recording); open them one by one`);
}

export function secondsToNs(sec: number): bigint {
  return BigInt(Math.round(sec * NS_PER_SEC));
}

function checkOffset(name: string, v: number | undefined): void {
  if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v) || v < 0)) {
    throw new Error(`Bag ${name} offset must be a number of seconds >= 0, got ${String(v)}`);
  }
}

/** Random-access reader of a rosbag2 MCAP file that decodes with the schemas stored in the file. */
export class BagReader {
  readonly info: BagInfo;
  readonly #handle: fsp.FileHandle;
  readonly #readable: StableFileReadable;
  readonly #reader: McapIndexedReader;
  readonly #decompress: McapTypes.DecompressHandlers;
  readonly #codecs = new Map<number, Ros2MsgCodec>();
  #closed = false;

  private constructor(
    info: BagInfo,
    handle: fsp.FileHandle,
    readable: StableFileReadable,
    reader: McapIndexedReader,
    decompress: McapTypes.DecompressHandlers,
  ) {
    this.info = info;
    this.#handle = handle;
    this.#readable = readable;
    this.#reader = reader;
    this.#decompress = decompress;
  }

  /** Opens a bag and reads its summary. Rejects with a readable error for missing/corrupt/truncated files. */
  static async open(bagPath: string, options: BagReaderOptions = {}): Promise<BagReader> {
    const file = await resolveBagFile(bagPath);
    const handle = await fsp.open(file, 'r');
    try {
      const readable = new StableFileReadable(handle);
      const decompress = decompressHandlers(options.decompressHandlers);
      let reader: McapIndexedReader;
      try {
        reader = await McapIndexedReader.Initialize({ readable, decompressHandlers: decompress });
      } catch (err) {
        const size = await readable.size();
        throw new Error(
          `Cannot read bag '${file}' (${size} bytes): ${(err as Error).message}. It is not a complete MCAP file: ` +
            'it may be truncated (recording interrupted or still running), damaged, or not MCAP at all.',
        );
      }
      const info = BagReader.#summarise(file, reader);
      return new BagReader(info, handle, readable, reader, decompress);
    } catch (err) {
      await handle.close().catch(() => undefined);
      throw err;
    }
  }

  static #summarise(file: string, reader: McapIndexedReader): BagInfo {
    const stats = reader.statistics;
    let start = stats?.messageStartTime;
    let end = stats?.messageEndTime;
    if ((start === undefined || end === undefined || (stats && stats.messageCount === 0n)) && reader.chunkIndexes.length > 0) {
      start = reader.chunkIndexes.reduce((m, c) => (c.messageStartTime < m ? c.messageStartTime : m), reader.chunkIndexes[0].messageStartTime);
      end = reader.chunkIndexes.reduce((m, c) => (c.messageEndTime > m ? c.messageEndTime : m), reader.chunkIndexes[0].messageEndTime);
    }
    start ??= 0n;
    end ??= start;
    const byTopic = new Map<string, BagTopicInfo>();
    for (const channel of reader.channelsById.values()) {
      const schema = reader.schemasById.get(channel.schemaId);
      const count = stats?.channelMessageCounts.get(channel.id);
      const existing = byTopic.get(channel.topic);
      if (existing) {
        if (existing.messageCount !== undefined && count !== undefined) existing.messageCount += Number(count);
        continue;
      }
      byTopic.set(channel.topic, {
        topic: channel.topic,
        type: schema?.name ?? '',
        messageCount: count === undefined ? (stats ? 0 : undefined) : Number(count),
        messageEncoding: channel.messageEncoding,
        schemaEncoding: schema?.encoding ?? '',
        decodable: channel.messageEncoding === 'cdr' && schema?.encoding === 'ros2msg',
        offeredQosProfiles: channel.metadata.get('offered_qos_profiles'),
      });
    }
    return {
      path: file,
      profile: reader.header.profile,
      library: reader.header.library,
      startTime: start,
      endTime: end,
      durationSec: Number(end - start) / NS_PER_SEC,
      messageCount: stats ? Number(stats.messageCount) : undefined,
      topics: [...byTopic.values()].sort((a, b) => a.topic.localeCompare(b.topic)),
      chunked: reader.chunkIndexes.length > 0,
    };
  }

  /** Topics with their types, counts and encodings. */
  topics(): BagTopicInfo[] {
    return this.info.topics.map((t) => ({ ...t }));
  }

  /** The topics `messages()` reads for the given filter; throws for unknown or undecodable requested topics. */
  selectTopics(topics: readonly string[] | undefined, decode: boolean): string[] {
    if (!topics || topics.length === 0) {
      return this.info.topics.filter((t) => !decode || t.decodable).map((t) => t.topic);
    }
    const known = new Map(this.info.topics.map((t) => [t.topic, t]));
    for (const topic of topics) {
      const t = known.get(topic);
      if (!t) throw new Error(`Topic '${topic}' is not in bag '${this.info.path}'. Topics: ${[...known.keys()].join(', ') || '(none)'}`);
      if (decode && !t.decodable) {
        throw new Error(
          `Topic '${topic}' in bag '${this.info.path}' uses message encoding '${t.messageEncoding}' with schema encoding ` +
            `'${t.schemaEncoding}'; only ROS 2 CDR with ros2msg schemas can be decoded (read it with decode: false for raw bytes)`,
        );
      }
    }
    return [...new Set(topics)];
  }

  /** Messages in log-time order (chunked files), filtered by topic and time window. */
  async *messages(options: ReadMessagesOptions = {}): AsyncGenerator<BagMessage, void, void> {
    if (this.#closed) throw new Error(`Bag '${this.info.path}' is closed`);
    checkOffset('start', options.start);
    checkOffset('end', options.end);
    if (options.start !== undefined && options.end !== undefined && options.end < options.start) {
      throw new Error(`Bag end offset (${options.end}s) is before the start offset (${options.start}s)`);
    }
    const decode = options.decode !== false;
    const topics = this.selectTopics(options.topics, decode);
    if (topics.length === 0) return;
    const startTime = this.info.startTime + (options.start !== undefined ? secondsToNs(options.start) : 0n);
    const endTime = options.end !== undefined ? this.info.startTime + secondsToNs(options.end) : this.info.endTime;
    const source = this.info.chunked ? this.#reader.readMessages({ topics, startTime, endTime }) : this.#scanUnchunked(new Set(topics), startTime, endTime);
    let failed = false;
    try {
      for (;;) {
        let next: IteratorResult<McapTypes.Message>;
        try {
          next = await source.next();
        } catch (err) {
          failed = true;
          throw new Error(`Cannot read messages from bag '${this.info.path}': ${(err as Error).message} (the file is damaged)`);
        }
        if (next.done || this.#closed) return;
        yield this.#toBagMessage(next.value, decode);
      }
    } finally {
      // Release the underlying generator when the consumer stops early (replay stop, break).
      if (!failed) await source.return(undefined);
    }
  }

  /** Decodes one payload of the given channel with that channel's embedded schema. */
  decode(channelId: number, raw: Uint8Array): RosMessage {
    return this.#codecFor(channelId).decode(raw);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#handle.close();
  }

  #toBagMessage(record: McapTypes.Message, decode: boolean): BagMessage {
    const channel = this.#reader.channelsById.get(record.channelId);
    if (!channel) throw new Error(`Bag '${this.info.path}' has a message on unknown channel ${record.channelId}`);
    const schema = this.#reader.schemasById.get(channel.schemaId);
    const out: BagMessage = {
      topic: channel.topic,
      type: schema?.name ?? '',
      logTime: record.logTime,
      publishTime: record.publishTime,
      sequence: record.sequence,
      offsetSec: Number(record.logTime - this.info.startTime) / NS_PER_SEC,
      raw: record.data,
      schemaText: schema ? textDecoder.decode(schema.data) : '',
    };
    if (decode) {
      try {
        out.message = this.#codecFor(record.channelId).decode(record.data);
      } catch (err) {
        throw new Error(`Bag '${this.info.path}', topic '${channel.topic}' at ${out.offsetSec.toFixed(3)}s: ${(err as Error).message}`);
      }
    }
    return out;
  }

  #codecFor(channelId: number): Ros2MsgCodec {
    let codec = this.#codecs.get(channelId);
    if (codec) return codec;
    const channel = this.#reader.channelsById.get(channelId);
    const schema = channel ? this.#reader.schemasById.get(channel.schemaId) : undefined;
    if (!channel || !schema) throw new Error(`Bag '${this.info.path}': channel ${channelId} has no schema to decode with`);
    if (channel.messageEncoding !== 'cdr' || schema.encoding !== 'ros2msg') {
      throw new Error(`Bag '${this.info.path}': topic '${channel.topic}' is '${channel.messageEncoding}'/'${schema.encoding}', not cdr/ros2msg`);
    }
    codec = new Ros2MsgCodec(schema.name, textDecoder.decode(schema.data));
    this.#codecs.set(channelId, codec);
    return codec;
  }

  /**
   * Unchunked files (rosbag2's 'fastwrite' preset) have no message index, so the data section is
   * streamed; messages come in file order, which for recordings is arrival order.
   */
  async *#scanUnchunked(topics: Set<string>, startTime: bigint, endTime: bigint): AsyncGenerator<McapTypes.Message> {
    const wanted = new Set<number>();
    for (const ch of this.#reader.channelsById.values()) if (topics.has(ch.topic)) wanted.add(ch.id);
    const stream = new McapStreamReader({ decompressHandlers: this.#decompress });
    const end = this.#reader.dataEndOffset > 0n ? this.#reader.dataEndOffset : await this.#readable.size();
    const block = 1n << 20n;
    for (let offset = 0n; offset < end && !this.#closed; offset += block) {
      const len = end - offset < block ? end - offset : block;
      stream.append(await this.#readable.read(offset, len));
      for (let rec; (rec = stream.nextRecord());) {
        if (rec.type !== 'Message' || !wanted.has(rec.channelId)) continue;
        if (rec.logTime < startTime || rec.logTime > endTime) continue;
        yield rec;
      }
    }
  }
}
