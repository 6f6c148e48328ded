/** The one way error texts, in the library and in the nodes, name a value they refuse. */

/** A short description of a value for error texts: what was received, without printing all of it. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'nothing (undefined)';
  if (Buffer.isBuffer(value)) return `a Buffer of ${value.length} bytes`;
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name} of length ${(value as unknown as ArrayLike<unknown>).length ?? value.byteLength}`;
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  if (typeof value === 'number' || typeof value === 'boolean') return `the ${typeof value} ${String(value)}`;
  if (typeof value === 'object') {
    const keys = Object.keys(value).slice(0, 6);
    return keys.length === 0 ? 'an empty object' : `an object with fields {${keys.join(', ')}${Object.keys(value).length > 6 ? ', …' : ''}}`;
  }
  return `a value of type ${typeof value}`;
}
