/**
 * Two connected in-memory Duplex streams, like the two ends of a TCP connection: what one end writes
 * the other reads, ending one end ends the other's readable side, destroying one destroys both.
 * (Node 20 has no stream.duplexPair.)
 */
import { Duplex } from 'node:stream';

/**
 * Each end buffers this much per direction before write() says stop. Set explicitly because Node's default
 * changed (16 KiB up to Node 20, 64 KiB from Node 22), and TCP-like backpressure should not depend on it.
 */
export const PAIR_HIGH_WATER_MARK = 16 * 1024;

class PairEnd extends Duplex {
  peer: PairEnd | null = null;
  /** The writer's callback, held while the peer's readable buffer is full (backpressure). */
  private blockedWrite: (() => void) | null = null;

  constructor() {
    // A half-closed peer is closed, as with a server-side net.Socket.
    super({ allowHalfOpen: false, highWaterMark: PAIR_HIGH_WATER_MARK });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const peer = this.peer;
    if (!peer || peer.push(chunk)) callback();
    else peer.blockedWrite = () => callback();
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.peer?.push(null);
    callback();
  }

  override _read(): void {
    const resume = this.blockedWrite;
    this.blockedWrite = null;
    resume?.();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const peer = this.peer;
    this.peer = null;
    if (peer && !peer.destroyed) peer.destroy();
    callback(error);
  }
}

export function createDuplexPair(): [Duplex, Duplex] {
  const a = new PairEnd();
  const b = new PairEnd();
  a.peer = b;
  b.peer = a;
  return [a, b];
}
