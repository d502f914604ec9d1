/**
 * XOR masking (RFC 6455 §5.3), the hot byte loop of the protocol.
 * Large payloads go through the WebAssembly SIMD kernel (mask-wasm.ts); otherwise the loop works on
 * 32-bit words over an aligned view, and only the unaligned head and the tail go byte by byte.
 */
import { endianness } from 'node:os';
import { wasmMasker } from './mask-wasm.js';

const LITTLE_ENDIAN = endianness() === 'LE';
const WORD_THRESHOLD = 64;
/** Below this the two block copies and the call cost more than the JavaScript word loop saves. */
const WASM_THRESHOLD = 2048;

function maskWord(mask: Uint8Array, start: number): number {
  const b0 = mask[start & 3]!;
  const b1 = mask[(start + 1) & 3]!;
  const b2 = mask[(start + 2) & 3]!;
  const b3 = mask[(start + 3) & 3]!;
  return LITTLE_ENDIAN
    ? (b0 | (b1 << 8) | (b2 << 16) | (b3 << 24)) >>> 0
    : ((b0 << 24) | (b1 << 16) | (b2 << 8) | b3) >>> 0;
}

/** Unmasks `data` in place. */
export function unmask(data: Uint8Array, mask: Uint8Array): void {
  const length = data.length;
  if (length >= WASM_THRESHOLD && wasmMasker !== null) {
    wasmMasker.maskInto(data, 0, length, mask, 0, data, 0);
    return;
  }
  let i = 0;
  if (length >= WORD_THRESHOLD) {
    const head = (4 - (data.byteOffset & 3)) & 3;
    for (; i < head; i++) data[i]! ^= mask[i & 3]!;
    const words = (length - i) >>> 2;
    const view = new Uint32Array(data.buffer, data.byteOffset + i, words);
    const m = maskWord(mask, i);
    let w = 0;
    const unrolled = words & ~3;
    for (; w < unrolled; w += 4) {
      view[w]! ^= m;
      view[w + 1]! ^= m;
      view[w + 2]! ^= m;
      view[w + 3]! ^= m;
    }
    for (; w < words; w++) view[w]! ^= m;
    i += words << 2;
  }
  for (; i < length; i++) data[i]! ^= mask[i & 3]!;
}

/**
 * Writes `source` masked with `mask` into `target` at `offset` (the source is left untouched: a client
 * must not alter the buffers its caller handed to send()).
 */
export function maskInto(source: Uint8Array, mask: Uint8Array, target: Uint8Array, offset: number): void {
  const length = source.length;
  if (length < WORD_THRESHOLD) {
    for (let i = 0; i < length; i++) target[offset + i] = source[i]! ^ mask[i & 3]!;
    return;
  }
  if (length >= WASM_THRESHOLD && wasmMasker !== null) {
    wasmMasker.maskInto(source, 0, length, mask, 0, target, offset);
    return;
  }
  target.set(source, offset);
  unmask(target.subarray(offset, offset + length), mask);
}

/**
 * Copies `source[start, end)` into `target` at `offset`, unmasked with `mask` rotated by `phase` (the
 * index in the payload of `source[start]`): one pass for a payload that spans several chunks.
 */
export function unmaskInto(
  source: Uint8Array,
  start: number,
  end: number,
  mask: Uint8Array,
  phase: number,
  target: Uint8Array,
  offset: number,
): void {
  if (end - start >= WASM_THRESHOLD && wasmMasker !== null) {
    wasmMasker.maskInto(source, start, end, mask, phase, target, offset);
    return;
  }
  target.set(source.subarray(start, end), offset);
  const piece = target.subarray(offset, offset + end - start);
  if ((phase & 3) === 0) {
    unmask(piece, mask);
    return;
  }
  const rotated = new Uint8Array(4);
  for (let k = 0; k < 4; k++) rotated[k] = mask[(phase + k) & 3]!;
  unmask(piece, rotated);
}
