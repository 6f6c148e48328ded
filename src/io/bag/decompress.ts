import * as zlib from 'node:zlib';
import type { McapTypes } from '@mcap/core';

type Decompressor = (buffer: Uint8Array, decompressedSize: bigint) => Uint8Array;

function optionalRequire(name: string): unknown {
  try {
    return require(name);
  } catch {
    return undefined;
  }
}

function checked(name: string, out: Uint8Array, expected: bigint): Uint8Array {
  if (BigInt(out.byteLength) !== expected) {
    throw new Error(`${name} chunk decompressed to ${out.byteLength} bytes, expected ${expected}`);
  }
  return out;
}

/**
 * zstd is what `ros2 bag record -s mcap` uses for chunks by default. Node >= 22.15 decompresses it
 * natively; older Node needs the optional pure-JS `fzstd` package.
 */
const zstd: Decompressor = (buffer, size) => {
  const native = (zlib as unknown as { zstdDecompressSync?: (b: Uint8Array) => Buffer }).zstdDecompressSync;
  if (typeof native === 'function') return checked('zstd', native(buffer), size);
  const fzstd = optionalRequire('fzstd') as { decompress?: (d: Uint8Array, out?: Uint8Array) => Uint8Array } | undefined;
  if (fzstd?.decompress) return checked('zstd', fzstd.decompress(buffer, new Uint8Array(Number(size))), size);
  throw new Error(
    `This bag has zstd-compressed chunks (the default of 'ros2 bag record -s mcap'). Node.js ${process.version} ` +
      `cannot decompress zstd: use Node.js 22.15 or newer, or run 'npm install fzstd' in the Node-RED user ` +
      `directory, or convert the bag to uncompressed chunks with the mcap CLI.`,
  );
};

const lz4: Decompressor = (buffer, size) => {
  const lz4js = optionalRequire('lz4js') as { decompress?: (d: Uint8Array, max?: number) => Uint8Array } | undefined;
  if (lz4js?.decompress) return checked('lz4', lz4js.decompress(buffer, Number(size)), size);
  throw new Error(
    "This bag has lz4-compressed chunks. Run 'npm install lz4js' in the Node-RED user directory, " +
      'or convert the bag to uncompressed chunks with the mcap CLI.',
  );
};

/** Chunk decompressors for McapIndexedReader, extended (or overridden) by `extra`. */
export function decompressHandlers(extra?: McapTypes.DecompressHandlers): McapTypes.DecompressHandlers {
  return { zstd, lz4, ...(extra ?? {}) };
}
