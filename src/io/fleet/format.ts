import { createHmac, timingSafeEqual } from 'node:crypto';

/** Format tag of fleet class updates; receivers reject other formats. */
export const FLEET_FORMAT = 'hff-fleet/1';

/**
 * One instance's whole contribution to one class: every demonstration that instance was taught
 * for the class, summarised as per-layer sums of unit representations. Updates replace each other
 * (higher version wins), they are never added, so re-delivery and reordering are harmless.
 */
export interface FleetUpdate {
  format: typeof FLEET_FORMAT;
  /** The instance that was taught (unique per Node-RED instance + model). */
  origin: string;
  /** Class name. */
  class: string;
  /** Increases with every change of this (origin, class) contribution; the highest one wins. */
  version: number;
  /** Demonstrations summed in `sums`. */
  count: number;
  /** Units per layer of the network the representations come from. */
  layers: number[];
  /** Per layer, the sum of the demonstrations' unit representations (length = layers[l]). */
  sums: number[][];
  /** Fingerprint of the network weights that produced the representations (see modelFingerprint). */
  model?: string;
  /** Random id of the publishing process, to tell our own echo from a previous run of the same origin. */
  session?: string;
  /** When this version was created, ms since the Unix epoch (for delay reports; not used in merging). */
  sentAt?: number;
  /** `hmac-sha256=<hex>` over the canonical serialisation of every other field. */
  signature?: string;
}

export type RejectReason =
  | 'malformed'
  | 'unsigned'
  | 'bad-signature'
  | 'incompatible'
  | 'topic-mismatch'
  | 'origin-conflict';

/** An update refused by a receiver, with a machine-readable reason. */
export class FleetRejection extends Error {
  readonly reason: RejectReason;
  constructor(reason: RejectReason, message: string) {
    super(message);
    this.name = 'FleetRejection';
    this.reason = reason;
  }
}

/** Largest accepted update payload (a 4-layer network of 4096 units is ~400 kB of JSON). */
export const MAX_UPDATE_BYTES = 16 * 1024 * 1024;
const SIGNATURE_PREFIX = 'hmac-sha256=';

/**
 * JSON with object keys sorted at every level and no whitespace, so that equal content always
 * serialises to equal bytes (the input of signatures and of tie-breaks between equal versions).
 * Non-finite numbers are refused, since JSON cannot carry them.
 */
export function canonicalJson(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'number':
      if (!Number.isFinite(value)) throw new Error(`cannot serialise the non-finite number ${value}`);
      return JSON.stringify(value);
    case 'string':
    case 'boolean':
      return JSON.stringify(value);
    case 'object': {
      if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v === undefined ? null : v)).join(',')}]`;
      if (ArrayBuffer.isView(value)) return canonicalJson(Array.from(value as unknown as ArrayLike<number>));
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort();
      return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
    }
    default:
      throw new Error(`cannot serialise a ${typeof value}`);
  }
}

/** The canonical bytes of an update without its signature. */
export function canonicalBody(update: FleetUpdate): string {
  const { signature: _signature, ...body } = update;
  return canonicalJson(body);
}

function hmac(body: string, secret: string): Buffer {
  return createHmac('sha256', secret).update(body, 'utf8').digest();
}

function checkSecret(secret: string): void {
  if (typeof secret !== 'string' || secret.length === 0) throw new Error('the fleet shared secret must be a non-empty string');
}

/** A copy of `update` signed with the shared secret. */
export function signUpdate(update: FleetUpdate, secret: string): FleetUpdate {
  checkSecret(secret);
  const { signature: _old, ...body } = update;
  return { ...body, signature: SIGNATURE_PREFIX + hmac(canonicalJson(body), secret).toString('hex') };
}

/**
 * Throws a FleetRejection unless `update` carries a valid signature for `secret` ('unsigned' when
 * it has none, 'bad-signature' when the content or the key differ).
 */
export function verifyUpdate(update: FleetUpdate, secret: string): void {
  checkSecret(secret);
  const sig = update.signature;
  if (sig === undefined || sig === '') {
    throw new FleetRejection('unsigned', `unsigned update for class '${update.class}' from '${update.origin}' (this fleet requires signatures)`);
  }
  const hex = typeof sig === 'string' && sig.startsWith(SIGNATURE_PREFIX) ? sig.slice(SIGNATURE_PREFIX.length) : '';
  const expected = hmac(canonicalBody(update), secret);
  const given = /^[0-9a-f]{64}$/.test(hex) ? Buffer.from(hex, 'hex') : Buffer.alloc(0);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new FleetRejection(
      'bad-signature',
      `update for class '${update.class}' from '${update.origin}' has an invalid signature (tampered, or signed with another secret)`,
    );
  }
}

function fail(message: string): never {
  throw new FleetRejection('malformed', `malformed fleet update: ${message}`);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Parses and validates a received payload (Buffer, string or object); throws FleetRejection('malformed'). */
export function parseUpdate(payload: unknown): FleetUpdate {
  let value: unknown = payload;
  if (typeof payload === 'string' || payload instanceof Uint8Array) {
    const size = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.byteLength;
    if (size > MAX_UPDATE_BYTES) fail(`${size} bytes is more than the ${MAX_UPDATE_BYTES} allowed`);
    const text = typeof payload === 'string' ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8');
    try {
      value = JSON.parse(text);
    } catch (err) {
      fail(`not JSON (${(err as Error).message})`);
    }
  }
  if (!isPlainObject(value)) fail('expected a JSON object');
  const u = value;
  if (u.format !== FLEET_FORMAT) fail(`format is ${JSON.stringify(u.format)}, expected '${FLEET_FORMAT}'`);
  if (typeof u.origin !== 'string' || u.origin === '' || u.origin.length > 256) fail('origin must be a string of 1-256 characters');
  if (typeof u.class !== 'string' || u.class.trim() === '' || u.class.length > 1024) fail('class must be a non-empty string of at most 1024 characters');
  if (!Number.isSafeInteger(u.version) || (u.version as number) < 1) fail('version must be a positive integer');
  if (!Number.isSafeInteger(u.count) || (u.count as number) < 0) fail('count must be an integer >= 0');
  if (!Array.isArray(u.layers) || u.layers.length === 0 || u.layers.some((n) => !Number.isSafeInteger(n) || (n as number) < 1)) {
    fail('layers must be a non-empty array of positive integers');
  }
  const layers = u.layers as number[];
  if (!Array.isArray(u.sums) || u.sums.length !== layers.length) fail(`sums must hold one array per layer (${layers.length})`);
  (u.sums as unknown[]).forEach((s, l) => {
    if (!Array.isArray(s) || s.length !== layers[l]) fail(`sums[${l}] must be an array of ${layers[l]} numbers`);
    for (const x of s) if (typeof x !== 'number' || !Number.isFinite(x)) fail(`sums[${l}] holds a value that is not a finite number`);
  });
  for (const key of ['model', 'session', 'signature'] as const) {
    if (u[key] !== undefined && typeof u[key] !== 'string') fail(`${key} must be a string`);
  }
  if (u.sentAt !== undefined && (typeof u.sentAt !== 'number' || !Number.isFinite(u.sentAt))) fail('sentAt must be a number');
  const known = new Set(['format', 'origin', 'class', 'version', 'count', 'layers', 'sums', 'model', 'session', 'sentAt', 'signature']);
  const extra = Object.keys(u).filter((k) => !known.has(k));
  // Unknown fields are refused rather than ignored: they would be signed but silently dropped when merging.
  if (extra.length) fail(`unknown field(s) ${extra.join(', ')}`);
  return u as unknown as FleetUpdate;
}

/** The payload bytes of an update as published. */
export function serializeUpdate(update: FleetUpdate): Buffer {
  return Buffer.from(canonicalJson(update), 'utf8');
}
