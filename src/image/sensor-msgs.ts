/**
 * Reading ROS 2 sensor_msgs/msg/Image and sensor_msgs/msg/CompressedImage shaped objects, as they arrive
 * from rclnodejs, foxglove bridges, rosbridge (base64 data) or a JSON round trip (Buffer as {type,data}).
 */

export const SUPPORTED_ENCODINGS = ['rgb8', 'bgr8', 'rgba8', 'bgra8', 'mono8', 'mono16', '8UC1', '8UC3'] as const;
export type ImageEncoding = (typeof SUPPORTED_ENCODINGS)[number];

interface EncodingLayout {
  /** Bytes per pixel in the message. */
  bytes: number;
  /** Channels handed to sharp after repacking (alpha dropped, BGR swapped to RGB). */
  channels: 1 | 3;
  /** Byte offsets of R, G, B (or of the single grey value) inside one pixel. */
  order: number[];
  bits: 8 | 16;
}

/**
 * Most pixels a picture may have (50 megapixels, above any robot camera): a larger one is refused from its
 * header, before anything is decoded or allocated.
 */
export const MAX_INPUT_PIXELS = 50_000_000;

/** Throws when a picture of width x height exceeds MAX_INPUT_PIXELS. */
export function checkPixelCount(width: number, height: number, what: string): void {
  if (width * height > MAX_INPUT_PIXELS) {
    throw new Error(`image: ${what} is ${width}x${height} = ${width * height} pixels; at most ${MAX_INPUT_PIXELS} pixels are accepted`);
  }
}

// A Map, not an object: an encoding such as '__proto__' or 'constructor' must not find Object's members.
const LAYOUTS = new Map<string, EncodingLayout>(
  Object.entries({
    rgb8: { bytes: 3, channels: 3, order: [0, 1, 2], bits: 8 },
    bgr8: { bytes: 3, channels: 3, order: [2, 1, 0], bits: 8 },
    rgba8: { bytes: 4, channels: 3, order: [0, 1, 2], bits: 8 },
    bgra8: { bytes: 4, channels: 3, order: [2, 1, 0], bits: 8 },
    mono8: { bytes: 1, channels: 1, order: [0], bits: 8 },
    mono16: { bytes: 2, channels: 1, order: [0], bits: 16 },
    '8uc1': { bytes: 1, channels: 1, order: [0], bits: 8 },
    // OpenCV's 8UC3 matrices are BGR, and cv_bridge publishes them as such.
    '8uc3': { bytes: 3, channels: 3, order: [2, 1, 0], bits: 8 },
  }),
);

/** Tightly packed pixels ready for sharp's raw input. */
export interface RawPixels {
  width: number;
  height: number;
  channels: 1 | 3;
  /** 8-bit pixels as bytes, 16-bit pixels in native order (sharp infers the depth from the array type). */
  data: Uint8Array | Uint16Array;
  bits: 8 | 16;
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !ArrayBuffer.isView(value) && !Array.isArray(value);
}

/** Byte payload of a ROS message field, in any of the shapes bridges and JSON give it. */
export function toBytes(data: unknown, what: string): Uint8Array {
  if (data instanceof Uint8Array || data instanceof Uint8ClampedArray) {
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  }
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (typeof data === 'string') {
    // rosbridge sends uint8[] as base64.
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(data.replace(/\s+/g, ''))) {
      throw new Error(`image: ${what}.data is a string that is not base64`);
    }
    return Buffer.from(data, 'base64');
  }
  if (Array.isArray(data)) {
    const out = new Uint8Array(data.length);
    for (let i = 0; i < data.length; i++) {
      const v = data[i];
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 255) {
        throw new Error(`image: ${what}.data[${i}] is ${JSON.stringify(v)}, expected a byte 0..255`);
      }
      out[i] = v;
    }
    return out;
  }
  if (isObject(data) && data.type === 'Buffer' && Array.isArray(data.data)) {
    return toBytes(data.data, what);
  }
  const got = data === undefined ? 'missing' : ArrayBuffer.isView(data) ? data.constructor.name : typeof data;
  throw new Error(`image: ${what}.data must be a Buffer, Uint8Array, byte array or base64 string, got ${got}`);
}

export function isImageMessage(value: unknown): value is Record<string, unknown> {
  return isObject(value) && 'encoding' in value && 'data' in value;
}

export function isCompressedImageMessage(value: unknown): value is Record<string, unknown> {
  return isObject(value) && 'format' in value && 'data' in value && !('encoding' in value);
}

function dimension(msg: Record<string, unknown>, key: string): number {
  const v = msg[key];
  if (v === undefined) throw new Error(`image: sensor_msgs/Image is missing the '${key}' field`);
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
    throw new Error(`image: sensor_msgs/Image ${key} must be a positive integer, got ${JSON.stringify(v)}`);
  }
  return v;
}

/** Repacks a sensor_msgs/Image into RGB or grey pixels without row padding. */
export function rawFromImageMessage(msg: Record<string, unknown>): RawPixels & { encoding: string } {
  const width = dimension(msg, 'width');
  const height = dimension(msg, 'height');
  checkPixelCount(width, height, 'sensor_msgs/Image');
  const encoding = msg.encoding;
  if (typeof encoding !== 'string' || encoding === '') {
    throw new Error(`image: sensor_msgs/Image is missing the 'encoding' field (supported: ${SUPPORTED_ENCODINGS.join(', ')})`);
  }
  const layout = LAYOUTS.get(encoding.toLowerCase());
  if (!layout) {
    throw new Error(`image: unsupported sensor_msgs/Image encoding '${encoding}' (supported: ${SUPPORTED_ENCODINGS.join(', ')})`);
  }
  const bytes = toBytes(msg.data, 'sensor_msgs/Image');
  const rowBytes = width * layout.bytes;
  let step = rowBytes;
  if (msg.step !== undefined && msg.step !== null) {
    const s = msg.step;
    if (typeof s !== 'number' || !Number.isInteger(s) || s < rowBytes) {
      throw new Error(
        `image: sensor_msgs/Image step ${JSON.stringify(s)} is smaller than width x bytes per pixel = ${width} x ${layout.bytes} = ${rowBytes} for ${encoding}`,
      );
    }
    // Row padding is a few bytes of alignment; a step far beyond the row does not describe this picture.
    if (s > rowBytes + 64) {
      throw new Error(
        `image: sensor_msgs/Image step ${s} is far larger than width x bytes per pixel = ${rowBytes} for ${width}x${height} ${encoding} (padding of up to 64 bytes per row is accepted)`,
      );
    }
    step = s;
  }
  // As in ROS, data holds exactly step x height bytes: anything else means width, height, step or encoding
  // disagree with the data.
  if (bytes.length !== step * height) {
    throw new Error(
      `image: sensor_msgs/Image data has ${bytes.length} bytes, expected step x height = ${step} x ${height} = ${step * height} (${width}x${height} ${encoding}): width, height, step or encoding do not match the data`,
    );
  }
  const bigEndian = msg.is_bigendian === true || msg.is_bigendian === 1;

  if (layout.bits === 16) {
    const out = new Uint16Array(width * height);
    for (let y = 0; y < height; y++) {
      let src = y * step;
      let dst = y * width;
      for (let x = 0; x < width; x++, src += 2, dst++) {
        out[dst] = bigEndian ? (bytes[src] << 8) | bytes[src + 1] : bytes[src] | (bytes[src + 1] << 8);
      }
    }
    return { width, height, channels: 1, data: out, bits: 16, encoding };
  }

  const { channels, order } = layout;
  // Already tight and in the right channel order: no copy needed.
  if (step === rowBytes && layout.bytes === channels && order.every((o, i) => o === i)) {
    return { width, height, channels, data: bytes.subarray(0, rowBytes * height), bits: 8, encoding };
  }
  const out = new Uint8Array(width * height * channels);
  let dst = 0;
  for (let y = 0; y < height; y++) {
    let src = y * step;
    for (let x = 0; x < width; x++, src += layout.bytes) {
      for (let c = 0; c < channels; c++) out[dst++] = bytes[src + order[c]];
    }
  }
  return { width, height, channels, data: out, bits: 8, encoding };
}

/** Checks a CompressedImage's format string and returns its compressed bytes. */
export function bytesFromCompressedMessage(msg: Record<string, unknown>): { bytes: Uint8Array; format: string } {
  const format = msg.format;
  if (typeof format !== 'string') {
    throw new Error(`image: sensor_msgs/CompressedImage 'format' must be a string such as "jpeg" or "png", got ${JSON.stringify(format)}`);
  }
  const f = format.toLowerCase();
  if (f.includes('compresseddepth')) {
    throw new Error(
      `image: sensor_msgs/CompressedImage format '${format}' (compressedDepth) is not supported; publish the depth stream as a sensor_msgs/Image with mono16 encoding`,
    );
  }
  // An empty format is common from hand-made messages; the magic bytes decide then.
  if (f.trim() !== '' && !/jpe?g|png/.test(f)) {
    throw new Error(
      `image: unsupported sensor_msgs/CompressedImage format '${format}' (supported: jpeg, png, e.g. "jpeg", "png", "bgr8; jpeg compressed bgr8")`,
    );
  }
  return { bytes: toBytes(msg.data, 'sensor_msgs/CompressedImage'), format };
}
