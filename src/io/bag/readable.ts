import type { FileHandle } from 'node:fs/promises';
import type { McapTypes } from '@mcap/core';

/**
 * Random-access reader over a file handle that returns a fresh buffer for every read.
 * @mcap/nodejs's FileHandleReadable reuses one buffer, so message payloads (and the Buffers our
 * decoder hands out as views of them) would be overwritten by the next chunk read.
 */
export class StableFileReadable implements McapTypes.IReadable {
  readonly #handle: FileHandle;
  #size: bigint | undefined;

  constructor(handle: FileHandle) {
    this.#handle = handle;
  }

  async size(): Promise<bigint> {
    if (this.#size === undefined) this.#size = BigInt((await this.#handle.stat()).size);
    return this.#size;
  }

  async read(offset: bigint, length: bigint): Promise<Uint8Array> {
    if (offset + length > Number.MAX_SAFE_INTEGER) throw new Error(`Read too large: offset ${offset}, length ${length}`);
    const len = Number(length);
    const buffer = Buffer.allocUnsafe(len);
    let done = 0;
    while (done < len) {
      const { bytesRead } = await this.#handle.read(buffer, done, len - done, Number(offset) + done);
      if (bytesRead === 0) throw new Error(`Unexpected end of file: read ${done} of ${len} bytes at offset ${offset}`);
      done += bytesRead;
    }
    return new Uint8Array(buffer.buffer, buffer.byteOffset, len);
  }
}
