/**
 * What travels through Redis: a 13-byte header, then the payload as published.
 * byte 0: flags (1 binary, 2 compress, 4 the publisher excluded sockets); bytes 1-8: the publishing process's
 * id; bytes 9-12: its sequence number (uint32, wraps). The id and sequence let the publisher find its own
 * `except` sockets when the message comes back, and let streams drop a retried publish seen twice.
 */
export const HEADER = 13;

export interface Envelope {
  binary: boolean;
  compress: boolean;
  hasExcept: boolean;
  origin: string;
  seq: number;
  payload: Buffer;
}

export function encode(
  origin: Buffer,
  seq: number,
  payload: Buffer,
  binary: boolean,
  compress: boolean,
  hasExcept: boolean,
): Buffer {
  const out = Buffer.allocUnsafe(HEADER + payload.length);
  out[0] = (binary ? 1 : 0) | (compress ? 2 : 0) | (hasExcept ? 4 : 0);
  origin.copy(out, 1, 0, 8);
  out.writeUInt32BE(seq >>> 0, 9);
  payload.copy(out, HEADER);
  return out;
}

/** Null for a message that is not an envelope (published into the channel by something else). */
export function decode(message: Buffer): Envelope | null {
  if (message.length < HEADER || message[0] > 7) return null;
  const flags = message[0];
  return {
    binary: (flags & 1) !== 0,
    compress: (flags & 2) !== 0,
    hasExcept: (flags & 4) !== 0,
    origin: message.toString('hex', 1, 9),
    seq: message.readUInt32BE(9),
    payload: message.subarray(HEADER),
  };
}
