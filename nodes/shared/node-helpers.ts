/**
 * The few Node-RED conventions every hff node shares: async input handlers whose failures reach `done(err)`
 * (and so a Catch node) without stopping Node-RED, and short status texts.
 */
import type { Node, NodeMessageInFlow } from 'node-red';

export type Send = (msg: unknown | unknown[]) => void;
export type Done = (err?: Error) => void;
interface NodeEvents {
  on(event: 'input', listener: (msg: unknown, send: Send, done: Done) => void): void;
}

export type InputHandler<M> = (msg: M, send: Send) => Promise<void> | void;

/** Registers an input handler; a thrown error or rejected promise becomes done(err). */
export function handleInput<M = NodeMessageInFlow & Record<string, unknown>>(node: Node, handler: InputHandler<M>): void {
  (node as unknown as NodeEvents).on('input', (msg: unknown, send: Send, done: Done) => {
    let result: Promise<void> | void;
    try {
      result = handler(msg as M, send);
    } catch (err) {
      done(asError(err));
      return;
    }
    Promise.resolve(result).then(
      () => done(),
      (err: unknown) => done(asError(err)),
    );
  });
}

export function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

export type StatusColour = 'green' | 'yellow' | 'red' | 'blue' | 'grey';

export function setStatus(node: Node, colour: StatusColour, text: string, shape: 'dot' | 'ring' = 'dot'): void {
  node.status({ fill: colour, shape, text: text.length > 40 ? `${text.slice(0, 39)}…` : text });
}

export function clearStatus(node: Node): void {
  node.status({});
}
