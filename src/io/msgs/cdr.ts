import * as path from 'node:path';
import { parse } from '@foxglove/rosmsg';
import { MessageReader, MessageWriter } from '@foxglove/rosmsg2-serialization';
import { describe } from '../../describe';
import { fullSchemaText, normalizeTypeName } from './schema';

interface CdrWriterLike {
  buffer: ArrayBuffer;
  array: Uint8Array;
  view: DataView;
  offset: number;
  uint32(value: number): unknown;
  resizeIfNeeded(additionalBytes: number): void;
}

/**
 * @foxglove/cdr's CdrWriter.string() sizes strings by UTF-16 length, so any non-ASCII text
 * (a label like 'tasse à café') is written truncated with a wrong length. We patch the copy
 * that @foxglove/rosmsg2-serialization actually uses, and only when the bug is present.
 */
function fixCdrStringEncoding(): void {
  const probe = new MessageWriter(parse('string data', { ros2: true })).writeMessage({ data: 'é' });
  // Correct output: 4 header + 4 length + 2 UTF-8 bytes + NUL = 11 bytes, length field 3.
  if (probe.byteLength === 11 && probe[4] === 3) return;
  const serializationDir = path.dirname(require.resolve('@foxglove/rosmsg2-serialization'));
  const cdr = require(require.resolve('@foxglove/cdr', { paths: [serializationDir] })) as {
    CdrWriter: { prototype: { string: (this: CdrWriterLike, value: string, writeLength?: boolean) => unknown } };
  };
  const encoder = new TextEncoder();
  cdr.CdrWriter.prototype.string = function string(this: CdrWriterLike, value: string, writeLength = true) {
    const bytes = encoder.encode(value);
    if (writeLength) this.uint32(bytes.length + 1);
    this.resizeIfNeeded(bytes.length + 1);
    this.array.set(bytes, this.offset);
    this.array[this.offset + bytes.length] = 0;
    this.offset += bytes.length + 1;
    return this;
  };
}
fixCdrStringEncoding();

/** Parsed message definitions as @foxglove/rosmsg returns them (type derived so we need not depend on its internals). */
export type MessageDefinitions = ReturnType<typeof parse>;
type MessageDefinition = MessageDefinitions[number];

/** A plain ROS message object, as published, recorded or delivered by this module. */
export type RosMessage = Record<string, unknown>;

/** Field element types whose arrays we deliver as Buffer (image bytes, compressed frames, blobs). */
const BYTE_TYPES = new Set(['uint8', 'byte', 'char']);

/**
 * Encoder/decoder for one message type described by a `ros2msg` schema text. Built from whatever
 * schema accompanies the data (MCAP schema record, foxglove_bridge advertisement) so foreign types
 * work without bundling their definitions.
 */
export class Ros2MsgCodec {
  readonly type: string;
  readonly schemaText: string;
  readonly definitions: MessageDefinitions;
  readonly #reader: MessageReader;
  readonly #writer: MessageWriter;
  readonly #byName: Map<string, MessageDefinition>;

  constructor(type: string, schemaText: string) {
    this.type = normalizeTypeName(type);
    this.schemaText = schemaText;
    try {
      this.definitions = parse(schemaText, { ros2: true });
    } catch (err) {
      throw new Error(`Cannot parse ros2msg schema of '${this.type}': ${(err as Error).message}`);
    }
    if (this.definitions.length === 0) throw new Error(`Empty ros2msg schema for '${this.type}'`);
    this.#reader = new MessageReader(this.definitions);
    this.#writer = new MessageWriter(this.definitions);
    this.#byName = new Map(this.definitions.filter((d) => d.name).map((d) => [d.name as string, d]));
  }

  /** CDR bytes (with the 4-byte encapsulation header) -> plain object; byte arrays come out as Buffer. */
  decode(bytes: ArrayBufferView): RosMessage {
    let raw: unknown;
    try {
      raw = this.#reader.readMessage(bytes);
    } catch (err) {
      throw new Error(`Cannot decode CDR message of type '${this.type}' (${bytes.byteLength} bytes): ${(err as Error).message}`);
    }
    return this.normalize(raw);
  }

  /**
   * Plain object -> CDR bytes. Missing fields take ROS defaults (0, '', empty arrays). Typed as
   * backed by a plain ArrayBuffer (which it is) so it passes as a BufferSource to WebSocket APIs.
   */
  encode(message: RosMessage): Uint8Array<ArrayBuffer> {
    if (message === null || typeof message !== 'object' || Array.isArray(message)) {
      throw new Error(`Cannot encode '${this.type}': expected a message object, got ${describe(message)}`);
    }
    try {
      return this.#writer.writeMessage(this.normalize(message)) as Uint8Array<ArrayBuffer>;
    } catch (err) {
      throw new Error(`Cannot encode message as '${this.type}': ${(err as Error).message}`);
    }
  }

  /**
   * Returns a copy of `message` in which every byte-array field (per this schema) is a Buffer,
   * whatever it arrived as: Array, typed array, Buffer, or the `{type:'Buffer', data:[...]}` JSON
   * form a Buffer takes after JSON round trips. Buffers are views, the bytes are not copied.
   */
  normalize(message: unknown): RosMessage {
    return this.#normalizeStruct(message, this.definitions[0], 0) as RosMessage;
  }

  #normalizeStruct(value: unknown, def: MessageDefinition, depth: number): unknown {
    if (value === null || typeof value !== 'object' || depth > 64) return value;
    const src = value as Record<string, unknown>;
    const out: Record<string, unknown> = { ...src };
    for (const field of def.definitions) {
      if (field.isConstant) continue;
      const v = src[field.name];
      if (v === undefined) continue;
      if (field.isComplex) {
        const sub = this.#byName.get(field.type);
        if (!sub) continue;
        out[field.name] = field.isArray && Array.isArray(v)
          ? v.map((item) => this.#normalizeStruct(item, sub, depth + 1))
          : this.#normalizeStruct(v, sub, depth + 1);
      } else if (field.isArray && BYTE_TYPES.has(field.type)) {
        out[field.name] = toBuffer(v, `${this.type}.${field.name}`);
      }
    }
    return out;
  }
}

/** Converts any reasonable byte container to a Buffer (zero-copy for typed arrays). */
export function toBuffer(v: unknown, what = 'byte array'): Buffer {
  if (Buffer.isBuffer(v)) return v;
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  if (ArrayBuffer.isView(v)) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  if (v instanceof ArrayBuffer) return Buffer.from(v);
  if (Array.isArray(v)) return Buffer.from(v as number[]);
  if (v && typeof v === 'object' && (v as { type?: unknown }).type === 'Buffer' && Array.isArray((v as { data?: unknown }).data)) {
    return Buffer.from((v as { data: number[] }).data);
  }
  if (typeof v === 'string') {
    // JSON carriers (foxglove_bridge json encoding, Node-RED inject nodes) send byte arrays as base64.
    return Buffer.from(v, 'base64');
  }
  throw new Error(`${what}: expected bytes (Buffer, Uint8Array or number[]), got ${describe(v)}`);
}

/** Codec cache keyed by type + schema text: schemas repeat (every bag channel, every bridge reconnect). */
const codecCache = new Map<string, Ros2MsgCodec>();
const CODEC_CACHE_LIMIT = 256;

/** A (cached) codec for `type` with the given schema text, or the bundled/registered one when omitted. */
export function getCodec(type: string, schemaText?: string): Ros2MsgCodec {
  const canonical = normalizeTypeName(type);
  const text = schemaText ?? fullSchemaText(canonical);
  const key = `${canonical}\n${text}`;
  let codec = codecCache.get(key);
  if (!codec) {
    codec = new Ros2MsgCodec(canonical, text);
    if (codecCache.size >= CODEC_CACHE_LIMIT) codecCache.delete(codecCache.keys().next().value as string);
    codecCache.set(key, codec);
  }
  return codec;
}

/** CDR-encodes a plain object of a bundled (or registered) type. */
export function encodeCdr(type: string, message: RosMessage): Uint8Array<ArrayBuffer> {
  return getCodec(type).encode(message);
}

/** Decodes CDR bytes of a bundled (or registered) type; byte arrays come out as Buffer. */
export function decodeCdr(type: string, bytes: ArrayBufferView): RosMessage {
  return getCodec(type).decode(bytes);
}

/**
 * Makes byte-array fields of a message of a known type Buffers (rclnodejs may hand out typed arrays
 * or plain arrays depending on version and options). Unknown types are returned untouched.
 */
export function normalizeMessage(type: string, message: RosMessage): RosMessage {
  let codec: Ros2MsgCodec;
  try {
    codec = getCodec(type);
  } catch {
    return buffersFromUint8Arrays(message, 0) as RosMessage;
  }
  return codec.normalize(message);
}

/** Without a schema only typed byte arrays are unambiguous; number[] could be any integer array. */
function buffersFromUint8Arrays(v: unknown, depth: number): unknown {
  if (v instanceof Uint8Array) return toBuffer(v);
  if (v === null || typeof v !== 'object' || ArrayBuffer.isView(v) || depth > 64) return v;
  if (Array.isArray(v)) return v.some((x) => x !== null && typeof x === 'object') ? v.map((x) => buffersFromUint8Arrays(x, depth + 1)) : v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = buffersFromUint8Arrays(x, depth + 1);
  return out;
}
