/**
 * "Is the flow still busy with the message I sent?" Node-RED has no back-pressure signal, but its
 * message-routing hooks report every delivery (preDeliver) and every `done()` (onComplete) with the
 * message's _msgid, which clones keep. A message counts as handled once every node it was
 * delivered to (directly or downstream, under the same _msgid) has called done, or after a
 * timeout for nodes that never do (nodes whose input handler takes no `done` argument count as
 * finished as soon as the message reaches them). hff-ros2-in drops camera frames while the previous frame is
 * still being handled; hff-bag-in paces 'as fast as the flow takes them' this way.
 */

interface HookEvent {
  msg?: { _msgid?: unknown };
  destination?: { node?: { _expectedDoneCount?: unknown } };
}

export interface RouterHooks {
  add(id: string, callback: (event: HookEvent) => void): void;
  remove(id: string): void;
}

export type Completion = 'done' | 'timeout' | 'cancelled';

interface Entry {
  pending: number;
  sending: boolean;
  timer?: NodeJS.Timeout;
  resolve(result: Completion): void;
}

const LABEL = 'hffFlowCompletion';
const TRACKERS = new WeakMap<object, FlowCompletion>();

export class FlowCompletion {
  readonly #hooks: RouterHooks;
  readonly #entries = new Map<string, Entry>();
  #users = 0;

  private constructor(hooks: RouterHooks) {
    this.#hooks = hooks;
  }

  /** The tracker of a runtime (one per RED.hooks), or undefined when this Node-RED has no hooks API. */
  static of(RED: { hooks?: unknown }): FlowCompletion | undefined {
    const hooks = RED.hooks as RouterHooks | undefined;
    if (!hooks || typeof hooks.add !== 'function' || typeof hooks.remove !== 'function') return undefined;
    let tracker = TRACKERS.get(hooks);
    if (!tracker) {
      tracker = new FlowCompletion(hooks);
      TRACKERS.set(hooks, tracker);
    }
    return tracker;
  }

  /** Registers a user; the hooks are installed while there is at least one. Returns the release function. */
  acquire(): () => void {
    if (this.#users++ === 0) {
      this.#hooks.add(`preDeliver.${LABEL}`, (event) => this.#delivered(event));
      this.#hooks.add(`onComplete.${LABEL}`, (event) => this.#completed(event));
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (--this.#users === 0) {
        this.#hooks.remove(`*.${LABEL}`);
        for (const entry of [...this.#entries.values()]) entry.resolve('cancelled');
      }
    };
  }

  /** Messages currently tracked (for tests and status). */
  get tracking(): number {
    return this.#entries.size;
  }

  /**
   * Calls `send()` (which must send a message with this _msgid) and resolves once the flow has
   * handled everything delivered under that id, or after `timeoutMs`. Messages that reach no node
   * resolve at once.
   */
  track(msgid: string, send: () => void, timeoutMs: number): Promise<Completion> {
    if (this.#users === 0) {
      send();
      return Promise.resolve('done');
    }
    return new Promise<Completion>((resolve) => {
      const entry: Entry = {
        pending: 0,
        sending: true,
        resolve: (result) => {
          if (this.#entries.get(msgid) !== entry) return;
          this.#entries.delete(msgid);
          if (entry.timer) clearTimeout(entry.timer);
          resolve(result);
        },
      };
      // A newer message with the same id (a re-sent msg object) replaces the older entry.
      this.#entries.get(msgid)?.resolve('cancelled');
      this.#entries.set(msgid, entry);
      try {
        send();
      } finally {
        entry.sending = false;
      }
      if (entry.pending <= 0) {
        entry.resolve('done');
        return;
      }
      if (timeoutMs > 0 && Number.isFinite(timeoutMs)) {
        entry.timer = setTimeout(() => entry.resolve('timeout'), timeoutMs);
      }
    });
  }

  #delivered(event: HookEvent): void {
    const id = event?.msg?._msgid;
    if (typeof id !== 'string') return;
    const entry = this.#entries.get(id);
    if (!entry) return;
    // Nodes whose input handlers do not take `done` (older contrib nodes, Node-RED's own 'helper'
    // test node) never report completion: Node-RED counts their done-taking handlers in
    // _expectedDoneCount. Such a node counts as finished on delivery; what it sends on is tracked.
    const expected = event.destination?.node?._expectedDoneCount;
    if (typeof expected === 'number' && expected === 0) return;
    entry.pending++;
  }

  #completed(event: HookEvent): void {
    const id = event?.msg?._msgid;
    if (typeof id !== 'string') return;
    const entry = this.#entries.get(id);
    if (!entry || entry.pending <= 0) return;
    entry.pending--;
    // While send() still runs (synchronous delivery), more deliveries of the same message may follow.
    if (entry.pending === 0 && !entry.sending) entry.resolve('done');
  }
}
