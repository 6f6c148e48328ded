/**
 * Status updates that cost nothing at high message rates: at most one per interval reaches the editor, the
 * latest always wins, and a forced update (a change of state) is shown at once. A value may be given as a
 * function, so that its text (translation, number formatting) is only built for the updates that are shown.
 */
import type { Node } from 'node-red';
import { setStatus, type StatusColour } from './node-helpers';

export interface StatusValue {
  colour: StatusColour;
  text: string;
  shape?: 'dot' | 'ring';
}

/** A status, or a function that builds it when it is about to be shown. */
export type StatusSource = StatusValue | (() => StatusValue);

function resolve(source: StatusSource): StatusValue {
  return typeof source === 'function' ? source() : source;
}

function once(build: () => StatusValue): () => StatusValue {
  let built: StatusValue | undefined;
  return () => (built ??= build());
}

export class ThrottledStatus {
  private last = 0;
  private pending?: StatusSource;
  private timer?: NodeJS.Timeout;
  private shown?: string;
  private closed = false;
  private activitySource?: StatusSource;

  constructor(
    private readonly node: Node,
    private readonly intervalMs = 250,
  ) {}

  /** The last status that described the node's own work (e.g. the last result), see activity(). */
  get lastActivity(): StatusValue | undefined {
    return this.activitySource === undefined ? undefined : resolve(this.activitySource);
  }

  set(value: StatusSource, force = false): void {
    if (this.closed) return;
    const now = Date.now();
    if (force || now - this.last >= this.intervalMs) {
      this.clearTimer();
      this.show(value, now);
      return;
    }
    this.pending = value;
    if (this.timer === undefined) {
      this.timer = setTimeout(
        () => {
          this.timer = undefined;
          const p = this.pending;
          if (p) this.show(p, Date.now());
        },
        this.intervalMs - (now - this.last),
      );
    }
  }

  /** Shows what the node just did; it is remembered so that model state changes can show it again. */
  activity(value: StatusSource, force = false): void {
    // Built at most once, whether the display or lastActivity asks first.
    this.activitySource = typeof value === 'function' ? once(value) : value;
    this.set(this.activitySource, force);
  }

  /** Stops any delayed update (call on close). */
  close(): void {
    this.closed = true;
    this.clearTimer();
  }

  private show(source: StatusSource, now: number): void {
    this.pending = undefined;
    this.last = now;
    const value = resolve(source);
    const key = `${value.colour}|${value.shape ?? 'dot'}|${value.text}`;
    if (key === this.shown) return;
    this.shown = key;
    setStatus(this.node, value.colour, value.text, value.shape ?? 'dot');
  }

  private clearTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.pending = undefined;
  }
}
