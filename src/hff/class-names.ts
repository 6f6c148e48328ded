/**
 * What a class name may be. Names come from messages, model files and fleet updates, are saved in model.json,
 * shown in statuses and used as keys: they are kept short, printable and clear of JavaScript's object keys.
 */

export const MAX_CLASS_NAME_LENGTH = 200;

/** Names that would read or replace an object's prototype machinery when used as a key. */
const RESERVED_NAMES = new Set(['__proto__', 'constructor', 'prototype']);

/** Why `name` cannot be a class name, or undefined when it can. */
export function classNameProblem(name: unknown): string | undefined {
  if (typeof name !== 'string') return `a class name must be a string, got a value of type ${name === null ? 'null' : typeof name}`;
  if (name.trim() === '') return 'a class name must not be empty';
  if (name.length > MAX_CLASS_NAME_LENGTH) return `a class name must have at most ${MAX_CLASS_NAME_LENGTH} characters, got ${name.length}`;
  // eslint-disable-next-line no-control-regex
  const control = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.exec(name);
  if (control) {
    return `class name ${JSON.stringify(name.slice(0, 40))} contains the control character U+${control[0].charCodeAt(0).toString(16).padStart(4, '0')}; use printable characters`;
  }
  if (RESERVED_NAMES.has(name)) return `'${name}' is reserved and cannot be a class name`;
  return undefined;
}

/** Throws the problem of `name` (prefixed with `what`) when it cannot be a class name. */
export function assertClassName(name: unknown, what = 'class name'): asserts name is string {
  const problem = classNameProblem(name);
  if (problem !== undefined) throw new Error(`${what}: ${problem}`);
}

/** Throws unless every name can be a class name and no name is listed twice. */
export function assertClassNames(names: readonly string[]): void {
  const seen = new Set<string>();
  for (const name of names) {
    assertClassName(name);
    if (seen.has(name)) throw new Error(`class '${name}' is listed twice`);
    seen.add(name);
  }
}
