import { randomBytes } from 'node:crypto';
import { maskInto, unmask, unmaskInto } from '../src/mask.js';
import { wasmMasker } from '../src/mask-wasm.js';

/** The reference: RFC 6455 §5.3, one byte at a time. */
function reference(data: Uint8Array, mask: Uint8Array, phase = 0): Buffer {
  const out = Buffer.alloc(data.length);
  for (let i = 0; i < data.length; i++) out[i] = data[i]! ^ mask[(i + phase) & 3]!;
  return out;
}

/** Lengths around every branch: byte tail, word loop, 16- and 64-byte SIMD loops, block edges (16 KiB). */
const LENGTHS = [0, 1, 3, 4, 5, 15, 16, 17, 63, 64, 65, 1023, 1024, 1025, 4099, 16383, 16384, 16385, 40_000, 100_003];

function randomLength(): number {
  return Math.floor(Math.random() * 70_000);
}

describe('masking kernels', () => {
  it('the WebAssembly SIMD kernel loads on this runtime', () => {
    expect(wasmMasker).not.toBeNull();
  });

  it('WebAssembly kernel matches the byte loop for every length, phase, source and target offset', () => {
    const lengths = [...LENGTHS, ...Array.from({ length: 40 }, randomLength)];
    for (const length of lengths) {
      for (let phase = 0; phase < 4; phase++) {
        const start = Math.floor(Math.random() * 8);
        const offset = Math.floor(Math.random() * 8);
        const source = randomBytes(start + length + 3);
        const mask = randomBytes(4);
        const target = randomBytes(offset + length + 5);
        const before = Buffer.from(target);
        const original = Buffer.from(source);
        wasmMasker!.maskInto(source, start, start + length, mask, phase, target, offset);
        expect(
          target
            .subarray(offset, offset + length)
            .equals(reference(source.subarray(start, start + length), mask, phase)),
        ).toBe(true);
        // Nothing outside the range is touched, and the source is left alone.
        expect(target.subarray(0, offset).equals(before.subarray(0, offset))).toBe(true);
        expect(target.subarray(offset + length).equals(before.subarray(offset + length))).toBe(true);
        expect(source.equals(original)).toBe(true);
      }
    }
  });

  it('unmask (in place) matches the byte loop at every alignment of the view', () => {
    for (const length of [...LENGTHS, ...Array.from({ length: 20 }, randomLength)]) {
      for (let align = 0; align < 4; align++) {
        const backing = randomBytes(length + align);
        const data = backing.subarray(align);
        const mask = randomBytes(4);
        const expected = reference(data, mask);
        unmask(data, mask);
        expect(data.equals(expected)).toBe(true);
      }
    }
  });

  it('maskInto leaves the source untouched and writes the masked bytes at the offset', () => {
    for (const length of LENGTHS) {
      const source = randomBytes(length);
      const copy = Buffer.from(source);
      const mask = randomBytes(4);
      const target = Buffer.alloc(length + 7);
      maskInto(source, mask, target, 7);
      expect(source.equals(copy)).toBe(true);
      expect(target.subarray(7).equals(reference(source, mask))).toBe(true);
    }
  });

  it('unmaskInto reassembles a payload split at random points into the same bytes as one pass', () => {
    for (let round = 0; round < 30; round++) {
      const payload = randomBytes(randomLength() + 1);
      const mask = randomBytes(4);
      const out = Buffer.alloc(payload.length);
      let at = 0;
      while (at < payload.length) {
        const end = Math.min(payload.length, at + 1 + Math.floor(Math.random() * 20_000));
        // Each piece lives in its own chunk at a random position, as socket reads do.
        const lead = Math.floor(Math.random() * 5);
        const chunk = Buffer.concat([randomBytes(lead), payload.subarray(at, end)]);
        unmaskInto(chunk, lead, lead + end - at, mask, at, out, at);
        at = end;
      }
      expect(out.equals(reference(payload, mask))).toBe(true);
    }
  });
});
