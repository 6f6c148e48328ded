import type { DeliveryStats } from './types';

/** Common shape of the two delivery policies a subscription can use. */
export interface Delivery<T> {
  push(item: T): void;
  /** Resolves once no handler call is running and nothing is pending. */
  idle(): Promise<void>;
  close(): void;
  readonly stats: DeliveryStats;
}

/**
 * Feeds an (async) handler one item at a time; items arriving while it is busy replace the single
 * pending one instead of queueing, so the handler always gets the newest data and memory stays flat.
 */
export class DropWhileBusy<T> implements Delivery<T> {
  readonly #handler: (item: T) => void | Promise<void>;
  readonly #onError: (error: Error, item: T) => void;
  #busy = false;
  #pending: { item: T } | undefined;
  #closed = false;
  #idleWaiters: Array<() => void> = [];
  readonly stats: DeliveryStats = { received: 0, delivered: 0, dropped: 0, errors: 0 };

  constructor(handler: (item: T) => void | Promise<void>, onError: (error: Error, item: T) => void = () => {}) {
    this.#handler = handler;
    this.#onError = onError;
  }

  /** True while the handler is running (sync handlers finish inside push). */
  get busy(): boolean {
    return this.#busy;
  }

  /** True when an item is waiting for the handler to become free. */
  get hasPending(): boolean {
    return this.#pending !== undefined;
  }

  push(item: T): void {
    if (this.#closed) return;
    this.stats.received++;
    if (this.#busy) {
      if (this.#pending) this.stats.dropped++;
      this.#pending = { item };
      return;
    }
    this.#run(item);
  }

  /** Resolves once the handler is idle with nothing pending. */
  idle(): Promise<void> {
    if (!this.#busy && !this.#pending) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Stops delivering: the pending item is discarded, a running handler is left to finish. */
  close(): void {
    this.#closed = true;
    this.#pending = undefined;
    if (!this.#busy) this.#settleIdle();
  }

  #run(first: T): void {
    this.#busy = true;
    let item: T = first;
    // Loop rather than recurse so long runs of synchronous handlers do not grow the stack.
    for (;;) {
      this.stats.delivered++;
      let result: void | Promise<void>;
      try {
        result = this.#handler(item);
      } catch (err) {
        this.#fail(err, item);
        result = undefined;
      }
      if (result && typeof (result as Promise<void>).then === 'function') {
        const current = item;
        (result as Promise<void>).then(
          () => this.#next(),
          (err: unknown) => {
            this.#fail(err, current);
            this.#next();
          },
        );
        return;
      }
      const next = this.#takePending();
      if (!next) break;
      item = next.item;
    }
    this.#busy = false;
    this.#settleIdle();
  }

  #next(): void {
    const next = this.#takePending();
    if (next) {
      this.#busy = false;
      this.#run(next.item);
      return;
    }
    this.#busy = false;
    this.#settleIdle();
  }

  #takePending(): { item: T } | undefined {
    if (this.#closed) return undefined;
    const p = this.#pending;
    this.#pending = undefined;
    return p;
  }

  #fail(err: unknown, item: T): void {
    this.stats.errors++;
    try {
      this.#onError(err instanceof Error ? err : new Error(String(err)), item);
    } catch {
      // Error reporting must never stop delivery.
    }
  }

  #settleIdle(): void {
    if (this.#busy || this.#pending) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const w of waiters) w();
  }
}

/** Hands every item to the handler immediately, without waiting for earlier calls to finish. */
export class DirectDelivery<T> implements Delivery<T> {
  readonly #handler: (item: T) => void | Promise<void>;
  readonly #onError: (error: Error, item: T) => void;
  #inFlight = 0;
  #closed = false;
  #idleWaiters: Array<() => void> = [];
  readonly stats: DeliveryStats = { received: 0, delivered: 0, dropped: 0, errors: 0 };

  constructor(handler: (item: T) => void | Promise<void>, onError: (error: Error, item: T) => void = () => {}) {
    this.#handler = handler;
    this.#onError = onError;
  }

  push(item: T): void {
    if (this.#closed) return;
    this.stats.received++;
    this.stats.delivered++;
    let result: void | Promise<void>;
    try {
      result = this.#handler(item);
    } catch (err) {
      this.#fail(err, item);
      return;
    }
    if (result && typeof (result as Promise<void>).then === 'function') {
      this.#inFlight++;
      (result as Promise<void>).then(
        () => this.#done(),
        (err: unknown) => {
          this.#fail(err, item);
          this.#done();
        },
      );
    }
  }

  idle(): Promise<void> {
    if (this.#inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  close(): void {
    this.#closed = true;
  }

  #done(): void {
    this.#inFlight--;
    if (this.#inFlight > 0) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const w of waiters) w();
  }

  #fail(err: unknown, item: T): void {
    this.stats.errors++;
    try {
      this.#onError(err instanceof Error ? err : new Error(String(err)), item);
    } catch {
      // Error reporting must never stop delivery.
    }
  }
}

/** The delivery policy selected by `SubscribeOptions.dropWhileBusy` (default: drop while busy). */
export function createDelivery<T>(
  handler: (item: T) => void | Promise<void>,
  dropWhileBusy: boolean | undefined,
  onError: (error: Error, item: T) => void,
): Delivery<T> {
  return dropWhileBusy === false ? new DirectDelivery(handler, onError) : new DropWhileBusy(handler, onError);
}
