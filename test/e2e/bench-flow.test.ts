/**
 * `hff bench-flow` as a user runs it: a short run through the real Node-RED runtime, checked for shape only (the
 * throughput ratio depends on the machine and its load; the figures go in README from a full run).
 */
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { ROOT } from './harness';

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'hff.js'), ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('e2e: hff bench-flow', function () {
  this.timeout(90_000);

  it('times hff-image -> hff-classify in Node-RED next to the library and prints one JSON line', async () => {
    const r = await run(['bench-flow', '--frames', '120', '--warmup', '20', '--block', '20', '--json']);
    assert.equal(r.code, 0, `exit ${r.code}\n${r.stdout}\n${r.stderr}`);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 1, `stdout is the JSON line only:\n${r.stdout}`);
    const j = JSON.parse(lines[0]) as Record<string, any>;
    assert.equal(j.inputSize, 3072);
    assert.deepEqual(j.layers, [256, 256]);
    assert.equal(j.network, '32x32x3-256-256');
    for (const p of ['library', 'flow']) {
      assert.equal(j[p].frames, 120, `${p} frames`);
      assert.ok(j[p].fps > 0, `${p} fps`);
      assert.ok(j[p].p50Ms > 0 && j[p].p50Ms <= j[p].p95Ms && j[p].p95Ms <= j[p].p99Ms, `${p} percentiles ${JSON.stringify(j[p])}`);
    }
    assert.ok(j.ratio > 0 && j.ratio < 2, `ratio ${j.ratio}`);
    assert.ok(j.pooledRatio > 0 && j.pooledRatio < 2, `pooled ratio ${j.pooledRatio}`);
    assert.equal(j.blocks, 6, '120 frames in blocks of 20');
    console.log(`      (short run: flow/library ${(100 * j.ratio).toFixed(1)}%, backend ${j.backend})`);
  });

  it('prints the table without --json, and rejects a bad option with exit 2', async () => {
    const r = await run(['bench-flow', '--frames', '40', '--warmup', '10', '--block', '20']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\| library \(imageToVector \+ predict\) \| 40 \|/);
    assert.match(r.stdout, /\| flow \(hff-image -> hff-classify\) \| 40 \|/);
    assert.match(r.stdout, /flow \/ library throughput: \d+\.\d% \(target >= 90%: (met|NOT met)\); median of 2 paired blocks, all frames pooled \d+\.\d%/);
    const bad = await run(['bench-flow', '--frames', 'many']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /option '--frames <n>' argument 'many' is invalid/);
  });

  it('times an untrained convolutional network given by --layers and --input-shape instead of a model', async () => {
    const r = await run(['bench-flow', '--layers', 'c8k3p2,c8k3p2', '--input-shape', '24x24x3', '--frames', '40', '--warmup', '10', '--block', '20', '--json']);
    assert.equal(r.code, 0, `exit ${r.code}\n${r.stdout}\n${r.stderr}`);
    const j = JSON.parse(r.stdout.trim()) as Record<string, any>;
    assert.equal(j.network, '24x24x3-c8k3p2-c8k3p2');
    assert.equal(j.inputSize, 24 * 24 * 3);
    for (const p of ['library', 'flow']) assert.ok(j[p].frames === 40 && j[p].fps > 0, `${p}: ${JSON.stringify(j[p])}`);
    const bad = await run(['bench-flow', '--layers', 'c8k3p2', '--input-shape', '24x24x']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--input-shape takes HxW or HxWxC such as 224x224x3, got 24x24x/);
  });
});
