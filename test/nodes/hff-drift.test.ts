import assert from 'node:assert/strict';
import {
  ALL_NODES,
  assertNoUnhandledRejection,
  TAB,
  catchNodes,
  caughtText,
  collect,
  helper,
  helperNode,
  initNodeRed4,
  nth,
  onTab,
  removeTempDirs,
  send,
  statuses,
  waitFor,
  waitStatus,
} from './flow-helpers';

interface Drift {
  drift: boolean;
  warning: boolean;
  detector: string;
  statistic: number;
  threshold: number | null;
  n: number;
  state: 'ok' | 'warning' | 'drift';
  drifts: number;
  values: number;
}

/** A small deterministic wobble in [-0.02, 0.02]. */
function wobble(i: number): number {
  return Math.sin(i * 1.7) * 0.02;
}

describe('hff-drift', function () {
  beforeEach(() => {
    initNodeRed4();
  });
  afterEach(async () => {
    await helper.unload();
    assertNoUnhandledRejection();
  });
  after(removeTempDirs);

  function flow(drift: Record<string, unknown> = {}) {
    return [
      TAB,
      onTab({
        id: 'drift',
        type: 'hff-drift',
        detector: 'page-hinkley',
        direction: 'down',
        phDelta: 0.005,
        phLambda: 5,
        phAlpha: 0.9999,
        minInstances: 30,
        adwinDelta: 0.002,
        adwinClock: 32,
        ddmWarning: 2,
        ddmDrift: 3,
        holdMs: 5000,
        wires: [['all'], ['changes']],
        ...drift,
      }),
      helperNode('all'),
      helperNode('changes'),
      ...catchNodes(),
    ];
  }

  it('Page-Hinkley on hff-classify scores: msg.drift on every message, state changes on output 2, status colours', async () => {
    await helper.load(ALL_NODES, flow());
    const all = collect('all');
    const changes = collect('changes');
    await waitStatus('drift', (s) => s.text === 'page-hinkley: waiting');
    for (let i = 0; i < 200; i++) send('drift', { payload: { label: 'bolt', index: 0, score: 0.9 + wobble(i), known: true } });
    await nth(all, 200);
    await waitStatus('drift', (s) => s.fill === 'green' && /^ok, n=\d+$/.test(String(s.text)));
    assert.equal(changes.length, 0, 'a stationary stream changes nothing');
    const first = all[0].drift as Drift;
    assert.deepEqual(Object.keys(first).sort(), ['detector', 'drift', 'drifts', 'n', 'state', 'statistic', 'threshold', 'values', 'warning']);
    assert.equal(first.detector, 'page-hinkley');
    assert.equal(first.state, 'ok');
    for (let i = 0; i < 200; i++) send('drift', { payload: { label: 'bolt', index: 0, score: 0.5 + wobble(i), known: true } });
    await nth(all, 400);
    const states = changes.map((m) => (m.drift as Drift).state);
    assert.ok(states.includes('drift'), `state changes: ${states.join(', ')}`);
    const driftMsg = all.find((m) => (m.drift as Drift).drift) as Record<string, unknown>;
    assert.ok((driftMsg.drift as Drift).statistic >= ((driftMsg.drift as Drift).threshold as number));
    assert.ok(statuses('drift').some((s) => s.fill === 'red' && /^drift! \(\d+ so far\)$/.test(String(s.text))));
    assert.ok(
      statuses('drift').some((s) => s.fill === 'yellow' && /^warning, n=\d+$/.test(String(s.text))),
      'a warning came first',
    );
    // Red is kept for a while after the drift.
    await waitStatus('drift', (s) => s.fill === 'red');
    send('drift', { reset: true });
    await waitStatus('drift', (s) => s.fill === 'grey' && s.text === 'page-hinkley: reset');
    send('drift', { payload: 0.9 });
    const after = (await nth(all, 401)).drift as Drift;
    assert.deepEqual([after.n, after.drifts, after.state], [1, 0, 'ok']);
  });

  it('DDM compares results with msg.truth (names or indices); threshold is null until defined', async () => {
    await helper.load(ALL_NODES, flow({ detector: 'ddm', minInstances: 30 }));
    const all = collect('all');
    const changes = collect('changes');
    let sent = 0;
    // 5% errors, then 60%.
    for (let i = 0; i < 300; i++, sent++) {
      const wrong = i % 20 === 0;
      send('drift', { payload: { label: wrong ? 'nut' : 'bolt', index: wrong ? 1 : 0, score: 0.9 }, truth: i % 2 ? 'bolt' : 0 });
    }
    for (let i = 0; i < 300; i++, sent++) {
      const wrong = i % 5 < 3;
      send('drift', { payload: { label: wrong ? 'nut' : 'bolt', index: wrong ? 1 : 0, score: 0.9 }, truth: 'bolt' });
    }
    await nth(all, sent);
    const first = all[0].drift as Drift;
    assert.equal(first.detector, 'ddm');
    assert.equal(first.threshold, null, 'Infinity becomes null');
    assert.ok(
      changes.some((m) => (m.drift as Drift).drift),
      'drift found',
    );
    // Plain 0/1 errors and booleans work too, and batches are taken in order.
    send('drift', { payload: [0, 1, false, true] });
    assert.equal(((await nth(all, sent + 1)).drift as Drift).values, 4);
  });

  it('ADWIN on plain numbers (and numeric strings)', async () => {
    await helper.load(ALL_NODES, flow({ detector: 'adwin' }));
    const all = collect('all');
    for (let i = 0; i < 300; i++) send('drift', { payload: String(0.2 + wobble(i)) });
    for (let i = 0; i < 300; i++) send('drift', { payload: 0.8 + wobble(i) });
    await nth(all, 600);
    assert.ok(all.some((m) => (m.drift as Drift).drift));
    assert.equal((all[599].drift as Drift).detector, 'adwin');
  });

  it('reports non-numeric input and a misconfiguration to a Catch node, and keeps working', async () => {
    await helper.load(ALL_NODES, [
      ...flow(),
      onTab({ id: 'ddm', type: 'hff-drift', detector: 'ddm', ddmWarning: 3, ddmDrift: 2, wires: [[], []] }),
      onTab({ id: 'ddm2', type: 'hff-drift', detector: 'ddm', wires: [[], []] }),
    ]);
    const all = collect('all');
    const caught = collect('caught');
    await waitStatus('ddm', (s) => s.fill === 'red' && s.text === 'bad settings');
    const cases: [string, Record<string, unknown>, RegExp][] = [
      ['drift', { payload: 'abc' }, /msg\.payload must be a number or an hff-classify result, got the string "abc"/],
      ['drift', { payload: { label: 'x', score: 'high' } }, /msg\.payload\.score is the string "high", expected a number/],
      ['drift', { payload: [] }, /empty array/],
      ['drift', { payload: NaN }, /msg.payload is NaN: the detector takes finite numbers within ±1e\+12/],
      ['ddm', { payload: 0 }, /misconfigured: .*driftLevel/],
      ['ddm2', { payload: { label: 'x', index: 0, score: 0.5 } }, /DDM monitors errors: give msg\.truth/],
      ['ddm2', { payload: 0.5 }, /input must be 0 \(correct\) or 1 \(error\)/],
      ['ddm2', { payload: 1, truth: 'x' }, /with msg\.truth, msg\.payload must be an hff-classify result/],
    ];
    for (const [id, msg, pattern] of cases) {
      const before = caught.length;
      send(id, msg);
      assert.match(caughtText(await nth(caught, before + 1, `error from ${id} for ${JSON.stringify(msg)}`)), pattern);
    }
    send('drift', { payload: 0.7 });
    await nth(all, 1);
    await waitFor('no further errors', () => caught.length === cases.length);
  });
});
