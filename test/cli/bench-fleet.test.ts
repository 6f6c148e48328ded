/** `hff bench-fleet` end to end on a tiny fleet (the 100-robot figures come from running the command itself). */
import * as assert from 'node:assert/strict';
import { lastJson, runHff } from './fixtures';

describe('hff bench-fleet', function () {
  this.timeout(30000);

  it('prints one JSON object: convergence time, CPU, per-update receive cost, bytes per update, broker used', async () => {
    const run = await runHff(['bench-fleet', '--robots', '6', '--parts', '3', '--layers', '16,8', '--broker', 'aedes', '--json']);
    assert.equal(run.code, 0, run.stderr);
    const r = lastJson(run);
    assert.deepEqual(Object.keys(r).sort(), [
      'broker',
      'bytesPerUpdate',
      'connectMs',
      'convergenceMs',
      'cpuMs',
      'identical',
      'layers',
      'parts',
      'receiveMsPerUpdate',
      'robots',
      'security',
      'updatesReceived',
    ]);
    assert.equal(r.broker, 'aedes (in-process)');
    assert.equal(r.security, 'keys');
    assert.equal(r.identical, true);
    assert.equal(r.updatesReceived, 5 * 3, 'every robot but the teacher receives every part');
    // preamble 8 + header + 24 float32 + 64-byte Ed25519 signature
    assert.ok((r.bytesPerUpdate as number) > 8 + 24 * 4 + 64 && (r.bytesPerUpdate as number) < 400, `${r.bytesPerUpdate} bytes`);
    assert.ok((r.convergenceMs as number) > 0 && (r.receiveMsPerUpdate as number) > 0);
  });

  it('refuses more parts than robots, with the accepted range', async () => {
    const run = await runHff(['bench-fleet', '--robots', '3', '--parts', '4', '--broker', 'aedes']);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /--parts must be an integer from 1 to the number of robots \(3\)/);
  });
});
