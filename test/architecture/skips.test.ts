import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { projectRoot } from '../helpers/data';
import { skipForEnvironment } from '../helpers/skip';

function testSources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    return entry.isDirectory() ? testSources(full) : entry.name.endsWith('.ts') ? [full] : [];
  });
}

/** In CI (.ci/run sets HFF_REQUIRE_ALL=1) nothing passes by not running: every skip goes through one helper. */
describe('architecture: skips', function () {
  it('skips only through skipForEnvironment (no this.skip(), it.skip, describe.skip, xit elsewhere)', function () {
    // The helper itself, and this file, which names the patterns.
    const allowed = new Set([path.join(projectRoot, 'test', 'helpers', 'skip.ts'), path.join(projectRoot, 'test', 'architecture', 'skips.test.ts')]);
    const offences = testSources(path.join(projectRoot, 'test'))
      .filter((file) => !allowed.has(file))
      .flatMap((file) =>
        fs
          .readFileSync(file, 'utf8')
          .split('\n')
          .map((line, i) => ({ line, at: `${path.relative(projectRoot, file)}:${i + 1}` }))
          .filter(({ line }) => /\b(this|ctx)\.skip\(|\b(it|describe|context|specify)\.skip\(|\bx(it|describe|context|specify)\(/.test(line))
          .map(({ line, at }) => `${at}: ${line.trim()}`),
      );
    assert.deepEqual(offences, []);
  });

  it('skipForEnvironment skips with the reason, and fails instead under HFF_REQUIRE_ALL=1', function () {
    const saved = process.env.HFF_REQUIRE_ALL;
    const ctx = {
      skip: () => {
        throw new Error('skipped');
      },
    } as unknown as Mocha.Context;
    const printed: string[] = [];
    const log = console.log;
    try {
      delete process.env.HFF_REQUIRE_ALL;
      console.log = (line: string) => printed.push(line);
      assert.throws(() => skipForEnvironment(ctx, 'no broker'), /^Error: skipped$/);
      console.log = log;
      assert.deepEqual(printed, ['      skipped: no broker']);
      process.env.HFF_REQUIRE_ALL = '1';
      assert.throws(() => skipForEnvironment(ctx, 'no broker'), /cannot run: no broker \(HFF_REQUIRE_ALL=1/);
    } finally {
      console.log = log;
      if (saved === undefined) delete process.env.HFF_REQUIRE_ALL;
      else process.env.HFF_REQUIRE_ALL = saved;
    }
  });
});
