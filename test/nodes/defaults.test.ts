import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DEFAULTS } from '../../src/hff/config';

describe('one default unknown threshold', function () {
  it("hff-model's dialog starts new models at the library's (and the command line's) unknown threshold", () => {
    const html = fs.readFileSync(path.resolve(__dirname, '..', '..', '..', 'nodes', 'hff-model', 'hff-model.html'), 'utf8');
    const m = /unknownThreshold:\s*\{\s*value:\s*([\d.]+)/.exec(html);
    assert.ok(m, 'unknownThreshold default in hff-model.html');
    assert.equal(Number(m[1]), DEFAULTS.unknownThreshold);
    assert.match(html, new RegExp(`\\(default ${DEFAULTS.unknownThreshold}[,)]`), 'the help text names the same default');
  });
});

describe('example model folders', function () {
  it('two examples share a model folder only when they share the hff-model node itself', () => {
    const dir = path.resolve(__dirname, '..', '..', '..', 'examples');
    const owners = new Map<string, Set<string>>();
    for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.json'))) {
      for (const n of JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as Array<Record<string, string>>) {
        if (n.type !== 'hff-model' || n.path) continue;
        const folder = n.name || n.id;
        owners.set(folder, (owners.get(folder) ?? new Set()).add(n.id));
      }
    }
    for (const [folder, ids] of owners) assert.equal(ids.size, 1, `hff-models/${folder} is used by different models: ${[...ids].join(', ')}`);
  });
});
