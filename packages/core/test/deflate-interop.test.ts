/**
 * permessage-deflate over real sockets against `ws`, both ways round: every combination of the
 * negotiation parameters, threshold and per-message compress:false (seen on the wire by a raw client),
 * compressed fragmented sends, ordering under a small zlib concurrency limit, a 1 GiB decompression bomb,
 * and closing in the middle of (de)compression.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import * as zlib from 'node:zlib';
import {
  WebSocket as WsClient,
  WebSocketServer as WsServer,
  type PerMessageDeflateOptions as WsDeflateOptions,
} from 'ws';
import { PerMessageDeflate, WebSocket, WebSocketServer, type PerMessageDeflateOptions } from '@wskit/core';
import { OP, clientFrame, rawConnect, waitUntil } from './fixtures/raw-ws.js';

// The zlib limiter is process-wide and the first instance sets its size: pin it small for this whole
// file, so every test also checks that nothing deadlocks or reorders with only 2 zlib jobs in flight.
new PerMessageDeflate({ concurrencyLimit: 2 }, true, 0);

const MiB = 1024 * 1024;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

type AnyServer = WebSocketServer | WsServer;
type AnySocket = WebSocket | WsClient;

async function listening<T extends AnyServer>(
  server: T,
): Promise<{ server: T; port: number; stop: () => Promise<void> }> {
  await once(server, 'listening');
  return {
    server,
    port: (server.address() as AddressInfo).port,
    stop: async () => {
      for (const c of server.clients as Set<AnySocket>) c.terminate();
      await new Promise((resolve) => server.close(() => resolve(undefined)));
    },
  };
}

function echo(server: AnyServer): void {
  (server as WsServer).on('connection', (ws: WsClient) => {
    ws.on('error', () => {});
    ws.on('message', (data: Buffer, isBinary: boolean) => ws.send(data, { binary: isBinary }));
  });
}

/** Messages whose back-references reach further than 2^9 bytes and across messages. */
function sampleMessages(): Array<string | Buffer> {
  const block = randomBytes(1500);
  const hex = randomBytes(2000).toString('hex');
  const binary = Buffer.concat([block, randomBytes(700), block, block]);
  return [`${hex}|${hex}|${hex}`, binary, binary, 'hi', '', Buffer.alloc(20_000, 'z'), hex];
}

function collect(ws: AnySocket, count: number): Promise<Array<string | Buffer>> {
  return new Promise((resolve, reject) => {
    const out: Array<string | Buffer> = [];
    const timer = setTimeout(() => reject(new Error(`received ${out.length}/${count}`)), 10_000);
    (ws as WsClient).on('message', (data: Buffer, isBinary: boolean) => {
      out.push(isBinary ? Buffer.from(data) : data.toString());
      if (out.length === count) {
        clearTimeout(timer);
        resolve(out);
      }
    });
  });
}

function fingerprint(m: string | Buffer): string {
  return typeof m === 'string' ? `text:${m}` : `binary:${m.toString('base64')}`;
}

interface Combo {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  serverMaxWindowBits: number | true;
  clientMaxWindowBits: number | true;
}

const BITS: Array<number | true> = [9, 10, 11, 12, 13, 14, 15, true];
const COMBOS: Combo[] = [];
for (const serverNoContextTakeover of [false, true])
  for (const clientNoContextTakeover of [false, true])
    for (const serverMaxWindowBits of BITS)
      for (const clientMaxWindowBits of BITS)
        COMBOS.push({ serverNoContextTakeover, clientNoContextTakeover, serverMaxWindowBits, clientMaxWindowBits });

function serverOptions(c: Combo): PerMessageDeflateOptions {
  return { ...c };
}

function clientOptions(c: Combo): PerMessageDeflateOptions {
  // A client has no valueless server_max_window_bits to offer (RFC 7692 §7.1.2.1): `true` means "no request".
  return { ...c, serverMaxWindowBits: c.serverMaxWindowBits === true ? undefined : c.serverMaxWindowBits };
}

function expectedParams(c: Combo): string[] {
  const out = ['permessage-deflate'];
  if (c.serverNoContextTakeover) out.push('server_no_context_takeover');
  if (c.clientNoContextTakeover) out.push('client_no_context_takeover');
  if (c.serverMaxWindowBits !== true) out.push(`server_max_window_bits=${c.serverMaxWindowBits}`);
  if (c.clientMaxWindowBits !== true) out.push(`client_max_window_bits=${c.clientMaxWindowBits}`);
  return out.sort();
}

function paramsOf(header: string | undefined): string[] {
  return (header ?? '')
    .split(';')
    .map((p) => p.trim().replace(/\s*=\s*/, '='))
    .filter(Boolean)
    .sort();
}

/** Runs one combination: server `S` echoes what client `C` sends; returns the negotiated header. */
async function runCombo(kind: 'wskit-server' | 'wskit-client', combo: Combo): Promise<void> {
  const server =
    kind === 'wskit-server'
      ? new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: serverOptions(combo) })
      : // @types/ws omits `true` for the window bits, which ws accepts ("use what the client asks").
        new WsServer({ host: '127.0.0.1', port: 0, perMessageDeflate: serverOptions(combo) as WsDeflateOptions });
  let header: string | undefined;
  (server as WsServer).on('headers', (headers: string[]) => {
    header = headers.find((h) => /^sec-websocket-extensions:/i.test(h))?.replace(/^[^:]*:\s*/, '');
  });
  echo(server);
  const { port, stop } = await listening(server);
  try {
    const url = `ws://127.0.0.1:${port}/`;
    const client =
      kind === 'wskit-server'
        ? new WsClient(url, { perMessageDeflate: clientOptions(combo) as WsDeflateOptions })
        : new WebSocket(url, { perMessageDeflate: clientOptions(combo) });
    await once(client, 'open');
    expect(paramsOf(header)).toEqual(expectedParams(combo));
    const messages = sampleMessages();
    const received = collect(client, messages.length);
    for (const m of messages) client.send(m);
    // Compared as strings: jest's deep equality walks Buffers byte by byte, far too slowly for 512 runs.
    expect((await received).map(fingerprint)).toEqual(messages.map(fingerprint));
    client.close();
    await once(client, 'close');
  } finally {
    await stop();
  }
}

async function inBatches<T>(items: T[], size: number, run: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(run));
}

describe('negotiation parameters × directions (256 combinations each way)', () => {
  test.each(['wskit-server', 'wskit-client'] as const)(
    '%s: every combination negotiates the same parameters as ws and round-trips text and binary',
    async (kind) => {
      const failures: string[] = [];
      await inBatches(COMBOS, 16, async (combo) => {
        try {
          await runCombo(kind, combo);
        } catch (error) {
          failures.push(`${JSON.stringify(combo)}: ${(error as Error).message.split('\n')[0]}`);
        }
      });
      expect(failures).toEqual([]);
    },
    60_000,
  );
});

describe('what goes on the wire', () => {
  async function rawPeerOf(options: PerMessageDeflateOptions): Promise<{
    ws: WebSocket;
    frames: Awaited<ReturnType<typeof rawConnect>>['frames'];
    stop: () => Promise<void>;
  }> {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: options });
    const { port, stop } = await listening(wss);
    const connected = once(wss, 'connection') as Promise<[WebSocket]>;
    // server_no_context_takeover: each message inflates on its own below.
    const peer = await rawConnect(port, { extensions: 'permessage-deflate; server_no_context_takeover' });
    const [ws] = await connected;
    return {
      ws,
      frames: peer.frames,
      stop: async () => {
        peer.socket.destroy();
        await stop();
      },
    };
  }

  test.each([0, 100, 1024])(
    'threshold %i: messages below it go uncompressed, compress:false always does',
    async (threshold) => {
      const { ws, frames, stop } = await rawPeerOf({ threshold });
      try {
        const sizes = [0, 1, 99, 100, 1023, 1024, 5000];
        for (const size of sizes) ws.send(Buffer.alloc(size, 'a'));
        ws.send(Buffer.alloc(5000, 'a'), { compress: false });
        ws.send('b'.repeat(5000), { compress: false });
        expect(await waitUntil(() => frames.length === sizes.length + 2, 3000)).toBe(true);
        const expected = [...sizes.map((s) => s >= threshold), false, false];
        expect(frames.map((f) => f.rsv1)).toEqual(expected);
        frames.forEach((f, i) => {
          const plain = f.rsv1
            ? zlib.inflateRawSync(Buffer.concat([f.payload, Buffer.from([0, 0, 0xff, 0xff])]), {
                finishFlush: zlib.constants.Z_SYNC_FLUSH,
              })
            : f.payload;
          expect(plain.length).toBe(i < sizes.length ? sizes[i] : 5000);
        });
      } finally {
        await stop();
      }
    },
  );

  test('a fragmented compressed send: RSV1 on the first frame only, continuations after, one message for ws', async () => {
    const { ws, frames, stop } = await rawPeerOf({ threshold: 0 });
    try {
      ws.send('part one, ', { fin: false });
      ws.send('part two, ', { fin: false });
      ws.send('part three', { fin: true });
      ws.send('next');
      expect(await waitUntil(() => frames.length === 4, 3000)).toBe(true);
      expect(frames.map((f) => [f.opcode, f.fin, f.rsv1])).toEqual([
        [OP.text, false, true],
        [OP.cont, false, false],
        [OP.cont, true, false],
        [OP.text, true, true],
      ]);
    } finally {
      await stop();
    }
  });

  test.each(['wskit-server', 'wskit-client'] as const)(
    '%s: fragmented compressed sends (fin:false) arrive as one message at ws, text and binary',
    async (kind) => {
      const server =
        kind === 'wskit-server'
          ? new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: { threshold: 0 } })
          : new WsServer({ host: '127.0.0.1', port: 0, perMessageDeflate: { threshold: 0 } });
      const { port, stop } = await listening(server);
      try {
        const connected = once(server, 'connection') as Promise<[AnySocket]>;
        const client =
          kind === 'wskit-server'
            ? new WsClient(`ws://127.0.0.1:${port}/`, { perMessageDeflate: { threshold: 0 } })
            : new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: { threshold: 0 } });
        await once(client, 'open');
        const [serverSide] = await connected;
        const [sender, receiver] = kind === 'wskit-server' ? [serverSide, client] : [client, serverSide];
        const got = collect(receiver, 3);
        const block = randomBytes(3000);
        sender.send('alpha '.repeat(300), { fin: false });
        sender.send('beta '.repeat(300), { fin: false });
        sender.send('gamma', { fin: true });
        sender.send(block, { fin: false, binary: true });
        sender.send(block, { fin: true, binary: true });
        sender.send('after');
        expect(await got).toEqual([
          `${'alpha '.repeat(300)}${'beta '.repeat(300)}gamma`,
          Buffer.concat([block, block]),
          'after',
        ]);
        client.close();
      } finally {
        await stop();
      }
    },
  );
});

describe('ordering under load', () => {
  test('many concurrent sends on many sockets keep their order both ways (zlib limit 2)', async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: { threshold: 64 } });
    const { port, stop } = await listening(wss);
    const SOCKETS = 6;
    const MESSAGES = 400;
    const payloadFor = (socket: number, seq: number): string => `${socket}:${seq}:${'x'.repeat((seq * 37) % 3000)}`;
    try {
      const serverSeen = new Map<string, number[]>();
      wss.on('connection', (ws: WebSocket, req) => {
        const id = req.url ?? '';
        serverSeen.set(id, []);
        ws.on('message', (data: Buffer) => {
          serverSeen.get(id)!.push(Number(data.toString().split(':')[1]));
        });
        for (let seq = 0; seq < MESSAGES; seq++) ws.send(payloadFor(0, seq), { compress: seq % 7 !== 0 });
      });
      const clients = Array.from(
        { length: SOCKETS },
        (_, i) => new WsClient(`ws://127.0.0.1:${port}/${i}`, { perMessageDeflate: { threshold: 64 } }),
      );
      const clientSeen = clients.map(() => [] as number[]);
      clients.forEach((c, i) =>
        c.on('message', (data: Buffer) => clientSeen[i]!.push(Number(data.toString().split(':')[1]))),
      );
      await Promise.all(clients.map((c) => once(c, 'open')));
      clients.forEach((c, i) => {
        for (let seq = 0; seq < MESSAGES; seq++) c.send(payloadFor(i, seq), { compress: seq % 5 !== 0 });
      });
      const done = (): boolean =>
        clientSeen.every((s) => s.length === MESSAGES) &&
        serverSeen.size === SOCKETS &&
        [...serverSeen.values()].every((s) => s.length === MESSAGES);
      expect(await waitUntil(done, 20_000)).toBe(true);
      const inOrder = Array.from({ length: MESSAGES }, (_, i) => i);
      for (const seen of clientSeen) expect(seen).toEqual(inOrder);
      for (const seen of serverSeen.values()) expect(seen).toEqual(inOrder);
      for (const c of clients) c.terminate();
    } finally {
      await stop();
    }
  }, 30_000);
});

describe('decompression bomb over the wire', () => {
  let bomb: Buffer;
  beforeAll(async () => {
    // 1 GiB of zeros streamed through deflateRaw in 1 MiB chunks: about 1 MB of compressed bytes.
    const deflate = zlib.createDeflateRaw({ level: 6 });
    const chunks: Buffer[] = [];
    deflate.on('data', (c: Buffer) => chunks.push(c));
    const zeros = Buffer.alloc(MiB);
    for (let i = 0; i < 1024; i++) {
      if (!deflate.write(zeros)) await once(deflate, 'drain');
    }
    await new Promise<void>((resolve) => deflate.flush(zlib.constants.Z_SYNC_FLUSH, () => resolve()));
    const all = Buffer.concat(chunks);
    bomb = all.subarray(0, all.length - 4);
  }, 30_000);

  test.each([
    ['one frame under maxPayload', 0],
    ['64 KiB fragments', 64 * 1024],
  ])(
    '%s: closed with 1009, RSS stays low',
    async (_label, fragment) => {
      expect(bomb.length).toBeLessThan(MiB);
      const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: MiB, perMessageDeflate: true });
      const { port, stop } = await listening(wss);
      try {
        const connected = once(wss, 'connection') as Promise<[WebSocket]>;
        const peer = await rawConnect(port, { extensions: 'permessage-deflate' });
        const [ws] = await connected;
        expect(peer.headers['sec-websocket-extensions']).toContain('permessage-deflate');
        let messages = 0;
        const errors: Array<{ code?: string; closeCode?: number }> = [];
        ws.on('message', () => messages++);
        ws.on('error', (e: Error & { code?: string; closeCode?: number }) => errors.push(e));
        const closed = new Promise<number>((resolve) => ws.once('close', (code: number) => resolve(code)));

        global.gc?.();
        const rssBefore = process.memoryUsage().rss;
        let rssPeak = rssBefore;
        const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 5);
        if (fragment === 0) {
          peer.send(clientFrame(OP.binary, bomb, { rsv1: true }));
        } else {
          for (let offset = 0; offset < bomb.length; offset += fragment) {
            const end = Math.min(offset + fragment, bomb.length);
            peer.send(
              clientFrame(offset === 0 ? OP.binary : OP.cont, bomb.subarray(offset, end), {
                rsv1: offset === 0,
                fin: end === bomb.length,
              }),
            );
          }
        }
        const closeFrame = waitUntil(() => peer.frames.some((f) => f.opcode === OP.close), 10_000);
        await closed;
        clearInterval(sampler);
        rssPeak = Math.max(rssPeak, process.memoryUsage().rss);

        expect(await closeFrame).toBe(true);
        const frame = peer.frames.find((f) => f.opcode === OP.close)!;
        expect(frame.payload.readUInt16BE(0)).toBe(1009);
        expect(errors[0]).toMatchObject({ closeCode: 1009 });
        expect(messages).toBe(0);
        const growth = rssPeak - rssBefore;
        console.log(
          `decompression bomb (${_label}): ${bomb.length} B compressed → 1 GiB; RSS growth peak ${(growth / MiB).toFixed(1)} MiB`,
        );
        expect(growth).toBeLessThan(100 * MiB);
        peer.socket.destroy();
      } finally {
        await stop();
      }
    },
    20_000,
  );
});

describe('closing in the middle of (de)compression', () => {
  /** A fresh pair still compresses both ways promptly: proof that no zlib limiter slot was leaked. */
  async function stillWorks(port: number): Promise<void> {
    const client = new WsClient(`ws://127.0.0.1:${port}/echo`, { perMessageDeflate: { threshold: 0 } });
    await once(client, 'open');
    const got = collect(client, 3);
    for (const m of ['one '.repeat(500), 'two '.repeat(500), 'three']) client.send(m);
    expect(await got).toEqual(['one '.repeat(500), 'two '.repeat(500), 'three']);
    client.terminate();
  }

  test('terminate while deflating and while inflating: no callback or message after close, zlib released', async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: { threshold: 0 } });
    const { port, stop } = await listening(wss);
    const uncaught: unknown[] = [];
    const onUncaught = (e: unknown): void => void uncaught.push(e);
    process.on('uncaughtException', onUncaught);
    try {
      const afterClose: string[] = [];
      wss.on('connection', (ws: WebSocket, req) => {
        ws.on('error', () => {});
        let closed = false;
        ws.on('close', () => (closed = true));
        ws.on('message', (data: Buffer, isBinary: boolean) => {
          if (closed) afterClose.push('message');
          if (req.url === '/echo') ws.send(data, { binary: isBinary });
        });
        if (req.url === '/deflate') {
          const big = Buffer.alloc(4 * MiB, 'deflate me ');
          for (let i = 0; i < 10; i++) {
            ws.send(big, (error) => {
              if (closed && !error) afterClose.push('send success');
            });
          }
          setImmediate(() => ws.terminate());
        }
        if (req.url === '/inflate') {
          ws.once('message', () => ws.terminate());
        }
      });

      // Server deflating 40 MiB when it terminates, several sockets at once (more than the zlib limit).
      const deflaters = Array.from(
        { length: 5 },
        () => new WsClient(`ws://127.0.0.1:${port}/deflate`, { perMessageDeflate: true }),
      );
      deflaters.forEach((c) => c.on('error', () => {}));
      await Promise.all(deflaters.map((c) => once(c, 'close')));

      // Server inflating a stream of large messages when it terminates after the first.
      const inflaters = Array.from(
        { length: 5 },
        () => new WsClient(`ws://127.0.0.1:${port}/inflate`, { perMessageDeflate: { threshold: 0 } }),
      );
      inflaters.forEach((c) => c.on('error', () => {}));
      await Promise.all(inflaters.map((c) => once(c, 'open')));
      for (const c of inflaters) for (let i = 0; i < 10; i++) c.send(Buffer.alloc(4 * MiB, 'inflate me '));
      await Promise.all(inflaters.map((c) => (c.readyState === WsClient.CLOSED ? undefined : once(c, 'close'))));

      await sleep(300);
      expect(afterClose).toEqual([]);
      expect(uncaught).toEqual([]);
      // A close waits until messages already received are inflated; a loaded machine makes zlib slow.
      expect(await waitUntil(() => wss.clients.size === 0, 10_000)).toBe(true);
      await stillWorks(port);
    } finally {
      process.off('uncaughtException', onUncaught);
      await stop();
    }
  }, 30_000);

  test('close() while deflating still delivers every queued message before the close frame', async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: { threshold: 0 } });
    const { port, stop } = await listening(wss);
    try {
      wss.on('connection', (ws: WebSocket) => {
        for (let i = 0; i < 20; i++) ws.send(`${i}:${'compress '.repeat(20_000)}`);
        ws.close(1000, 'done');
      });
      const client = new WsClient(`ws://127.0.0.1:${port}/`, { perMessageDeflate: true });
      const got: number[] = [];
      client.on('message', (data: Buffer) => got.push(Number(data.toString().split(':')[0])));
      const [code, reason] = (await once(client, 'close')) as [number, Buffer];
      expect(code).toBe(1000);
      expect(reason.toString()).toBe('done');
      expect(got).toEqual(Array.from({ length: 20 }, (_, i) => i));
    } finally {
      await stop();
    }
  });
});
