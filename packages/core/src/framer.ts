/**
 * Messages → frames → socket. Frames written in one tick are gathered into one contiguous region of the
 * shared frame slab (small payloads are copied in right behind their header; see frame-slab.ts) and handed
 * to the socket in a single write on the next tick, so an echo of many small messages costs one syscall
 * per tick, not one per message. A larger
 * payload up to COPY_LIMIT is copied behind its header into a buffer of its own; above that, or when the
 * bytes are already ours (compressed output), header and payload go out together through cork/uncork (writev).
 * Steps that complete asynchronously (compression, Blob reads) hold every later frame back, so frames
 * leave in the order they were sent.
 *
 * Buffer ownership: once sendMessage() returns, the caller may reuse a payload of up to COPY_LIMIT bytes.
 * Whatever cannot be consumed at once (a large frame written on the next flush, a message waiting behind
 * another, input to the compressor, a fragmented message waiting for 'drain') is copied first. Larger
 * payloads are held by reference until their callback runs, as Node streams hold written chunks.
 */
import { randomFillSync } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { Opcode } from './constants.js';
import { WebSocketError } from './errors.js';
import { queueFanout, type FanoutTarget } from './fanout.js';
import { claimSlab, isSlabTail, SLAB_FRAME_LIMIT, slabUsed, slabWithRoom, unpinned } from './frame-slab.js';
import { maskInto } from './mask.js';

export type SendCallback = (error?: Error | null) => void;

/** The part of permessage-deflate the framer needs. */
export interface MessageCompressor {
  readonly threshold: number;
  compress(data: Buffer, fin: boolean, cb: (error: Error | null, result?: Buffer) => void): void;
  /** The frame payload at once (a view to copy before anything else runs), or null: then compress(). */
  compressNow?(data: Buffer, fin: boolean): Buffer | null;
}

const SMALL_PAYLOAD = 16 * 1024;
/** Payloads up to this size are copied when they cannot be consumed at once (see the file comment). */
export const COPY_LIMIT = 1024 * 1024;

/** The caller's bytes, copied when small enough that the caller may reuse them (`owned`: ours already). */
function retain(data: Buffer, owned: boolean): Buffer {
  return owned || data.length > COPY_LIMIT || data.length === 0 ? data : Buffer.from(data);
}

const maskPool = Buffer.allocUnsafe(8192);
let maskPoolOffset = maskPool.length;
function nextMask(): Buffer {
  if (maskPoolOffset === maskPool.length) {
    randomFillSync(maskPool);
    maskPoolOffset = 0;
  }
  const key = maskPool.subarray(maskPoolOffset, maskPoolOffset + 4);
  maskPoolOffset += 4;
  return key;
}

/** Header length for a payload of `length` bytes. */
export function frameHeaderLength(length: number, masked: boolean): number {
  return (length < 126 ? 2 : length < 65536 ? 4 : 10) + (masked ? 4 : 0);
}

/** Writes a frame header at `offset`; returns the offset just past it. */
export function writeFrameHeader(
  target: Buffer,
  offset: number,
  opcode: number,
  fin: boolean,
  rsv1: boolean,
  length: number,
  maskKey: Buffer | null,
): number {
  target[offset] = (fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode;
  const maskBit = maskKey ? 0x80 : 0;
  let o = offset + 2;
  if (length < 126) {
    target[offset + 1] = maskBit | length;
  } else if (length < 65536) {
    target[offset + 1] = maskBit | 126;
    target[o] = length >>> 8;
    target[o + 1] = length & 0xff;
    o += 2;
  } else {
    target[offset + 1] = maskBit | 127;
    target.writeUInt32BE(Math.floor(length / 0x100000000), o);
    target.writeUInt32BE(length >>> 0, o + 4);
    o += 8;
  }
  if (maskKey) {
    target[o] = maskKey[0]!;
    target[o + 1] = maskKey[1]!;
    target[o + 2] = maskKey[2]!;
    target[o + 3] = maskKey[3]!;
    o += 4;
  }
  return o;
}

/** A whole frame in one new buffer (used where the bytes are built once and written many times). */
export function buildFrame(opcode: number, fin: boolean, rsv1: boolean, payload: Buffer, mask: boolean): Buffer {
  const key = mask ? nextMask() : null;
  const out = Buffer.allocUnsafe(frameHeaderLength(payload.length, mask) + payload.length);
  const o = writeFrameHeader(out, 0, opcode, fin, rsv1, payload.length, key);
  if (key) maskInto(payload, key, out, o);
  else payload.copy(out, o);
  return out;
}

export interface MessageOptions {
  binary: boolean;
  fin: boolean;
  mask: boolean;
  compress: boolean;
  /** The payload is the framer's to keep (a fresh copy, a Blob's bytes): never copied again. */
  owned?: boolean;
  /**
   * A message of its own (a publish), never a continuation of the caller's fragmented message: sent while
   * one is open (`fin: false` so far), it waits until that message's last fragment.
   */
  whole?: boolean;
}

export class Framer implements FanoutTarget {
  compressor: MessageCompressor | null = null;
  /** The user's masking-key source (ws's `generateMask`); null: keys from the shared random pool. */
  generateMask: ((mask: Buffer) => void) | null = null;

  private batch: Buffer | null = null;
  private batchStart = 0;
  private batchUsed = 0;
  private out: Buffer[] = [];
  private callbacks: SendCallback[] = [];
  private outBytes = 0;
  private flushScheduled = false;

  private readonly queue: Array<() => void> = [];
  /** Whole messages (publishes, broadcasts) that arrived inside a fragmented message: sent after its end. */
  private deferred: Array<() => void> | null = null;
  private queuedBytes = 0;
  private busy = false;
  private destroyed = false;
  /** What holds the queue (a Blob being read, a message being compressed); what held it when the socket went. */
  private busyWith: 'blob' | 'compress' | null = null;
  private closedDuring: 'blob' | 'compress' | null = null;
  /**
   * A message deflated at once waits for the flush. ws deflates on the thread pool, so a socket closed in that
   * window fails such sends with its "being compressed" words: so do we.
   */
  private deflatedUnflushed = false;

  /** Waiting in the fan-out pump's queue. */
  private fanoutQueued = false;
  /** Set while a whole message (a publish) is framed: its write is left to the fan-out pump. */
  private pumped = false;
  private inFragmentedMessage = false;
  private fragmentCompressed = false;
  /** Callback of the message being compressed: destroy() fails it, as the compressor drops it unanswered. */
  private compressingCallback: SendCallback | null = null;
  /** Set while a large message goes out fragment by fragment; pings and pongs may pass it. */
  private streaming = false;
  private streamCallback: SendCallback | undefined;

  /**
   * @param fragmentSize when above 0, messages larger than this are sent as frames of at most this many
   * bytes, written as the socket drains, so control frames are not stuck behind a huge message.
   */
  constructor(
    private readonly socket: Duplex,
    private readonly fragmentSize = 0,
  ) {}

  /** Bytes accepted and not yet handed to the socket. */
  get pendingBytes(): number {
    return this.outBytes + (this.batchUsed - this.batchStart) + this.queuedBytes;
  }

  sendMessage(data: Buffer, options: MessageOptions, cb?: SendCallback): void {
    if (this.destroyed) {
      // The compressor is released with the socket and would never answer.
      if (cb) process.nextTick(cb, this.closedError());
      return;
    }
    if (this.busy) {
      const kept = retain(data, options.owned === true);
      const retry = kept === data ? options : { ...options, owned: true };
      this.holdBack(data.length, () => this.sendMessage(kept, retry, cb));
      return;
    }
    if (options.whole === true && this.inFragmentedMessage) {
      const kept = retain(data, options.owned === true);
      this.defer(data.length, () => this.sendMessage(kept, { ...options, owned: true }, cb));
      return;
    }
    const owned = options.owned === true;
    let opcode: number = options.binary ? Opcode.Binary : Opcode.Text;
    let compress: boolean;
    if (this.inFragmentedMessage) {
      opcode = Opcode.Continuation;
      compress = this.fragmentCompressed;
    } else {
      compress = options.compress && this.compressor !== null && data.length >= this.compressor.threshold;
      this.fragmentCompressed = compress;
    }
    const first = !this.inFragmentedMessage;
    this.inFragmentedMessage = !options.fin;

    const now = compress ? (this.compressor!.compressNow?.(data, options.fin) ?? null) : null;
    if (!compress || now !== null) {
      // A publish to many sockets goes out through the fan-out pump, merged with the publishes after it.
      this.pumped = options.whole === true;
      if (now !== null) this.deflatedUnflushed = true;
      try {
        // A deflated view is the compressor's scratch: not owned, so writeData copies what it keeps.
        if (now !== null) this.writeData(opcode, options.fin, first, now, false, options.mask, cb);
        else this.writeData(opcode, options.fin, false, data, owned, options.mask, cb);
      } finally {
        this.pumped = false;
      }
      if (options.fin && this.deferred !== null) this.releaseDeferred();
      return;
    }
    this.busy = true;
    this.busyWith = 'compress';
    this.queuedBytes += data.length;
    this.compressingCallback = cb ?? null;
    // zlib reads its input on the thread pool, after this call has returned.
    this.compressor!.compress(retain(data, owned), options.fin, (error, result) => {
      if (this.destroyed) return;
      this.busyWith = null;
      this.compressingCallback = null;
      this.queuedBytes -= data.length;
      this.busy = false;
      if (error || !result) {
        cb?.(error ?? new Error('Compression failed'));
        this.socket.destroy(error ?? undefined);
        return;
      }
      // A publish deflated off this call (thread pool, deflate worker) still joins the fan-out pump.
      this.pumped = options.whole === true;
      try {
        this.writeData(opcode, options.fin, first, result, true, options.mask, cb);
      } finally {
        this.pumped = false;
      }
      if (options.fin && this.deferred !== null) this.releaseDeferred();
      this.drain();
    });
  }

  private writeData(
    opcode: number,
    fin: boolean,
    rsv1: boolean,
    payload: Buffer,
    owned: boolean,
    mask: boolean,
    cb?: SendCallback,
  ): void {
    const size = this.fragmentSize;
    // Above COPY_LIMIT the caller leaves the buffer alone until the callback: no copy is needed.
    if (payload.length > COPY_LIMIT) owned = true;
    if (size <= 0 || payload.length <= size) {
      this.writeFrame(opcode, fin, rsv1, payload, mask, cb, owned);
      return;
    }
    this.busy = true;
    this.streaming = true;
    this.streamCallback = cb;
    let offset = 0;
    let first = true;
    const pump = (): void => {
      if (this.destroyed) return;
      while (offset < payload.length) {
        const end = Math.min(offset + size, payload.length);
        const last = end === payload.length;
        const part = payload.subarray(offset, end);
        this.writeFrame(
          first ? opcode : Opcode.Continuation,
          last && fin,
          first && rsv1,
          part,
          mask,
          last ? cb : undefined,
          owned,
        );
        first = false;
        offset = end;
        if (!last) {
          this.flush();
          if (this.socket.writableNeedDrain) {
            if (!owned) {
              // The rest goes out after send() has returned: keep our own copy of it.
              payload = Buffer.from(payload.subarray(offset));
              offset = 0;
              owned = true;
            }
            this.socket.once('drain', pump);
            return;
          }
        }
      }
      this.streaming = false;
      this.streamCallback = undefined;
      this.busy = false;
      this.drain();
    };
    pump();
  }

  /** Waits for `job` (e.g. reading a Blob) before anything queued after it is framed. */
  sendLater(size: number, job: (done: (send?: () => void) => void) => void): void {
    if (this.busy) {
      this.holdBack(size, () => this.sendLater(size, job));
      return;
    }
    this.busy = true;
    this.busyWith = 'blob';
    this.queuedBytes += size;
    // `send` runs once the hold is lifted but before the queue drains: the job's own frame keeps its place.
    job((send) => {
      this.busyWith = null;
      // Read to the end, but the socket went meanwhile (terminate()): what follows fails as in ws.
      if (this.socket.destroyed) this.closedDuring ??= 'blob';
      if (this.destroyed) {
        send?.();
        return;
      }
      this.queuedBytes -= size;
      this.busy = false;
      send?.();
      this.drain();
    });
  }

  sendControl(opcode: number, data: Buffer, mask: boolean, cb?: SendCallback): void {
    // Control frames may go between the fragments of a message (RFC 6455 §5.4), but a close frame must
    // follow all data.
    if (this.busy && !(this.streaming && opcode !== Opcode.Close)) {
      const kept = retain(data, false);
      this.holdBack(data.length, () => this.sendControl(opcode, kept, mask, cb));
      return;
    }
    this.writeFrame(opcode, true, false, data, mask, cb);
  }

  /** Queues pre-built frame bytes (broadcast: framed once, written to many sockets by the fan-out pump). */
  sendRaw(frame: Buffer, cb?: SendCallback): void {
    if (this.destroyed) {
      if (cb) process.nextTick(cb, socketClosedError());
      return;
    }
    if (this.busy) {
      this.holdBack(frame.length, () => this.sendRaw(frame, cb));
      return;
    }
    // A whole message never goes between the fragments of another (RFC 6455 §5.4).
    if (this.inFragmentedMessage) {
      this.defer(frame.length, () => this.sendRaw(frame, cb));
      return;
    }
    this.sealBatch();
    this.out.push(frame);
    this.outBytes += frame.length;
    if (cb) this.callbacks.push(cb);
    // A flush already due this tick takes the frame along; otherwise the pump writes it.
    if (!this.flushScheduled && !this.fanoutQueued) {
      this.fanoutQueued = true;
      queueFanout(this);
    }
  }

  /** @internal Called by the fan-out pump. */
  fanoutFlush(): void {
    this.fanoutQueued = false;
    if (!this.flushScheduled) this.flush();
  }

  /** Hands everything batched to the socket now. */
  flush(): void {
    this.flushScheduled = false;
    const deflated = this.deflatedUnflushed;
    this.deflatedUnflushed = false;
    this.sealBatch();
    this.batch = null;
    this.batchStart = this.batchUsed = 0;
    const out = this.out;
    if (out.length === 0) return;
    const callbacks = this.callbacks;
    const outBytes = this.outBytes;
    this.outBytes = 0;
    // The arrays are reused while nothing keeps them (a fan-out flushes thousands of framers per publish).
    if (callbacks.length > 0) this.callbacks = [];
    let data: Buffer | null = null;
    if (out.length === 1) data = out[0]!;
    // Several small pieces (broadcast frames merged by the fan-out pump): one copy is cheaper than writev.
    else if (outBytes <= SMALL_PAYLOAD) data = Buffer.concat(out, outBytes);
    if (data !== null) out.length = 0;
    else this.out = [];
    const socket = this.socket;
    const done: SendCallback | undefined =
      callbacks.length === 0
        ? undefined
        : (error) => {
            // A write cancelled by destroy() never left: Node 20 reports it as a success, Node 22 and later
            // as libuv's ECANCELED. Either way the callback gets the same WS_ERR_SOCKET_CLOSED.
            const result = isCancelledWrite(error, socket) ? this.closedError() : error;
            for (const cb of callbacks) cb(result);
          };
    if (socket.destroyed) {
      if (deflated) this.closedDuring ??= 'compress';
      if (done) process.nextTick(done, this.closedError());
      return;
    }
    // A socket still writing earlier bytes keeps these in its buffer for a while: no slab slices there.
    const backlogged = socket.writableLength > 0;
    if (data !== null) {
      socket.write(backlogged ? unpinned(data) : data, done);
      return;
    }
    socket.cork();
    const last = out.length - 1;
    for (let i = 0; i < last; i++) socket.write(backlogged ? unpinned(out[i]!) : out[i]!);
    socket.write(backlogged ? unpinned(out[last]!) : out[last]!, done);
    socket.uncork();
  }

  /**
   * Fails every queued send (the socket is gone); nothing is written afterwards. True when a callback was
   * waiting (it runs on the next tick).
   */
  destroy(): boolean {
    if (this.destroyed) return false;
    this.destroyed = true;
    this.closedDuring ??= this.busyWith ?? (this.deflatedUnflushed ? 'compress' : null);
    // Built only when someone waits for it: capturing a stack on every connection close costs handshakes/s.
    let error: Error | undefined;
    const failure = (): Error => (error ??= this.closedError());
    const callbacks = this.callbacks;
    this.callbacks = [];
    this.out = [];
    this.outBytes = 0;
    this.batch = null;
    this.batchStart = this.batchUsed = 0;
    for (const cb of callbacks) process.nextTick(cb, failure());
    const compressing = this.compressingCallback;
    this.compressingCallback = null;
    if (compressing) process.nextTick(compressing, failure());
    if (this.streamCallback) {
      process.nextTick(this.streamCallback, failure());
      this.streamCallback = undefined;
    }
    // Queued jobs re-enter sendMessage/sendControl; with `destroyed` set they only fail their callback.
    this.busy = false;
    const queue = this.queue.splice(0);
    if (this.deferred !== null) queue.push(...this.deferred);
    this.deferred = null;
    for (const job of queue) job();
    this.queuedBytes = 0;
    return error !== undefined || queue.length > 0;
  }

  /** Why sends fail once the socket is gone, in ws's words when it went while a Blob was read or data compressed. */
  private closedError(): Error {
    switch (this.closedDuring) {
      case 'blob':
        return new WebSocketError('WS_ERR_SOCKET_CLOSED', 1006, 'The socket was closed while the blob was being read');
      case 'compress':
        return new WebSocketError(
          'WS_ERR_SOCKET_CLOSED',
          1006,
          'The socket was closed while data was being compressed',
        );
      default:
        return socketClosedError();
    }
  }

  /** A fresh key per frame: it is consumed at once, but the user's function may keep the buffer it was given. */
  private userMask(generate: (mask: Buffer) => void): Buffer {
    const key = Buffer.alloc(4);
    generate(key);
    return key;
  }

  /** `owned`: the payload may be kept by reference until the flush (it is not the caller's buffer). */
  private writeFrame(
    opcode: number,
    fin: boolean,
    rsv1: boolean,
    payload: Buffer,
    mask: boolean,
    cb?: SendCallback,
    owned = false,
  ): void {
    if (this.destroyed) {
      if (cb) process.nextTick(cb, this.closedError());
      return;
    }
    const length = payload.length;
    const key = mask ? (this.generateMask === null ? nextMask() : this.userMask(this.generateMask)) : null;
    const headerLength = frameHeaderLength(length, mask);
    const need = headerLength + length;
    if (need <= SLAB_FRAME_LIMIT) {
      let batch = this.batch;
      if (!isSlabTail(batch, this.batchUsed, need)) {
        // Another framer wrote behind our region, or the slab is full: our region so far is one piece.
        this.sealBatch();
        batch = this.batch = slabWithRoom(need);
        this.batchStart = this.batchUsed = slabUsed();
      }
      const o = writeFrameHeader(batch!, this.batchUsed, opcode, fin, rsv1, length, key);
      if (key) maskInto(payload, key, batch!, o);
      else if (length > 0) payload.copy(batch!, o);
      this.batchUsed = o + length;
      claimSlab(this.batchUsed);
    } else {
      this.sealBatch();
      if (key) {
        const frame = Buffer.allocUnsafe(headerLength + length);
        maskInto(payload, key, frame, writeFrameHeader(frame, 0, opcode, fin, rsv1, length, key));
        this.out.push(frame);
      } else if (!owned && length <= COPY_LIMIT) {
        // Written on the next flush, after send() returned: header and a copy of the payload in one buffer.
        const frame = Buffer.allocUnsafe(headerLength + length);
        payload.copy(frame, writeFrameHeader(frame, 0, opcode, fin, rsv1, length, null));
        this.out.push(frame);
      } else {
        const header = Buffer.allocUnsafe(headerLength);
        writeFrameHeader(header, 0, opcode, fin, rsv1, length, null);
        this.out.push(header, payload);
      }
      this.outBytes += headerLength + length;
    }
    if (cb) this.callbacks.push(cb);
    this.scheduleFlush();
  }

  private sealBatch(): void {
    if (this.batch !== null && this.batchUsed > this.batchStart) {
      this.out.push(this.batch.subarray(this.batchStart, this.batchUsed));
      this.outBytes += this.batchUsed - this.batchStart;
      this.batchStart = this.batchUsed;
    }
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    if (this.pumped) {
      if (!this.fanoutQueued) {
        this.fanoutQueued = true;
        queueFanout(this);
      }
      return;
    }
    this.flushScheduled = true;
    process.nextTick(flushFramer, this);
  }

  /** While an asynchronous step holds the line, a send waits in order; its bytes count as buffered meanwhile. */
  private holdBack(size: number, retry: () => void): void {
    this.queuedBytes += size;
    this.queue.push(() => {
      this.queuedBytes -= size;
      retry();
    });
  }

  /** Holds a whole message until the open fragmented message ends; its bytes count as buffered meanwhile. */
  private defer(size: number, retry: () => void): void {
    this.queuedBytes += size;
    (this.deferred ??= []).push(() => {
      this.queuedBytes -= size;
      retry();
    });
  }

  /**
   * The fragmented message ended: what waited for it goes next, ahead of anything held back behind an
   * asynchronous step since (those were sent later).
   */
  private releaseDeferred(): void {
    const held = this.deferred!;
    this.deferred = null;
    let i = 0;
    while (i < held.length && !this.busy) held[i++]!();
    // One of them went asynchronous (compression): the rest wait at the front of the line.
    if (i < held.length) this.queue.unshift(...held.slice(i));
  }

  private drain(): void {
    while (!this.busy && this.queue.length > 0) this.queue.shift()!();
  }
}

function flushFramer(framer: Framer): void {
  framer.flush();
}

function isCancelledWrite(error: Error | null | undefined, socket: Duplex): boolean {
  if (error) return (error as NodeJS.ErrnoException).code === 'ECANCELED';
  return socket.destroyed;
}

function socketClosedError(): Error {
  return new WebSocketError('WS_ERR_SOCKET_CLOSED', 1006, 'The socket was closed before the data could be sent');
}
