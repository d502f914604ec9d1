/**
 * Deflate of small messages on the calling thread, through the native handle of a zlib stream.
 *
 * Why: a message of a few KiB costs about 10 µs of zlib work, but a write through the zlib stream costs three
 * times that in stream machinery and the thread-pool round trip, per message and per socket. zlib exposes no
 * public synchronous call on a stream that keeps its state (`deflateRawSync` makes and frees a context per
 * call, which costs another 20 µs), so this uses the stream's handle directly: `writeSync` and the
 * `_writeState` pair it fills, the pair Node's own synchronous zlib functions read. `SyncDeflater.from`
 * returns null when a Node release lacks them, and callers then keep to the stream.
 *
 * Output goes to one scratch buffer shared by every deflater: the returned view is valid until the next
 * deflate anywhere, so callers copy it (the framer does, into the frame slab) before anything else runs.
 */
import { types } from 'node:util';
import * as zlib from 'node:zlib';

/** Messages up to this many bytes are deflated synchronously: at most ~0.3 ms of zlib work each, blocking. */
export const SYNC_DEFLATE_LIMIT = 16 * 1024;

export interface NativeZlibHandle {
  writeSync(
    flush: number,
    input: Buffer,
    inOffset: number,
    inLength: number,
    output: Buffer,
    outOffset: number,
    outLength: number,
  ): void;
  reset(): void;
}

interface StreamInternals {
  _handle?: unknown;
  _writeState?: unknown;
}

const SCRATCH_SIZE = 32 * 1024;
/** A scratch grown past this for one big output is not kept. */
const SCRATCH_KEEP = 256 * 1024;
let scratch = Buffer.allocUnsafe(SCRATCH_SIZE);

/** The native handle and write-state pair of a zlib stream, or null when this Node's stream lacks them. */
export function zlibInternals(stream: zlib.Deflate | zlib.Inflate | zlib.DeflateRaw | zlib.InflateRaw): {
  handle: NativeZlibHandle;
  state: Uint32Array;
} | null {
  const internals = stream as unknown as StreamInternals;
  const handle = nativeHandle(internals._handle);
  const state = internals._writeState;
  // Checked by tag, not instanceof: the array comes from Node's realm, which differs from a vm context's.
  if (handle === null || !types.isUint32Array(state) || state.length < 2) return null;
  return { handle, state };
}

function nativeHandle(value: unknown): NativeZlibHandle | null {
  if (typeof value !== 'object' || value === null) return null;
  const h = value as Partial<NativeZlibHandle>;
  return typeof h.writeSync === 'function' && typeof h.reset === 'function' ? (value as NativeZlibHandle) : null;
}

export class SyncDeflater {
  readonly #stream: zlib.DeflateRaw;
  readonly #handle: NativeZlibHandle;
  /** [avail_out, avail_in] after each write, filled in by the handle. */
  readonly #state: Uint32Array;

  private constructor(stream: zlib.DeflateRaw, handle: NativeZlibHandle, state: Uint32Array) {
    this.#stream = stream;
    this.#handle = handle;
    this.#state = state;
  }

  /** A synchronous view of `stream`, or null when this Node's zlib stream lacks the internals used. */
  static from(stream: zlib.DeflateRaw): SyncDeflater | null {
    const internals = zlibInternals(stream);
    return internals === null ? null : new SyncDeflater(stream, internals.handle, internals.state);
  }

  /** False once the stream was closed or failed (close() destroys it): use it no more. */
  get usable(): boolean {
    return !this.#stream.destroyed;
  }

  /**
   * Deflates `data` with a sync flush; `fin` drops the 00 00 ff ff the flush ends with (RFC 7692 §7.2.1).
   * Returns a view of the shared scratch buffer, valid until the next deflate; null when zlib failed (the
   * stream is then destroyed).
   */
  deflate(data: Buffer, fin: boolean): Buffer | null {
    const handle = this.#handle;
    const state = this.#state;
    let out = scratch;
    let outOffset = 0;
    let inOffset = 0;
    let inLength = data.length;
    for (;;) {
      handle.writeSync(zlib.constants.Z_SYNC_FLUSH, data, inOffset, inLength, out, outOffset, out.length - outOffset);
      // zlib reports errors through the stream, which destroys itself.
      if (this.#stream.destroyed) return null;
      const availOut = state[0]!;
      const availIn = state[1]!;
      inOffset += inLength - availIn;
      inLength = availIn;
      outOffset = out.length - availOut;
      // Room left over means the flush completed.
      if (availOut !== 0) break;
      const grown = Buffer.allocUnsafe(out.length * 2);
      out.copy(grown, 0, 0, outOffset);
      out = grown;
    }
    if (out.length <= SCRATCH_KEEP) scratch = out;
    return out.subarray(0, fin ? outOffset - 4 : outOffset);
  }

  /** Forgets the history: the next message refers to nothing before it. */
  reset(): void {
    this.#handle.reset();
  }
}

/**
 * Process-wide deflaters for messages compressed without context takeover: such a message refers to nothing
 * before it and leaves nothing behind (reset after it), so sockets with the same parameters can take turns on
 * one zlib context instead of holding one each (about 256 KiB at the default memLevel and window).
 */
const independent = new Map<string, SyncDeflater | null>();

/** The shared deflater for these parameters, or null where sync deflate is unavailable or options forbid sharing. */
export function independentDeflater(windowBits: number, options: zlib.ZlibOptions | undefined): SyncDeflater | null {
  // A preset dictionary is part of the context; such options keep a stream per socket.
  if (options?.dictionary !== undefined) return null;
  const level = options?.level ?? zlib.constants.Z_DEFAULT_COMPRESSION;
  const memLevel = options?.memLevel ?? 8;
  const strategy = options?.strategy ?? zlib.constants.Z_DEFAULT_STRATEGY;
  const key = `${windowBits} ${level} ${memLevel} ${strategy}`;
  let deflater = independent.get(key);
  if (deflater !== undefined && (deflater === null || deflater.usable)) return deflater;
  let stream: zlib.DeflateRaw;
  try {
    stream = zlib.createDeflateRaw({ level, memLevel, strategy, windowBits });
  } catch {
    // Bad options: the socket's own stream reports them, as before.
    return null;
  }
  stream.on('error', () => independent.delete(key));
  deflater = SyncDeflater.from(stream);
  independent.set(key, deflater);
  return deflater;
}

/** One message deflated on its own (fresh context, sync flush, tail removed); null where unavailable. */
export function deflateIndependently(
  data: Buffer,
  windowBits: number,
  options: zlib.ZlibOptions | undefined,
): Buffer | null {
  const deflater = independentDeflater(windowBits, options);
  return deflater === null ? null : deflateAlone(deflater, data);
}

/** `data` as one whole message on `deflater`, which is reset after it (a process-wide independent deflater). */
export function deflateAlone(deflater: SyncDeflater, data: Buffer): Buffer | null {
  try {
    return deflater.deflate(data, true);
  } finally {
    // Whatever happened, the next user starts from a fresh context.
    if (deflater.usable) deflater.reset();
  }
}
