import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { randomBytes } from 'node:crypto';
import { WebSocketError } from '../src/errors.js';
import { formatExtensions, parseExtensions, type ExtensionParams } from '../src/extension-header.js';
import {
  PerMessageDeflate,
  type PerMessageDeflateOptions,
  type PerMessageDeflateParams,
} from '../src/permessage-deflate.js';
import { sharedZlibLimiter, ZlibLimiter } from '../src/zlib-limiter.js';

const NAME = PerMessageDeflate.extensionName;

/** What a header carries, as the handshake would see it. */
function offersOf(header: string): ExtensionParams[] {
  const parsed = parseExtensions(header);
  return parsed[NAME] ?? [];
}

function responseHeader(params: PerMessageDeflateParams): string {
  return formatExtensions({ [NAME]: params });
}

function serverAccepts(header: string, opts?: PerMessageDeflateOptions): string {
  const server = new PerMessageDeflate(opts, true, 0);
  const params = server.accept(offersOf(header));
  server.cleanup();
  return responseHeader(params);
}

/** Full negotiation through real header text; both ends ready to use. */
function negotiate(
  serverOpts: PerMessageDeflateOptions | undefined,
  clientOpts: PerMessageDeflateOptions | undefined,
  maxPayload = 0,
): { server: PerMessageDeflate; client: PerMessageDeflate; response: string } {
  const client = new PerMessageDeflate(clientOpts, false, maxPayload);
  const server = new PerMessageDeflate(serverOpts, true, maxPayload);
  const request = responseHeader(client.offer());
  const response = responseHeader(server.accept(offersOf(request)));
  client.accept(offersOf(response));
  return { server, client, response };
}

function compress(pmd: PerMessageDeflate, data: Buffer, fin = true): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    pmd.compress(data, fin, (err, out) => (err ? reject(err) : resolve(out as Buffer))),
  );
}

function decompress(pmd: PerMessageDeflate, data: Buffer, fin = true): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    pmd.decompress(data, fin, (err, out) => (err ? reject(err) : resolve(out as Buffer))),
  );
}

/** Byte equality without jest's per-element deep comparison, which is slow on large buffers. */
function expectBytes(actual: Buffer, expected: Buffer): void {
  expect(actual.length).toBe(expected.length);
  expect(Buffer.compare(actual, expected)).toBe(0);
}

function expectWsError(err: unknown, code: string, closeCode: number): void {
  expect(err).toBeInstanceOf(WebSocketError);
  expect((err as WebSocketError).code).toBe(code);
  expect((err as WebSocketError).closeCode).toBe(closeCode);
}

const live: PerMessageDeflate[] = [];
function track<T extends { server: PerMessageDeflate; client: PerMessageDeflate }>(pair: T): T {
  live.push(pair.server, pair.client);
  return pair;
}
afterEach(() => {
  for (const pmd of live.splice(0)) pmd.cleanup();
});

// The first instance fixes the process-wide limit; make it the documented default.
const limiter = (() => {
  new PerMessageDeflate(undefined, true, 0).cleanup();
  return sharedZlibLimiter(10);
})();

describe('negotiation: server side', () => {
  test.each([
    ['Chromium', 'permessage-deflate; client_max_window_bits', undefined, 'permessage-deflate'],
    ['Firefox', 'permessage-deflate', undefined, 'permessage-deflate'],
    [
      'python websockets style',
      'permessage-deflate; server_max_window_bits=12; client_max_window_bits=12',
      undefined,
      'permessage-deflate; server_max_window_bits=12; client_max_window_bits=12',
    ],
    [
      'offer asking for no server context takeover',
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover',
      undefined,
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover',
    ],
    [
      'Chromium, server demands no context takeover both ways',
      'permessage-deflate; client_max_window_bits',
      { serverNoContextTakeover: true, clientNoContextTakeover: true },
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover',
    ],
    [
      'Chromium, server limits the client window',
      'permessage-deflate; client_max_window_bits',
      { clientMaxWindowBits: 10 },
      'permessage-deflate; client_max_window_bits=10',
    ],
    [
      'client offered a smaller limit than the server needs: server uses its own',
      'permessage-deflate; client_max_window_bits=12',
      { clientMaxWindowBits: 10 },
      'permessage-deflate; client_max_window_bits=10',
    ],
    [
      'server sets its own window though not asked',
      'permessage-deflate',
      { serverMaxWindowBits: 11 },
      'permessage-deflate; server_max_window_bits=11',
    ],
    [
      'server window smaller than requested',
      'permessage-deflate; server_max_window_bits=12',
      { serverMaxWindowBits: 10 },
      'permessage-deflate; server_max_window_bits=10',
    ],
    [
      'clientMaxWindowBits false drops the client limit',
      'permessage-deflate; client_max_window_bits=12',
      { clientMaxWindowBits: false },
      'permessage-deflate',
    ],
    [
      'quoted values are accepted',
      'permessage-deflate; server_max_window_bits="9"',
      undefined,
      'permessage-deflate; server_max_window_bits=9',
    ],
  ])('%s', (_label, offer, opts, expected) => {
    expect(serverAccepts(offer, opts)).toBe(expected);
  });

  test.each([
    ['unknown parameter', 'permessage-deflate; foo'],
    ['duplicated parameter', 'permessage-deflate; server_no_context_takeover; server_no_context_takeover'],
    ['duplicated window bits', 'permessage-deflate; client_max_window_bits=10; client_max_window_bits=11'],
    ['server_max_window_bits without a value', 'permessage-deflate; server_max_window_bits'],
    ['server_max_window_bits too small', 'permessage-deflate; server_max_window_bits=7'],
    ['server_max_window_bits too large', 'permessage-deflate; server_max_window_bits=16'],
    ['window bits with a leading zero', 'permessage-deflate; server_max_window_bits=09'],
    ['window bits not a number', 'permessage-deflate; client_max_window_bits=abc'],
    ['window bits not an integer', 'permessage-deflate; client_max_window_bits=9.5'],
    ['no_context_takeover with a value', 'permessage-deflate; server_no_context_takeover=1'],
    ['client_no_context_takeover with a value', 'permessage-deflate; client_no_context_takeover="x"'],
  ])('declines an invalid offer: %s', (_label, offer) => {
    expect(() => serverAccepts(offer)).toThrow(/None of the permessage-deflate offers can be accepted/);
    // ...but a valid offer after it is still taken.
    expect(serverAccepts(`${offer}, permessage-deflate; client_max_window_bits`)).toBe('permessage-deflate');
  });

  test.each([
    [
      'offer asks for no server context takeover but the server refuses it',
      'permessage-deflate; server_no_context_takeover',
      { serverNoContextTakeover: false },
    ],
    [
      'offer limits the server window but the server refuses limits',
      'permessage-deflate; server_max_window_bits=12',
      { serverMaxWindowBits: false },
    ],
    [
      'offer limits the server window below the configured one',
      'permessage-deflate; server_max_window_bits=9',
      { serverMaxWindowBits: 10 },
    ],
    [
      'server needs client_max_window_bits but it was not offered (Firefox)',
      'permessage-deflate',
      { clientMaxWindowBits: 10 },
    ],
    [
      'server needs a client window larger than offered',
      'permessage-deflate; client_max_window_bits=9',
      { clientMaxWindowBits: 10 },
    ],
  ])('declines an offer the configuration cannot honour: %s', (_label, offer, opts) => {
    expect(() => serverAccepts(offer, opts)).toThrow(/None of the permessage-deflate offers can be accepted/);
  });

  test('the first acceptable of several offers wins', () => {
    const header =
      'permessage-deflate; server_max_window_bits=8, permessage-deflate; server_max_window_bits=10; client_max_window_bits, permessage-deflate';
    expect(serverAccepts(header, { serverMaxWindowBits: 10 })).toBe('permessage-deflate; server_max_window_bits=10');
    expect(serverAccepts(header)).toBe('permessage-deflate; server_max_window_bits=8');
  });

  test('the refusal explains every declined offer', () => {
    expect(() => serverAccepts('permessage-deflate; foo, permessage-deflate; server_max_window_bits=20')).toThrow(
      /unknown parameter "foo".*server_max_window_bits/,
    );
  });

  test('accept stores the negotiated params and does not mutate the offers', () => {
    const offers = offersOf('permessage-deflate; client_max_window_bits=12');
    const snapshot = JSON.stringify(offers);
    const server = new PerMessageDeflate(undefined, true, 0);
    expect(server.params).toBeNull();
    expect(server.accept(offers)).toEqual({ client_max_window_bits: 12 });
    expect(server.params).toEqual({ client_max_window_bits: 12 });
    expect(JSON.stringify(offers)).toBe(snapshot);
    server.cleanup();
  });

  test('invalid option values are rejected up front', () => {
    expect(() => new PerMessageDeflate({ serverMaxWindowBits: 16 }, true, 0)).toThrow(RangeError);
    expect(() => new PerMessageDeflate({ clientMaxWindowBits: 7 }, true, 0)).toThrow(RangeError);
    expect(() => new PerMessageDeflate({ threshold: -1 }, true, 0)).toThrow(RangeError);
  });
});

describe('negotiation: client side', () => {
  test.each([
    [undefined, 'permessage-deflate; client_max_window_bits'],
    [{ clientMaxWindowBits: false }, 'permessage-deflate'],
    [{ clientMaxWindowBits: 10 }, 'permessage-deflate; client_max_window_bits=10'],
    [{ serverMaxWindowBits: true }, 'permessage-deflate; client_max_window_bits'],
    [
      { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 12 },
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=12; client_max_window_bits',
    ],
  ])('offer with %j', (opts, expected) => {
    expect(responseHeader(new PerMessageDeflate(opts, false, 0).offer())).toBe(expected);
  });

  function clientAccepts(response: string, opts?: PerMessageDeflateOptions): PerMessageDeflateParams {
    const client = new PerMessageDeflate(opts, false, 0);
    try {
      return client.accept(offersOf(response));
    } finally {
      client.cleanup();
    }
  }

  test.each([
    ['a bare response', 'permessage-deflate', undefined, {}],
    [
      'no context takeover both ways though not requested',
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover',
      undefined,
      { server_no_context_takeover: true, client_no_context_takeover: true },
    ],
    ['a client window limit', 'permessage-deflate; client_max_window_bits=9', undefined, { client_max_window_bits: 9 }],
    [
      'a smaller server window than requested',
      'permessage-deflate; server_max_window_bits=10',
      { serverMaxWindowBits: 12 },
      { server_max_window_bits: 10 },
    ],
    [
      'our own client limit applies when the server does not restate it',
      'permessage-deflate',
      { clientMaxWindowBits: 11 },
      { client_max_window_bits: 11 },
    ],
  ])('accepts %s', (_label, response, opts, expected) => {
    expect(clientAccepts(response, opts)).toEqual(expected);
  });

  test.each([
    ['an unknown parameter', 'permessage-deflate; foo', undefined],
    ['a duplicated parameter', 'permessage-deflate; server_max_window_bits=10; server_max_window_bits=10', undefined],
    ['client_max_window_bits without a value', 'permessage-deflate; client_max_window_bits', undefined],
    [
      'client_max_window_bits that was not offered',
      'permessage-deflate; client_max_window_bits=10',
      { clientMaxWindowBits: false },
    ],
    [
      'client_max_window_bits above what was offered',
      'permessage-deflate; client_max_window_bits=12',
      { clientMaxWindowBits: 10 },
    ],
    [
      'client_no_context_takeover when refused',
      'permessage-deflate; client_no_context_takeover',
      { clientNoContextTakeover: false },
    ],
    [
      'a missing server_no_context_takeover that was requested',
      'permessage-deflate',
      { serverNoContextTakeover: true },
    ],
    ['a missing server_max_window_bits that was requested', 'permessage-deflate', { serverMaxWindowBits: 10 }],
    [
      'server_max_window_bits above what was requested',
      'permessage-deflate; server_max_window_bits=11',
      { serverMaxWindowBits: 10 },
    ],
    ['an out-of-range window', 'permessage-deflate; server_max_window_bits=16', undefined],
    ['two responses', 'permessage-deflate, permessage-deflate', undefined],
  ])('rejects %s', (_label, response, opts) => {
    expect(() => clientAccepts(response, opts)).toThrow(Error);
  });
});

describe('data path', () => {
  const text = Buffer.from('The quick brown fox jumps over the lazy dog. '.repeat(200));

  test('compress and decompress refuse to run before negotiation', () => {
    const pmd = new PerMessageDeflate(undefined, true, 0);
    expect(() => pmd.compress(text, true, () => undefined)).toThrow(/not been negotiated/);
    expect(() => pmd.decompress(text, true, () => undefined)).toThrow(/not been negotiated/);
  });

  test('exposes the threshold (default 1024)', () => {
    expect(new PerMessageDeflate(undefined, true, 0).threshold).toBe(1024);
    expect(new PerMessageDeflate({ threshold: 0 }, true, 0).threshold).toBe(0);
  });

  const takeover = [false, true];
  const windows: (number | undefined)[] = [undefined, 8, 9, 12, 15];
  const combos: [boolean, boolean, number | undefined, number | undefined][] = [];
  for (const snct of takeover) for (const cnct of takeover) for (const w of windows) combos.push([snct, cnct, w, w]);
  combos.push([false, false, 8, 15], [true, false, 15, 8], [false, true, 10, 13]);

  test.each(combos)(
    'round trip both ways: server_no_context_takeover=%s client_no_context_takeover=%s server bits=%s client bits=%s',
    async (snct, cnct, serverBits, clientBits) => {
      const { server, client, response } = track(
        negotiate(
          {
            serverNoContextTakeover: snct,
            clientNoContextTakeover: cnct,
            serverMaxWindowBits: serverBits,
            clientMaxWindowBits: clientBits,
          },
          { serverMaxWindowBits: serverBits, clientMaxWindowBits: clientBits },
        ),
      );
      expect(response.includes('server_no_context_takeover')).toBe(snct);
      expect(response.includes('client_no_context_takeover')).toBe(cnct);

      // Repeats 1 KiB apart at 4 KiB distance: within a 15-bit window, beyond smaller ones.
      const block = randomBytes(1024);
      const message = Buffer.concat([block, randomBytes(3072), block, Buffer.from('tail')]);
      for (const [from, to, noTakeover, bits] of [
        [server, client, snct, serverBits],
        [client, server, cnct, clientBits],
      ] as const) {
        const sizes: number[] = [];
        for (let i = 0; i < 3; i++) {
          const wire = await compress(from, message);
          sizes.push(wire.length);
          // Every message must inflate alone within the negotiated window, plus history if taken over.
          expectBytes(await decompress(to, wire), message);
          if (i === 0) {
            const inflated = zlib.inflateRawSync(Buffer.concat([wire, Buffer.from([0, 0, 0xff, 0xff])]), {
              windowBits: bits ?? 15,
              finishFlush: zlib.constants.Z_SYNC_FLUSH,
            });
            expect(inflated.equals(message)).toBe(true);
          }
        }
        if (noTakeover) {
          expect(sizes[1]).toBe(sizes[0]);
        } else if ((bits ?? 15) >= 13) {
          // With the previous message as history, the repeat is a few back-references.
          expect(sizes[1]).toBeLessThan(sizes[0] / 4);
        }
      }
    },
  );

  test('one zlib job per message each way (each job is a round trip to the thread pool)', async () => {
    const { server, client } = track(negotiate(undefined, undefined));
    // Every chunk a zlib stream processes goes through its _transform: count them.
    type Transforming = { _transform: (...args: unknown[]) => void };
    const proto = Object.getPrototypeOf(zlib.DeflateRaw.prototype) as Transforming;
    const original = proto._transform;
    let jobs = 0;
    proto._transform = function (this: unknown, ...args: unknown[]) {
      jobs++;
      return original.apply(this, args);
    };
    try {
      for (let i = 0; i < 5; i++) {
        const message = Buffer.from(`message ${i} `.repeat(300));
        jobs = 0;
        const wire = await compress(server, message);
        expect(jobs).toBe(1);
        jobs = 0;
        expectBytes(await decompress(client, wire), message);
        expect(jobs).toBe(1);
      }
    } finally {
      proto._transform = original;
    }
  });

  test('an empty message compresses to a single 0x00 byte and back', async () => {
    const { server, client } = track(negotiate(undefined, undefined));
    const wire = await compress(client, Buffer.alloc(0));
    expect(wire).toEqual(Buffer.from([0x00]));
    expect((await decompress(server, wire)).length).toBe(0);
    // The stream stays usable.
    expectBytes(await decompress(server, await compress(client, text)), text);
  });

  test('a message compressed in many fragments and inflated fragment by fragment', async () => {
    const { server, client } = track(negotiate(undefined, undefined));
    const message = Buffer.concat(Array.from({ length: 50 }, (_, i) => Buffer.from(`fragment ${i} `.repeat(40))));
    for (let round = 0; round < 2; round++) {
      const pieces: Buffer[] = [];
      for (let i = 0; i < 50; i++) {
        const part = message.subarray(i * (message.length / 50), (i + 1) * (message.length / 50));
        pieces.push(await compress(client, part, i === 49));
      }
      const results: Buffer[] = [];
      for (let i = 0; i < pieces.length; i++)
        results.push(await decompress(server, pieces[i], i === pieces.length - 1));
      // Earlier fragments yield nothing; the last one yields the whole message.
      expect(results.slice(0, -1).every((r) => r.length === 0)).toBe(true);
      expectBytes(results[results.length - 1], message);
    }
  });

  test('a compressed message cut into 1-byte frames inflates to the whole message', async () => {
    const { server, client } = track(negotiate(undefined, undefined));
    const wire = await compress(client, text);
    let last: Buffer = Buffer.alloc(0);
    for (let i = 0; i < wire.length; i++)
      last = await decompress(server, wire.subarray(i, i + 1), i === wire.length - 1);
    expectBytes(last, text);
  });

  test('callbacks come back in call order without waiting between calls', async () => {
    const { server, client } = track(negotiate(undefined, undefined));
    const messages = Array.from({ length: 40 }, (_, i) => Buffer.from(`message ${i} `.repeat(i * 50 + 1)));
    const order: number[] = [];
    const wires = await Promise.all(
      messages.map(
        (m, i) =>
          new Promise<Buffer>((resolve, reject) =>
            client.compress(m, true, (err, out) => {
              order.push(i);
              if (err) reject(err);
              else resolve(out as Buffer);
            }),
          ),
      ),
    );
    expect(order).toEqual(messages.map((_, i) => i));
    const inflated = await Promise.all(wires.map((w) => decompress(server, w)));
    inflated.forEach((buf, i) => expectBytes(buf, messages[i]));
  });

  test('messages ending with a final deflate block (BFINAL) are inflated, and the next one too', async () => {
    const { server } = track(negotiate(undefined, undefined));
    const a = Buffer.from('first message, own deflate stream '.repeat(10));
    const b = Buffer.from('second message, another stream '.repeat(10));
    expectBytes(await decompress(server, zlib.deflateRawSync(a)), a);
    expectBytes(await decompress(server, zlib.deflateRawSync(b)), b);
  });

  test('after a BFINAL message, the next one is inflated even when queued back to back', async () => {
    const { server } = track(negotiate(undefined, undefined));
    const messages = Array.from({ length: 6 }, (_, i) => Buffer.from(`message ${i} in its own stream `.repeat(20)));
    // All queued at once: each next decompress starts synchronously after the previous callback.
    const results = await Promise.all(messages.map((m) => decompress(server, zlib.deflateRawSync(m))));
    results.forEach((r, i) => expectBytes(r, messages[i]));
    // Mixed with a message from the reused (sync-flushed) stream after it.
    const text2 = Buffer.from('regular message after final blocks '.repeat(30));
    const client = new PerMessageDeflate(undefined, false, 0);
    client.accept(offersOf('permessage-deflate'));
    live.push(client);
    const [x, y] = await Promise.all([
      decompress(server, zlib.deflateRawSync(text2)),
      decompress(server, await compress(client, text2)),
    ]);
    expectBytes(x, text2);
    expectBytes(y, text2);
  });

  test('data after a final block within the same message is ignored', async () => {
    const { server } = track(negotiate(undefined, undefined));
    const a = Buffer.from('complete message '.repeat(10));
    expectBytes(await decompress(server, zlib.deflateRawSync(a), false), Buffer.alloc(0));
    expectBytes(await decompress(server, Buffer.from([1, 2, 3]), true), a);
    const b = Buffer.from('next message');
    expectBytes(await decompress(server, zlib.deflateRawSync(b)), b);
  });

  test('interoperates with the ws implementation in both directions', async () => {
    type WsPmd = {
      offer(): Record<string, unknown>;
      accept(offers: unknown[]): Record<string, string | number | true>;
      compress(data: Buffer, fin: boolean, cb: (err: Error | null, out?: Buffer) => void): void;
      decompress(data: Buffer, fin: boolean, cb: (err: Error | null, out?: Buffer) => void): void;
      cleanup(): void;
    };
    // `ws` does not export its extension class; load the file next to its entry point.
    const wsFile = path.join(path.dirname(require.resolve('ws')), 'lib', 'permessage-deflate.js');
    const WsPerMessageDeflate = require(wsFile) as new (o: object) => WsPmd;
    const wsServer = new WsPerMessageDeflate({ isServer: true, maxPayload: 0, serverMaxWindowBits: 10 });
    const client = new PerMessageDeflate({ clientMaxWindowBits: 11 }, false, 0);
    try {
      const response = responseHeader(wsServer.accept(offersOf(responseHeader(client.offer()))));
      expect(response).toBe('permessage-deflate; client_max_window_bits=11; server_max_window_bits=10');
      client.accept(offersOf(response));
      const wsCall = (fn: 'compress' | 'decompress', data: Buffer): Promise<Buffer> =>
        new Promise((resolve, reject) =>
          wsServer[fn](data, true, (err, out) => (err ? reject(err) : resolve(out as Buffer))),
        );
      for (let i = 0; i < 3; i++) {
        expectBytes(await decompress(client, await wsCall('compress', text)), text);
        expectBytes(await wsCall('decompress', await compress(client, text)), text);
      }
    } finally {
      wsServer.cleanup();
      client.cleanup();
    }
  });
});

describe('limits and failures', () => {
  test('invalid compressed data fails with 1007, and so does every later call', async () => {
    const { server } = track(negotiate(undefined, undefined));
    const garbage = Buffer.from([0xff, 0xff, 0xff, 0xff, 0x00, 0x01]);
    const err = await decompress(server, garbage).catch((e: unknown) => e);
    expectWsError(err, 'WS_ERR_INVALID_COMPRESSED_DATA', 1007);
    const again = await decompress(server, zlib.deflateRawSync(Buffer.from('ok'))).catch((e: unknown) => e);
    expectWsError(again, 'WS_ERR_INVALID_COMPRESSED_DATA', 1007);
  });

  test('a message of exactly maxPayload passes; one byte more fails with 1009', async () => {
    const { server, client } = track(negotiate(undefined, undefined, 1000));
    const exact = randomBytes(1000);
    expectBytes(await decompress(server, await compress(client, exact)), exact);
    const err = await decompress(server, await compress(client, randomBytes(1001))).catch((e: unknown) => e);
    expectWsError(err, 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH', 1009);
  });

  test('the limit counts the whole message across fragments', async () => {
    const { server, client } = track(negotiate(undefined, undefined, 1000));
    const first = await compress(client, randomBytes(600), false);
    const second = await compress(client, randomBytes(600), true);
    expect((await decompress(server, first, false)).length).toBe(0);
    const err = await decompress(server, second, true).catch((e: unknown) => e);
    expectWsError(err, 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH', 1009);
  });

  test('maxPayload 0 means unlimited', async () => {
    const { server, client } = track(negotiate(undefined, undefined, 0));
    const big = Buffer.alloc(4 << 20, 7);
    expect((await decompress(server, await compress(client, big))).equals(big)).toBe(true);
  });

  test('a 1 GiB decompression bomb against maxPayload 1 MiB fails with 1009 and bounded memory', async () => {
    // Stream 1 GiB of zeros through deflateRaw in 8 MiB writes; only ~1 MB of output is kept.
    const deflater = zlib.createDeflateRaw({ level: 9, strategy: zlib.constants.Z_RLE });
    const parts: Buffer[] = [];
    deflater.on('data', (c: Buffer) => parts.push(c));
    const zeros = Buffer.alloc(8 << 20);
    for (let i = 0; i < 128; i++) {
      await new Promise<void>((resolve) => deflater.write(zeros, () => resolve()));
    }
    await new Promise<void>((resolve) => deflater.flush(zlib.constants.Z_SYNC_FLUSH, () => resolve()));
    deflater.close();
    const bomb = Buffer.concat(parts).subarray(0, -4);
    expect(bomb.length).toBeLessThan(1100 * 1024);

    const { server } = track(negotiate(undefined, undefined, 1 << 20));
    const before = process.memoryUsage().rss;
    let peak = before;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 1);

    // Fed as 64 KiB frames, as a receiver would; the first frame alone inflates to ~64 MiB.
    const frame = 64 * 1024;
    const outcomes: unknown[] = [];
    for (let off = 0; off < bomb.length; off += frame) {
      const fin = off + frame >= bomb.length;
      outcomes.push(await decompress(server, bomb.subarray(off, off + frame), fin).catch((e: unknown) => e));
      peak = Math.max(peak, process.memoryUsage().rss);
    }
    clearInterval(sampler);

    expectWsError(outcomes[0], 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH', 1009);
    for (const o of outcomes) expectWsError(o, 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH', 1009);
    expect(peak - before).toBeLessThan(64 * 1024 * 1024);
  }, 20_000);
});

describe('concurrency and cleanup', () => {
  test('the shared limiter bounds zlib jobs across all instances (default 10)', async () => {
    expect(limiter.concurrency).toBe(10);
    const pairs = Array.from({ length: 30 }, () => track(negotiate(undefined, undefined)));
    const done = pairs.map((p) => compress(p.client, Buffer.from('x'.repeat(5000))));
    expect(limiter.running).toBe(10);
    expect(limiter.queued).toBe(20);
    const outs = await Promise.all(done);
    expect(limiter.running).toBe(0);
    const back = await Promise.all(outs.map((o, i) => decompress(pairs[i].server, o)));
    expect(back.every((b) => b.toString() === 'x'.repeat(5000))).toBe(true);
  });

  test('cleanup drops running and queued work: no callback fires and slots are freed', async () => {
    const { server, client } = track(negotiate(undefined, undefined));
    const wire = await compress(client, Buffer.alloc(1 << 20, 1));
    let fired = 0;
    for (let i = 0; i < 5; i++) {
      client.compress(Buffer.alloc(1 << 20, 2), true, () => fired++);
      server.decompress(wire, true, () => fired++);
    }
    expect(limiter.running).toBeGreaterThan(0);
    client.cleanup();
    server.cleanup();
    expect(limiter.running).toBe(0);
    expect(limiter.queued).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(fired).toBe(0);
    // Calls after cleanup do nothing.
    client.compress(Buffer.from('late'), true, () => fired++);
    server.decompress(wire, true, () => fired++);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(fired).toBe(0);
    expect(limiter.running).toBe(0);
  });

  test('cleanup from inside a callback stops the rest of the queue', async () => {
    const { client } = track(negotiate(undefined, undefined));
    const calls: number[] = [];
    await new Promise<void>((resolve) => {
      for (let i = 0; i < 5; i++) {
        client.compress(Buffer.from(`m${i}`), true, () => {
          calls.push(i);
          if (i === 1) {
            client.cleanup();
            setTimeout(resolve, 50);
          }
        });
      }
    });
    expect(calls).toEqual([0, 1]);
    expect(limiter.running).toBe(0);
  });
});

describe('ZlibLimiter', () => {
  test('runs jobs FIFO with at most `concurrency` in flight', () => {
    const l = new ZlibLimiter(2);
    const started: number[] = [];
    const dones: (() => void)[] = [];
    for (let i = 0; i < 5; i++) {
      l.add((done) => {
        started.push(i);
        dones[i] = done;
      });
    }
    expect(started).toEqual([0, 1]);
    expect(l.running).toBe(2);
    expect(l.queued).toBe(3);
    dones[1]();
    dones[1](); // a second call is ignored
    expect(started).toEqual([0, 1, 2]);
    expect(l.running).toBe(2);
    dones[0]();
    dones[2]();
    expect(started).toEqual([0, 1, 2, 3, 4]);
    dones[3]();
    dones[4]();
    expect(l.running).toBe(0);
  });

  test('jobs finishing synchronously do not recurse', () => {
    const l = new ZlibLimiter(1);
    let count = 0;
    for (let i = 0; i < 100_000; i++) {
      l.add((done) => {
        count++;
        done();
      });
    }
    expect(count).toBe(100_000);
    expect(l.running).toBe(0);
  });

  test('rejects a nonsensical limit', () => {
    expect(() => new ZlibLimiter(0)).toThrow(RangeError);
    expect(() => new ZlibLimiter(1.5)).toThrow(RangeError);
    expect(new ZlibLimiter(Infinity).concurrency).toBe(Infinity);
  });
});
