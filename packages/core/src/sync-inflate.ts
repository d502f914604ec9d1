/**
 * Inflate of small compressed messages on the calling thread, through the native handle of the socket's zlib
 * stream (the internals and the reason are those of sync-deflate.ts: a thread-pool round trip costs several
 * times the inflate of a few KiB).
 *
 * The work done synchronously is bounded twice: by the compressed input the caller accepts (a few KiB), and by
 * a budget of output bytes per call. A message that inflates past the budget (a compression bomb, or just a
 * very compressible one) stops there, and the caller hands the rest of its input to the stream, on the thread
 * pool, with the zlib state as this left it: the event loop is never held for more than the budget's worth.
 */
import * as zlib from 'node:zlib';
import { zlibInternals, type NativeZlibHandle } from './sync-deflate.js';

/** Compressed messages up to this many bytes are inflated synchronously. */
export const SYNC_INFLATE_INPUT_LIMIT = 16 * 1024;
/** Output produced synchronously per message; past it the message continues on the thread pool. */
export const SYNC_INFLATE_BUDGET = 256 * 1024;

/**
 * - `done`: all input consumed and its output flushed;
 * - `ended`: the input held a final block (BFINAL); the rest of it is ignored, as zlib ignores it;
 * - `more`: the output budget was used up; the input from `consumed` on (and output zlib still holds) remains;
 * - `stopped`: the sink refused a chunk;
 * - `failed`: zlib failed (the stream destroyed itself; its error is `stream.errored`).
 */
export type InflateOutcome = 'done' | 'ended' | 'more' | 'stopped' | 'failed';

const SCRATCH_SIZE = 64 * 1024;
const scratch = Buffer.allocUnsafe(SCRATCH_SIZE);

export class SyncInflater {
  readonly stream: zlib.InflateRaw;
  readonly #handle: NativeZlibHandle;
  readonly #state: Uint32Array;
  /** Input bytes taken by the last inflate(). */
  consumed = 0;

  private constructor(stream: zlib.InflateRaw, handle: NativeZlibHandle, state: Uint32Array) {
    this.stream = stream;
    this.#handle = handle;
    this.#state = state;
  }

  /** A synchronous view of `stream`, or null when this Node's zlib stream lacks the internals used. */
  static from(stream: zlib.InflateRaw): SyncInflater | null {
    const internals = zlibInternals(stream);
    return internals === null ? null : new SyncInflater(stream, internals.handle, internals.state);
  }

  /**
   * Inflates `input` with a sync flush, handing each piece of output to `sink` as a view of a shared scratch
   * buffer, valid only during the call (copy what you keep); `sink` returns false to stop.
   */
  inflate(input: Buffer, budget: number, sink: (chunk: Buffer) => boolean): InflateOutcome {
    const handle = this.#handle;
    const state = this.#state;
    const out = scratch;
    let inOffset = 0;
    let inLength = input.length;
    let produced = 0;
    for (;;) {
      handle.writeSync(zlib.constants.Z_SYNC_FLUSH, input, inOffset, inLength, out, 0, out.length);
      // zlib reports errors through the stream, which destroys itself.
      if (this.stream.destroyed) {
        this.consumed = inOffset;
        return 'failed';
      }
      const availOut = state[0]!;
      const availIn = state[1]!;
      inOffset += inLength - availIn;
      inLength = availIn;
      this.consumed = inOffset;
      const length = out.length - availOut;
      if (length > 0) {
        produced += length;
        if (!sink(out.subarray(0, length))) return 'stopped';
      }
      // Room left over: zlib has nothing more; input it did not take follows the final block.
      if (availOut !== 0) return availIn === 0 ? 'done' : 'ended';
      if (produced >= budget) return 'more';
    }
  }

  /** Forgets the history (the peer compresses without context takeover). */
  reset(): void {
    this.#handle.reset();
  }
}

/** The message and the 00 00 ff ff tail it lost on the wire (RFC 7692 §7.2.2), in one shared input buffer. */
let inputScratch = Buffer.allocUnsafe(SYNC_INFLATE_INPUT_LIMIT + 4);
export function withTail(data: Buffer): Buffer {
  const need = data.length + 4;
  if (inputScratch.length < need) inputScratch = Buffer.allocUnsafe(need);
  const input = inputScratch;
  data.copy(input, 0);
  input[data.length] = 0x00;
  input[data.length + 1] = 0x00;
  input[data.length + 2] = 0xff;
  input[data.length + 3] = 0xff;
  return input.subarray(0, need);
}
