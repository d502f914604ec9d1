/**
 * The payload of a message being assembled from pieces (fragments, or parts of a frame that spans socket
 * chunks). Memory stays close to the payload size whatever the piece sizes: small pieces are copied into
 * blocks that grow with the message, and only a piece that fills most of its own backing store is kept
 * as a view (a view of a few bytes would pin a whole socket chunk). A million one-byte fragments cost
 * about a megabyte, not a million Buffer objects.
 */

/** Smallest and largest block small pieces are copied into. */
const MIN_BLOCK = 1024;
const MAX_BLOCK = 64 * 1024;

export class MessageBuffer {
  /** Bytes appended since the last take(). */
  length = 0;
  private parts: Buffer[] = [];
  private block: Buffer | null = null;
  private blockStart = 0;
  private blockUsed = 0;

  append(piece: Buffer): void {
    const n = piece.length;
    if (n === 0) return;
    this.length += n;
    if (n >= MIN_BLOCK && n * 2 >= piece.buffer.byteLength) {
      this.seal();
      this.parts.push(piece);
      return;
    }
    let block = this.block;
    if (block === null || block.length - this.blockUsed < n) {
      this.seal();
      // Blocks grow with the message (at most twice what it holds), up to MAX_BLOCK.
      block = this.block = Buffer.allocUnsafe(Math.max(n, Math.min(MAX_BLOCK, Math.max(MIN_BLOCK, this.length))));
      this.blockStart = this.blockUsed = 0;
    }
    piece.copy(block, this.blockUsed);
    this.blockUsed += n;
  }

  /** The bytes appended so far, as one Buffer (a single part is returned as is); empties the buffer. */
  take(): Buffer {
    this.seal();
    const parts = this.parts;
    const out = parts.length === 1 ? parts[0]! : Buffer.concat(parts, this.length);
    // The block's free rest serves the next message.
    this.parts = [];
    this.length = 0;
    return out;
  }

  reset(): void {
    this.parts = [];
    this.block = null;
    this.blockStart = this.blockUsed = 0;
    this.length = 0;
  }

  private seal(): void {
    if (this.block !== null && this.blockUsed > this.blockStart) {
      this.parts.push(this.block.subarray(this.blockStart, this.blockUsed));
      this.blockStart = this.blockUsed;
    }
  }
}
