import assert from 'node:assert/strict';
import { runFuzz, TARGETS } from './harness';
import { assertNoUnhandledRejection } from '../nodes/flow-helpers';

describe('fuzz: 100,000 generated messages through a real Node-RED runtime', function () {
  this.timeout(180_000);

  it('every message completes exactly once, the right way; no crash; the model is unchanged; tensors flat', async () => {
    const stats = await runFuzz({ messages: 100_000, seed: 18 });
    const perTarget = TARGETS.map((t) => `${t} ${stats.byTarget[t].sent}/${stats.byTarget[t].errors}`).join(', ');
    console.log(
      `      fuzz: ${stats.sent} messages in ${stats.seconds.toFixed(1)} s (${Math.round(stats.sent / stats.seconds)}/s), ` +
        `${stats.errors} refused (${stats.caught} caught), ${stats.duplicates} completed twice, ${stats.silentDrops} silent drops, ` +
        `tensors ${stats.tensorsBefore} -> ${stats.tensorsAfter}; sent/refused: ${perTarget}`,
    );
    assert.deepEqual(stats.wrong, [], 'clean messages were accepted and hostile ones refused');
    assert.equal(stats.duplicates, 0);
    assert.equal(stats.silentDrops, 0);
    assert.equal(stats.completed, 100_000);
    assert.equal(stats.caught, stats.errors, 'every refusal reached the Catch node');
    for (const t of TARGETS) assert.ok(stats.byTarget[t].sent > 1000, `${t} got its share`);
    assert.deepEqual(stats.probesAfter, stats.probesBefore, 'clean input classifies exactly as before');
    assert.equal(stats.tensorsAfter, stats.tensorsBefore, 'tf.memory().numTensors is flat');
    assertNoUnhandledRejection();
  });
});
