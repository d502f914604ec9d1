/**
 * The upgrade pipeline's remaining policies, without a framework: the `shouldHandle` filter, a
 * synchronously throwing dispatch, the two-step shutdown (`stop()` then `close()`), handshakes that fail
 * inside `accept()` (a throwing verifyClient, a peer that leaves during an async verifyClient), a response
 * started but never finished by the deadline, where socket errors are reported (per-socket hook,
 * pipeline hook, console), RFC 8441 extended CONNECT over an attached HTTP/2 server, and the helpers
 * `isWebSocketUpgrade` and `statusOf` the plugins share.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import * as http2 from 'node:http2';
import { connect, type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import {
  WebSocket,
  WebSocketServer,
  UpgradePipeline,
  isWebSocketUpgrade,
  statusOf,
  type PendingUpgrade,
  type UpgradePipelineHooks,
  type UpgradePipelineOptions,
  type UpgradeServer,
} from '@wskit/core';
import { selfSignedCertificate } from '../../../test/helpers/tls.js';
import { delay } from './helpers.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

function listen(server: Server | http2.Http2SecureServer): Promise<number> {
  server.listen(0, '127.0.0.1');
  cleanups.push(() => {
    if ('closeAllConnections' in server) server.closeAllConnections();
    return new Promise((r) => server.close(() => r(undefined)));
  });
  return once(server, 'listening').then(() => (server.address() as AddressInfo).port);
}

/** Sends a raw HTTP request; resolves with everything the server wrote until it closed the connection. */
function rawRequest(port: number, head: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let data = '';
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(`${data}<held>`);
    }, 10_000);
    socket.on('data', (chunk: Buffer) => (data += chunk.toString('latin1')));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(data);
    });
    socket.write(head);
  });
}

const wsHead = (path = '/'): string =>
  `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
  'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n';

function pipelineOn(
  server: Server | http2.Http2SecureServer,
  dispatch: UpgradePipelineHooks['dispatch'],
  options: UpgradePipelineOptions = {},
  hooks: Partial<UpgradePipelineHooks> = {},
): UpgradePipeline {
  const pipeline = new UpgradePipeline({ dispatch, ...hooks }, options);
  pipeline.attach(server as UpgradeServer);
  cleanups.push(() => pipeline.close({ timeout: 200 }));
  return pipeline;
}

function noServer(options: ConstructorParameters<typeof WebSocketServer>[0] = { noServer: true }): WebSocketServer {
  const wss = new WebSocketServer(options);
  cleanups.push(() => wss.close());
  return wss;
}

function openClient(url: string, options: object = {}): Promise<WebSocket> {
  const ws = new WebSocket(url, options);
  cleanups.push(() => ws.terminate());
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

describe('shouldHandle', () => {
  test('false leaves the socket untouched for another listener; a throwing filter answers 500', async () => {
    const server = createServer();
    const dispatch = jest.fn((upgrade: PendingUpgrade) => upgrade.reject(403));
    pipelineOn(server, dispatch, {
      shouldHandle(req) {
        if (req.url === '/explode') throw new Error('filter broke');
        return req.url === '/mine';
      },
    });
    server.on('upgrade', (req: IncomingMessage, socket: Duplex) => {
      if (req.url === '/theirs') socket.end('HTTP/1.1 409 Conflict\r\nConnection: close\r\n\r\n');
    });
    const port = await listen(server);
    expect(await rawRequest(port, wsHead('/theirs'))).toMatch(/^HTTP\/1\.1 409 /);
    expect(await rawRequest(port, wsHead('/mine'))).toMatch(/^HTTP\/1\.1 403 /);
    expect(await rawRequest(port, wsHead('/explode'))).toMatch(/^HTTP\/1\.1 500 /);
    expect(dispatch).toHaveBeenCalledTimes(1);
  });

  test('bad values of shouldHandle, the timeouts and unmatched throw a TypeError; "404" is the old "reject"', async () => {
    const dispatch = (): void => {};
    const bad: UpgradePipelineOptions[] = [
      { shouldHandle: 'yes' as unknown as () => boolean },
      { shutdownTimeout: Number.POSITIVE_INFINITY },
      { upgradeTimeout: Number.NaN },
      { upgradeTimeout: '10' as unknown as number },
      { closeReason: 42 as unknown as string },
    ];
    for (const options of bad) expect(() => new UpgradePipeline({ dispatch }, options)).toThrow(TypeError);
    const server = createServer();
    pipelineOn(server, (upgrade) => upgrade.unmatched(), { unmatched: '404' });
    const port = await listen(server);
    expect(await rawRequest(port, wsHead())).toMatch(/^HTTP\/1\.1 404 /);
  });
});

describe('the framework step', () => {
  test('a dispatch that throws synchronously answers 500 and tells onDebug', async () => {
    const server = createServer();
    const onDebug = jest.fn();
    pipelineOn(
      server,
      () => {
        throw new Error('sync boom');
      },
      {},
      { onDebug },
    );
    const port = await listen(server);
    expect(await rawRequest(port, wsHead())).toMatch(/^HTTP\/1\.1 500 /);
    expect(onDebug).toHaveBeenCalledWith(
      'upgrade dispatch threw',
      expect.objectContaining({ message: 'sync boom' }),
      expect.anything(),
    );
  });

  test('a response started but not finished by the deadline: the socket is cut, no second status line', async () => {
    const server = createServer();
    pipelineOn(
      server,
      (upgrade) => {
        upgrade.res.writeHead(200, { 'Content-Type': 'text/plain' });
        upgrade.res.write('partial');
      },
      { upgradeTimeout: 150 },
    );
    const port = await listen(server);
    const answer = await rawRequest(port, wsHead());
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    expect(answer).not.toMatch(/408/);
    expect(answer).not.toContain('<held>');
  });
});

describe('two-step shutdown', () => {
  test('stop(): closing turns true, new upgrades get 503, open sockets stay open until close()', async () => {
    const server = createServer();
    const wss = noServer();
    const pipeline = pipelineOn(server, (upgrade) =>
      upgrade.accept(wss, (ws) => ws.on('message', (data) => ws.send(data))),
    );
    const port = await listen(server);
    const ws = await openClient(`ws://127.0.0.1:${port}/`);
    expect(pipeline.closing).toBe(false);
    pipeline.stop();
    pipeline.stop();
    expect(pipeline.closing).toBe(true);
    expect(await rawRequest(port, wsHead())).toMatch(/^HTTP\/1\.1 503 /);
    ws.send('still here');
    expect(String((await once(ws, 'message'))[0])).toBe('still here');
    // Attaching once stopped does nothing: the pipeline takes no new servers.
    const late = createServer();
    expect(pipeline.attach(late).servers).toEqual([server]);
    const closed = once(ws, 'close');
    await pipeline.close();
    expect((await closed)[0]).toBe(1001);
  });

  test('attach() is once per server; detach() gives the upgrade event back', async () => {
    const server = createServer();
    const pipeline = new UpgradePipeline({ dispatch: (upgrade) => upgrade.reject(401) });
    cleanups.push(() => pipeline.close({ timeout: 100 }));
    pipeline.attach(server).attach(server);
    expect(server.listenerCount('upgrade')).toBe(1);
    const port = await listen(server);
    expect(await rawRequest(port, wsHead())).toMatch(/^HTTP\/1\.1 401 /);
    pipeline.detach(server).detach(server);
    expect(server.listenerCount('upgrade')).toBe(0);
    expect(pipeline.servers).toEqual([]);
  });
});

describe('handshakes that fail inside accept()', () => {
  test('a throwing verifyClient: the socket is destroyed, accept() resolves null, onDebug hears of it', async () => {
    const server = createServer();
    const onDebug = jest.fn();
    const wss = noServer({
      noServer: true,
      verifyClient: () => {
        throw new Error('verify broke');
      },
    });
    let accepted!: Promise<WebSocket | null>;
    pipelineOn(server, (upgrade) => (accepted = upgrade.accept(wss)), {}, { onDebug });
    const port = await listen(server);
    expect(await rawRequest(port, wsHead())).toBe('');
    expect(await accepted).toBeNull();
    expect(onDebug).toHaveBeenCalledWith(
      'handleUpgrade threw',
      expect.objectContaining({ message: 'verify broke' }),
      expect.anything(),
    );
  });

  test('a peer that leaves while an async verifyClient decides: accept() resolves null, nothing tracked', async () => {
    const server = createServer();
    let verifying!: () => void;
    const reached = new Promise<void>((r) => (verifying = r));
    const wss = noServer({
      noServer: true,
      verifyClient: (_info: unknown, done: (ok: boolean) => void) => {
        verifying();
        setTimeout(() => done(true), 150);
      },
    });
    let accepted!: Promise<WebSocket | null>;
    const pipeline = pipelineOn(server, (upgrade) => (accepted = upgrade.accept(wss)));
    const port = await listen(server);
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => {});
    socket.write(wsHead());
    await reached;
    socket.destroy();
    expect(await accepted).toBeNull();
    await delay(200);
    expect(pipeline.clients.size).toBe(0);
  });
});

describe('where errors of accepted sockets go', () => {
  const throwingListener = (
    upgrade: PendingUpgrade,
    wss: WebSocketServer,
    own?: Parameters<PendingUpgrade['accept']>[2],
  ) =>
    upgrade.accept(
      wss,
      (ws) =>
        ws.on('message', () => {
          throw new Error('listener broke');
        }),
      own,
    );

  test("accept()'s own hook takes precedence over the pipeline's onError", async () => {
    const server = createServer();
    const wss = noServer();
    const onError = jest.fn();
    const own = jest.fn();
    pipelineOn(server, (upgrade) => throwingListener(upgrade, wss, own), {}, { onError });
    const port = await listen(server);
    const ws = await openClient(`ws://127.0.0.1:${port}/`);
    ws.send('x');
    expect((await once(ws, 'close'))[0]).toBe(1011);
    expect(own).toHaveBeenCalledWith(
      expect.objectContaining({ message: 'listener broke' }),
      expect.any(WebSocket),
      'listener',
    );
    expect(onError).not.toHaveBeenCalled();
  });

  test('without a hook the error is logged; a hook that throws is logged too, never uncaught', async () => {
    const errors = jest.spyOn(console, 'error').mockImplementation(() => {});
    cleanups.push(() => errors.mockRestore());
    const server = createServer();
    const wss = noServer();
    pipelineOn(server, (upgrade) => throwingListener(upgrade, wss));
    const other = createServer();
    pipelineOn(
      other,
      (upgrade) => throwingListener(upgrade, wss),
      {},
      {
        onError() {
          throw new Error('hook broke');
        },
      },
    );
    const [port, otherPort] = [await listen(server), await listen(other)];
    for (const url of [`ws://127.0.0.1:${port}/`, `ws://127.0.0.1:${otherPort}/`]) {
      const ws = await openClient(url);
      ws.send('x');
      expect((await once(ws, 'close'))[0]).toBe(1011);
    }
    const messages = errors.mock.calls.map((call) => String(call[0]));
    expect(messages).toContain('[@wskit] websocket error:');
    expect(messages).toContain('[@wskit] websocket error hook failed:');
  });
});

describe('RFC 8441 over an attached HTTP/2 server', () => {
  test('extended CONNECT reaches dispatch as a WebSocket GET; refusals are statuses; detach() lets go', async () => {
    const server = http2.createSecureServer({ ...selfSignedCertificate(), settings: { enableConnectProtocol: true } });
    const wss = noServer();
    const seen: Array<{ method?: string; upgrade: boolean; url?: string }> = [];
    const pipeline = pipelineOn(server, (upgrade) => {
      seen.push({ method: upgrade.req.method, upgrade: isWebSocketUpgrade(upgrade.req), url: upgrade.req.url });
      if (upgrade.req.url === '/private') return upgrade.reject(403);
      return upgrade.accept(wss, (ws) => ws.on('message', (data) => ws.send(`h2 ${String(data)}`)));
    });
    const sessions = new Set<http2.ServerHttp2Session>();
    server.on('session', (session) => sessions.add(session));
    const port = await listen(server);
    // The client keeps its session to the origin for later sockets: server.close() waits for it.
    cleanups.push(() => sessions.forEach((session) => session.destroy()));
    const ws = await openClient(`wss://127.0.0.1:${port}/chat`, { http2: true, rejectUnauthorized: false });
    ws.send('hi');
    expect(String((await once(ws, 'message'))[0])).toBe('h2 hi');
    const refused = new WebSocket(`wss://127.0.0.1:${port}/private`, { http2: true, rejectUnauthorized: false });
    const [error] = (await once(refused, 'error')) as [Error];
    expect(error.message).toMatch(/403/);
    expect(seen).toEqual([
      { method: 'GET', upgrade: true, url: '/chat' },
      { method: 'GET', upgrade: true, url: '/private' },
    ]);
    ws.close();
    await once(ws, 'close');
    pipeline.detach(server as unknown as UpgradeServer);
    expect(pipeline.servers).toEqual([]);
  });
});

describe('helpers the plugins share', () => {
  const req = (fields: Partial<IncomingMessage>): IncomingMessage =>
    ({ httpVersionMajor: 1, method: 'GET', headers: {}, ...fields }) as IncomingMessage;

  test('isWebSocketUpgrade: GET with an Upgrade token (RFC 6455 §4.1), extended CONNECT (RFC 8441 §4)', () => {
    expect(isWebSocketUpgrade(req({ headers: { upgrade: 'websocket' } }))).toBe(true);
    expect(isWebSocketUpgrade(req({ headers: { upgrade: 'h2c, WebSocket' } }))).toBe(true);
    expect(isWebSocketUpgrade(req({ method: 'POST', headers: { upgrade: 'websocket' } }))).toBe(false);
    expect(isWebSocketUpgrade(req({ headers: {} }))).toBe(false);
    const h2 = (method: string, protocol?: string): IncomingMessage =>
      req({ httpVersionMajor: 2, method, headers: protocol === undefined ? {} : { ':protocol': protocol } });
    expect(isWebSocketUpgrade(h2('CONNECT', 'websocket'))).toBe(true);
    expect(isWebSocketUpgrade(h2('GET', 'WebSocket'))).toBe(true); // once routed as a GET
    expect(isWebSocketUpgrade(h2('CONNECT'))).toBe(false); // a plain CONNECT tunnel
    expect(isWebSocketUpgrade(h2('CONNECT', 'webtransport'))).toBe(false);
    expect(isWebSocketUpgrade(h2('POST', 'websocket'))).toBe(false);
  });

  test('statusOf: an error status or statusCode from 400 to 599, anything else 500', () => {
    expect(statusOf(Object.assign(new Error(), { status: 401 }))).toBe(401);
    expect(statusOf({ statusCode: 429 })).toBe(429);
    expect(statusOf({ status: 'nope', statusCode: 503 })).toBe(503);
    for (const error of [
      { status: 302 },
      { status: 600 },
      { statusCode: 404.5 },
      new Error('x'),
      'string',
      null,
      undefined,
    ]) {
      expect(statusOf(error)).toBe(500);
    }
  });
});
