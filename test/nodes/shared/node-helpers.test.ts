import assert from 'node:assert/strict';
import type { Node } from 'node-red';
import { handleInput } from '../../../nodes/shared/node-helpers';

/** Just enough of a Node-RED node for handleInput: the input listener and node.error. */
function fakeNode() {
  const errors: string[] = [];
  let listener: ((msg: unknown, send: () => void, done: (err?: Error) => void) => void) | undefined;
  const node = {
    on: (_event: string, l: typeof listener) => {
      listener = l;
    },
    error: (text: string) => errors.push(text),
  };
  return { node: node as unknown as Node, errors, input: (msg: unknown, done: (err?: Error) => void) => listener?.(msg, () => undefined, done) };
}

describe('nodes/shared/node-helpers: handleInput', () => {
  it("logs instead of crashing when Node-RED's done(err) itself throws (a Catch node's copy failing)", async () => {
    const { node, errors, input } = fakeNode();
    handleInput(node, async () => {
      throw new Error('bad vector');
    });
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      input({ payload: 1 }, () => {
        throw new RangeError('Maximum call stack size exceeded');
      });
      await new Promise((r) => setTimeout(r, 20));
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
    assert.deepEqual(unhandled, []);
    assert.equal(errors.length, 1);
    assert.match(errors[0], /bad vector; Node-RED could not complete the message: Maximum call stack size exceeded/);
  });

  it('refuses a too-deep message before the handler sees it and replaces the deep value so it can be copied', () => {
    const { node, input } = fakeNode();
    let handled = false;
    handleInput(node, () => {
      handled = true;
    });
    let deep: unknown = 1;
    for (let i = 0; i < 20_000; i++) deep = { deep };
    const msg: Record<string, unknown> = { payload: deep, topic: 't' };
    let error: Error | undefined;
    input(msg, (err) => {
      error = err;
    });
    assert.equal(handled, false);
    assert.match(String(error?.message), /msg.payload is nested more than 64 levels deep/);
    assert.equal(msg.payload, '[removed by hff: nested more than 64 levels deep]');
    assert.equal(msg.topic, 't');
  });
});
