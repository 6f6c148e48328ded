/** Format tag of fleet class updates (the binary layout below); receivers reject other formats. */
export const FLEET_FORMAT = 'hff-fleet/2';

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
  /** Demonstrations summed in `sums` (>= 1). */
  count: number;
  /** Units per layer of the network the representations come from. */
  layers: number[];
  /** Per layer, the sum of the demonstrations' unit representations (length = layers[l]). */
  sums: Float32Array[];
  /** Fingerprint of the network weights that produced the representations (see modelFingerprint). */
  model: string;
  /** Random id of the publishing process, to tell our own echo from a previous run of the same origin. */
  session?: string;
  /** When this version was created, ms since the Unix epoch (for delay reports; not used in merging). */
  sentAt?: number;
}

export type RejectReason =
  | 'malformed'
  | 'unsigned'
  | 'bad-signature'
  | 'unknown-signer'
  | 'implausible'
  | 'incompatible'
  | 'topic-mismatch'
  | 'origin-conflict'
  | 'replay'
  | 'protected'
  | 'limit';

/** An update refused by a receiver, with a machine-readable reason. */
export class FleetRejection extends Error {
  readonly reason: RejectReason;
  constructor(reason: RejectReason, message: string) {
    super(message);
    this.name = 'FleetRejection';
    this.reason = reason;
  }
}

/** Limits of what a real update can be; anything beyond is refused before it costs memory. */
export const FLEET_LIMITS = {
  /** Whole payload: 4 layers of 65,536 float32 units fit. */
  maxUpdateBytes: 1024 * 1024 + 4096,
  maxHeaderBytes: 4096,
  maxLayers: 16,
  maxUnits: 65_536,
  maxTotalUnits: 262_144,
  /** Characters of a class name or an origin id. */
  maxNameLength: 128,
  /** Demonstrations in one contribution. */
  maxCount: 1_000_000_000,
} as const;

/** How an update is signed, carried in its bytes (so a receiver can name what it got). */
export enum SignatureScheme {
  None = 0,
  HmacSha256 = 1,
  Ed25519 = 2,
}

export const SIGNATURE_BYTES: Record<SignatureScheme, number> = { 0: 0, 1: 32, 2: 64 };

const MAGIC = Buffer.from('HFF2', 'latin1');
/** The wire is little-endian; on such machines (nearly all) sums are copied as bytes instead of read one by one. */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
/** magic (4) + scheme (1) + reserved (1) + header length (2, little-endian). */
const PREAMBLE_BYTES = 8;

/**
 * JSON with object keys sorted at every level and no whitespace, so that equal content always
 * serialises to equal bytes. Non-finite numbers are refused, since JSON cannot carry them.
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
      const keys = Object.keys(obj)
        .filter((k) => obj[k] !== undefined)
        .sort();
      return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
    }
    default:
      throw new Error(`cannot serialise a ${typeof value}`);
  }
}

function malformed(message: string): never {
  throw new FleetRejection('malformed', `malformed fleet update: ${message}`);
}

/** Why `name` cannot be a class name or origin id, or undefined when it can. */
export function nameProblem(name: unknown, what: string): string | undefined {
  if (typeof name !== 'string' || name.trim() === '') return `${what} must be a non-empty string`;
  if (name.length > FLEET_LIMITS.maxNameLength) return `${what} has ${name.length} characters, at most ${FLEET_LIMITS.maxNameLength} are accepted`;
  // Control characters make log lines and topics lie about what they name.
  // eslint-disable-next-line no-control-regex -- control characters are what this refuses
  if (/[\u0000-\u001f\u007f]/.test(name)) return `${what} contains control characters`;
  return undefined;
}

/** The header fields of an update: everything but the sums, as carried in the payload's JSON header. */
export type FleetHeader = Omit<FleetUpdate, 'sums'>;

/** A received payload split into its parts; the sums are decoded only once the header passed every check. */
export interface FleetPayload {
  header: FleetHeader;
  scheme: SignatureScheme;
  /** Bytes the signature covers (everything before it). */
  signed: Buffer;
  signature: Buffer;
  /** Offset of the float32 sums in `signed`. */
  sumsOffset: number;
}

/**
 * The payload bytes of an update, without a signature: an 8-byte preamble, the header as canonical
 * JSON, then every layer's sum as little-endian float32. A 3 x 1000-unit update is 12 kB (the same
 * numbers as JSON text were 60 kB and took milliseconds to parse).
 */
export function encodeUpdate(update: FleetUpdate, scheme: SignatureScheme): Buffer {
  const { sums, ...header } = update;
  const headerBytes = Buffer.from(canonicalJson(header), 'utf8');
  if (headerBytes.length > FLEET_LIMITS.maxHeaderBytes) throw new Error(`fleet update header of ${headerBytes.length} bytes is too long`);
  const units = sums.reduce((n, s) => n + s.length, 0);
  const out = Buffer.allocUnsafe(PREAMBLE_BYTES + headerBytes.length + 4 * units);
  MAGIC.copy(out, 0);
  out[4] = scheme;
  out[5] = 0;
  out.writeUInt16LE(headerBytes.length, 6);
  headerBytes.copy(out, PREAMBLE_BYTES);
  let offset = PREAMBLE_BYTES + headerBytes.length;
  for (const s of sums) {
    if (LITTLE_ENDIAN) {
      const f = Float32Array.from(s);
      out.set(new Uint8Array(f.buffer), offset);
      offset += 4 * s.length;
    } else {
      for (let u = 0; u < s.length; u++, offset += 4) out.writeFloatLE(s[u], offset);
    }
  }
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

const HEADER_FIELDS = new Set(['format', 'origin', 'class', 'version', 'count', 'layers', 'model', 'session', 'sentAt']);

function checkHeader(u: Record<string, unknown>): FleetHeader {
  if (u.format !== FLEET_FORMAT) malformed(`format is ${JSON.stringify(u.format)}, expected '${FLEET_FORMAT}'`);
  const problem = nameProblem(u.origin, 'origin') ?? nameProblem(u.class, 'class');
  if (problem) malformed(problem);
  if (!Number.isSafeInteger(u.version) || (u.version as number) < 1) malformed('version must be a positive integer');
  if (!Number.isSafeInteger(u.count) || (u.count as number) < 1 || (u.count as number) > FLEET_LIMITS.maxCount) {
    malformed(`count must be an integer from 1 to ${FLEET_LIMITS.maxCount}`);
  }
  const layers = u.layers;
  if (
    !Array.isArray(layers) ||
    layers.length === 0 ||
    layers.length > FLEET_LIMITS.maxLayers ||
    layers.some((n) => !Number.isSafeInteger(n) || (n as number) < 1 || (n as number) > FLEET_LIMITS.maxUnits)
  ) {
    malformed(`layers must be 1-${FLEET_LIMITS.maxLayers} unit counts from 1 to ${FLEET_LIMITS.maxUnits}`);
  }
  if (typeof u.model !== 'string' || u.model === '' || u.model.length > 256) {
    malformed('model (the fingerprint of the weights it was taught on) must be given: updates without it are refused');
  }
  if (u.session !== undefined && (typeof u.session !== 'string' || u.session.length > 64)) malformed('session must be a string of at most 64 characters');
  if (u.sentAt !== undefined && (typeof u.sentAt !== 'number' || !Number.isFinite(u.sentAt))) malformed('sentAt must be a number');
  const extra = Object.keys(u).filter((k) => !HEADER_FIELDS.has(k));
  // Unknown fields are refused rather than ignored: they would be signed but silently dropped when merging.
  if (extra.length) malformed(`unknown field(s) ${extra.slice(0, 5).join(', ')}`);
  return u as unknown as FleetHeader;
}

/** Splits and checks a received payload (header, sizes); throws FleetRejection('malformed'). */
export function readPayload(payload: Buffer): FleetPayload {
  if (!Buffer.isBuffer(payload)) malformed('expected bytes');
  if (payload.length > FLEET_LIMITS.maxUpdateBytes) malformed(`${payload.length} bytes is more than the ${FLEET_LIMITS.maxUpdateBytes} allowed`);
  if (payload.length < PREAMBLE_BYTES || !payload.subarray(0, 4).equals(MAGIC)) {
    malformed(`not an ${FLEET_FORMAT} payload (it must start with 'HFF2'; instances of older versions send JSON: update them)`);
  }
  const scheme = payload[4] as SignatureScheme;
  if (!(scheme in SIGNATURE_BYTES)) malformed(`unknown signature scheme ${scheme}`);
  const headerLength = payload.readUInt16LE(6);
  if (headerLength > FLEET_LIMITS.maxHeaderBytes || PREAMBLE_BYTES + headerLength > payload.length) malformed('header length out of range');
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload.toString('utf8', PREAMBLE_BYTES, PREAMBLE_BYTES + headerLength));
  } catch (err) {
    malformed(`header is not JSON (${(err as Error).message})`);
  }
  if (!isPlainObject(parsed)) malformed('header must be a JSON object');
  const header = checkHeader(parsed);
  const totalUnits = header.layers.reduce((a, b) => a + b, 0);
  if (totalUnits > FLEET_LIMITS.maxTotalUnits) malformed(`${totalUnits} units in all, at most ${FLEET_LIMITS.maxTotalUnits} are accepted`);
  const sumsOffset = PREAMBLE_BYTES + headerLength;
  const signatureBytes = SIGNATURE_BYTES[scheme];
  const expected = sumsOffset + 4 * totalUnits + signatureBytes;
  if (payload.length !== expected) malformed(`${payload.length} bytes, expected ${expected} for layers [${header.layers}]`);
  const end = payload.length - signatureBytes;
  return { header, scheme, signed: payload.subarray(0, end), signature: payload.subarray(end), sumsOffset };
}

/**
 * The sums of a checked payload, refused unless they are what a real update can be: finite, and
 * every layer's sum no longer than its count (a sum of `count` unit vectors cannot be longer).
 */
export function decodeUpdate(p: FleetPayload): FleetUpdate {
  const { header, signed } = p;
  let offset = p.sumsOffset;
  const sums = header.layers.map((units, l) => {
    const s = new Float32Array(units);
    if (LITTLE_ENDIAN) new Uint8Array(s.buffer).set(signed.subarray(offset, offset + 4 * units));
    else for (let u = 0; u < units; u++) s[u] = signed.readFloatLE(offset + 4 * u);
    offset += 4 * units;
    let norm2 = 0;
    for (let u = 0; u < units; u++) {
      const v = s[u];
      if (!Number.isFinite(v)) {
        throw new FleetRejection(
          'implausible',
          `update for class '${header.class}' from '${header.origin}': layer ${l} holds a value that is not a finite number`,
        );
      }
      norm2 += v * v;
    }
    const norm = Math.sqrt(norm2);
    // float32 rounding of a sum of unit vectors stays far below this slack.
    if (norm > header.count * (1 + 1e-3) + 1e-3) {
      throw new FleetRejection(
        'implausible',
        `update for class '${header.class}' from '${header.origin}': layer ${l}'s sum has length ${norm.toPrecision(4)} but a sum of ${header.count} unit vectors is at most ${header.count} long`,
      );
    }
    return s;
  });
  return { ...header, sums };
}

/** Parses and checks a whole unsigned-or-signed payload without verifying a signature (tests, tools). */
export function parseUpdate(payload: Buffer): FleetUpdate {
  return decodeUpdate(readPayload(payload));
}
