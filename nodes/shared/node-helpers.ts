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

/**
 * How deeply a message's values may nest. Real messages (ROS images, results, hff-layer info) nest a few levels;
 * Node-RED clones messages recursively (for a Catch node, for a second wire), and a value nested thousands of
 * levels deep (what a 120 kB JSON body can parse to) overflows the stack there and ends the process.
 */
export const MAX_MESSAGE_DEPTH = 64;

/** Properties Node-RED gives special handling (HTTP request and response objects): never walked. */
const UNWALKED = new Set(['req', 'res', '_msgid']);

/** The first property of `msg` nesting deeper than MAX_MESSAGE_DEPTH, or undefined. Iterative: never recurses. */
export function tooDeepProperty(msg: Record<string, unknown>): string | undefined {
  for (const key of Object.keys(msg)) {
    if (UNWALKED.has(key)) continue;
    const stack: [unknown, number][] = [[msg[key], 1]];
    const seen = new Set<object>();
    while (stack.length > 0) {
      const [value, depth] = stack.pop() as [unknown, number];
      if (value === null || typeof value !== 'object' || ArrayBuffer.isView(value) || value instanceof ArrayBuffer || seen.has(value)) continue;
      if (depth > MAX_MESSAGE_DEPTH) return key;
      seen.add(value);
      if (Array.isArray(value)) {
        for (const item of value) if (item !== null && typeof item === 'object') stack.push([item, depth + 1]);
      } else {
        for (const item of Object.values(value)) if (item !== null && typeof item === 'object') stack.push([item, depth + 1]);
      }
    }
  }
  return undefined;
}

/**
 * Refuses a message that nests too deeply, before anything walks it, and replaces the offending property by a
 * short text so that the Catch node's copy of the message can be made.
 */
function refuseDeepMessage(msg: unknown): void {
  if (msg === null || typeof msg !== 'object') return;
  const m = msg as Record<string, unknown>;
  const key = tooDeepProperty(m);
  if (key === undefined) return;
  m[key] = `[removed by hff: nested more than ${MAX_MESSAGE_DEPTH} levels deep]`;
  throw new Error(
    `msg.${key} is nested more than ${MAX_MESSAGE_DEPTH} levels deep; hff nodes accept vectors, batches, images and results, which nest a few levels`,
  );
}

/** Registers an input handler; a thrown error or rejected promise becomes done(err). */
export function handleInput<M = NodeMessageInFlow & Record<string, unknown>>(node: Node, handler: InputHandler<M>): void {
  (node as unknown as NodeEvents).on('input', (msg: unknown, send: Send, done: Done) => {
    // done() runs Node-RED's own handling (a Catch node's clone of the message): if that throws, the failure is
    // logged here instead of becoming an unhandled rejection that ends the process.
    const finish = (err?: Error) => {
      try {
        done(err);
      } catch (failure) {
        node.error(`${err ? `${err.message}; ` : ''}Node-RED could not complete the message: ${asError(failure).message}`);
      }
    };
    let result: Promise<void> | void;
    try {
      refuseDeepMessage(msg);
      result = handler(msg as M, send);
    } catch (err) {
      finish(asError(err));
      return;
    }
    Promise.resolve(result).then(
      () => finish(),
      (err: unknown) => finish(asError(err)),
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
