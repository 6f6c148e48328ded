import assert from 'node:assert/strict';
import { createEngine } from '../../src/engines/backend';
import type { Engine } from '../../src/engines/types';
import { HffNetwork } from '../../src/hff';
import type { ModelFiles } from '../../src/model-file';
import {
  FLEET_FORMAT,
  FleetRejection,
  FleetSigner,
  FleetState,
  NetworkFleetTarget,
  SignatureScheme,
  canonicalJson,
  encodeUpdate,
  generateFleetKeyPair,
  modelFingerprint,
  parseAllowList,
  parseUpdate,
  parseUpdateTopic,
  readPayload,
  decodeUpdate,
  updateTopic,
  validateTopicBase,
  type FleetSecurity,
  type FleetUpdate,
} from '../../src/io/fleet';

const LAYERS = [4, 3];

function unit(values: number[]): number[] {
  const n = Math.sqrt(values.reduce((s, v) => s + v * v, 0));
  return values.map((v) => v / n);
}

/** An update whose sums are the sums of `demos` unit vectors derived from `seed`. */
function update(origin: string, label: string, version: number, demos: number, seed: number): FleetUpdate {
  const sums = LAYERS.map((units, l) => {
    const s = new Array<number>(units).fill(0);
    for (let d = 0; d < demos; d++) {
      const v = unit(Array.from({ length: units }, (_, u) => Math.sin(seed * 7.13 + d * 3.7 + u * 1.31 + l) + 0.1));
      v.forEach((x, u) => (s[u] += x));
    }
    return s;
  });
  return {
    format: FLEET_FORMAT,
    origin,
    class: label,
    version,
    count: demos,
    layers: [...LAYERS],
    sums: sums.map((x) => Float32Array.from(x)),
    model: MODEL,
    session: `s-${origin}`,
    sentAt: 1_700_000_000_000 + version,
  };
}

const MODEL = 'sha256:test';
const STAMP = { model: MODEL };

/** The bytes a robot with `security` publishes for `u`. */
function wire(u: FleetUpdate, security: FleetSecurity, origin = u.origin): Buffer {
  return new FleetSigner(security, origin).encode(u);
}

/** The rejection reason of `f`, or 'accepted'. */
function reason(f: () => unknown): string {
  try {
    f();
  } catch (err) {
    assert.ok(err instanceof FleetRejection, String(err));
    return err.reason;
  }
  return 'accepted';
}

/** Model files as saved and loaded: the manifest goes through JSON. */
function jsonRoundTrip(files: ModelFiles): ModelFiles {
  return { manifest: JSON.parse(JSON.stringify(files.manifest)) as Record<string, unknown>, tensors: files.tensors };
}

function permutations<T>(items: T[]): T[][] {
  if (items.length <= 1) return [items];
  return items.flatMap((item, i) => permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]));
}

function bytesOf(sums: Float64Array[]): string {
  return sums.map((s) => Buffer.from(s.buffer, s.byteOffset, s.byteLength).toString('hex')).join('|');
}

describe('io/fleet: class updates, merge and signatures', () => {
  it('serialises canonically: sorted keys at every level, no whitespace, refuses NaN', () => {
    assert.equal(canonicalJson({ b: 1, a: { d: [1, 2.5], c: 'x' }, e: undefined }), '{"a":{"c":"x","d":[1,2.5]},"b":1}');
    assert.equal(canonicalJson({ a: 1, b: 2 }), canonicalJson({ b: 2, a: 1 }));
    assert.throws(() => canonicalJson({ a: NaN }), /non-finite/);
  });

  it('merges order-independently: every arrival order of the same updates gives bit-identical sums', () => {
    const updates = [
      update('robot-a', 'bolt', 1, 2, 1),
      update('robot-a', 'bolt', 2, 5, 2), // supersedes version 1
      update('robot-b', 'bolt', 1, 3, 3),
      update('robot-c', 'bolt', 4, 1, 4),
      update('robot-b', 'bolt', 1, 3, 3), // duplicate delivery
    ];
    let reference: { bytes: string; count: number; origins: string[] } | undefined;
    const orders = permutations(updates);
    assert.equal(orders.length, 120);
    for (const order of orders) {
      const state = new FleetState(LAYERS);
      for (const u of order) state.offer(u);
      const merged = state.merged('bolt');
      assert.ok(merged);
      const got = { bytes: bytesOf(merged.sums), count: merged.count, origins: merged.origins };
      if (!reference) reference = got;
      else assert.deepEqual(got, reference);
    }
    assert.equal(reference?.count, 5 + 3 + 1, 'count = Σ counts of the latest version per origin');
    assert.deepEqual(reference?.origins, ['robot-a', 'robot-b', 'robot-c']);
  });

  it('is idempotent: the same update again is a duplicate, an older version is stale, neither changes the merge', () => {
    const state = new FleetState(LAYERS);
    const v2 = update('robot-a', 'nut', 2, 4, 5);
    assert.equal(state.offer(v2), 'applied');
    const before = bytesOf((state.merged('nut') as { sums: Float64Array[] }).sums);
    assert.equal(state.offer({ ...v2 }), 'duplicate');
    assert.equal(state.offer(parseUpdate(encodeUpdate(v2, SignatureScheme.None))), 'duplicate', 'a round trip through the wire is the same update');
    assert.equal(state.offer(update('robot-a', 'nut', 1, 9, 6)), 'stale');
    assert.equal(bytesOf((state.merged('nut') as { sums: Float64Array[] }).sums), before);
    assert.equal(state.merged('nut')?.count, 4);
  });

  it('resolves two different updates with the same version the same way in any order', () => {
    const x = update('robot-a', 'gear', 3, 2, 7);
    const y = update('robot-a', 'gear', 3, 2, 8);
    const s1 = new FleetState(LAYERS);
    s1.offer(x);
    s1.offer(y);
    const s2 = new FleetState(LAYERS);
    s2.offer(y);
    s2.offer(x);
    assert.equal(bytesOf((s1.merged('gear') as { sums: Float64Array[] }).sums), bytesOf((s2.merged('gear') as { sums: Float64Array[] }).sums));
  });

  it('is a count-weighted mean: the merged direction equals the mean of every demonstration fleet-wide', () => {
    const state = new FleetState([3]);
    const demosA = [unit([1, 0, 0]), unit([1, 1, 0])];
    const demosB = [unit([0, 0, 1])];
    const sum = (vs: number[][]) => vs.reduce((acc, v) => acc.map((x, i) => x + v[i]), [0, 0, 0]);
    state.addLocal('a', 'cup', [sum(demosA)], 2, STAMP);
    state.offer({ format: FLEET_FORMAT, origin: 'b', class: 'cup', version: 1, count: 1, layers: [3], sums: [Float32Array.from(sum(demosB))], model: MODEL });
    const merged = state.merged('cup');
    const expected = unit(sum([...demosA, ...demosB]));
    const got = unit(Array.from(merged?.sums[0] ?? []));
    got.forEach((v, i) => assert.ok(Math.abs(v - expected[i]) < 1e-6));
    assert.equal(merged?.count, 3);
  });

  it('accumulates local teaching into one contribution with increasing versions', () => {
    const state = new FleetState([2]);
    const first = state.addLocal('me', 'cup', [[1, 0]], 1, { ...STAMP, session: 's1' });
    const second = state.addLocal('me', 'cup', [Float32Array.from([0, 2])], 2, { ...STAMP, session: 's1' });
    assert.equal(first.version, 1);
    assert.equal(second.version, 2);
    assert.deepEqual(
      second.sums.map((s) => Array.from(s)),
      [[1, 2]],
    );
    assert.equal(second.count, 3);
    assert.throws(() => state.addLocal('me', 'cup', [[1, 2, 3]], 1, STAMP), /length 2/);
    assert.throws(() => state.addLocal('me', 'x'.repeat(10_000), [[1, 0]], 1, STAMP), /at most 128/);
    const previous = { ...update('me', 'cup', 5, 1, 1), layers: [2], sums: [Float32Array.from([10, 10])] };
    const combined = state.absorbPrevious(previous, { ...STAMP, session: 's2' });
    assert.equal(combined.version, 7);
    assert.equal(combined.count, 4);
    assert.deepEqual(
      combined.sums.map((s) => Array.from(s)),
      [[11, 12]],
    );
  });

  it('rejects updates for another architecture as incompatible', () => {
    const state = new FleetState([5]);
    assert.throws(
      () => state.offer(update('a', 'x', 1, 1, 1)),
      (e: unknown) => e instanceof FleetRejection && e.reason === 'incompatible',
    );
  });

  it('keys mode: each robot signs with its own Ed25519 key; another robot, an unknown one or a tamperer cannot pass', () => {
    const a = generateFleetKeyPair();
    const b = generateFleetKeyPair();
    const intruder = generateFleetKeyPair();
    assert.match(a.publicKey, /^ed25519:[A-Za-z0-9+/]{43}=$/);
    const trusted = parseAllowList(`# the fleet\n${a.publicKey} robot-a\n\n${b.publicKey} robot-b\n`);
    const receiver = new FleetSigner({ mode: 'keys', privateKey: generateFleetKeyPair().privateKey, trusted }, 'robot-c');
    assert.deepEqual(receiver.trustedOrigins, ['robot-a', 'robot-b', 'robot-c']);
    const u = update('robot-a', 'bolt', 1, 2, 1);
    const check = (bytes: Buffer) => reason(() => receiver.verify(readPayload(bytes)));
    assert.equal(check(wire(u, { mode: 'keys', privateKey: a.privateKey, trusted: new Map() })), 'accepted');
    // robot-b holds a valid key of the fleet, but not robot-a's: it cannot speak for robot-a.
    assert.equal(check(wire(u, { mode: 'keys', privateKey: b.privateKey, trusted: new Map() }, 'robot-b')), 'bad-signature');
    assert.equal(check(wire({ ...u, origin: 'robot-x' }, { mode: 'keys', privateKey: intruder.privateKey, trusted: new Map() })), 'unknown-signer');
    const tampered = wire(u, { mode: 'keys', privateKey: a.privateKey, trusted: new Map() });
    tampered[tampered.length - 70] ^= 1; // a bit of the last sum
    assert.equal(check(tampered), 'bad-signature');
    assert.equal(check(wire(u, { mode: 'unsigned' })), 'unsigned');
    assert.equal(check(wire(u, { mode: 'secret', secret: 'k' })), 'bad-signature');
    assert.throws(() => parseAllowList('ed25519:AAAA robot-a'), /base64 of 32 bytes/);
    assert.throws(() => parseAllowList(`${a.publicKey} r\n${b.publicKey} r`), /listed twice/);
    assert.throws(() => parseAllowList(a.publicKey), /expected 'ed25519/);
  });

  it('secret mode (HMAC-SHA256, small setups) and an unsigned fleet only by choice, with a warning', () => {
    const receiver = new FleetSigner({ mode: 'secret', secret: 'correct horse' }, 'me');
    const u = update('robot-a', 'bolt', 1, 2, 1);
    const check = (bytes: Buffer) => reason(() => receiver.verify(readPayload(bytes)));
    assert.equal(check(wire(u, { mode: 'secret', secret: 'correct horse' })), 'accepted');
    assert.equal(check(wire(u, { mode: 'secret', secret: 'another' })), 'bad-signature');
    assert.equal(check(wire(u, { mode: 'unsigned' })), 'unsigned');
    const tampered = wire(u, { mode: 'secret', secret: 'correct horse' });
    tampered[tampered.length - 40] ^= 1;
    assert.equal(check(tampered), 'bad-signature');
    assert.match(receiver.description, /every holder can sign for every robot/);
    assert.equal(receiver.warning, undefined);
    const open = new FleetSigner({ mode: 'unsigned' }, 'me');
    assert.match(open.warning ?? '', /UNSIGNED/);
    assert.throws(() => new FleetSigner(undefined as unknown as FleetSecurity, 'me'), /chosen knowingly/);
    assert.match(new FleetSigner({ mode: 'keys', privateKey: generateFleetKeyPair().privateKey, trusted: '' }, 'me').warning ?? '', /allow-list/);
  });

  it('encodes updates compactly as float32 and refuses malformed payloads with a reason naming the problem', () => {
    const good = update('a', 'x', 1, 1, 1);
    const bytes = encodeUpdate(good, SignatureScheme.None);
    assert.ok(bytes.length < 8 + 200 + 4 * 7, `${bytes.length} bytes`);
    const back = parseUpdate(bytes);
    assert.deepEqual({ ...back, sums: back.sums.map((s) => Array.from(s)) }, { ...good, sums: good.sums.map((s) => Array.from(s)) });
    const header = (patch: Record<string, unknown>) => {
      const { sums, ...h } = good;
      const json = Buffer.from(JSON.stringify({ ...h, ...patch }));
      const pre = Buffer.alloc(8);
      bytes.copy(pre, 0, 0, 6);
      pre.writeUInt16LE(json.length, 6);
      return Buffer.concat([pre, json, Buffer.from(new Float32Array(sums.flatMap((s) => Array.from(s))).buffer)]);
    };
    const bad: Array<[Buffer, RegExp]> = [
      [Buffer.from('{"format":"hff-fleet/1"}'), /older versions send JSON/],
      [bytes.subarray(0, bytes.length - 4), /expected/],
      [header({ format: 'other/1' }), /format/],
      [header({ version: 0 }), /version/],
      [header({ count: 0 }), /count/],
      [header({ model: undefined }), /model .* must be given/],
      [header({ class: 'x'.repeat(5000) }), /header length out of range/],
      [header({ class: 'y'.repeat(200) }), /at most 128/],
      [header({ class: 'a\u0000b' }), /control characters/],
      [header({ layers: [4, 3, 1] }), /expected/],
      [header({ extra: 1 }), /unknown field/],
      [header({ origin: '' }), /origin/],
    ];
    for (const [payload, pattern] of bad) {
      assert.throws(
        () => parseUpdate(payload),
        (e: unknown) => e instanceof FleetRejection && e.reason === 'malformed' && pattern.test(e.message),
        `${pattern}`,
      );
    }
  });

  it('refuses sums no real update can have: non-finite, or longer than a sum of `count` unit vectors', () => {
    const good = update('a', 'x', 1, 3, 1);
    assert.equal(
      reason(() => parseUpdate(encodeUpdate(good, SignatureScheme.None))),
      'accepted',
    );
    const huge = { ...good, count: 1, sums: [Float32Array.from([1e30, 0, 0, 0]), good.sums[1]] };
    assert.equal(
      reason(() => parseUpdate(encodeUpdate(huge, SignatureScheme.None))),
      'implausible',
    );
    const long = { ...good, count: 1, sums: [Float32Array.from([0.8, 0.8, 0, 0]), good.sums[1]] };
    assert.match(
      String(
        (() => {
          try {
            parseUpdate(encodeUpdate(long, SignatureScheme.None));
          } catch (e) {
            return (e as Error).message;
          }
        })(),
      ),
      /length 1.131 but a sum of 1 unit vectors is at most 1 long/,
    );
    const nan = { ...good, sums: [Float32Array.from([NaN, 0, 0, 0]), good.sums[1]] };
    assert.equal(
      reason(() => parseUpdate(encodeUpdate(nan, SignatureScheme.None))),
      'implausible',
    );
    const inf = { ...good, sums: [good.sums[0], Float32Array.from([Infinity, 0, 0])] };
    assert.equal(
      reason(() => decodeUpdate(readPayload(encodeUpdate(inf, SignatureScheme.None)))),
      'implausible',
    );
  });

  it('refuses replays of versions older than one accepted before, also after a restart (seen versions kept)', () => {
    const first = new FleetState(LAYERS);
    assert.equal(first.offer(update('robot-a', 'sandal', 2, 6, 1)), 'applied');
    assert.equal(first.offer(update('robot-a', 'sandal', 1, 3, 2)), 'stale', 'an older copy while v2 is held changes nothing');
    const saved = JSON.parse(JSON.stringify(first.seenVersions()));
    assert.deepEqual(saved, { sandal: { 'robot-a': 2 } });
    // The restarted instance holds no contribution yet; the broker re-delivers a replayed version 1.
    const restarted = new FleetState(LAYERS, { seen: saved });
    assert.equal(
      reason(() => restarted.offer(update('robot-a', 'sandal', 1, 3, 2))),
      'replay',
    );
    assert.equal(restarted.merged('sandal'), undefined);
    assert.equal(restarted.offer(update('robot-a', 'sandal', 2, 6, 1)), 'applied', 'the genuine latest version is accepted again');
    // Own local teaching continues above what the previous run published.
    assert.equal(new FleetState(LAYERS, { seen: { cup: { me: 7 } } }).addLocal('me', 'cup', update('me', 'cup', 1, 1, 1).sums, 1, STAMP).version, 8);
  });

  it('bounds the classes and contributions it holds', () => {
    const state = new FleetState(LAYERS, { maxClasses: 3, maxContributions: 4 });
    for (let c = 0; c < 3; c++) assert.equal(state.offer(update('robot-a', `part-${c}`, 1, 1, c)), 'applied');
    assert.equal(
      reason(() => state.offer(update('robot-a', 'part-3', 1, 1, 3))),
      'limit',
    );
    assert.equal(state.offer(update('robot-b', 'part-0', 1, 1, 9)), 'applied');
    assert.equal(
      reason(() => state.offer(update('robot-c', 'part-0', 1, 1, 9))),
      'limit',
    );
    assert.equal(state.offer(update('robot-a', 'part-0', 2, 2, 9)), 'applied', 'a newer version of a held contribution always fits');
    assert.deepEqual(state.classes(), ['part-0', 'part-1', 'part-2']);
  });

  it('encodes origins and class names as single topic levels', () => {
    const names = ['bolt', 'red/blue', 'a+b#c', 'Schraube M8 ü', '100%', '$sys'];
    for (const name of names) {
      const topic = updateTopic('hff/fleet', 'host-1/model', name);
      assert.equal(topic.split('/').length, 4, topic);
      assert.ok(!/[+#]/.test(topic.slice('hff/fleet/'.length)));
      assert.deepEqual(parseUpdateTopic('hff/fleet', topic), { origin: 'host-1/model', label: name });
    }
    assert.equal(parseUpdateTopic('hff/fleet', 'hff/fleet/only-one'), undefined);
    assert.equal(parseUpdateTopic('hff/fleet', 'other/a/b'), undefined);
    assert.throws(() => validateTopicBase('hff/#'), /must not contain/);
    assert.throws(() => validateTopicBase('/hff'), /must not start/);
    assert.throws(() => validateTopicBase('$SYS/x'), /reserved/);
  });

  describe('applied to HffNetwork', function () {
    this.timeout(30000);
    let engine: Engine;
    before(async () => {
      engine = await createEngine(process.env.HFF_BACKEND ?? 'wasm');
    });

    const make = (seed = 11, classes: string[] = []): HffNetwork => HffNetwork.create(engine, { inputSize: 6, layers: [12, 8], seed }, classes);

    function examples(center: number[], n: number, jitter: number): Float32Array {
      const out = new Float32Array(n * center.length);
      for (let i = 0; i < n; i++) center.forEach((c, j) => (out[i * center.length + j] = c + jitter * Math.sin(i * 5.3 + j * 2.1)));
      return out;
    }

    it('fingerprints the weights: same seed same fingerprint, other seed or architecture differ', () => {
      const a = make(11);
      const b = make(11);
      const c = make(12);
      try {
        b.teach('x', examples([1, 0, 0, 0, 0, 0], 2, 0.1), 2);
        assert.equal(modelFingerprint(a), modelFingerprint(b), 'classes and prototypes do not matter');
        assert.notEqual(modelFingerprint(a), modelFingerprint(c));
      } finally {
        [a, b, c].forEach((n) => n.dispose());
      }
    });

    it('a class taught on one network is recognised by another through the merged state', () => {
      const a = make();
      const b = make();
      try {
        const cube = [1, 0.2, 0, 0.5, 0, 0.1];
        const ball = [0, 0.3, 1, 0, 0.8, 0];
        const stateA = new FleetState(a.config.layers);
        const stateB = new FleetState(b.config.layers);
        const targetB = new NetworkFleetTarget(b);
        for (const [label, center] of [
          ['cube', cube],
          ['ball', ball],
        ] as const) {
          const r = a.teach(label, examples([...center], 3, 0.05), 3);
          const u = stateA.addLocal('A', label, r.sums, r.applied, STAMP);
          stateB.offer(parseUpdate(encodeUpdate(u, SignatureScheme.None)));
          targetB.apply(stateB.merged(label) as NonNullable<ReturnType<FleetState['merged']>>, stateB.seenVersions());
        }
        assert.deepEqual([...b.classes].sort(), ['ball', 'cube']);
        const probe = examples(cube, 1, 0.1);
        assert.equal(b.predict(probe, 1)[0].label, 'cube');
        assert.equal(b.predict(examples(ball, 1, 0.1), 1)[0].label, 'ball');
        // B's prototypes equal A's (mean-mode teaching is the same count-weighted mean).
        const pa = a.readPrototypes();
        const pb = b.readPrototypes();
        const ia = a.classes.indexOf('cube');
        const ib = b.classes.indexOf('cube');
        for (let l = 0; l < pa.length; l++) {
          const units = a.config.layers[l];
          for (let u = 0; u < units; u++) assert.ok(Math.abs(pa[l][ia * units + u] - pb[l][ib * units + u]) < 1e-5);
        }
        assert.equal(b.counts[ib], 3);
      } finally {
        a.dispose();
        b.dispose();
      }
    });

    it('refuses remote changes to trained classes unless allowed, and keeps accepted versions with the saved model', () => {
      const trained = make(21, ['sandal', 'boot']);
      const x = examples([0.5, 0.1, 0.9, 0, 0.3, 0.2], 4, 0.2);
      trained.trainBatch(x, 4, Int32Array.from([0, 1, 0, 1]));
      assert.ok(trained.counts[0] > 0);
      const target = new NetworkFleetTarget(trained);
      assert.match(target.protection('sandal') ?? '', /was trained on this model/);
      assert.equal(target.protection('new-part'), undefined);
      assert.equal(new NetworkFleetTarget(trained, { allowTrainedUpdates: true }).protection('sandal'), undefined);
      // Apply a fleet class: the accepted versions go into the model's metadata and come back on load.
      const state = new FleetState(trained.config.layers);
      const other = make(21);
      const r = other.teach('washer', examples([0, 1, 0, 0.2, 0, 0.5], 2, 0.05), 2);
      other.dispose();
      state.addLocal('robot-b', 'washer', r.sums, r.applied, STAMP);
      target.apply(state.merged('washer') as NonNullable<ReturnType<FleetState['merged']>>, state.seenVersions());
      const reloaded = HffNetwork.fromModelFiles(engine, jsonRoundTrip(trained.toModelFiles()));
      try {
        const again = new NetworkFleetTarget(reloaded);
        assert.deepEqual(again.seen, { washer: { 'robot-b': 1 } });
        assert.equal(again.protection('washer'), undefined, 'a class made by the fleet is not a trained class');
        assert.deepEqual(
          again
            .baseClasses()
            .map((b) => b.label)
            .sort(),
          ['boot', 'sandal'],
          "the fleet's class is not counted twice as a base",
        );
      } finally {
        reloaded.dispose();
        trained.dispose();
      }
    });

    it('keeps a loaded class in the merge, weighted by its count (teaching refines it like local mean teaching)', () => {
      const a = make(13);
      const b = make(13);
      try {
        const center = [0.3, 0.9, 0.1, 0, 0.4, 0.2];
        a.teach('plate', examples(center, 4, 0.05), 4);
        b.teach('plate', examples(center, 4, 0.05), 4);
        const targetB = new NetworkFleetTarget(b); // b loaded with 'plate' known from 4 demonstrations
        assert.deepEqual(targetB.baseClasses(), [{ label: 'plate', count: 4 }]);
        const more = examples([0.35, 0.8, 0.2, 0.1, 0.4, 0.1], 2, 0.05);
        const r = a.teach('plate', more, 2); // a: local mean teaching
        const state = new FleetState(b.config.layers);
        state.addLocal('A', 'plate', r.sums, r.applied, STAMP);
        targetB.apply(state.merged('plate') as NonNullable<ReturnType<FleetState['merged']>>, state.seenVersions());
        const pa = a.readPrototypes();
        const pb = b.readPrototypes();
        for (let l = 0; l < pa.length; l++) {
          for (let u = 0; u < pa[l].length; u++) assert.ok(Math.abs(pa[l][u] - pb[l][u]) < 1e-5, `layer ${l} unit ${u}`);
        }
        assert.equal(b.counts[0], 6);
        // b restarts from its saved model: the retained contribution comes back and the merge is the same,
        // the loaded 4 demonstrations neither lost nor counted twice.
        const restarted = HffNetwork.fromModelFiles(engine, jsonRoundTrip(b.toModelFiles()));
        try {
          const again = new NetworkFleetTarget(restarted);
          assert.deepEqual(again.baseClasses(), [{ label: 'plate', count: 4 }]);
          const afterRestart = new FleetState(restarted.config.layers, { seen: again.seen });
          afterRestart.offer(state.contribution('plate', 'A') as FleetUpdate);
          again.apply(afterRestart.merged('plate') as NonNullable<ReturnType<FleetState['merged']>>, afterRestart.seenVersions());
          const pr = restarted.readPrototypes();
          for (let l = 0; l < pb.length; l++) {
            for (let u = 0; u < pb[l].length; u++) assert.ok(Math.abs(pr[l][u] - pb[l][u]) < 1e-6, `after restart: layer ${l} unit ${u}`);
          }
          assert.equal(restarted.counts[0], 6);
        } finally {
          restarted.dispose();
        }
      } finally {
        a.dispose();
        b.dispose();
      }
    });
  });
});
