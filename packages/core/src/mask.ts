/**
 * XOR masking (RFC 6455 §5.3), the hot byte loop of the protocol.
 * Works on 32-bit words over an aligned view; only the unaligned head and the tail go byte by byte.
 */
import { endianness } from 'node:os';

const LITTLE_ENDIAN = endianness() === 'LE';
const WORD_THRESHOLD = 64;

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
  target.set(source, offset);
  unmask(target.subarray(offset, offset + length), mask);
}
