/**
 * Hand-rolled RFC 6455 framing for tests: independent of the code under test, so a bug in the
 * implementation's framer or parser cannot hide itself by agreeing with its own twin.
 */
import { randomBytes } from 'node:crypto';

export const OP = { cont: 0x0, text: 0x1, binary: 0x2, close: 0x8, ping: 0x9, pong: 0xa } as const;

export interface FrameSpec {
  opcode: number;
  payload?: Buffer | string;
  fin?: boolean;
  rsv1?: boolean;
  rsv2?: boolean;
  rsv3?: boolean;
  /** true: random mask key; a Buffer: that key; false: unmasked. */
  mask?: boolean | Buffer;
  /** Write this length in the header instead of the payload's (for oversize and bogus-length cases). */
  declaredLength?: number | bigint;
  /** Force the 64-bit length form even for short payloads. */
  longLength?: boolean;
}

export function encodeFrame(spec: FrameSpec): Buffer {
  const payload = typeof spec.payload === 'string' ? Buffer.from(spec.payload) : (spec.payload ?? Buffer.alloc(0));
  const length = spec.declaredLength ?? payload.length;
  const key = spec.mask === true ? randomBytes(4) : spec.mask === false || spec.mask === undefined ? null : spec.mask;
  const big = typeof length === 'bigint' || length > 0xffff || spec.longLength === true;
  const headerLength = 2 + (big ? 8 : Number(length) > 125 ? 2 : 0) + (key ? 4 : 0);
  const header = Buffer.alloc(headerLength);
  header[0] =
    ((spec.fin ?? true) ? 0x80 : 0) |
    (spec.rsv1 ? 0x40 : 0) |
    (spec.rsv2 ? 0x20 : 0) |
    (spec.rsv3 ? 0x10 : 0) |
    (spec.opcode & 0x0f);
  let offset = 2;
  if (big) {
    header[1] = 127;
    header.writeBigUInt64BE(BigInt(length), 2);
    offset = 10;
  } else if (Number(length) > 125) {
    header[1] = 126;
    header.writeUInt16BE(Number(length), 2);
    offset = 4;
  } else {
    header[1] = Number(length);
  }
  if (!key) return Buffer.concat([header, payload]);
  header[1] |= 0x80;
  key.copy(header, offset);
  const masked = Buffer.alloc(payload.length);
  for (let i = 0; i < payload.length; i++) masked[i] = payload[i] ^ key[i & 3];
  return Buffer.concat([header, masked]);
}

/** Close frame payload: 2-byte code (omitted when code is undefined) + reason bytes. */
export function closePayload(code?: number, reason: Buffer | string = ''): Buffer {
  if (code === undefined) return Buffer.alloc(0);
  const head = Buffer.alloc(2);
  head.writeUInt16BE(code);
  return Buffer.concat([head, typeof reason === 'string' ? Buffer.from(reason) : reason]);
}

export interface Frame {
  fin: boolean;
  rsv1: boolean;
  rsv2: boolean;
  rsv3: boolean;
  opcode: number;
  masked: boolean;
  payload: Buffer;
}

/** Incremental frame reader: push bytes, take complete frames. Unmasks masked frames. */
export class FrameReader {
  private buffer: Buffer = Buffer.alloc(0);
  // Chunks not yet joined to `buffer`: a large frame in many small chunks (HTTP/2 DATA frames are 16 KiB)
  // is joined once when complete, not once per chunk.
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  push(chunk: Buffer): Frame[] {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    const frames: Frame[] = [];
    for (;;) {
      const frame = this.next();
      if (!frame) return frames;
      frames.push(frame);
    }
  }

  /** Joins pending chunks into `buffer` if it holds fewer than `n` bytes. */
  private gather(n: number): void {
    if (this.buffer.length >= n || this.pendingBytes === 0) return;
    this.buffer = Buffer.concat([this.buffer, ...this.pending]);
    this.pending = [];
    this.pendingBytes = 0;
  }

  private next(): Frame | null {
    this.gather(14);
    let b = this.buffer;
    if (b.length < 2) return null;
    const masked = (b[1] & 0x80) !== 0;
    let length = b[1] & 0x7f;
    let offset = 2;
    if (length === 126) {
      if (b.length < 4) return null;
      length = b.readUInt16BE(2);
      offset = 4;
    } else if (length === 127) {
      if (b.length < 10) return null;
      length = Number(b.readBigUInt64BE(2));
      offset = 10;
    }
    const keyOffset = offset;
    if (masked) offset += 4;
    if (b.length + this.pendingBytes < offset + length) return null;
    this.gather(offset + length);
    b = this.buffer;
    const payload = Buffer.from(b.subarray(offset, offset + length));
    if (masked) for (let i = 0; i < payload.length; i++) payload[i] ^= b[keyOffset + (i & 3)];
    this.buffer = b.subarray(offset + length);
    return {
      fin: (b[0] & 0x80) !== 0,
      rsv1: (b[0] & 0x40) !== 0,
      rsv2: (b[0] & 0x20) !== 0,
      rsv3: (b[0] & 0x10) !== 0,
      opcode: b[0] & 0x0f,
      masked,
      payload,
    };
  }
}
