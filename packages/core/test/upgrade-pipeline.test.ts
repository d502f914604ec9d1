/**
 * The shared upgrade pipeline, without a framework: classification of upgrades, coexistence with other
 * `upgrade` listeners (over http and https), the deadline, the raw-socket and listener error policies,
 * message holding and shutdown.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import * as https from 'node:https';
import { connect, type AddressInfo } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import {
  WebSocket,
  WebSocketServer,
  UpgradePipeline,
  pendingUpgradeOf,
  type PendingUpgrade,
  type UpgradePipelineHooks,
  type UpgradePipelineOptions,
} from '@wskit/core';
import { selfSignedCertificate } from '../../../test/helpers/tls.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

function listen(server: Server | https.Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  cleanups.push(() => {
    server.closeAllConnections();
    return new Promise((r) => server.close(r));
  });
  return once(server, 'listening').then(() => (server.address() as AddressInfo).port);
}

/** Sends a raw HTTP request; resolves with everything the server wrote until it closed (or `waitMs`). */
function rawRequest(port: number, head: string, waitMs = 15_000, tls = false): Promise<string> {
  return new Promise((resolve) => {
    const socket: Duplex = tls
      ? tlsConnect({ port, host: '127.0.0.1', rejectUnauthorized: false })
      : connect(port, '127.0.0.1');
    let data = '';
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(`${data}<held>`);
    }, waitMs);
    socket.on('data', (chunk: Buffer) => (data += chunk.toString('latin1')));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(data);
    });
    socket.write(head);
  });
}

const wsHead = (path = '/', method = 'GET', upgrade = 'websocket'): string =>
  `${method} ${path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: ${upgrade}\r\n` +
  'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n';

function pipelineOn(
  server: Server | https.Server,
  dispatch: UpgradePipelineHooks['dispatch'],
  options: UpgradePipelineOptions = {},
  hooks: Partial<UpgradePipelineHooks> = {},
): UpgradePipeline {
  const pipeline = new UpgradePipeline({ dispatch, ...hooks }, options);
  pipeline.attach(server);
  cleanups.push(() => pipeline.close({ timeout: 200 }));
  return pipeline;
}

const wss = new WebSocketServer({ noServer: true });
afterAll(() => wss.close());

const echo = (upgrade: PendingUpgrade): unknown =>
  upgrade.accept(wss, (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));

function openClient(url: string, options: object = {}): Promise<WebSocket> {
  const ws = new WebSocket(url, options);
  cleanups.push(() => ws.terminate());
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

describe('classification', () => {
  test('a non-WebSocket upgrade gets 426, a WebSocket upgrade on PUT gets 405, both at once', async () => {
    const server = createServer();
    const dispatch = jest.fn(echo);
    pipelineOn(server, dispatch);
    const port = await listen(server);
    expect(await rawRequest(port, wsHead('/', 'GET', 'h2c'))).toMatch(/^HTTP\/1\.1 426 .*\r\nUpgrade: websocket/s);
    expect(await rawRequest(port, wsHead('/', 'GET', 'foo'))).toMatch(/^HTTP\/1\.1 426 /);
    const put = await rawRequest(port, wsHead('/', 'PUT'));
    expect(put).toMatch(/^HTTP\/1\.1 405 /);
    expect(put).toMatch(/\r\nAllow: GET/);
    expect(dispatch).not.toHaveBeenCalled();
  });

  test('an upgrade another listener takes (before or after ours) is left to it', async () => {
    const server = createServer();
    const other = new WebSocketServer({ noServer: true });
    cleanups.push(() => other.close());
    const dispatch = jest.fn(echo);
    // A listener registered before the pipeline takes /before (a response bound to the socket, as a
    // framework plugin does); one after it takes /after with a handshake. h2c goes to a third one.
    server.on('upgrade', (req: IncomingMessage, socket: Duplex) => {
      if (req.url !== '/before') return;
      const res = new ServerResponse(req);
      res.assignSocket(socket as never);
      res.statusCode = 418;
      res.end('teapot');
      res.on('finish', () => socket.end());
    });
    pipelineOn(server, dispatch);
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (req.url === '/after') other.handleUpgrade(req, socket, head, (ws) => ws.send('other'));
      if (req.headers.upgrade === 'h2c') socket.end('HTTP/1.1 501 Not Implemented\r\nConnection: close\r\n\r\n');
    });
    const port = await listen(server);
    expect(await rawRequest(port, wsHead('/before'))).toMatch(/^HTTP\/1\.1 418 /);
    const client = new WebSocket(`ws://127.0.0.1:${port}/after`);
    cleanups.push(() => client.terminate());
    const [first] = await once(client, 'message');
    expect(String(first)).toBe('other');
    expect(await rawRequest(port, wsHead('/', 'GET', 'h2c'))).toMatch(/^HTTP\/1\.1 501 /);
    expect(dispatch).not.toHaveBeenCalled();
    // Nobody else wants /mine: the pipeline takes it.
    const mine = await openClient(`ws://127.0.0.1:${port}/mine`);
    mine.send('hi');
    expect(String((await once(mine, 'message'))[0])).toBe('hi');
  });

  test('over https (Node puts an error listener on every TLS socket) upgrades still go through', async () => {
    const { key, cert } = selfSignedCertificate();
    const server = https.createServer({ key, cert });
    pipelineOn(server, echo);
    // A second listener that never takes anything: the pipeline has to decide one tick later.
    server.on('upgrade', () => {});
    const port = await listen(server);
    const ws = await openClient(`wss://127.0.0.1:${port}/`, { rejectUnauthorized: false });
    ws.send('secure');
    expect(String((await once(ws, 'message'))[0])).toBe('secure');
    expect(await rawRequest(port, wsHead('/', 'GET', 'h2c'), 15_000, true)).toMatch(/^HTTP\/1\.1 426 /);
  });
});

describe('the framework step', () => {
  test('what the framework writes on the bound response is the answer; the pending upgrade is findable', async () => {
    const server = createServer();
    pipelineOn(server, (upgrade) => {
      expect(pendingUpgradeOf(upgrade.req)).toBe(upgrade);
      upgrade.res.writeHead(401, { 'WWW-Authenticate': 'Bearer' }).end('no');
    });
    const port = await listen(server);
    const answer = await rawRequest(port, wsHead());
    expect(answer).toMatch(/^HTTP\/1\.1 401 /);
    expect(answer).toMatch(/WWW-Authenticate: Bearer/);
  });

  test('a framework that never settles gets 408 after upgradeTimeout; a late write is harmless', async () => {
    const server = createServer();
    let late: PendingUpgrade | null = null;
    pipelineOn(server, (upgrade) => void (late = upgrade), { upgradeTimeout: 200 });
    const port = await listen(server);
    expect(await rawRequest(port, wsHead())).toMatch(/^HTTP\/1\.1 408 /);
    late!.res.end('too late');
    expect(await late!.accept(wss)).toBeNull();
  });

  test('throwing or rejecting dispatch answers 500 (or the error status); unmatched gives 404', async () => {
    const server = createServer();
    pipelineOn(server, async (upgrade) => {
      if (upgrade.req.url === '/throw') throw new Error('boom');
      if (upgrade.req.url === '/teapot') throw Object.assign(new Error('x'), { status: 418 });
      upgrade.unmatched();
    });
    const port = await listen(server);
    expect(await rawRequest(port, wsHead('/throw'))).toMatch(/^HTTP\/1\.1 500 /);
    expect(await rawRequest(port, wsHead('/teapot'))).toMatch(/^HTTP\/1\.1 418 /);
    expect(await rawRequest(port, wsHead('/nothing'))).toMatch(/^HTTP\/1\.1 404 /);
  });

  test("unmatched: 'ignore' leaves the socket to another listener", async () => {
    const server = createServer();
    pipelineOn(server, (upgrade) => upgrade.unmatched(), { unmatched: 'ignore' });
    server.on('upgrade', (_req: IncomingMessage, socket: Duplex) => {
      setTimeout(() => socket.end('HTTP/1.1 409 Conflict\r\nConnection: close\r\n\r\n'), 50);
    });
    const port = await listen(server);
    expect(await rawRequest(port, wsHead())).toMatch(/^HTTP\/1\.1 409 /);
  });

  test('a peer that resets mid-pipeline is no uncaught error', async () => {
    const server = createServer();
    let seen: () => void;
    const reached = new Promise<void>((r) => (seen = r));
    pipelineOn(server, () => seen());
    const port = await listen(server);
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => {});
    socket.write(wsHead());
    await reached;
    socket.resetAndDestroy();
    await new Promise((r) => setTimeout(r, 100));
  });
});

describe('accepted sockets', () => {
  test('messages are held until an async handler attached its listeners', async () => {
    const server = createServer();
    pipelineOn(server, (upgrade) =>
      upgrade.accept(wss, async (ws) => {
        await new Promise((r) => setTimeout(r, 150));
        ws.on('message', (data) => ws.send(`got ${String(data)}`));
      }),
    );
    const port = await listen(server);
    const ws = await openClient(`ws://127.0.0.1:${port}/`);
    ws.send('early');
    expect(String((await once(ws, 'message'))[0])).toBe('got early');
  });

  test('a throwing message listener reaches onError and closes with 1011; the process lives', async () => {
    const server = createServer();
    const onError = jest.fn();
    pipelineOn(
      server,
      (upgrade) =>
        upgrade.accept(wss, (ws) =>
          ws.on('message', () => {
            throw new Error('listener broke');
          }),
        ),
      {},
      { onError },
    );
    const port = await listen(server);
    const ws = await openClient(`ws://127.0.0.1:${port}/`);
    ws.send('x');
    const [code] = await once(ws, 'close');
    expect(code).toBe(1011);
    expect(onError).toHaveBeenCalledTimes(1);
    expect((onError.mock.calls[0] as unknown[])[0]).toMatchObject({ message: 'listener broke' });
    expect((onError.mock.calls[0] as unknown[])[3]).toBe('listener');
  });

  test('a throwing or rejecting handler reaches onError as "handler" and closes with 1011', async () => {
    const server = createServer();
    const onError = jest.fn();
    pipelineOn(
      server,
      (upgrade) => upgrade.accept(wss, async () => Promise.reject(new Error('nope'))),
      {},
      { onError },
    );
    const port = await listen(server);
    const ws = await openClient(`ws://127.0.0.1:${port}/`);
    const [code] = await once(ws, 'close');
    expect(code).toBe(1011);
    expect((onError.mock.calls[0] as unknown[])[3]).toBe('handler');
  });

  test('peer protocol errors go to onDebug, not onError', async () => {
    const server = createServer();
    const onError = jest.fn();
    const onDebug = jest.fn();
    const small = new WebSocketServer({ noServer: true, maxPayload: 10 });
    cleanups.push(() => small.close());
    pipelineOn(
      server,
      (upgrade) => upgrade.accept(small, (ws) => ws.on('message', () => {})),
      {},
      { onError, onDebug },
    );
    const port = await listen(server);
    const ws = await openClient(`ws://127.0.0.1:${port}/`);
    ws.send('far more than ten bytes');
    const [code] = await once(ws, 'close');
    expect(code).toBe(1009);
    await new Promise((r) => setTimeout(r, 50));
    expect(onError).not.toHaveBeenCalled();
    expect(onDebug.mock.calls.some((call: unknown[]) => call[0] === 'websocket peer error')).toBe(true);
  });

  test('close(): in-flight upgrades get 503, sockets 1001 with the reason, new upgrades are not taken', async () => {
    const server = createServer();
    let stuck!: () => void;
    const reached = new Promise<void>((r) => (stuck = r));
    const pipeline = pipelineOn(server, (upgrade) => (upgrade.req.url === '/stuck' ? stuck() : echo(upgrade)), {
      closeReason: 'bye now',
      shutdownTimeout: 1000,
    });
    const port = await listen(server);
    const ws = await openClient(`ws://127.0.0.1:${port}/`);
    const stuckAnswer = rawRequest(port, wsHead('/stuck'));
    await reached;
    const closed = once(ws, 'close');
    await pipeline.close();
    const [code, reason] = await closed;
    expect(code).toBe(1001);
    expect(String(reason)).toBe('bye now');
    expect(await stuckAnswer).toMatch(/^HTTP\/1\.1 503 /);
    expect(pipeline.clients.size).toBe(0);
    expect(pipeline.servers).toEqual([]);
  });

  test('bad options throw a TypeError', () => {
    const dispatch = (): void => {};
    expect(() => new UpgradePipeline({ dispatch }, { upgradeTimeout: -1 })).toThrow(TypeError);
    expect(() => new UpgradePipeline({ dispatch }, { unmatched: 'nope' as 'ignore' })).toThrow(TypeError);
    expect(() => new UpgradePipeline({ dispatch }, { closeReason: 'x'.repeat(200) })).toThrow(TypeError);
  });
});
