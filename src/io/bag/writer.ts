import * as fsp from 'node:fs/promises';
import { McapWriter } from '@mcap/core';
import { FileHandleWritable } from '@mcap/nodejs';
import { getCodec, type RosMessage } from '../msgs/cdr';
import { fullSchemaText, normalizeTypeName } from '../msgs/schema';
import { DEFAULT_QOS, offeredQosProfilesYaml, resolveQos, type QosInput } from '../qos';

export interface BagWriterOptions {
  /** Uncompressed chunk size in bytes before a chunk is flushed (rosbag2 default: 768 KiB). */
  chunkSize?: number;
  /** Overwrite an existing file (default false: refuse, so a recording is never clobbered by accident). */
  overwrite?: boolean;
  /** Written into the MCAP header's library field. */
  library?: string;
}

/** Time as ns since the Unix epoch (bigint), a Date, or ms since the Unix epoch (number, like Date.now()). */
export type TimeInput = bigint | Date | number;

export interface WriteOptions {
  /** Recording time; default now. Replay order and timing follow it. */
  logTime?: TimeInput;
  /** Publication time; default the log time. */
  publishTime?: TimeInput;
}

export interface TopicOptions {
  /** ros2msg schema text for types without a bundled/registered definition (e.g. from a bag or bridge). */
  schemaText?: string;
  /** Publisher QoS recorded as offered_qos_profiles, replayed by `ros2 bag play` (default reliable depth 10). */
  qos?: QosInput;
}

interface ChannelEntry {
  id: number;
  type: string;
  sequence: number;
}

interface Declared {
  type: string;
  schemaText: string;
  qosYaml: string;
}

function nowNs(): bigint {
  // performance.timeOrigin + now() gives sub-millisecond resolution, keeping fast bursts ordered.
  return BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));
}

export function toNs(t: TimeInput | undefined, what: string): bigint {
  if (t === undefined) return nowNs();
  if (typeof t === 'bigint') {
    if (t < 0n) throw new Error(`${what} must not be negative`);
    return t;
  }
  if (t instanceof Date) {
    const ms = t.getTime();
    if (Number.isNaN(ms)) throw new Error(`${what} is an invalid Date`);
    return BigInt(ms) * 1_000_000n;
  }
  if (typeof t === 'number' && Number.isFinite(t) && t >= 0) return BigInt(Math.round(t * 1e6));
  throw new Error(`${what} must be bigint nanoseconds, a Date or milliseconds since the epoch, got ${String(t)}`);
}

/**
 * Records ROS 2 messages into an MCAP file the way rosbag2 does (profile ros2, ros2msg schemas,
 * CDR payloads, one channel per topic, chunked and indexed), so `ros2 bag play`, `ros2 bag info`
 * and Foxglove open it. Calls may overlap: they are serialised internally, as McapWriter requires.
 */
export class BagWriter {
  readonly path: string;
  readonly #handle: fsp.FileHandle;
  readonly #writer: McapWriter;
  readonly #channels = new Map<string, ChannelEntry>();
  readonly #declared = new Map<string, Declared>();
  readonly #schemas = new Map<string, number>();
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;
  #messageCount = 0;

  private constructor(path: string, handle: fsp.FileHandle, writer: McapWriter) {
    this.path = path;
    this.#handle = handle;
    this.#writer = writer;
  }

  static async open(path: string, options: BagWriterOptions = {}): Promise<BagWriter> {
    const chunkSize = options.chunkSize ?? 768 * 1024;
    if (!Number.isInteger(chunkSize) || chunkSize < 1024) throw new Error(`chunkSize must be an integer >= 1024 bytes, got ${chunkSize}`);
    let handle: fsp.FileHandle;
    try {
      handle = await fsp.open(path, options.overwrite ? 'w' : 'wx');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') throw new Error(`Bag file '${path}' already exists; choose another name or allow overwrite`);
      throw new Error(`Cannot create bag file '${path}': ${(err as Error).message}`);
    }
    try {
      const writer = new McapWriter({
        writable: new FileHandleWritable(handle),
        useChunks: true,
        chunkSize,
        useStatistics: true,
        useSummaryOffsets: true,
        useChunkIndex: true,
        useMessageIndex: true,
        repeatSchemas: true,
        repeatChannels: true,
      });
      await writer.start({ profile: 'ros2', library: options.library ?? 'node-red-contrib-hff' });
      return new BagWriter(path, handle, writer);
    } catch (err) {
      await handle.close().catch(() => undefined);
      throw err;
    }
  }

  /** Messages written so far. */
  get messageCount(): number {
    return this.#messageCount;
  }

  /** Topics registered so far with their types. */
  topics(): Array<{ topic: string; type: string }> {
    return [...this.#declared.entries()].map(([topic, d]) => ({ topic, type: d.type }));
  }

  /**
   * Registers a topic up front, to attach a custom schema or a recorded QoS. Topics are also
   * registered implicitly by their first write.
   */
  addTopic(topic: string, type: string, options: TopicOptions = {}): Promise<void> {
    let declared: Declared;
    try {
      declared = this.#declare(topic, type, options);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#enqueue(async () => {
      await this.#channel(topic, declared);
    });
  }

  /** Encodes a plain message object to CDR and records it. */
  write(topic: string, type: string, message: RosMessage, options: WriteOptions & TopicOptions = {}): Promise<void> {
    let data: Uint8Array;
    try {
      const declared = this.#declare(topic, type, options);
      // Encode before queueing: encoding errors surface on this call and never half-write a record.
      data = getCodec(declared.type, declared.schemaText).encode(message);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.writeRaw(topic, type, data, options);
  }

  /** Records an already CDR-encoded payload (e.g. forwarded from another bag or a bridge). */
  writeRaw(topic: string, type: string, cdr: Uint8Array, options: WriteOptions & TopicOptions = {}): Promise<void> {
    let logTime: bigint;
    let publishTime: bigint;
    let declared: Declared;
    try {
      if (!(cdr instanceof Uint8Array)) throw new Error('writeRaw needs the CDR payload as a Uint8Array/Buffer');
      declared = this.#declare(topic, type, options);
      logTime = toNs(options.logTime, 'logTime');
      publishTime = options.publishTime === undefined ? logTime : toNs(options.publishTime, 'publishTime');
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#enqueue(async () => {
      const channel = await this.#channel(topic, declared);
      await this.#writer.addMessage({ channelId: channel.id, sequence: channel.sequence++, logTime, publishTime, data: cdr });
      this.#messageCount++;
    });
  }

  /** Writes the summary and index and closes the file; further writes reject. Safe to call twice. */
  close(): Promise<void> {
    if (this.#closed)
      return this.#queue.then(
        () => undefined,
        () => undefined,
      );
    this.#closed = true;
    const closing = this.#queue
      .catch(() => undefined)
      .then(async () => {
        try {
          await this.#writer.end();
        } finally {
          await this.#handle.close();
        }
      });
    this.#queue = closing.catch(() => undefined);
    return closing;
  }

  #enqueue<T>(op: () => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new Error(`Bag '${this.path}' is closed`));
    const result = this.#queue.then(op);
    this.#queue = result.catch(() => undefined);
    return result;
  }

  /**
   * Fixes topic -> (type, schema, QoS) synchronously at the first call, so overlapping calls agree
   * on the schema before any of them reaches the (asynchronous) writer.
   */
  #declare(topic: string, type: string, options: TopicOptions): Declared {
    if (this.#closed) throw new Error(`Bag '${this.path}' is closed`);
    if (typeof topic !== 'string' || !topic.startsWith('/')) {
      throw new Error(`Topic name must be an absolute ROS name starting with '/', got '${String(topic)}'`);
    }
    const canonical = normalizeTypeName(type);
    const existing = this.#declared.get(topic);
    if (existing) {
      if (existing.type !== canonical) {
        throw new Error(`Topic '${topic}' is already recorded as '${existing.type}', cannot also record '${canonical}'`);
      }
      return existing;
    }
    const declared: Declared = {
      type: canonical,
      schemaText: options.schemaText ?? fullSchemaText(canonical),
      qosYaml: offeredQosProfilesYaml(resolveQos(options.qos, DEFAULT_QOS)),
    };
    this.#declared.set(topic, declared);
    return declared;
  }

  async #channel(topic: string, declared: Declared): Promise<ChannelEntry> {
    const existing = this.#channels.get(topic);
    if (existing) return existing;
    const schemaKey = `${declared.type}\n${declared.schemaText}`;
    let schemaId = this.#schemas.get(schemaKey);
    if (schemaId === undefined) {
      schemaId = await this.#writer.registerSchema({
        name: declared.type,
        encoding: 'ros2msg',
        data: new TextEncoder().encode(declared.schemaText),
      });
      this.#schemas.set(schemaKey, schemaId);
    }
    const id = await this.#writer.registerChannel({
      topic,
      schemaId,
      messageEncoding: 'cdr',
      metadata: new Map([['offered_qos_profiles', declared.qosYaml]]),
    });
    const entry: ChannelEntry = { id, type: declared.type, sequence: 0 };
    this.#channels.set(topic, entry);
    return entry;
  }
}
