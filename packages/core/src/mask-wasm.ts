/**
 * The WebAssembly SIMD masking kernel (bytes in mask-wasm-module.ts, source in tools/mask-wasm.mjs).
 * Payload bytes live outside WebAssembly memory, so they pass through a fixed block of it: copy in,
 * XOR 16 bytes at a time, copy out. Both copies are memcpy and the block stays in L1, which makes the
 * round trip several times faster than a JavaScript word loop on large payloads.
 * `null` where the runtime lacks WebAssembly SIMD (the JavaScript loop is used instead).
 */
import { MASK_WASM_BASE64 } from './mask-wasm-module.js';

export interface WasmMasker {
  /** XORs `source[start, end)` with the 4-byte mask rotated to start at `phase`, into `target` at `offset`. */
  maskInto(
    source: Uint8Array,
    start: number,
    end: number,
    mask: Uint8Array,
    phase: number,
    target: Uint8Array,
    offset: number,
  ): void;
}

const BLOCK = 16 * 1024;

interface KernelExports {
  memory: { buffer: ArrayBuffer };
  xor(length: number, maskWord: number): void;
}

/** The part of the WebAssembly global used here (@types/node does not declare it; lib.dom is not loaded). */
interface WebAssemblyApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: object };
}

function load(): WasmMasker | null {
  const wasm = (globalThis as { WebAssembly?: WebAssemblyApi }).WebAssembly;
  if (wasm === undefined || process.env.WSKIT_NO_WASM_MASK === '1') return null;
  try {
    const bytes = Buffer.from(MASK_WASM_BASE64, 'base64');
    if (!wasm.validate(bytes)) return null;
    const exports = new wasm.Instance(new wasm.Module(bytes)).exports as KernelExports;
    // The memory never grows, so this view stays attached.
    const block = new Uint8Array(exports.memory.buffer, 0, BLOCK);
    const xor = exports.xor;
    return {
      maskInto(source, start, end, mask, phase, target, offset) {
        // Little-endian word whose first byte is mask[phase]; blocks are multiples of 4, so it holds for all.
        const word =
          mask[phase & 3]! |
          (mask[(phase + 1) & 3]! << 8) |
          (mask[(phase + 2) & 3]! << 16) |
          (mask[(phase + 3) & 3]! << 24);
        while (start < end) {
          const n = Math.min(BLOCK, end - start);
          block.set(source.subarray(start, start + n));
          xor(n, word);
          target.set(n === BLOCK ? block : block.subarray(0, n), offset);
          start += n;
          offset += n;
        }
      },
    };
  } catch {
    return null;
  }
}

export const wasmMasker: WasmMasker | null = load();
