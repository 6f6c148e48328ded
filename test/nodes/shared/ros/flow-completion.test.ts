import * as assert from 'node:assert/strict';
import * as FakeTimers from '@sinonjs/fake-timers';
import { FlowCompletion, type RouterHooks } from '../../../../nodes/shared/ros/flow-completion';

type Callback = Parameters<RouterHooks['add']>[1];

/** Node-RED's RED.hooks as FlowCompletion uses it: named hooks added and removed by `*.label`; the test fires them. */
class Hooks implements RouterHooks {
  readonly installed = new Map<string, Callback>();
  add(id: string, callback: Callback): void {
    this.installed.set(id, callback);
  }
  remove(id: string): void {
    const label = id.replace(/^\*\./, '');
    for (const key of [...this.installed.keys()]) if (key.endsWith(`.${label}`)) this.installed.delete(key);
  }
  /** A delivery of message `id` to a node (`doneHandlers`: its handlers that take `done`, as Node-RED counts them). */
  deliver(id: string, doneHandlers = 1): void {
    this.installed.get('preDeliver.hffFlowCompletion')?.({ msg: { _msgid: id }, destination: { node: { _expectedDoneCount: doneHandlers } } });
  }
  complete(id: string): void {
    this.installed.get('onComplete.hffFlowCompletion')?.({ msg: { _msgid: id } });
  }
}

async function state(p: Promise<string>): Promise<string> {
  return Promise.race([p, new Promise<string>((resolve) => setImmediate(() => resolve('pending')))]);
}

describe('nodes/shared/ros/flow-completion: FlowCompletion', function () {
  let hooks: Hooks;
  let tracker: FlowCompletion;
  let release: () => void;
  let clock: ReturnType<typeof FakeTimers.install> | undefined;
  beforeEach(function () {
    hooks = new Hooks();
    tracker = FlowCompletion.of({ hooks })!;
    release = tracker.acquire();
  });
  afterEach(function () {
    release();
    clock?.uninstall();
    clock = undefined;
  });

  it('is one tracker per runtime, and none where Node-RED has no hooks API', function () {
    assert.equal(FlowCompletion.of({ hooks }), tracker);
    assert.notEqual(FlowCompletion.of({ hooks: new Hooks() }), tracker);
    assert.equal(FlowCompletion.of({}), undefined);
    assert.equal(FlowCompletion.of({ hooks: { add: 1 } }), undefined);
  });

  it('resolves once every node the message reached, downstream too, has called done', async function () {
    const handled = tracker.track(
      'm1',
      () => {
        hooks.deliver('m1');
        hooks.deliver('m1');
      },
      0,
    );
    assert.equal(tracker.tracking, 1);
    hooks.complete('m1');
    assert.equal(await state(handled), 'pending', 'one of two nodes is still busy');
    hooks.deliver('m1'); // the busy node sends on, under the same _msgid
    hooks.complete('m1');
    assert.equal(await state(handled), 'pending', 'the downstream node is still busy');
    hooks.complete('m1');
    assert.equal(await handled, 'done');
    assert.equal(tracker.tracking, 0);
  });

  it('counts a node whose handler takes no done as finished on delivery, and a message reaching no node as done', async function () {
    assert.equal(await tracker.track('m2', () => hooks.deliver('m2', 0), 0), 'done');
    assert.equal(await tracker.track('m3', () => undefined, 0), 'done');
  });

  it('ignores other messages and completions it did not see delivered', async function () {
    const handled = tracker.track('m4', () => hooks.deliver('m4'), 0);
    hooks.complete('other');
    hooks.deliver('other');
    assert.equal(await state(handled), 'pending');
    hooks.complete('m4');
    hooks.complete('m4');
    assert.equal(await handled, 'done');
  });

  it('gives up after the timeout on a node that never calls done', async function () {
    clock = FakeTimers.install({ toFake: ['setTimeout', 'clearTimeout'] });
    const handled = tracker.track('m5', () => hooks.deliver('m5'), 500);
    clock.tick(499);
    assert.equal(await state(handled), 'pending');
    clock.tick(1);
    assert.equal(await handled, 'timeout');
    assert.equal(tracker.tracking, 0);
  });

  it('cancels a message re-sent under the same id, and everything when the last user releases', async function () {
    const first = tracker.track('m6', () => hooks.deliver('m6'), 0);
    const second = tracker.track('m6', () => hooks.deliver('m6'), 0);
    assert.equal(await first, 'cancelled');
    const other = tracker.track('m7', () => hooks.deliver('m7'), 0);
    const secondUser = tracker.acquire();
    release();
    assert.equal(await state(other), 'pending', 'another user still holds the tracker');
    assert.equal(hooks.installed.size, 2);
    secondUser();
    assert.deepEqual(await Promise.all([second, other]), ['cancelled', 'cancelled']);
    assert.equal(hooks.installed.size, 0, 'the hooks are removed with the last user');
    release = tracker.acquire();
  });

  it('sends without tracking while nobody uses it', async function () {
    release();
    let sent = false;
    assert.equal(await tracker.track('m8', () => (sent = true), 0), 'done');
    assert.ok(sent);
    release = tracker.acquire();
  });
});
