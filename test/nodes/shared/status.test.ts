import * as assert from 'node:assert/strict';
import * as FakeTimers from '@sinonjs/fake-timers';
import type { Node } from 'node-red';
import { ThrottledStatus, type StatusValue } from '../../../nodes/shared/status';

function fakeNode(): { node: Node; shown: Array<{ fill?: string; text?: string }> } {
  const shown: Array<{ fill?: string; text?: string }> = [];
  return { node: { status: (s: { fill?: string; text?: string }) => shown.push(s) } as unknown as Node, shown };
}

// The clock is faked (setTimeout and Date), so the intervals below are exact, whatever the machine's load.
describe('ThrottledStatus', function () {
  let clock: ReturnType<typeof FakeTimers.install>;
  beforeEach(function () {
    clock = FakeTimers.install({ now: 1_000_000, toFake: ['setTimeout', 'clearTimeout', 'Date'] });
  });
  afterEach(function () {
    clock.uninstall();
  });

  it('shows the first update at once, then at most one per interval, the latest winning', function () {
    const { node, shown } = fakeNode();
    const status = new ThrottledStatus(node, 40);
    status.set({ colour: 'green', text: 'one' });
    status.set({ colour: 'green', text: 'two' });
    status.set({ colour: 'green', text: 'three' });
    assert.deepEqual(
      shown.map((s) => s.text),
      ['one'],
    );
    clock.tick(39);
    assert.deepEqual(
      shown.map((s) => s.text),
      ['one'],
      'nothing more before the interval has passed',
    );
    clock.tick(1);
    assert.deepEqual(
      shown.map((s) => s.text),
      ['one', 'three'],
    );
    clock.tick(1000);
    assert.deepEqual(
      shown.map((s) => s.text),
      ['one', 'three'],
      'one delayed update, not one per dropped value',
    );
    status.set({ colour: 'green', text: 'four' });
    assert.equal(shown.at(-1)?.text, 'four', 'after a quiet interval an update shows at once');
    status.set({ colour: 'red', text: 'forced' }, true);
    assert.equal(shown.at(-1)?.text, 'forced');
    status.close();
  });

  it('builds a lazy status only when it is shown, and once for lastActivity', function () {
    const { node, shown } = fakeNode();
    const status = new ThrottledStatus(node, 40);
    let builds = 0;
    const lazy = (text: string) => (): StatusValue => {
      builds += 1;
      return { colour: 'green', text };
    };
    status.activity(lazy('a'));
    for (let i = 0; i < 100; i++) status.activity(lazy(`b${i}`));
    assert.equal(builds, 1, 'only the shown update was built');
    assert.equal(status.lastActivity?.text, 'b99');
    assert.equal(status.lastActivity?.text, 'b99');
    assert.equal(builds, 2, 'lastActivity builds the latest once');
    clock.tick(40);
    assert.deepEqual(
      shown.map((s) => s.text),
      ['a', 'b99'],
    );
    assert.equal(builds, 2, 'the delayed update reused the build');
    status.close();
  });

  it('shows nothing after close', function () {
    const { node, shown } = fakeNode();
    const status = new ThrottledStatus(node, 20);
    status.set({ colour: 'green', text: 'one' });
    status.set({ colour: 'green', text: 'two' });
    status.close();
    status.set({ colour: 'green', text: 'three' }, true);
    clock.tick(1000);
    assert.deepEqual(
      shown.map((s) => s.text),
      ['one'],
    );
  });
});
