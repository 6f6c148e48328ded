/** Minimal typed listener list; avoids EventEmitter's throw-on-unhandled-'error' in long-running flows. */
export class Listeners<T> {
  readonly #set = new Set<(value: T) => void>();

  add(listener: (value: T) => void): () => void {
    this.#set.add(listener);
    return () => {
      this.#set.delete(listener);
    };
  }

  get size(): number {
    return this.#set.size;
  }

  emit(value: T): void {
    for (const listener of [...this.#set]) {
      try {
        listener(value);
      } catch {
        // A failing observer must not break delivery to the others nor the transport itself.
      }
    }
  }

  clear(): void {
    this.#set.clear();
  }
}

/** Routes an error to the given listeners, or to a process warning so it is never lost silently. */
export function reportError(listeners: Listeners<Error>, error: unknown): void {
  const err = error instanceof Error ? error : new Error(String(error));
  if (listeners.size > 0) listeners.emit(err);
  else process.emitWarning(err.message, { code: 'HFF_IO' });
}
