/**
 * Inflate on the calling thread (sync-inflate.ts, PerMessageDeflate#decompressNow): results equal to the
 * thread-pool path, context takeover and resets, the synchronous output budget handing the rest of a message to
 * the thread pool (with maxPayload and UTF-8 checks carried across), failures that break the message stream, a
 * final block, and both roles receiving from raw peers in order.
 */
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import * as zlib from 'node:zlib';
import { WebSocket } from '@wskit/core';
import { WebSocketError } from '../src/errors.js';
import { PerMessageDeflate } from '../src/permessage-deflate.js';
import { deflatePair, NAME, text } from './deflate-pair.js';
import { SYNC_INFLATE_BUDGET, SYNC_INFLATE_INPUT_LIMIT, SyncInflater } from '../src/sync-inflate.js';
import { Utf8Stream } from '../src/utf8.js';
import { frame, OP, rawServer, rawUpgraded, wskitServer, type RawPeer } from './helpers.js';

/** What a peer without context takeover puts on the wire for `data` (tail removed). */
function wireOf(data: Buffer, options: zlib.ZlibOptions = {}): Buffer {
  const out = zlib.deflateRawSync(data, { ...options, finishFlush: zlib.constants.Z_SYNC_FLUSH });
  return out.subarray(0, out.length - 4);
}

/** decompressNow, with whatever reaches the callback instead when it returns null. */
async function inflateNow(
  pmd: PerMessageDeflate,
  data: Buffer,
  check?: (chunk: Buffer) => WebSocketError | null,
): Promise<{ sync: boolean; result?: Buffer; error?: Error }> {
  let settle!: (v: { sync: boolean; result?: Buffer; error?: Error }) => void;
  const later = new Promise<{ sync: boolean; result?: Buffer; error?: Error }>((resolve) => (settle = resolve));
  const now = pmd.decompressNow(
    data,
    true,
    (error, result) => settle(error ? { sync: false, error } : { sync: false, result }),
    check,
  );
  if (now === null) return later;
  return now instanceof WebSocketError ? { sync: true, error: now } : { sync: true, result: now };
}

describe('decompressNow', () => {
  test('a whole small message is inflated at once, as the thread-pool path inflates it', async () => {
    const { server } = deflatePair(undefined, { clientNoContextTakeover: true });
    for (const message of [Buffer.alloc(0), text(1), text(500), randomBytes(SYNC_INFLATE_INPUT_LIMIT - 100)]) {
      const got = await inflateNow(server, wireOf(message));
      expect(got.sync).toBe(true);
      expect(got.result!.equals(message)).toBe(true);
    }
  });

  test("the peer's context takeover: messages referring to earlier ones inflate synchronously", async () => {
    const { server, client } = deflatePair(undefined);
    const message = Buffer.concat([randomBytes(3000), Buffer.from('end')]);
    for (let i = 0; i < 4; i++) {
      const wire = await new Promise<Buffer>((resolve, reject) =>
        client.compress(message, true, (e, out) => (e ? reject(e) : resolve(out!))),
      );
      if (i > 0) expect(wire.length).toBeLessThan(300);
      const got = await inflateNow(server, wire);
      expect(got.sync).toBe(true);
      expect(got.result!.equals(message)).toBe(true);
    }
  });

  test('fragments, big inputs and messages behind queued work go through decompress() (the callback)', async () => {
    const { server } = deflatePair(undefined, { clientNoContextTakeover: true });
    const big = randomBytes(SYNC_INFLATE_INPUT_LIMIT + 10);
    expect((await inflateNow(server, wireOf(big))).sync).toBe(false);
    const message = text(100);
    const wire = wireOf(message);
    const half = wire.length >> 1;
    const first = new Promise<Buffer>((resolve) =>
      server.decompress(wire.subarray(0, half), false, (_e, r) => resolve(r!)),
    );
    // Mid-message: the last fragment must follow the first on the same stream, in order.
    const rest = await inflateNow(server, wire.subarray(half));
    await first;
    expect(rest.sync).toBe(false);
    expect(rest.result!.equals(message)).toBe(true);
    // Behind a message still inflating on the thread pool.
    const queued = new Promise<Buffer>((resolve) => server.decompress(wireOf(big), true, (_e, r) => resolve(r!)));
    const behind = await inflateNow(server, wire);
    expect(behind.sync).toBe(false);
    expect((await queued).equals(big)).toBe(true);
    expect(behind.result!.equals(message)).toBe(true);
  });

  test('past the synchronous budget the message continues on the thread pool and arrives whole', async () => {
    const { server } = deflatePair(undefined, { clientNoContextTakeover: true });
    const message = Buffer.concat([text(1000), Buffer.alloc(4 * 1024 * 1024, 7), text(10, 'end')]);
    const wire = wireOf(message);
    expect(wire.length).toBeLessThan(SYNC_INFLATE_INPUT_LIMIT);
    const got = await inflateNow(server, wire);
    expect(got.sync).toBe(false);
    expect(got.result!.equals(message)).toBe(true);
    // The stream was reset after it (no context takeover): the next message inflates on its own, at once.
    const next = await inflateNow(server, wireOf(text(3)));
    expect(next.sync).toBe(true);
    expect(next.result!.equals(text(3))).toBe(true);
  });

  test('maxPayload: 1009 at once under the budget, from the thread pool past it (a bomb)', async () => {
    const small = deflatePair(undefined, { clientNoContextTakeover: true }, 1000).server;
    const over = await inflateNow(small, wireOf(Buffer.alloc(1001)));
    expect(over.sync).toBe(true);
    expect((over.error as WebSocketError).closeCode).toBe(1009);
    const exact = deflatePair(undefined, { clientNoContextTakeover: true }, 1000).server;
    expect((await inflateNow(exact, wireOf(Buffer.alloc(1000)))).result!.length).toBe(1000);

    const bombed = deflatePair(undefined, { clientNoContextTakeover: true }, 1024 * 1024).server;
    const bomb = wireOf(Buffer.alloc(16 * 1024 * 1024));
    expect(bomb.length).toBeLessThan(SYNC_INFLATE_INPUT_LIMIT);
    const got = await inflateNow(bombed, bomb);
    expect(got.sync).toBe(false);
    expect((got.error as WebSocketError).code).toBe('WS_ERR_UNSUPPORTED_MESSAGE_LENGTH');
  });

  test('the output check runs on every piece, across the budget, and its error fails the message', async () => {
    const { server } = deflatePair(undefined, { clientNoContextTakeover: true });
    let seen = 0;
    const utf8 = new Utf8Stream();
    const check = (chunk: Buffer): WebSocketError | null => {
      seen += chunk.length;
      return utf8.write(chunk) ? null : new WebSocketError('WS_ERR_INVALID_UTF8', 1007, 'Invalid UTF-8 sequence');
    };
    const long = Buffer.from('é'.repeat(SYNC_INFLATE_BUDGET));
    const ok = await inflateNow(server, wireOf(long), check);
    expect(ok.result!.equals(long)).toBe(true);
    expect(seen).toBe(long.length);
    const bad = await inflateNow(server, wireOf(Buffer.from([0x61, 0xff, 0x62])), check);
    expect(bad.sync).toBe(true);
    expect((bad.error as WebSocketError).code).toBe('WS_ERR_INVALID_UTF8');
    // The message stream is broken: every later message fails alike.
    expect((await inflateNow(server, wireOf(text(1)))).error).toBe(bad.error);
  });

  test('invalid compressed data: 1007 at once, every later call fails alike, no stray error later', async () => {
    const { server } = deflatePair(undefined);
    const got = await inflateNow(server, Buffer.from([0xff, 0xff, 0xff, 0xff]));
    expect(got.sync).toBe(true);
    expect((got.error as WebSocketError).code).toBe('WS_ERR_INVALID_COMPRESSED_DATA');
    expect((got.error as WebSocketError).closeCode).toBe(1007);
    const later = await inflateNow(server, wireOf(text(1)));
    expect(later.error).toBe(got.error);
    await new Promise((resolve) => setTimeout(resolve, 20));
  });

  test('a message ending with a final block, then the next one on a fresh stream', async () => {
    const { server } = deflatePair(undefined);
    const finished = zlib.deflateRawSync(text(50));
    const got = await inflateNow(server, finished);
    expect(got.sync).toBe(true);
    expect(got.result!.equals(text(50))).toBe(true);
    const next = await inflateNow(server, wireOf(text(7)));
    expect(next.result!.equals(text(7))).toBe(true);
  });

  test('past one budget of synchronous output, the next message takes a thread-pool round trip (fairness)', async () => {
    const { server } = deflatePair(undefined, { clientNoContextTakeover: true });
    const message = Buffer.alloc(100 * 1024, 3);
    const wire = wireOf(message);
    const modes: boolean[] = [];
    for (let i = 0; i < 8; i++) {
      const got = await inflateNow(server, wire);
      expect(got.result!.equals(message)).toBe(true);
      modes.push(got.sync);
    }
    // 100 KiB each: the third reaches 300 KiB, so the fourth goes to the thread pool, which starts a new budget.
    expect(modes).toEqual([true, true, true, false, true, true, true, false]);
  });

  test('SyncInflater.from gives null without the zlib internals', () => {
    expect(SyncInflater.from({ _handle: null } as unknown as zlib.InflateRaw)).toBeNull();
  });
});

describe('both roles receive compressed messages from raw peers, in order', () => {
  const messages = [text(1, 'a'), text(3000, 'b'), Buffer.alloc(2 * 1024 * 1024, 1), text(2, 'c'), randomBytes(9000)];
  const frames = (masked: boolean): Buffer[] =>
    messages.map((m) => frame(OP.binary, wireOf(m), { rsv1: true, mask: masked }));

  test('server: every message whole and in order; a bomb after them closes 1009', async () => {
    const { wss, port } = await wskitServer({ perMessageDeflate: true, maxPayload: 1024 * 1024 * 4 });
    try {
      const got: Buffer[] = [];
      const failed = new Promise<string | undefined>((resolve) =>
        wss.on('connection', (ws: WebSocket) => {
          ws.on('message', (data: Buffer) => got.push(data));
          ws.on('error', (error: WebSocketError) => resolve(error.code));
        }),
      );
      const client = await rawUpgraded(port, {
        headers: { 'Sec-WebSocket-Extensions': `${NAME}; client_no_context_takeover` },
      });
      for (const f of frames(true)) client.write(f);
      client.write(frame(OP.binary, wireOf(Buffer.alloc(8 * 1024 * 1024)), { rsv1: true }));
      expect(await client.until(() => client.closeCode() !== undefined, 10_000)).toBe(true);
      expect(client.closeCode()).toBe(1009);
      expect(await failed).toBe('WS_ERR_UNSUPPORTED_MESSAGE_LENGTH');
      expect(got.length).toBe(messages.length);
      got.forEach((b, i) => expect(b.equals(messages[i]!)).toBe(true));
      client.socket.destroy();
    } finally {
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    }
  });

  test('client: every message whole and in order; invalid data after them closes 1007', async () => {
    let peer: RawPeer | null = null;
    const server = await rawServer((p) => {
      peer = p;
      p.accept({ 'Sec-WebSocket-Extensions': `${NAME}; server_no_context_takeover` });
    });
    const ws = new WebSocket(server.url, { perMessageDeflate: true });
    const failed = new Promise<string | undefined>((resolve) =>
      ws.on('error', (error: WebSocketError) => resolve(error.code)),
    );
    const got: Buffer[] = [];
    ws.on('message', (data: Buffer) => got.push(data));
    try {
      await once(ws, 'open');
      const p = peer as RawPeer | null;
      for (const f of frames(false)) p!.socket.write(f);
      p!.socket.write(frame(OP.binary, Buffer.from([0xff, 0xff, 0xff]), { rsv1: true, mask: false }));
      expect(await failed).toBe('WS_ERR_INVALID_COMPRESSED_DATA');
      expect(await p!.until(() => p!.frames.some((f) => f.opcode === OP.close), 5000)).toBe(true);
      expect(p!.frames.find((f) => f.opcode === OP.close)!.payload.readUInt16BE(0)).toBe(1007);
      expect(got.length).toBe(messages.length);
      got.forEach((b, i) => expect(b.equals(messages[i]!)).toBe(true));
    } finally {
      ws.terminate();
      await server.close();
    }
  });
});

test('a peer flooding small messages that inflate hugely does not hold the event loop from other sockets', async () => {
  const { wss, port, url } = await wskitServer({ perMessageDeflate: true });
  const COUNT = 200;
  let flooded = 0;
  let floodedWhenEchoed = -1;
  wss.on('connection', (ws: WebSocket) => {
    ws.on('error', () => {});
    ws.on('message', (data: Buffer) => {
      if (data.length > 1000) flooded++;
      else ws.send(data);
    });
  });
  const good = new WebSocket(url);
  const goodOpen = once(good, 'open');
  const attacker = await rawUpgraded(port, {
    headers: { 'Sec-WebSocket-Extensions': `${NAME}; client_no_context_takeover` },
  });
  try {
    await goodOpen;
    const echoed = new Promise<void>((resolve) =>
      good.on('message', () => {
        floodedWhenEchoed = flooded;
        resolve();
      }),
    );
    // 200 KiB each from a few hundred bytes: 40 MiB of output from one small write.
    const one = frame(OP.binary, wireOf(Buffer.alloc(200 * 1024, 5)), { rsv1: true });
    attacker.write(Buffer.concat(Array.from({ length: COUNT }, () => one)));
    good.send('ping');
    await echoed;
    const deadline = Date.now() + 10_000;
    while (flooded < COUNT && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(flooded).toBe(COUNT);
    // The good socket was answered while the flood was still being inflated, not after all of it.
    expect(floodedWhenEchoed).toBeLessThan(COUNT);
  } finally {
    good.terminate();
    attacker.socket.destroy();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  }
});
