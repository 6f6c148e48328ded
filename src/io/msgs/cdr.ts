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

type MessageDefinitionField = MessageDefinition['definitions'][number];

/** Deeper than any real ROS message; bounds the recursion on hostile objects. */
const MAX_NESTING = 64;

/** Standard or URL-safe base64, as JSON carriers send byte arrays. */
const BASE64 = /^[A-Za-z0-9+/_\-\s]*={0,2}\s*$/;

const INTEGER_RANGES: Readonly<Record<string, readonly [bigint, bigint]>> = {
  int8: [-(2n ** 7n), 2n ** 7n - 1n],
  uint8: [0n, 2n ** 8n - 1n],
  int16: [-(2n ** 15n), 2n ** 15n - 1n],
  uint16: [0n, 2n ** 16n - 1n],
  int32: [-(2n ** 31n), 2n ** 31n - 1n],
  uint32: [0n, 2n ** 32n - 1n],
  int64: [-(2n ** 63n), 2n ** 63n - 1n],
  uint64: [0n, 2n ** 64n - 1n],
};

/** The largest finite float32; bigger finite numbers would be written as Infinity. */
const FLOAT32_MAX = 3.4028234663852886e38;

/** The one typed array the CDR writer takes as it is for each element type; any other would be written as the default. */
const ARRAY_CLASSES: Readonly<Record<string, new (length: number) => ArrayBufferView>> = {
  int8: Int8Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int32: Int32Array,
  uint32: Uint32Array,
  int64: BigInt64Array,
  uint64: BigUint64Array,
  float32: Float32Array,
  float64: Float64Array,
};

function integerAccepts(type: string): string {
  const [min, max] = INTEGER_RANGES[type];
  const wide = type.endsWith('64') ? ', as a number or a BigInt' : '';
  return `${type.startsWith('u') ? 'a' : 'an'} ${type} (an integer from ${min} to ${max}${wide})`;
}

/** What each primitive type accepts, as error texts say it. */
const PRIMITIVE_ACCEPTS: Readonly<Record<string, string>> = {
  ...Object.fromEntries(Object.keys(INTEGER_RANGES).map((type) => [type, integerAccepts(type)])),
  float32: `a float32 (a number from -${FLOAT32_MAX} to ${FLOAT32_MAX}, NaN or ±Infinity)`,
  float64: 'a float64 (a number)',
  bool: 'a bool (true or false)',
  string: 'a string',
  wstring: 'a string',
};

function fitsPrimitive(type: string, value: unknown): boolean {
  const range = INTEGER_RANGES[type];
  if (range) {
    const asBigInt =
      typeof value === 'bigint' ? (type.endsWith('64') ? value : undefined) : typeof value === 'number' && Number.isInteger(value) ? BigInt(value) : undefined;
    return asBigInt !== undefined && asBigInt >= range[0] && asBigInt <= range[1];
  }
  switch (type) {
    case 'float32':
      return typeof value === 'number' && (!Number.isFinite(value) || Math.abs(value) <= FLOAT32_MAX);
    case 'float64':
      return typeof value === 'number';
    case 'bool':
      return typeof value === 'boolean';
    case 'string':
    case 'wstring':
      return typeof value === 'string';
    default:
      // A primitive this check does not know (none today): left to the writer.
      return true;
  }
}

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
    this.check(message);
    try {
      return this.#writer.writeMessage(this.normalize(message)) as Uint8Array<ArrayBuffer>;
    } catch (err) {
      throw new Error(`Cannot encode message as '${this.type}': ${(err as Error).message}`);
    }
  }

  /**
   * Throws an Error naming the first field whose value does not fit its type (what was given and what
   * the type accepts). The CDR writer would otherwise write a default or a wrapped value in its place
   * without a word. Missing fields are fine: they take ROS defaults.
   */
  check(message: unknown): void {
    if (message === null || typeof message !== 'object' || Array.isArray(message)) {
      throw new Error(`${this.type}: expected a message object, got ${describe(message)}`);
    }
    this.#checkStruct(message as Record<string, unknown>, this.definitions[0], '', 0);
  }

  #checkStruct(src: Record<string, unknown>, def: MessageDefinition, prefix: string, depth: number): void {
    for (const field of def.definitions) {
      if (field.isConstant) continue;
      const value = src[field.name];
      if (value === undefined) continue;
      const where = `${prefix}${field.name}`;
      if (field.isArray) this.#checkArray(field, value, where, depth);
      else this.#checkElement(field, value, where, depth);
    }
  }

  #checkArray(field: MessageDefinitionField, value: unknown, where: string, depth: number): void {
    const isByteArray = BYTE_TYPES.has(field.type);
    let length: number;
    if (isByteArray) {
      length = this.#checkedByteLength(value, where);
    } else {
      const expected = ARRAY_CLASSES[field.type];
      const isList = Array.isArray(value) || (expected !== undefined && value instanceof expected);
      if (!isList) {
        const container = expected ? `an array or a ${expected.name}` : 'an array';
        throw this.#fieldError(where, `${container} whose items are each ${this.#accepts(field)}`, value);
      }
      const items = value as ArrayLike<unknown>;
      length = items.length;
      if (Array.isArray(value)) {
        for (let i = 0; i < items.length; i++) this.#checkElement(field, items[i], `${where}[${i}]`, depth);
      }
    }
    if (field.arrayLength !== undefined && length !== field.arrayLength) {
      throw new Error(`${this.type} field '${where}' must hold exactly ${field.arrayLength} items, got ${length}`);
    }
    if (field.arrayUpperBound !== undefined && length > field.arrayUpperBound) {
      throw new Error(`${this.type} field '${where}' holds at most ${field.arrayUpperBound} items, got ${length}`);
    }
  }

  /** Byte arrays take every container `toBuffer` converts faithfully; number arrays must hold bytes. */
  #checkedByteLength(value: unknown, where: string): number {
    const accepted = 'bytes (a Buffer, a Uint8Array, an array of integers from 0 to 255 or base64 text)';
    if (ArrayBuffer.isView(value)) return value.byteLength;
    if (value instanceof ArrayBuffer) return value.byteLength;
    if (typeof value === 'string') {
      if (!BASE64.test(value)) throw this.#fieldError(where, accepted, value);
      return Buffer.from(value, 'base64').length;
    }
    const list = Array.isArray(value)
      ? value
      : value !== null && typeof value === 'object' && (value as { type?: unknown }).type === 'Buffer' && Array.isArray((value as { data?: unknown }).data)
        ? (value as { data: unknown[] }).data
        : undefined;
    if (!list) throw this.#fieldError(where, accepted, value);
    for (let i = 0; i < list.length; i++) {
      const byte = list[i];
      if (!(typeof byte === 'number' && Number.isInteger(byte) && byte >= 0 && byte <= 255)) {
        throw this.#fieldError(`${where}[${i}]`, 'a byte (an integer from 0 to 255)', byte);
      }
    }
    return list.length;
  }

  #checkElement(field: MessageDefinitionField, value: unknown, where: string, depth: number): void {
    if (field.isComplex) {
      const sub = this.#byName.get(field.type);
      if (value === null || typeof value !== 'object' || Array.isArray(value) || ArrayBuffer.isView(value)) {
        throw this.#fieldError(where, this.#accepts(field), value);
      }
      if (!sub) return;
      if (depth >= MAX_NESTING) throw new Error(`${this.type} field '${where}' is nested more than ${MAX_NESTING} messages deep`);
      this.#checkStruct(value as Record<string, unknown>, sub, `${where}.`, depth + 1);
      return;
    }
    if (field.type === 'time' || field.type === 'duration') {
      // The parser turns builtin_interfaces/Time and Duration into these primitives: {sec, nanosec} objects.
      if (value === null || typeof value !== 'object' || Array.isArray(value) || ArrayBuffer.isView(value)) {
        throw this.#fieldError(where, `a ${field.type} ({sec: int32, nanosec: uint32})`, value);
      }
      const stamp = value as Record<string, unknown>;
      for (const [part, type] of [
        ['sec', 'int32'],
        ['nanosec', 'uint32'],
        ['nsec', 'uint32'],
      ] as const) {
        if (stamp[part] !== undefined && !fitsPrimitive(type, stamp[part])) throw this.#fieldError(`${where}.${part}`, PRIMITIVE_ACCEPTS[type], stamp[part]);
      }
      return;
    }
    if (!fitsPrimitive(field.type, value)) throw this.#fieldError(where, this.#accepts(field), value);
    if (field.upperBound !== undefined && typeof value === 'string' && Buffer.byteLength(value) > field.upperBound) {
      throw new Error(`${this.type} field '${where}' holds at most ${field.upperBound} bytes of text, got ${Buffer.byteLength(value)}`);
    }
  }

  #accepts(field: MessageDefinitionField): string {
    if (field.isComplex) return `a ${field.type} message object`;
    return PRIMITIVE_ACCEPTS[field.type] ?? `a ${field.type}`;
  }

  #fieldError(where: string, accepted: string, value: unknown): Error {
    return new Error(`${this.type} field '${where}' must be ${accepted}, got ${describe(value)}`);
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
        out[field.name] =
          field.isArray && Array.isArray(v) ? v.map((item) => this.#normalizeStruct(item, sub, depth + 1)) : this.#normalizeStruct(v, sub, depth + 1);
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

/**
 * Throws a descriptive Error when a field of `message` does not fit `type`. Types without a bundled or
 * registered definition cannot be checked here and pass (their transport still checks what it can).
 */
export function checkMessage(type: string, message: RosMessage): void {
  let codec: Ros2MsgCodec;
  try {
    codec = getCodec(type);
  } catch {
    return;
  }
  codec.check(message);
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
