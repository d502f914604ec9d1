/**
 * Deflate bursts shared with a worker thread (deflate-offload.ts, deflate-batch.ts): the worker's batches give
 * the bytes a deflate on this thread gives, a burst is split between the two with every socket's order kept,
 * in both roles against raw peers that inflate with zlib, and a worker that fails or cannot start loses no
 * message. The worker runs from the build (dist/cjs/deflate-worker.js): the sources have no JavaScript.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as zlib from 'node:zlib';
import { WebSocket, type PerMessageDeflateOptions, type WebSocketServer } from '@wskit/core';
import { deflateBatch, JOB_FIELDS } from '../src/deflate-batch.js';
import {
  deflateOffloadState,
  noteSyncDeflate,
  offloadDeflate,
  OFFLOAD_BURST,
  resetDeflateOffload,
  setDeflateWorkerScript,
  shouldOffload,
} from '../src/deflate-offload.js';
import { deflateIndependently, SYNC_DEFLATE_LIMIT } from '../src/sync-deflate.js';
import { NAME, text } from './deflate-pair.js';
import { OP, rawServer, rawUpgraded, shutdown, wskitServer, type RawClient, type RawPeer } from './helpers.js';

const BUILT_WORKER = join(__dirname, '..', 'dist', 'cjs', 'deflate-worker.js');
const TAIL = Buffer.from([0, 0, 0xff, 0xff]);
const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function inflateAlone(payload: Buffer): Buffer {
  return zlib.inflateRawSync(Buffer.concat([payload, TAIL]), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
}

async function until(pred: () => boolean, ms = 10_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!pred() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
  return pred();
}

afterEach(() => setDeflateWorkerScript(BUILT_WORKER));
afterAll(() => setDeflateWorkerScript(null));
beforeAll(() => setDeflateWorkerScript(BUILT_WORKER));

describe('deflateBatch (the worker’s work, run here)', () => {
  test('each job gives the bytes of a deflate on its own, inputs shared, parameter sets apart', () => {
    const a = text(60, 'a');
    const b = text(5, 'b');
    const input = new Uint8Array(a.length + b.length);
    input.set(a, 0);
    input.set(b, a.length);
    // Jobs: a at level 6, b at level 1, a again at level 1 (the same input bytes, sent once).
    const jobs = Int32Array.from([0, a.length, 0, a.length, b.length, 1, 0, a.length, 1]);
    const params = Int32Array.from([15, 6, 8, 0, 15, 1, 8, 0]);
    const result = deflateBatch({ id: 7, input, jobs, params });
    expect(result.id).toBe(7);
    // Each copied at once: the view is the shared scratch, valid until the next deflate.
    const expected = [
      Buffer.from(deflateIndependently(a, 15, { level: 6 })!),
      Buffer.from(deflateIndependently(b, 15, { level: 1 })!),
      Buffer.from(deflateIndependently(a, 15, { level: 1 })!),
    ];
    expect(Array.from(result.lengths)).toEqual(expected.map((e) => e.length));
    expect(Buffer.from(result.output).equals(Buffer.concat(expected))).toBe(true);
    expect(inflateAlone(expected[2]!).equals(a)).toBe(true);
  });

  test('outputs larger than the input (one incompressible input, many jobs) grow the output buffer', () => {
    const a = randomBytes(3000);
    const jobs = Int32Array.from(Array.from({ length: 5 }, () => [0, a.length, 0]).flat());
    const result = deflateBatch({ id: 2, input: new Uint8Array(a), jobs, params: Int32Array.from([15, 6, 8, 0]) });
    expect(result.output.length).toBeGreaterThan(5 * a.length);
    let at = 0;
    for (const length of result.lengths) {
      expect(inflateAlone(Buffer.from(result.output.subarray(at, at + length))).equals(a)).toBe(true);
      at += length;
    }
  });

  test('a job zlib refuses is marked -1 and the others still come out', () => {
    const a = text(20);
    const jobs = Int32Array.from([0, a.length, 0, 0, a.length, 1]);
    // Window bits 3 cannot make a zlib context.
    const params = Int32Array.from([3, 6, 8, 0, 15, 6, 8, 0]);
    const result = deflateBatch({ id: 1, input: new Uint8Array(a), jobs, params });
    expect(result.lengths[0]).toBe(-1);
    expect(inflateAlone(Buffer.from(result.output.subarray(0, result.lengths[1]))).equals(a)).toBe(true);
    expect(jobs.length / JOB_FIELDS).toBe(2);
  });
});

describe('the burst rule', () => {
  test('the first deflates of a run stay here; past the burst every other one goes to the worker', async () => {
    await tick();
    for (let i = 0; i < OFFLOAD_BURST - 1; i++) {
      noteSyncDeflate();
      expect(shouldOffload()).toBe(false);
    }
    noteSyncDeflate();
    expect(shouldOffload()).toBe(true);
    // Asking again changes nothing: the answer is a peek.
    expect(shouldOffload()).toBe(true);
    const results: Buffer[] = [];
    const data = text(50);
    offloadDeflate(data, 15, undefined, (err, out) => results.push(out!));
    for (let i = 0; i < OFFLOAD_BURST - 1; i++) {
      expect(shouldOffload()).toBe(true);
      offloadDeflate(data, 15, undefined, (err, out) => results.push(out!));
    }
    // As many on the worker as here: this thread's turn.
    expect(shouldOffload()).toBe(false);
    noteSyncDeflate();
    expect(shouldOffload()).toBe(true);
    // A new run starts over.
    await tick();
    expect(shouldOffload()).toBe(false);
    expect(await until(() => results.length === OFFLOAD_BURST)).toBe(true);
    for (const out of results) expect(inflateAlone(out).equals(data)).toBe(true);
    expect(deflateOffloadState()).toMatchObject({ running: true, pendingBatches: 0, pendingBytes: 0 });
  });

  test('input held by the worker is bounded: past 16 MiB unanswered, deflates stay on this thread', async () => {
    await tick();
    const data = Buffer.alloc(SYNC_DEFLATE_LIMIT, 'x');
    let answered = 0;
    let offloaded = 0;
    for (let i = 0; i < 4000; i++) {
      noteSyncDeflate();
      if (!shouldOffload()) continue;
      offloaded++;
      offloadDeflate(data, 15, undefined, (err, out) => {
        expect(err).toBeNull();
        answered++;
        expect(out!.length).toBeGreaterThan(0);
      });
    }
    expect(offloaded).toBe((16 * 1024 * 1024) / SYNC_DEFLATE_LIMIT);
    expect(deflateOffloadState().pendingBytes).toBe(16 * 1024 * 1024);
    expect(await until(() => answered === offloaded)).toBe(true);
    expect(deflateOffloadState().pendingBytes).toBe(0);
  });

  test('without a worker script nothing is offloaded', async () => {
    setDeflateWorkerScript(null);
    await tick();
    for (let i = 0; i < OFFLOAD_BURST * 2; i++) noteSyncDeflate();
    expect(shouldOffload()).toBe(false);
  });
});

/** `count` raw clients offering server_no_context_takeover. */
async function rawClients(port: number, count: number): Promise<RawClient[]> {
  return Promise.all(
    Array.from({ length: count }, () =>
      rawUpgraded(port, { headers: { 'Sec-WebSocket-Extensions': `${NAME}; server_no_context_takeover` } }),
    ),
  );
}

/** Every data message of a raw client, inflated on its own (no context takeover). */
function messagesOf(client: RawClient): string[] {
  return client.frames
    .filter((f) => f.opcode === OP.text || f.opcode === OP.binary)
    .map((f) => (f.rsv1 ? inflateAlone(f.payload) : f.payload).toString());
}

/**
 * A server with dedicated topic compression and `count` raw clients offering server_no_context_takeover, all
 * connected; `body` gets the server's sockets; everything is closed afterwards.
 */
async function withDedicated(
  count: number,
  body: (wss: WebSocketServer, sockets: WebSocket[], clients: RawClient[]) => Promise<void>,
  deflate: PerMessageDeflateOptions = {},
): Promise<void> {
  const { wss, port } = await wskitServer({
    perMessageDeflate: { threshold: 0, serverNoContextTakeover: true, ...deflate },
    topics: { compression: 'dedicated' },
  });
  const clients = await rawClients(port, count);
  try {
    expect(await until(() => wss.clients.size === count)).toBe(true);
    await body(wss, [...wss.clients], clients);
  } finally {
    for (const c of clients) c.socket.destroy();
    await shutdown(wss);
  }
}

describe('server role: dedicated publishes and sends to raw clients', () => {
  test('a burst is split between this thread and the worker; every socket gets every message, in call order', async () => {
    const SOCKETS = 64;
    await withDedicated(SOCKETS, async (wss, sockets, clients) => {
      for (const ws of sockets) ws.subscribe('t');
      const expected: string[] = [];
      // Two runs of publishes and per-socket sends mixed, then a run while the first answers are out.
      for (let run = 0; run < 3; run++) {
        for (let i = 0; i < 4; i++) {
          const published = `${run}.${i} ${'{"price":1.5} '.repeat(40)}`;
          expect(wss.publish('t', published, { compress: true })).toBe(SOCKETS);
          expected.push(published);
          const sent = `${run}.${i} own`;
          for (const ws of sockets) ws.send(sent, { compress: true });
          expected.push(sent);
        }
        if (run === 1) await tick();
      }
      for (const c of clients) expect(await c.until(() => messagesOf(c).length === expected.length, 10_000)).toBe(true);
      for (const c of clients) expect(messagesOf(c)).toEqual(expected);
      for (const c of clients) {
        const data = c.frames.filter((f) => f.opcode === OP.text);
        expect(data.every((f) => f.rsv1 && f.fin)).toBe(true);
      }
      // About half of the burst went to the worker.
      const { answered } = deflateOffloadState();
      const total = SOCKETS * expected.length;
      expect(answered).toBeGreaterThan(total / 4);
      expect(answered).toBeLessThan((total * 3) / 4);
    });
  });

  test('a lone send and a small publish stay synchronous (nothing waits for the worker)', async () => {
    await withDedicated(4, async (wss, sockets, clients) => {
      for (const ws of sockets) ws.subscribe('t');
      for (let i = 0; i < 3; i++) {
        wss.publish('t', `hello ${i}`, { compress: true });
        await tick();
      }
      for (const c of clients) expect(await c.until(() => messagesOf(c).length === 3)).toBe(true);
      expect(deflateOffloadState().answered).toBe(0);
    });
  });

  test('perMessageDeflate.deflateWorker false keeps a burst on this thread', async () => {
    await withDedicated(
      40,
      async (wss, sockets, clients) => {
        for (const ws of sockets) ws.subscribe('t');
        for (let i = 0; i < 3; i++) wss.publish('t', `m${i} ${'z'.repeat(100)}`, { compress: true });
        for (const c of clients) expect(await c.until(() => messagesOf(c).length === 3)).toBe(true);
        expect(deflateOffloadState()).toMatchObject({ running: false, answered: 0 });
      },
      { deflateWorker: false },
    );
  });

  test('sockets closing while the worker holds their messages: the others still get theirs, nothing throws', async () => {
    await withDedicated(64, async (wss, sockets, clients) => {
      const errors: Error[] = [];
      for (const ws of sockets) {
        ws.subscribe('t');
        ws.on('error', (err: Error) => errors.push(err));
      }
      for (let i = 0; i < 5; i++) wss.publish('t', `m${i} ${'x'.repeat(300)}`, { compress: true });
      sockets.forEach((ws, i) => {
        if (i % 2 === 1) ws.terminate();
      });
      const kept = clients.filter((_, i) => i % 2 === 0);
      for (const c of kept) expect(await c.until(() => messagesOf(c).length === 5, 10_000)).toBe(true);
      expect(await until(() => deflateOffloadState().pendingBatches === 0)).toBe(true);
      expect(errors).toEqual([]);
    });
  });
});

describe('client role: many clients sending in one run', () => {
  test('masked, byte-exact, in order per connection, part of them deflated by the worker', async () => {
    const CLIENTS = 40;
    const peers: RawPeer[] = [];
    const server = await rawServer((peer) => {
      peers.push(peer);
      peer.accept({ 'Sec-WebSocket-Extensions': `${NAME}; client_no_context_takeover` });
    });
    const clients = Array.from(
      { length: CLIENTS },
      () => new WebSocket(server.url, { perMessageDeflate: { threshold: 0, clientNoContextTakeover: true } }),
    );
    try {
      await Promise.all(clients.map((ws) => once(ws, 'open')));
      const expected = [0, 1, 2].map((i) => `${i}:${'{"a":1,"b":"two"} '.repeat(30)}`);
      for (const m of expected) for (const ws of clients) ws.send(m, { compress: true });
      expect(peers).toHaveLength(CLIENTS);
      for (const p of peers) expect(await p.until(() => p.frames.length === 3, 10_000)).toBe(true);
      for (const p of peers) {
        expect(p.frames.every((f) => f.masked && f.rsv1 && f.fin)).toBe(true);
        expect(p.frames.map((f) => inflateAlone(f.payload).toString())).toEqual(expected);
      }
      expect(deflateOffloadState().answered).toBeGreaterThan(0);
    } finally {
      for (const ws of clients) ws.terminate();
      await server.close();
    }
  });
});

describe('a worker that fails loses nothing', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wskit-offload-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test.each([
    ['exits on its first batch', 'require("node:worker_threads").parentPort.on("message", () => process.exit(3));'],
    ['throws as it starts', 'throw new Error("broken worker");'],
    [
      'never answers, then exits',
      'setTimeout(() => process.exit(1), 200); require("node:worker_threads").parentPort.on("message", () => {});',
    ],
  ])('a worker that %s: its messages are deflated here, and the worker is not used again', async (_name, source) => {
    const script = join(dir, `${_name.replace(/\W+/g, '-')}.js`);
    writeFileSync(script, source);
    setDeflateWorkerScript(script);
    await withDedicated(40, async (wss, sockets, clients) => {
      for (const ws of sockets) ws.subscribe('t');
      const expected = [0, 1, 2, 3].map((i) => `${i} ${'y'.repeat(200)}`);
      for (const m of expected) wss.publish('t', m, { compress: true });
      for (const c of clients) expect(await c.until(() => messagesOf(c).length === 4, 10_000)).toBe(true);
      for (const c of clients) expect(messagesOf(c)).toEqual(expected);
      expect(deflateOffloadState()).toMatchObject({ failed: true, running: false, pendingBatches: 0, answered: 0 });
      await tick();
      for (let i = 0; i < OFFLOAD_BURST * 2; i++) noteSyncDeflate();
      expect(shouldOffload()).toBe(false);
    });
  });
});

test('a job zlib refuses on both threads fails with an error, and the jobs beside it still arrive', async () => {
  await tick();
  for (let i = 0; i < OFFLOAD_BURST; i++) noteSyncDeflate();
  const data = text(30);
  const results: Array<[Error | null, Buffer | undefined]> = [];
  // Level 42 is no zlib level: the worker answers -1, and this thread cannot make that context either.
  offloadDeflate(data, 15, { level: 42 }, (err, out) => results.push([err, out]));
  offloadDeflate(data, 15, undefined, (err, out) => results.push([err, out]));
  expect(await until(() => results.length === 2)).toBe(true);
  const failedJob = results.find(([err]) => err !== null);
  expect(failedJob?.[0]?.message).toBe('Compression failed');
  const good = results.find(([err]) => err === null);
  expect(inflateAlone(good![1]!).equals(data)).toBe(true);
});

test('a Worker constructor that throws: the batch is deflated here and the worker is not tried again', async () => {
  const threads = jest.requireActual<typeof import('node:worker_threads')>('node:worker_threads');
  const spy = jest.spyOn(threads, 'Worker').mockImplementation(() => {
    throw new Error('no threads here');
  });
  try {
    await tick();
    for (let i = 0; i < OFFLOAD_BURST; i++) noteSyncDeflate();
    const data = text(30);
    const results: Buffer[] = [];
    offloadDeflate(data, 15, undefined, (err, out) => results.push(out!));
    expect(await until(() => results.length === 1)).toBe(true);
    expect(inflateAlone(results[0]!).equals(data)).toBe(true);
    expect(spy).toHaveBeenCalledTimes(1);
    expect(deflateOffloadState()).toMatchObject({ failed: true, running: false });
  } finally {
    spy.mockRestore();
  }
});

test('resetDeflateOffload answers what the worker still held, here', async () => {
  await tick();
  for (let i = 0; i < OFFLOAD_BURST; i++) noteSyncDeflate();
  const data = text(40);
  const results: Array<Buffer | undefined> = [];
  offloadDeflate(data, 15, undefined, (err, out) => results.push(out));
  await Promise.resolve();
  expect(deflateOffloadState().pendingBatches).toBe(1);
  resetDeflateOffload();
  expect(await until(() => results.length === 1)).toBe(true);
  expect(inflateAlone(results[0]!).equals(data)).toBe(true);
});
