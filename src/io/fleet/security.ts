import { createHmac, createPrivateKey, createPublicKey, generateKeyPairSync, sign, timingSafeEqual, verify, type KeyObject } from 'node:crypto';
import { encodeUpdate, FleetRejection, nameProblem, SIGNATURE_BYTES, SignatureScheme, type FleetPayload, type FleetUpdate } from './format';

/**
 * How a fleet signs its updates:
 * - `keys`: every robot signs with its own Ed25519 private key; a receiver accepts an update only
 *   when the public key it trusts for the update's origin verifies it, so no robot can speak for
 *   another. The recommended mode.
 * - `secret`: one HMAC-SHA256 secret shared by every robot (small setups): it keeps out anyone
 *   without the secret, but any holder of the secret can sign in the name of every robot.
 * - `unsigned`: nothing is checked; any client of the broker can change classes. Only for a broker
 *   nobody else can reach, chosen knowingly (it shows as a warning).
 */
export type FleetSecurity =
  | {
      mode: 'keys';
      /** This robot's Ed25519 private key (PEM, or a KeyObject). */
      privateKey: string | KeyObject;
      /** Origins whose updates are accepted, with their public keys: a map, or allow-list text (see parseAllowList). */
      trusted: ReadonlyMap<string, string | KeyObject> | string;
    }
  | { mode: 'secret'; secret: string }
  | { mode: 'unsigned' };

export type FleetSecurityMode = FleetSecurity['mode'];

const KEY_PREFIX = 'ed25519:';

/** A new Ed25519 key pair: the private key as PEM (keep it secret) and the public key as `ed25519:<base64>`. */
export function generateFleetKeyPair(): { privateKey: string; publicKey: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), publicKey: publicKeyText(publicKey) };
}

/** `ed25519:<base64 of the 32 raw bytes>`: the form an allow-list line starts with. */
export function publicKeyText(key: KeyObject | string): string {
  const object = typeof key === 'string' ? createPublicKey(key) : key.type === 'private' ? createPublicKey(key) : key;
  const jwk = object.export({ format: 'jwk' }) as { crv?: string; x?: string };
  if (jwk.crv !== 'Ed25519' || !jwk.x) throw new Error('fleet keys must be Ed25519 keys');
  return KEY_PREFIX + Buffer.from(jwk.x, 'base64url').toString('base64');
}

/** Reads `ed25519:<base64>` (or a PEM public key) into a key object; the error says what is accepted. */
export function readPublicKey(text: string, where = 'public key'): KeyObject {
  const t = text.trim();
  if (t.startsWith('-----BEGIN')) {
    const key = createPublicKey(t);
    if (key.asymmetricKeyType !== 'ed25519') throw new Error(`${where} is a ${key.asymmetricKeyType} key, only Ed25519 keys are accepted`);
    return key;
  }
  const raw = t.startsWith(KEY_PREFIX) ? Buffer.from(t.slice(KEY_PREFIX.length), 'base64') : Buffer.alloc(0);
  if (raw.length !== 32) throw new Error(`${where} must be 'ed25519:' followed by the base64 of 32 bytes, got '${t.slice(0, 60)}'`);
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
}

function readPrivateKey(key: string | KeyObject): KeyObject {
  let object: KeyObject;
  try {
    object = typeof key === 'string' ? createPrivateKey(key) : key;
  } catch (err) {
    throw new Error(`the fleet private key is not a PEM private key (${(err as Error).message})`);
  }
  if (object.type !== 'private' || object.asymmetricKeyType !== 'ed25519') throw new Error('the fleet private key must be an Ed25519 private key');
  return object;
}

/**
 * The allow-list of robots: one line per robot, `ed25519:<base64 public key> <origin id>` (the form
 * a robot logs for itself); blank lines and lines starting with '#' are ignored.
 */
export function parseAllowList(text: string): Map<string, KeyObject> {
  const out = new Map<string, KeyObject>();
  String(text)
    .split(/\r?\n/)
    .forEach((line, i) => {
      const t = line.trim();
      if (t === '' || t.startsWith('#')) return;
      const space = t.search(/\s/);
      if (space < 0) throw new Error(`allow-list line ${i + 1}: expected 'ed25519:<base64 public key> <origin id>', got '${t.slice(0, 60)}'`);
      const origin = t.slice(space).trim();
      const problem = nameProblem(origin, 'the origin id');
      if (problem) throw new Error(`allow-list line ${i + 1}: ${problem}`);
      if (out.has(origin)) throw new Error(`allow-list line ${i + 1}: origin '${origin}' is listed twice`);
      out.set(origin, readPublicKey(t.slice(0, space), `allow-list line ${i + 1}`));
    });
  return out;
}

/** Signs this robot's updates and checks everyone's, in one of the FleetSecurity modes. */
export class FleetSigner {
  readonly mode: FleetSecurityMode;
  readonly scheme: SignatureScheme;
  /** This robot's public key line for other robots' allow-lists (keys mode). */
  readonly publicKey: string | undefined;
  readonly #secret: string | undefined;
  readonly #privateKey: KeyObject | undefined;
  readonly #trusted = new Map<string, KeyObject>();

  constructor(security: FleetSecurity, origin: string) {
    if (!security || typeof security !== 'object') {
      throw new Error(
        "fleet sync needs security: { mode: 'keys', privateKey, trusted }, { mode: 'secret', secret } or { mode: 'unsigned' } (chosen knowingly)",
      );
    }
    this.mode = security.mode;
    if (security.mode === 'keys') {
      this.scheme = SignatureScheme.Ed25519;
      this.#privateKey = readPrivateKey(security.privateKey);
      this.publicKey = publicKeyText(this.#privateKey);
      const trusted = typeof security.trusted === 'string' ? parseAllowList(security.trusted) : security.trusted;
      for (const [o, key] of trusted ?? []) this.#trusted.set(o, typeof key === 'string' ? readPublicKey(key, `public key of '${o}'`) : key);
      // A robot always trusts itself: its retained updates come back after a restart.
      this.#trusted.set(origin, createPublicKey(this.#privateKey));
    } else if (security.mode === 'secret') {
      if (typeof security.secret !== 'string' || security.secret === '') throw new Error('the fleet shared secret must be a non-empty string');
      this.scheme = SignatureScheme.HmacSha256;
      this.#secret = security.secret;
    } else if (security.mode === 'unsigned') {
      this.scheme = SignatureScheme.None;
    } else {
      throw new Error(`unknown fleet security mode '${(security as { mode: unknown }).mode}': use keys, secret or unsigned`);
    }
  }

  /** Origins accepted in keys mode (this robot included). */
  get trustedOrigins(): string[] {
    return [...this.#trusted.keys()].sort();
  }

  /** What a user should know about this mode, or undefined when nothing is wrong. */
  get warning(): string | undefined {
    if (this.mode === 'unsigned') return 'fleet UNSIGNED: any client of the broker can change classes';
    if (this.mode === 'keys' && this.#trusted.size <= 1) return 'fleet: no other robot in the allow-list, nothing is received';
    return undefined;
  }

  /** A short description for logs and status. */
  get description(): string {
    if (this.mode === 'keys') return `Ed25519 keys, ${this.#trusted.size - 1} other robot(s) allowed`;
    if (this.mode === 'secret') return 'shared secret (HMAC-SHA256: every holder can sign for every robot)';
    return 'UNSIGNED';
  }

  /** The payload of `update` as this signer publishes it: encodeUpdate's bytes followed by their signature. */
  encode(update: FleetUpdate): Buffer {
    const body = encodeUpdate(update, this.scheme);
    return Buffer.concat([body, this.sign(body)]);
  }

  /** The signature of `body` (encodeUpdate's bytes) to append to it. */
  sign(body: Buffer): Buffer {
    if (this.scheme === SignatureScheme.Ed25519) return sign(null, body, this.#privateKey as KeyObject);
    if (this.scheme === SignatureScheme.HmacSha256)
      return createHmac('sha256', this.#secret as string)
        .update(body)
        .digest();
    return Buffer.alloc(0);
  }

  /** Throws a FleetRejection unless the payload is signed the way this fleet requires, by its origin. */
  verify(p: FleetPayload): void {
    const { origin, class: label } = p.header;
    const what = `update for class '${label}' from '${origin}'`;
    if (this.mode === 'unsigned') return;
    if (p.scheme === SignatureScheme.None) throw new FleetRejection('unsigned', `unsigned ${what} (this fleet requires signatures)`);
    if (p.scheme !== this.scheme) {
      const kind = p.scheme === SignatureScheme.Ed25519 ? 'a robot key' : 'a shared secret';
      throw new FleetRejection('bad-signature', `${what} is signed with ${kind}, this fleet uses ${this.mode === 'keys' ? 'robot keys' : 'a shared secret'}`);
    }
    if (p.signature.length !== SIGNATURE_BYTES[p.scheme]) throw new FleetRejection('bad-signature', `${what} has a truncated signature`);
    if (this.mode === 'keys') {
      const key = this.#trusted.get(origin);
      if (!key) throw new FleetRejection('unknown-signer', `${what}: '${origin}' is not in this robot's allow-list of public keys`);
      if (!verify(null, p.signed, key, p.signature)) {
        throw new FleetRejection('bad-signature', `${what} is not signed by the key allowed for '${origin}' (forged or tampered)`);
      }
      return;
    }
    const expected = createHmac('sha256', this.#secret as string)
      .update(p.signed)
      .digest();
    if (!timingSafeEqual(expected, p.signature)) {
      throw new FleetRejection('bad-signature', `${what} has an invalid signature (tampered, or signed with another secret)`);
    }
  }
}
