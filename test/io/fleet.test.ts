import assert from 'node:assert/strict';
import { createEngine } from '../../src/engines/backend';
import type { Engine } from '../../src/engines/types';
import { HffNetwork } from '../../src/hff';
import {
  FLEET_FORMAT,
  FleetRejection,
  FleetState,
  NetworkFleetTarget,
  canonicalJson,
  modelFingerprint,
  parseUpdate,
  parseUpdateTopic,
  serializeUpdate,
  signUpdate,
  updateTopic,
  validateTopicBase,
  verifyUpdate,
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
  return { format: FLEET_FORMAT, origin, class: label, version, count: demos, layers: [...LAYERS], sums, session: `s-${origin}`, sentAt: 1_700_000_000_000 + version };
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
    assert.equal(state.offer(JSON.parse(JSON.stringify(v2)) as FleetUpdate), 'duplicate', 'a JSON round trip is the same update');
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
    state.addLocal('a', 'cup', [sum(demosA)], 2);
    state.offer({ format: FLEET_FORMAT, origin: 'b', class: 'cup', version: 1, count: 1, layers: [3], sums: [sum(demosB)] });
    const merged = state.merged('cup');
    const expected = unit(sum([...demosA, ...demosB]));
    const got = unit(Array.from(merged?.sums[0] ?? []));
    got.forEach((v, i) => assert.ok(Math.abs(v - expected[i]) < 1e-12));
    assert.equal(merged?.count, 3);
  });

  it('accumulates local teaching into one contribution with increasing versions', () => {
    const state = new FleetState([2]);
    const first = state.addLocal('me', 'cup', [[1, 0]], 1, { session: 's1' });
    const second = state.addLocal('me', 'cup', [Float32Array.from([0, 2])], 2, { session: 's1' });
    assert.equal(first.version, 1);
    assert.equal(second.version, 2);
    assert.deepEqual(second.sums, [[1, 2]]);
    assert.equal(second.count, 3);
    assert.throws(() => state.addLocal('me', 'cup', [[1, 2, 3]], 1), /length 2/);
    const previous = { ...update('me', 'cup', 5, 1, 1), layers: [2], sums: [[10, 10]] };
    const combined = state.absorbPrevious(previous, { session: 's2' });
    assert.equal(combined.version, 7);
    assert.equal(combined.count, 4);
    assert.deepEqual(combined.sums, [[11, 12]]);
  });

  it('rejects updates for another architecture as incompatible', () => {
    const state = new FleetState([5]);
    assert.throws(() => state.offer(update('a', 'x', 1, 1, 1)), (e: unknown) => e instanceof FleetRejection && e.reason === 'incompatible');
  });

  it('signs with HMAC-SHA256 and rejects unsigned, tampered and wrongly keyed updates', () => {
    const secret = 'correct horse battery staple';
    const signed = signUpdate(update('robot-a', 'bolt', 1, 2, 1), secret);
    assert.match(signed.signature ?? '', /^hmac-sha256=[0-9a-f]{64}$/);
    verifyUpdate(signed, secret);
    // Key order on the wire does not matter: the signature covers the canonical form.
    const reordered = parseUpdate(JSON.stringify(Object.fromEntries(Object.entries(signed).reverse())));
    verifyUpdate(reordered, secret);
    verifyUpdate(parseUpdate(serializeUpdate(signed)), secret);

    const reason = (f: () => void): string => {
      try {
        f();
      } catch (err) {
        assert.ok(err instanceof FleetRejection);
        return err.reason;
      }
      return 'accepted';
    };
    const tampered = JSON.parse(JSON.stringify(signed)) as FleetUpdate;
    tampered.sums[0][0] += 1e-9;
    assert.equal(reason(() => verifyUpdate(tampered, secret)), 'bad-signature');
    assert.equal(reason(() => verifyUpdate({ ...signed, count: 99 }, secret)), 'bad-signature');
    assert.equal(reason(() => verifyUpdate({ ...signed, class: 'nut' }, secret)), 'bad-signature');
    assert.equal(reason(() => verifyUpdate(signed, 'another secret')), 'bad-signature');
    assert.equal(reason(() => verifyUpdate({ ...signed, signature: 'hmac-sha256=zz' }, secret)), 'bad-signature');
    const { signature: _s, ...unsigned } = signed;
    assert.equal(reason(() => verifyUpdate(unsigned as FleetUpdate, secret)), 'unsigned');
  });

  it('refuses malformed payloads with a reason naming the problem', () => {
    const good = update('a', 'x', 1, 1, 1);
    const bad: Array<[unknown, RegExp]> = [
      ['not json', /not JSON/],
      [JSON.stringify([1]), /JSON object/],
      [JSON.stringify({ ...good, format: 'other/1' }), /format/],
      [JSON.stringify({ ...good, version: 0 }), /version/],
      [JSON.stringify({ ...good, count: -1 }), /count/],
      [JSON.stringify({ ...good, sums: [good.sums[0]] }), /one array per layer/],
      [JSON.stringify({ ...good, sums: [[1, 2, 3, 'x'], good.sums[1]] }), /finite/],
      [JSON.stringify({ ...good, sums: [[1, 2, 3], good.sums[1]] }), /sums\[0\]/],
      [JSON.stringify({ ...good, extra: 1 }), /unknown field/],
      [JSON.stringify({ ...good, origin: '' }), /origin/],
    ];
    for (const [payload, pattern] of bad) {
      assert.throws(
        () => parseUpdate(typeof payload === 'string' ? Buffer.from(payload) : payload),
        (e: unknown) => e instanceof FleetRejection && e.reason === 'malformed' && pattern.test(e.message),
        String(payload).slice(0, 60),
      );
    }
    assert.deepEqual(parseUpdate(Buffer.from(JSON.stringify(good))), good);
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
        for (const [label, center] of [['cube', cube], ['ball', ball]] as const) {
          const r = a.teach(label, examples([...center], 3, 0.05), 3);
          const u = stateA.addLocal('A', label, r.sums, r.applied);
          stateB.offer(JSON.parse(JSON.stringify(u)) as FleetUpdate);
          targetB.apply(stateB.merged(label) as NonNullable<ReturnType<FleetState['merged']>>);
        }
        assert.deepEqual([...b.classes].sort(), ['ball', 'cube']);
        const probe = examples(cube, 1, 0.1);
        const { data } = b.toBatch(probe);
        assert.equal(b.predict(data, 1)[0].label, 'cube');
        assert.equal(b.predict(b.toBatch(examples(ball, 1, 0.1)).data, 1)[0].label, 'ball');
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
        state.addLocal('A', 'plate', r.sums, r.applied);
        targetB.apply(state.merged('plate') as NonNullable<ReturnType<FleetState['merged']>>);
        const pa = a.readPrototypes();
        const pb = b.readPrototypes();
        for (let l = 0; l < pa.length; l++) {
          for (let u = 0; u < pa[l].length; u++) assert.ok(Math.abs(pa[l][u] - pb[l][u]) < 1e-5, `layer ${l} unit ${u}`);
        }
        assert.equal(b.counts[0], 6);
      } finally {
        a.dispose();
        b.dispose();
      }
    });
  });
});
