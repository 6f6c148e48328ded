/**
 * Two hff-model nodes on the tfjs wasm backend started together (example 22 has two) both come up, learn and
 * classify. Run in a child process so that the wasm backend's first initialisation happens while the models start,
 * as on a fresh Node-RED, and not in an earlier test of this process.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

describe('two hff-model nodes on the wasm backend started together (fresh process)', function () {
  this.timeout(60_000);

  it('both models become ready, learn their class and classify it; no error', () => {
    const fixture = path.join(__dirname, 'fixtures', 'two-wasm-models.js');
    const run = spawnSync(process.execPath, [fixture], { encoding: 'utf8', timeout: 50_000 });
    assert.equal(run.status, 0, `fixture exited with ${run.status}:\n${run.stdout}\n${run.stderr}`);
    const result = JSON.parse(run.stdout.trim().split('\n').pop() ?? '') as { answers: Record<string, string>; errors: string[] };
    assert.deepEqual(result.errors, []);
    assert.deepEqual(result.answers, { a: 'part-a', b: 'part-b' });
  });
});
