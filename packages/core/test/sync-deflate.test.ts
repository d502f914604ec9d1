/**
 * Deflate on the calling thread (sync-deflate.ts, PerMessageDeflate#compressNow): the same bytes on the wire
 * as the stream path, order kept when it mixes with the thread-pool path, fragments and context takeover
 * intact, one process-wide context for sockets without takeover, and byte-exact delivery in both roles
 * to raw peers that inflate with zlib themselves.
 */
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import * as zlib from 'node:zlib';
import { WebSocket } from '@wskit/core';
import { PerMessageDeflate } from '../src/permessage-deflate.js';
import { deflatePair, NAME, text } from './deflate-pair.js';
import { deflateIndependently, SYNC_DEFLATE_LIMIT, SyncDeflater } from '../src/sync-deflate.js';
import { OP, rawServer, rawUpgraded, wskitServer, type ParsedFrame, type RawClient, type RawPeer } from './helpers.js';

const TAIL = Buffer.from([0, 0, 0xff, 0xff]);

function compress(pmd: PerMessageDeflate, data: Buffer, fin = true): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    pmd.compress(data, fin, (err, out) => (err ? reject(err) : resolve(out as Buffer))),
  );
}

/** A peer's inflater: one stream for the connection, so context takeover is honoured. */
function inflater(windowBits = 15): (payload: Buffer, fin?: boolean) => Buffer {
  // zlib's sync API has no persistent stream; keep the history by inflating everything sent so far.
  let history = Buffer.alloc(0);
  let consumed = 0;
  return (payload, fin = true) => {
    history = Buffer.concat([history, payload, ...(fin ? [TAIL] : [])]);
    const all = zlib.inflateRawSync(history, { windowBits, finishFlush: zlib.constants.Z_SYNC_FLUSH });
    const out = all.subarray(consumed);
    consumed = all.length;
    return Buffer.from(out);
  };
}

/** One message inflated on its own (the sync-flush tail already put back). */
function inflateAlone(data: Buffer, options: zlib.ZlibOptions = {}): Buffer {
  return zlib.inflateRawSync(data, { ...options, finishFlush: zlib.constants.Z_SYNC_FLUSH });
}

describe('compressNow', () => {
  test('the same wire bytes as compress() for a message without context takeover', async () => {
    const a = deflatePair({ serverNoContextTakeover: true });
    const b = deflatePair({ serverNoContextTakeover: true });
    for (const size of [0, 1, 100, 1024, SYNC_DEFLATE_LIMIT]) {
      const data = size === 0 ? Buffer.alloc(0) : text(Math.ceil(size / 18)).subarray(0, size);
      const now = a.server.compressNow(data, true);
      expect(now).not.toBeNull();
      const copy = Buffer.from(now!);
      expect(copy.equals(await compress(b.server, data))).toBe(true);
      expect(inflateAlone(Buffer.concat([copy, TAIL])).equals(data)).toBe(true);
    }
  });

  test('with context takeover the socket keeps its own history (later messages shrink to references)', () => {
    const { server } = deflatePair(undefined);
    const inflate = inflater();
    const message = Buffer.concat([randomBytes(2048), Buffer.from('end')]);
    const sizes: number[] = [];
    for (let i = 0; i < 4; i++) {
      const wire = Buffer.from(server.compressNow(message, true)!);
      sizes.push(wire.length);
      expect(inflate(wire).equals(message)).toBe(true);
    }
    expect(sizes[1]).toBeLessThan(sizes[0]! / 10);
  });

  test('null where it must not run now: above the limit, behind queued work, before negotiation, after cleanup', async () => {
    const fresh = new PerMessageDeflate(undefined, true, 0);
    expect(fresh.compressNow(text(10), true)).toBeNull();
    const { server } = deflatePair(undefined);
    expect(server.compressNow(Buffer.alloc(SYNC_DEFLATE_LIMIT + 1), true)).toBeNull();
    const big = compress(server, randomBytes(200_000));
    // The thread-pool job is in flight: a sync deflate now would overtake it on the shared stream.
    expect(server.compressNow(text(10), true)).toBeNull();
    await big;
    expect(server.compressNow(text(10), true)).not.toBeNull();
    server.cleanup();
    expect(server.compressNow(text(10), true)).toBeNull();
  });

  test('sync and thread-pool deflates alternate on one context-takeover stream and inflate in order', async () => {
    const { server } = deflatePair(undefined);
    const inflate = inflater();
    for (let i = 0; i < 12; i++) {
      const large = i % 3 === 0;
      const message = large ? Buffer.concat([text(2000, `m${i}`), randomBytes(1000)]) : text(50, `m${i}`);
      const now = large ? null : server.compressNow(message, true);
      const wire = now !== null ? Buffer.from(now) : await compress(server, message);
      expect(large ? now === null : now !== null).toBe(true);
      expect(inflate(wire).equals(message)).toBe(true);
    }
  });

  test('a fragmented message without context takeover stays on its own stream while others use the shared one', () => {
    const a = deflatePair({ serverNoContextTakeover: true });
    const b = deflatePair({ serverNoContextTakeover: true });
    const inflateA = inflater();
    const first = text(30, 'first');
    const second = text(30, 'second');
    const other = text(30, 'other');
    const p1 = Buffer.from(a.server.compressNow(first, false)!);
    // Another socket's whole message goes through the process-wide context in between.
    const o = Buffer.from(b.server.compressNow(other, true)!);
    const p2 = Buffer.from(a.server.compressNow(second, true)!);
    expect(Buffer.concat([inflateA(p1, false), inflateA(p2, true)]).equals(Buffer.concat([first, second]))).toBe(true);
    expect(inflateAlone(Buffer.concat([o, TAIL])).equals(other)).toBe(true);
    // The next whole message of `a` is independent again.
    const next = Buffer.from(a.server.compressNow(first, true)!);
    expect(inflateAlone(Buffer.concat([next, TAIL])).equals(first)).toBe(true);
  });

  test('window sizes 8..15 each get an independent context whose output fits that window', () => {
    const block = randomBytes(600);
    // A repeat 1,000 bytes back: zlib reaches window minus 262 bytes, so 11 bits and more refer to it.
    const message = Buffer.concat([block, randomBytes(400), block]);
    for (let bits = 8; bits <= 15; bits++) {
      const { server } = deflatePair({ serverNoContextTakeover: true, serverMaxWindowBits: bits });
      const wire = Buffer.from(server.compressNow(message, true)!);
      const inflated = inflateAlone(Buffer.concat([wire, TAIL]), { windowBits: Math.max(bits, 9) });
      expect(inflated.equals(message)).toBe(true);
      if (bits < 11) expect(wire.length).toBeGreaterThan(1500);
      else expect(wire.length).toBeLessThan(1200);
    }
  });

  test('a preset dictionary keeps the socket on its own stream (never the shared context)', () => {
    const dictionary = Buffer.from('{"a":1,"b":"two"} ');
    const { server } = deflatePair({ serverNoContextTakeover: true, zlibDeflateOptions: { dictionary } });
    const data = text(20);
    const wire = Buffer.from(server.compressNow(data, true)!);
    expect(inflateAlone(Buffer.concat([wire, TAIL]), { dictionary }).equals(data)).toBe(true);
    expect(deflateIndependently(data, 15, { dictionary })).toBeNull();
  });
});

describe('SyncDeflater', () => {
  test('a stream without the zlib internals gives null (callers keep to the stream path)', () => {
    const fake = { _handle: null, _writeState: undefined } as unknown as zlib.DeflateRaw;
    expect(SyncDeflater.from(fake)).toBeNull();
    const noState = { _handle: { writeSync: () => undefined, reset: () => undefined } } as unknown as zlib.DeflateRaw;
    expect(SyncDeflater.from(noState)).toBeNull();
  });

  test('output larger than the scratch buffer grows it and stays byte-exact', () => {
    const stream = zlib.createDeflateRaw();
    const deflater = SyncDeflater.from(stream)!;
    for (const size of [100_000, 600_000, 10]) {
      const data = randomBytes(size);
      const out = Buffer.from(deflater.deflate(data, true)!);
      expect(out.length).toBeGreaterThan(size);
      expect(inflateAlone(Buffer.concat([out, TAIL])).equals(data)).toBe(true);
      deflater.reset();
    }
    stream.close();
    expect(deflater.usable).toBe(false);
  });
});

describe('both roles, raw peers inflating with zlib', () => {
  const sizes = [5, 200, SYNC_DEFLATE_LIMIT - 100, 40_000, 10, 300_000, 50, 1];
  const messages = sizes.map((n, i) => Buffer.concat([text(Math.ceil(n / 18), `#${i}`), randomBytes(8)]));

  function decode(frames: ParsedFrame[], windowBits: number, takeover: boolean): Buffer[] {
    const out: Buffer[] = [];
    let inflate = inflater(windowBits);
    let parts: Buffer[] = [];
    for (const f of frames) {
      if (f.opcode !== OP.binary && f.opcode !== OP.cont) continue;
      expect(f.rsv1).toBe(f.opcode === OP.binary);
      parts.push(f.payload);
      if (!f.fin) continue;
      out.push(inflate(Buffer.concat(parts)));
      parts = [];
      if (!takeover) inflate = inflater(windowBits);
    }
    return out;
  }

  test.each([
    ['context takeover', '', true],
    ['server_no_context_takeover', '; server_no_context_takeover', false],
  ])('server → raw client, %s: every message in order, byte-exact', async (_name, offer, takeover) => {
    const { wss, port } = await wskitServer({ perMessageDeflate: { threshold: 0 } });
    try {
      wss.on('connection', (ws: WebSocket) => {
        for (const m of messages) ws.send(m, { binary: true, compress: true });
      });
      const client = await rawUpgraded(port, { headers: { 'Sec-WebSocket-Extensions': `${NAME}${offer}` } });
      expect(client.head?.headers['sec-websocket-extensions']).toContain(NAME);
      const total = (): number => client.frames.filter((f) => f.fin && f.opcode !== OP.close).length;
      expect(await client.until(() => total() === messages.length, 10_000)).toBe(true);
      const got = decode(client.frames, 15, takeover);
      expect(got.map((b) => b.length)).toEqual(messages.map((m) => m.length));
      got.forEach((b, i) => expect(b.equals(messages[i]!)).toBe(true));
      client.socket.destroy();
    } finally {
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    }
  });

  test.each([
    ['context takeover', {}, true],
    ['client_no_context_takeover', { clientNoContextTakeover: true }, false],
  ])('client → raw server, %s: masked, every message in order, byte-exact', async (_name, options, takeover) => {
    let peer: RawPeer | null = null;
    const server = await rawServer((p) => {
      peer = p;
      p.accept({ 'Sec-WebSocket-Extensions': `${NAME}${takeover ? '' : '; client_no_context_takeover'}` });
    });
    const ws = new WebSocket(server.url, { perMessageDeflate: { threshold: 0, ...options } });
    try {
      await once(ws, 'open');
      for (const m of messages) ws.send(m, { binary: true, compress: true });
      const p = peer as RawPeer | null;
      expect(p).not.toBeNull();
      const total = (): number => p!.frames.filter((f) => f.fin).length;
      expect(await p!.until(() => total() === messages.length, 10_000)).toBe(true);
      expect(p!.frames.every((f) => f.masked)).toBe(true);
      const got = decode(p!.frames, 15, takeover);
      expect(got.map((b) => b.length)).toEqual(messages.map((m) => m.length));
      got.forEach((b, i) => expect(b.equals(messages[i]!)).toBe(true));
    } finally {
      ws.terminate();
      await server.close();
    }
  });
});

test('1,000 subscribers without context takeover, dedicated publishes: no zlib context of their own', async () => {
  const SOCKETS = 1000;
  const MiB = 1024 * 1024;
  const { wss, port } = await wskitServer({
    perMessageDeflate: { threshold: 0, serverNoContextTakeover: true },
    topics: { compression: 'dedicated' },
  });
  const clients: RawClient[] = [];
  try {
    wss.on('connection', (ws: WebSocket) => ws.subscribe('t'));
    for (let i = 0; i < SOCKETS; i += 100) {
      const batch = await Promise.all(
        Array.from({ length: 100 }, () =>
          rawUpgraded(port, { headers: { 'Sec-WebSocket-Extensions': `${NAME}; server_no_context_takeover` } }),
        ),
      );
      clients.push(...batch);
    }
    const subscribed = await new Promise<boolean>((resolve) => {
      const deadline = Date.now() + 10_000;
      const check = (): void => {
        if (wss.subscriberCount('t') === SOCKETS) resolve(true);
        else if (Date.now() > deadline) resolve(false);
        else setTimeout(check, 10);
      };
      check();
    });
    expect(subscribed).toBe(true);
    const before = process.memoryUsage().rss;
    const message = text(100);
    for (let i = 0; i < 5; i++) expect(wss.publish('t', message, { compress: true })).toBe(SOCKETS);
    const grown = process.memoryUsage().rss - before;
    for (const c of clients) expect(await c.until(() => c.frames.length === 5, 10_000)).toBe(true);
    for (const c of [clients[0]!, clients[SOCKETS - 1]!]) {
      for (const f of c.frames) expect(inflateAlone(Buffer.concat([f.payload, TAIL])).equals(message)).toBe(true);
    }
    // A deflate stream per socket would be about 256 KiB each: 250 MiB here.
    expect(grown).toBeLessThan(32 * MiB);
  } finally {
    for (const c of clients) c.socket.destroy();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  }
});

test('publishes, broadcasts and sends on one socket keep call order across sync, thread-pool and plain frames', async () => {
  const { wss, url } = await wskitServer({
    perMessageDeflate: { threshold: 0 },
    topics: { compression: 'dedicated' },
  });
  const client = new WebSocket(url, { perMessageDeflate: true });
  try {
    const got: string[] = [];
    const expected: string[] = [];
    const connected = once(wss, 'connection') as Promise<[WebSocket]>;
    await once(client, 'open');
    const [server] = await connected;
    server.subscribe('t');
    const big = 'B'.repeat(SYNC_DEFLATE_LIMIT * 4);
    const steps: Array<[string, () => void]> = [
      ['p1', () => wss.publish('t', 'p1', { compress: true })],
      [big, () => server.send(big, { compress: true })],
      ['p2', () => wss.publish('t', 'p2', { compress: true })],
      ['plain', () => server.send('plain', { compress: false })],
      ['b1', () => wss.broadcast('b1', { compress: true })],
      ['s1', () => server.send('s1', { compress: true })],
      ['p3', () => wss.publish('t', 'p3')],
    ];
    const all = new Promise<void>((resolve) =>
      client.on('message', (data: Buffer) => {
        got.push(data.toString());
        if (got.length === steps.length * 3) resolve();
      }),
    );
    // Three passes, the second in the same tick as the first (the fan-out pump merges them).
    for (let pass = 0; pass < 3; pass++) {
      for (const [text, step] of steps) {
        expected.push(text);
        step();
      }
      if (pass === 1) await new Promise((resolve) => setImmediate(resolve));
    }
    await all;
    expect(got.map((m) => (m.length > 10 ? `B×${m.length}` : m))).toEqual(
      expected.map((m) => (m.length > 10 ? `B×${m.length}` : m)),
    );
  } finally {
    client.terminate();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  }
});
