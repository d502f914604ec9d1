/**
 * Small frames of every framer are built in one shared slab (frame-slab.ts). What this must keep: the
 * bytes each socket gets are its own frames in order, whatever other framers wrote in between, and a
 * socket that is not draining is never handed a slice of a slab (it would pin 64 KiB per queued write).
 */
import { Writable } from 'node:stream';
import type { Duplex } from 'node:stream';
import { Framer } from '../src/framer.js';
import { FrameReader } from './helpers.js';

/** A socket that records every chunk written to it; `stalled` ones never complete a write. */
class RecordingSocket extends Writable {
  readonly chunks: Buffer[] = [];
  constructor(private readonly stalled = false) {
    super({ highWaterMark: 1 });
  }
  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    this.chunks.push(chunk);
    if (!this.stalled) done();
  }
  bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

const send = (framer: Framer, text: string): void =>
  framer.sendMessage(Buffer.from(text), { binary: false, fin: true, compress: false, mask: false });

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function payloads(bytes: Buffer): string[] {
  return new FrameReader().push(bytes).map((frame) => frame.payload.toString());
}

describe('frames built in the shared slab', () => {
  test('framers writing in turn in one tick: each socket gets exactly its own frames, in order', async () => {
    const sockets = [new RecordingSocket(), new RecordingSocket(), new RecordingSocket()];
    const framers = sockets.map((socket) => new Framer(socket as unknown as Duplex));
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < framers.length; i++) send(framers[i]!, `s${i}-m${round}`);
      // Some rounds also send a frame too large for the slab in between.
      if (round % 10 === 0) send(framers[1]!, 'x'.repeat(20_000));
    }
    await tick();
    for (let i = 0; i < sockets.length; i++) {
      const expected: string[] = [];
      for (let round = 0; round < 50; round++) {
        expected.push(`s${i}-m${round}`);
        if (i === 1 && round % 10 === 0) expected.push('x'.repeat(20_000));
      }
      expect(payloads(sockets[i]!.bytes())).toEqual(expected);
    }
  });

  test('thousands of ticks over several slabs: every frame intact (no slab byte written twice)', async () => {
    const a = new RecordingSocket();
    const b = new RecordingSocket();
    const fa = new Framer(a as unknown as Duplex);
    const fb = new Framer(b as unknown as Duplex);
    const expectedA: string[] = [];
    const expectedB: string[] = [];
    for (let t = 0; t < 300; t++) {
      for (let k = 0; k < 20; k++) {
        const ma = `a${t}.${k}:${'a'.repeat((t * 7 + k) % 300)}`;
        const mb = `b${t}.${k}:${'b'.repeat((t * 13 + k) % 500)}`;
        send(fa, ma);
        send(fb, mb);
        expectedA.push(ma);
        expectedB.push(mb);
      }
      await tick();
    }
    // 300 ticks of ~2 × 20 × 250 bytes: well over a dozen 64 KiB slabs.
    expect(payloads(a.bytes())).toEqual(expectedA);
    expect(payloads(b.bytes())).toEqual(expectedB);
  });

  test('a socket that is not draining gets copies, not slab slices; one that drains gets slices', async () => {
    const stalled = new RecordingSocket(true);
    const fast = new RecordingSocket();
    const slow = new Framer(stalled as unknown as Duplex);
    const quick = new Framer(fast as unknown as Duplex);
    for (let t = 0; t < 200; t++) {
      send(slow, `slow ${t}`);
      send(quick, `quick ${t}`);
      await tick();
    }
    // The first write found the socket idle; every later one waits in its buffer behind it.
    expect(stalled.chunks.length).toBe(1);
    const queued = (stalled as unknown as { writableLength: number }).writableLength;
    expect(queued).toBeGreaterThan(199 * 'slow 1'.length);
    const buffered = (stalled as unknown as { writableBuffer: Array<{ chunk: Buffer } | Buffer> }).writableBuffer;
    const held = buffered.map((entry) => (Buffer.isBuffer(entry) ? entry : entry.chunk));
    expect(held.length).toBe(199);
    // The draining socket's writes are slices of the slabs (no copy on the fast path); over 200 ticks of
    // ~16 bytes both framers stayed in one or two slabs. The queued ones share none of them.
    const slabs = new Set(fast.chunks.map((chunk) => chunk.buffer));
    expect(slabs.size).toBeLessThanOrEqual(2);
    expect(slabs.has(stalled.chunks[0]!.buffer)).toBe(true);
    for (const chunk of held) expect(slabs.has(chunk.buffer)).toBe(false);
  });
});
