/**
 * UTF-8 validation. Whole payloads use Node's native `buffer.isUtf8`; fragmented text goes through
 * Utf8Stream, which checks each fragment as it arrives so that an invalid byte fails the connection at
 * once instead of after the whole message was buffered.
 */
import { isUtf8 } from 'node:buffer';

export function isValidUtf8(data: Uint8Array): boolean {
  return data.length === 0 || isUtf8(data);
}

function sequenceLength(lead: number): number {
  if (lead >= 0xc2 && lead <= 0xdf) return 2;
  if (lead >= 0xe0 && lead <= 0xef) return 3;
  if (lead >= 0xf0 && lead <= 0xf4) return 4;
  return 0;
}

/** Whether `bytes[0..length)` can still begin a valid sequence (lead-specific second-byte ranges). */
function isValidPrefix(bytes: Uint8Array, length: number): boolean {
  const lead = bytes[0]!;
  if (sequenceLength(lead) === 0) return false;
  for (let i = 1; i < length; i++) {
    const b = bytes[i]!;
    let lo = 0x80;
    let hi = 0xbf;
    if (i === 1) {
      if (lead === 0xe0) lo = 0xa0;
      else if (lead === 0xed) hi = 0x9f;
      else if (lead === 0xf0) lo = 0x90;
      else if (lead === 0xf4) hi = 0x8f;
    }
    if (b < lo || b > hi) return false;
  }
  return true;
}

/** Incremental validator across the fragments of one text message. */
export class Utf8Stream {
  private readonly pending = new Uint8Array(4);
  private pendingLength = 0;

  /** Feeds the next fragment; false as soon as the bytes so far cannot be valid UTF-8. */
  write(chunk: Uint8Array): boolean {
    let start = 0;
    if (this.pendingLength > 0) {
      const need = sequenceLength(this.pending[0]!);
      while (this.pendingLength < need && start < chunk.length) {
        this.pending[this.pendingLength++] = chunk[start++]!;
      }
      if (!isValidPrefix(this.pending, this.pendingLength)) return false;
      if (this.pendingLength < need) return true;
      this.pendingLength = 0;
    }
    const end = chunk.length;
    // Find an incomplete sequence at the end: scan back over at most three continuation bytes.
    let cut = end;
    for (let i = end - 1; i >= start && i >= end - 3; i--) {
      const b = chunk[i]!;
      if ((b & 0xc0) === 0x80) continue;
      if (b >= 0xc0 && end - i < sequenceLength(b)) cut = i;
      break;
    }
    if (cut > start && !isUtf8(chunk.subarray(start, cut))) return false;
    if (cut < end) {
      this.pendingLength = end - cut;
      this.pending.set(chunk.subarray(cut, end));
      if (!isValidPrefix(this.pending, this.pendingLength)) return false;
    }
    return true;
  }

  /** True when the message ended on a sequence boundary. Resets the stream. */
  end(): boolean {
    const complete = this.pendingLength === 0;
    this.pendingLength = 0;
    return complete;
  }

  reset(): void {
    this.pendingLength = 0;
  }
}
