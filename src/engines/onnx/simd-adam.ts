/**
 * Adam as a WebAssembly SIMD loop (4 float32 lanes), for the large dense weights of the onnx engine. The
 * weights, their gradient and moments live in one WebAssembly memory per layer (sized once, never grown, so the
 * Float32Array views stay valid); ORT reads and writes those views directly. Scalar JS does the same update in
 * about three times as long; it remains the fallback where WebAssembly SIMD is missing.
 *
 * The module is assembled here byte by byte (no toolchain needed); it exports
 *   adam(p, g, m, v, bytes, b1, a1, b2, a2, c1, c2, lr, eps, wd)
 * updating `bytes / 4` floats (bytes a multiple of 16, pointers 16-byte aligned):
 *   m = b1 m + a1 g;  v = b2 v + a2 g^2;  p = p - lr ((m c1) / (sqrt(v c2) + eps) + wd p)
 */

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

function section(id: number, body: number[]): number[] {
  return [id, ...uleb(body.length), ...body];
}

function name(s: string): number[] {
  const bytes = [...Buffer.from(s, 'utf8')];
  return [...uleb(bytes.length), ...bytes];
}

const I32 = 0x7f;
const F32 = 0x7d;
const V128 = 0x7b;
const get = (i: number) => [0x20, i];
const set = (i: number) => [0x21, i];
const simd = (op: number) => [0xfd, ...uleb(op)];
const LOAD = [...simd(0x00), 0x04, 0x00];
const STORE = [...simd(0x0b), 0x04, 0x00];
const SPLAT = simd(0x13);
const SQRT = simd(0xe3);
const ADD = simd(0xe4);
const SUB = simd(0xe5);
const MUL = simd(0xe6);
const DIV = simd(0xe7);
const I32_ADD = [0x6a];

function adamModuleBytes(): Uint8Array<ArrayBuffer> {
  // Parameters: 0 p, 1 g, 2 m, 3 v, 4 bytes (i32); 5 b1, 6 a1, 7 b2, 8 a2, 9 c1, 10 c2, 11 lr, 12 eps, 13 wd (f32).
  // Locals: 14 offset (i32); 15..23 the scalars splatted; 24 g, 25 m, 26 v, 27 p (v128).
  const at = (base: number) => [...get(base), ...get(14), ...I32_ADD];
  const body: number[] = [0x02, 0x01, I32, 0x0d, V128];
  for (let s = 0; s < 9; s++) body.push(...get(5 + s), ...SPLAT, ...set(15 + s));
  body.push(
    0x02,
    0x40, // block
    0x03,
    0x40, // loop
    ...get(14),
    ...get(4),
    0x4f,
    0x0d,
    0x01, // if offset >= bytes: break
    ...at(1),
    ...LOAD,
    ...set(24),
    ...at(2),
    ...LOAD,
    ...get(15),
    ...MUL,
    ...get(16),
    ...get(24),
    ...MUL,
    ...ADD,
    ...set(25),
    ...at(3),
    ...LOAD,
    ...get(17),
    ...MUL,
    ...get(24),
    ...get(24),
    ...MUL,
    ...get(18),
    ...MUL,
    ...ADD,
    ...set(26),
    ...at(2),
    ...get(25),
    ...STORE,
    ...at(3),
    ...get(26),
    ...STORE,
    ...at(0),
    ...LOAD,
    ...set(27),
    ...at(0),
    ...get(27),
    ...get(25),
    ...get(19),
    ...MUL,
    ...get(26),
    ...get(20),
    ...MUL,
    ...SQRT,
    ...get(22),
    ...ADD,
    ...DIV,
    ...get(23),
    ...get(27),
    ...MUL,
    ...ADD,
    ...get(21),
    ...MUL,
    ...SUB,
    ...STORE,
    ...get(14),
    0x41,
    0x10,
    ...I32_ADD,
    ...set(14), // offset += 16
    0x0c,
    0x00, // continue
    0x0b, // end loop
    0x0b, // end block
    0x0b, // end function
  );
  const type = [0x01, 0x60, 14, I32, I32, I32, I32, I32, F32, F32, F32, F32, F32, F32, F32, F32, F32, 0x00];
  const imports = [0x01, ...name('e'), ...name('m'), 0x02, 0x00, 0x01];
  const functions = [0x01, 0x00];
  const exports = [0x01, ...name('adam'), 0x00, 0x00];
  const code = [0x01, ...uleb(body.length), ...body];
  return Uint8Array.from([
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ...section(1, type),
    ...section(2, imports),
    ...section(3, functions),
    ...section(7, exports),
    ...section(10, code),
  ]);
}

let compiled: WebAssembly.Module | null | undefined;

function adamModule(): WebAssembly.Module | null {
  if (compiled === undefined) {
    try {
      compiled = process.env.HFF_NO_SIMD ? null : new WebAssembly.Module(adamModuleBytes() as Uint8Array<ArrayBuffer>);
    } catch {
      compiled = null;
    }
  }
  return compiled;
}

type AdamFn = (
  p: number,
  g: number,
  m: number,
  v: number,
  bytes: number,
  b1: number,
  a1: number,
  b2: number,
  a2: number,
  c1: number,
  c2: number,
  lr: number,
  eps: number,
  wd: number,
) => void;

/**
 * Four equally long float32 arrays (param, grad, m, v) in one WebAssembly memory, with a SIMD Adam over them;
 * plain Float32Arrays and `update === undefined` when WebAssembly SIMD is unavailable.
 */
export class AdamBlock {
  readonly param: Float32Array;
  readonly grad: Float32Array;
  readonly m: Float32Array;
  readonly v: Float32Array;
  private readonly fn?: AdamFn;
  private readonly bytes: number;

  constructor(readonly length: number) {
    const module = adamModule();
    const stride = Math.ceil((length * 4) / 16) * 16;
    this.bytes = stride;
    let memory: WebAssembly.Memory | undefined;
    let fn: AdamFn | undefined;
    if (module && length > 0) {
      try {
        const pages = Math.ceil((stride * 4) / 65536);
        memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
        fn = new WebAssembly.Instance(module, { e: { m: memory } }).exports.adam as AdamFn;
      } catch {
        // No room for another WebAssembly memory (e.g. a virtual-memory limit): plain arrays and scalar JS.
        memory = undefined;
      }
    }
    if (memory && fn) {
      this.fn = fn;
      const buffer = memory.buffer;
      const view = (i: number) => new Float32Array(buffer, i * stride, length);
      this.param = view(0);
      this.grad = view(1);
      this.m = view(2);
      this.v = view(3);
    } else {
      this.param = new Float32Array(length);
      this.grad = new Float32Array(length);
      this.m = new Float32Array(length);
      this.v = new Float32Array(length);
    }
  }

  get simd(): boolean {
    return this.fn !== undefined;
  }

  /** Adam step `step` (from 1) with decoupled weight decay; false when SIMD is unavailable (caller falls back). */
  update(beta1: number, beta2: number, learningRate: number, epsilon: number, weightDecay: number, step: number): boolean {
    if (!this.fn) return false;
    const c1 = 1 / (1 - Math.pow(beta1, step));
    const c2 = 1 / (1 - Math.pow(beta2, step));
    const s = this.bytes;
    // The padding lanes past `length` hold zeros and stay finite (0 / (sqrt(0) + eps) = 0).
    this.fn(0, s, 2 * s, 3 * s, s, beta1, 1 - beta1, beta2, 1 - beta2, c1, c2, learningRate, epsilon, weightDecay);
    return true;
  }
}
